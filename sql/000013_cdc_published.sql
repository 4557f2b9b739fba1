-- What the CDC has published to Kafka, per replication slot and table: the
-- newest version Kafka acknowledged. The slot's own confirmed position says
-- the same until the slot is lost — dropped by an operator, or invalidated
-- by max_slot_wal_keep_size while Kafka was away. A new slot starts at the
-- WAL's present, and the commits between are never decoded: the CDC then
-- publishes, before it streams, every version after this table's row
-- (services/cdc/slot-gap.ts). Written after Kafka acknowledged (a row is
-- never ahead of Kafka; behind only costs duplicates, which the pipeline
-- drops). A slot seen for the first time gets a row per table at its head:
-- history before the pipeline existed is not replayed.
--
-- cdc_slot_gap: a slot created while cdc_published has rows for its name
-- (it was lost) gets a row here before it is created; whichever instance
-- streams it first publishes the gap before any of its rows and removes the
-- row. Written before the slot exists, so no instance can stream the new
-- slot without seeing it (a gap published after newer events would break
-- the order per table).
CREATE TABLE deltameta.cdc_published (
  slot_name  text    NOT NULL,
  table_id   bigint  NOT NULL,
  version    bigint  NOT NULL,
  PRIMARY KEY (slot_name, table_id)
);

CREATE TABLE deltameta.cdc_slot_gap (
  slot_name   text        PRIMARY KEY,
  marked_at   timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT, UPDATE ON deltameta.cdc_published TO deltameta_cdc;
GRANT SELECT, INSERT, DELETE ON deltameta.cdc_slot_gap TO deltameta_cdc;
