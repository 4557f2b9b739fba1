-- Two kinds of table (issue 13), explicit per table:
--   followed: a _delta_log in `location` is the authority; services/follower
--             mirrors every version it holds into the log tables. Commits
--             through deltameta are refused.
--   owned:    PostgreSQL is the authority (commits through the library, the
--             CLI or services/committer). With a row in table_publication,
--             services/publisher writes every version to `location`'s
--             _delta_log. An owned table imported once keeps the folder it
--             came from in `location` (the sync identity check), which is
--             not a publication until `deltameta publish` says so.
-- `deltameta handover --table T --to owned` turns a followed table into an
-- owned one published where it was followed, at the version its files hold.

ALTER TABLE deltameta.delta_table
  ADD COLUMN kind text NOT NULL DEFAULT 'owned' CHECK (kind IN ('owned', 'followed')),
  ADD CONSTRAINT delta_table_followed_location CHECK (kind <> 'followed' OR location IS NOT NULL);

-- The follower's state of a followed table: who holds it (a lease that
-- expires, so a crashed follower's tables are taken over), how far it got
-- and what it could not do.
CREATE TABLE deltameta.table_follow (
  table_id          bigint PRIMARY KEY REFERENCES deltameta.delta_table ON DELETE CASCADE,
  -- the follower instance holding the table, until lease_expires_at
  lease_holder      text,
  lease_expires_at  timestamptz,
  -- the newest version imported by a follower, and when its commit file appeared (mtime) and was imported
  followed_version  bigint,
  file_time         timestamptz,
  imported_at       timestamptz,
  -- versions the files lost to log cleanup before they were followed: reported, never invented
  missing_from      bigint,
  missing_to        bigint,
  -- the last failure to import (cleared by the next success)
  error             text,
  error_at          timestamptz,
  CHECK ((missing_from IS NULL) = (missing_to IS NULL) AND (missing_from IS NULL OR missing_from <= missing_to))
);

-- The publisher's state of an owned table with a location: the newest
-- version written as <location>/_delta_log/<version>.json and the newest
-- checkpoint written. A row here is what makes a table published.
CREATE TABLE deltameta.table_publication (
  table_id            bigint PRIMARY KEY REFERENCES deltameta.delta_table ON DELETE CASCADE,
  published_version   bigint NOT NULL DEFAULT -1 CHECK (published_version >= -1),
  checkpoint_version  bigint,
  published_at        timestamptz,
  -- set when publishing stopped for this table (a different file already at a version): alert-worthy, cleared by hand
  stopped_reason      text,
  stopped_at          timestamptz
);

DO $$
DECLARE
  group_role text;
BEGIN
  FOREACH group_role IN ARRAY ARRAY['deltameta_follow', 'deltameta_publish'] LOOP
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = group_role) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', group_role);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
      END;
    END IF;
  END LOOP;
END $$;

GRANT USAGE ON SCHEMA deltameta TO deltameta_follow, deltameta_publish;

-- The follower imports (the writers' rights on the log tables, and the
-- refresher's on the materialized state: a new table is materialized by its
-- import) and keeps its own state.
GRANT deltameta_write TO deltameta_follow;
GRANT deltameta_refresh TO deltameta_follow;
GRANT SELECT, INSERT, UPDATE, DELETE ON deltameta.table_follow TO deltameta_follow;

-- The publisher reads the log tables and keeps its own state.
GRANT SELECT ON
  deltameta.delta_table, deltameta.delta_commit, deltameta.delta_add, deltameta.delta_remove, deltameta.delta_cdc,
  deltameta.delta_metadata, deltameta.delta_protocol, deltameta.delta_txn, deltameta.delta_domain_metadata
  TO deltameta_publish;
GRANT SELECT, INSERT, UPDATE ON deltameta.table_publication TO deltameta_publish;

-- Everyone who reads a table's header may see its kind and its publication/follow state (status, the reader's summary).
GRANT SELECT ON deltameta.table_follow, deltameta.table_publication TO deltameta_read, deltameta_refresh, deltameta_write;
