-- The local stack's service logins (docs/security.md, "Roles"): one login role
-- per stage, a member of the NOLOGIN group the migrations grant to, with a
-- local password (the role's name: a development cluster on loopback only).
-- Run by `deltameta stack up` at every start and by docker-compose's
-- postgres at initdb. Production clusters choose their own names and
-- passwords (the SQL in docs/security.md). The groups are created here too
-- when missing (a fresh cluster is not migrated yet; the migrations create
-- each only when missing). Names must match shared/config/local-logins.ts.
DO $$
DECLARE
  login text[];
BEGIN
  FOREACH login SLICE 1 IN ARRAY ARRAY[
    ['deltameta_reader', 'deltameta_read', 'NOREPLICATION'],
    ['deltameta_writer', 'deltameta_write', 'NOREPLICATION'],
    ['deltameta_refresher', 'deltameta_refresh', 'NOREPLICATION'],
    ['deltameta_publisher', 'deltameta_cdc', 'REPLICATION'],
    ['deltameta_follower', 'deltameta_follow', 'NOREPLICATION'],
    ['deltameta_log_publisher', 'deltameta_publish', 'NOREPLICATION'],
    ['deltameta_committer', 'deltameta_write', 'NOREPLICATION']
  ] LOOP
    BEGIN
      IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = login[2]) THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN', login[2]);
      END IF;
      IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = login[1]) THEN
        EXECUTE format('CREATE ROLE %I LOGIN %s PASSWORD %L', login[1], login[3], login[1]);
      END IF;
      EXECUTE format('GRANT %I TO %I', login[2], login[1]);
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      -- another process created it at the same moment
      NULL;
    END;
  END LOOP;
END $$;
