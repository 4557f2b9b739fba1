-- Publications of deltameta.delta_commit ship only the columns the CDC reads
-- (services/cdc/setup.ts, publishedCommitColumns, creates new ones so): the
-- writer-supplied commit_info, txn_id and unknown_actions stay out of the
-- replication stream. PostgreSQL 15+ (column lists).
--
-- The publication's name is configuration (DELTAMETA_PUBLICATION_NAME), so
-- every publication that carries delta_commit alone, without a column list,
-- is altered here; one that carries other tables too is the operator's.
-- Altering a publication under a live slot is safe: pgoutput reads it as of
-- each decoded change, and the CDC reads columns by name.
DO $$
DECLARE
  publication text;
BEGIN
  FOR publication IN
    SELECT p.pubname FROM pg_catalog.pg_publication p
     WHERE EXISTS (SELECT FROM pg_catalog.pg_publication_tables t
                    WHERE t.pubname = p.pubname AND t.schemaname = 'deltameta' AND t.tablename = 'delta_commit'
                      AND cardinality(t.attnames) > 8)
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_publication_tables t
                        WHERE t.pubname = p.pubname AND NOT (t.schemaname = 'deltameta' AND t.tablename = 'delta_commit'))
       AND NOT p.puballtables
  LOOP
    EXECUTE format(
      'ALTER PUBLICATION %I SET TABLE deltameta.delta_commit (table_id, version, timestamp_ms, operation, num_adds, num_removes, metadata_changed, protocol_changed)',
      publication);
  END LOOP;
END $$;
