-- A file page whose lines all have the same partition values keeps them
-- (the add's partitionValues object, as jsonb); a page that mixes
-- partitions, and every page written before this migration, has NULL.
-- A partition-pruned list in Arrow (services/reader/arrow-pruned.ts) then
-- sends the stored Arrow batch of every page of the partition as it is,
-- and encodes only the matching lines of the few mixed pages: in a table
-- whose paths group files by partition (Hive-style folders), nearly every
-- page is of one partition.
ALTER TABLE deltameta.file_page ADD COLUMN partition_values jsonb;
