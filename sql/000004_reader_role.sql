-- The reader's read-only access: a NOLOGIN group role `deltameta_read` with
-- USAGE on the schema and SELECT on every table, view and materialized view
-- in it, now and later (default privileges of the role that runs the
-- migrations, which creates them). Operators give the reader a login role
-- that is a member of it (DELTAMETA_READER_PG_URL); the reader then cannot
-- write even by mistake.
--
-- Roles are cluster-wide but migrations run once per database (tests clone
-- many): the role is created only when missing, and a concurrent creation
-- by another database's migration is not an error.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'deltameta_read') THEN
    BEGIN
      CREATE ROLE deltameta_read NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END IF;
END $$;

GRANT USAGE ON SCHEMA deltameta TO deltameta_read;
GRANT SELECT ON ALL TABLES IN SCHEMA deltameta TO deltameta_read;
ALTER DEFAULT PRIVILEGES IN SCHEMA deltameta GRANT SELECT ON TABLES TO deltameta_read;
