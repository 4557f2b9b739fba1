-- Least privilege per stage (docs/security.md, "Roles"): NOLOGIN group roles
-- that operators make login roles members of. Migrations never create login
-- roles or passwords.
--   deltameta_read     (000004) SELECT on every table and view: the reader
--   deltameta_write    commits and imports: the log tables only
--   deltameta_refresh  the refresher: reads the log, writes materialized state only
--   deltameta_cdc      the CDC publisher: reads what it publishes; its login role
--                      also needs the REPLICATION attribute (a role attribute, not
--                      inherited through membership, so not grantable here)
--
-- Roles are cluster-wide but migrations run once per database (tests clone
-- many): each role is created only when missing, and a concurrent creation
-- by another database's migration is not an error. GRANT is idempotent.
DO $$
DECLARE
  group_role text;
BEGIN
  FOREACH group_role IN ARRAY ARRAY['deltameta_write', 'deltameta_refresh', 'deltameta_cdc'] LOOP
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = group_role) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', group_role);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
      END;
    END IF;
  END LOOP;
END $$;

GRANT USAGE ON SCHEMA deltameta TO deltameta_write, deltameta_refresh, deltameta_cdc;

-- Writers: a commit reads the log (conflict checks, the head, the metaData in
-- force), inserts the new version's rows, and locks its delta_table row
-- (SELECT … FOR UPDATE needs UPDATE). Partitions are reached through their
-- parent, whose privileges PostgreSQL checks. No DELETE: only the owner drops tables.
GRANT SELECT, INSERT ON
  deltameta.delta_table, deltameta.delta_commit, deltameta.delta_add, deltameta.delta_remove, deltameta.delta_cdc,
  deltameta.delta_metadata, deltameta.delta_protocol, deltameta.delta_txn, deltameta.delta_domain_metadata
  TO deltameta_write;
GRANT UPDATE ON deltameta.delta_table TO deltameta_write;

-- The refresher: reads the log, writes the materialized state. REFRESH
-- MATERIALIZED VIEW needs ownership of the view (PostgreSQL 17 adds a
-- MAINTAIN privilege): the view job runs as the view's owner, see docs/security.md.
GRANT SELECT ON
  deltameta.delta_table, deltameta.delta_commit, deltameta.delta_add, deltameta.delta_remove, deltameta.delta_cdc,
  deltameta.delta_metadata, deltameta.delta_protocol, deltameta.delta_txn, deltameta.delta_domain_metadata
  TO deltameta_refresh;
GRANT SELECT, INSERT, UPDATE, DELETE ON
  deltameta.file_index, deltameta.partition_summary, deltameta.table_state, deltameta.file_page, deltameta.file_page_state
  TO deltameta_refresh;
GRANT SELECT ON deltameta.catalog_overview TO deltameta_refresh;

-- The CDC: pgoutput reads published rows as the replicating role, and the
-- publisher looks table names up and reads its slot's lag.
GRANT SELECT ON deltameta.delta_table, deltameta.delta_commit TO deltameta_cdc;
