-- Delta Sharing (docs/delta-sharing.md): what the reader's /delta-sharing
-- endpoint shares, and with whom. Shares hold schemas, schemas hold tables —
-- one deltameta table by name (shared under `shared_as`), or every deltameta
-- table whose name starts with a prefix, expanded when a request lists them.
-- Recipients hold a bearer token, stored as its SHA-256 only, and grants to
-- shares. Written by the owner (the `deltameta sharing` CLI, DELTAMETA_PG_URL);
-- the reader reads it all through deltameta_read (SELECT below; also the
-- default privileges of 000004).
--
-- Share, schema and shared table names are what the protocol's URLs and the
-- connectors' `profile#share.schema.table` carry: lowercase letters, digits,
-- '_' and '-', starting with a letter, digit or '_', at most 128 characters
-- (so no '.', and case-insensitive lookups are plain equality).
CREATE TABLE deltameta.sharing_share (
  share_id    uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  name        text        NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9_][a-z0-9_-]{0,127}$'),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE deltameta.sharing_schema (
  share_id    uuid        NOT NULL REFERENCES deltameta.sharing_share ON DELETE CASCADE,
  name        text        NOT NULL CHECK (name ~ '^[a-z0-9_][a-z0-9_-]{0,127}$'),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (share_id, name)
);

-- One entry: a table (table_name, shared as shared_as) or a prefix
-- (table_prefix, each match shared under its own name). entry_id is the
-- protocol's table `id` of a named table; a prefix's tables get ids derived
-- from it and their table_id (shared/sharing, tableIdFor).
CREATE TABLE deltameta.sharing_table (
  entry_id      uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  share_id      uuid        NOT NULL,
  schema_name   text        NOT NULL,
  table_name    text        CHECK (table_name ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$'),
  table_prefix  text        CHECK (table_prefix ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,198}$'),
  shared_as     text        CHECK (shared_as ~ '^[a-z0-9_][a-z0-9_-]{0,127}$'),
  created_at    timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (share_id, schema_name) REFERENCES deltameta.sharing_schema ON DELETE CASCADE,
  CHECK ((table_name IS NOT NULL AND shared_as IS NOT NULL AND table_prefix IS NULL)
      OR (table_prefix IS NOT NULL AND table_name IS NULL AND shared_as IS NULL)),
  UNIQUE (share_id, schema_name, shared_as),
  UNIQUE (share_id, schema_name, table_prefix)
);

-- A recipient's token is never stored: only its SHA-256 (32 bytes). Revoked
-- or expired recipients authenticate nothing; a revoked name can be issued again.
CREATE TABLE deltameta.sharing_recipient (
  recipient_id  uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  name          text        NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9_][a-z0-9_-]{0,127}$'),
  token_sha256  bytea       NOT NULL UNIQUE CHECK (octet_length(token_sha256) = 32),
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz,
  revoked       boolean     NOT NULL DEFAULT false,
  revoked_at    timestamptz
);

CREATE TABLE deltameta.sharing_grant (
  recipient_id  uuid        NOT NULL REFERENCES deltameta.sharing_recipient ON DELETE CASCADE,
  share_id      uuid        NOT NULL REFERENCES deltameta.sharing_share ON DELETE CASCADE,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (recipient_id, share_id)
);

GRANT SELECT ON deltameta.sharing_share, deltameta.sharing_schema, deltameta.sharing_table,
  deltameta.sharing_recipient, deltameta.sharing_grant TO deltameta_read;
