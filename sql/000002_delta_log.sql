-- The SQL twin of _delta_log: written by writers (deltameta commit, import),
-- append-only, the source of truth. Every action keeps its JSON exactly as
-- it came (`action` text: key order and unknown fields preserved) next to
-- the columns that reads and conflict checks need; `ordinal` is the line
-- number within the version, so export reproduces the commit file's order
-- and the newest action on a file key wins within a version too.

CREATE TABLE deltameta.delta_table (
  table_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name              text NOT NULL UNIQUE
                    CHECK (name ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$'),
  location          text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  -- The oldest version whose snapshot can be rebuilt: 0, or the checkpoint an
  -- import started from. Older versions answer "gone" (HTTP 410).
  log_start_version bigint NOT NULL DEFAULT 0 CHECK (log_start_version >= 0)
);

-- One row per version. The primary key is the optimistic-concurrency check:
-- two writers racing for (table, version) cannot both insert it. The CDC
-- publication streams only this table: one small row per commit.
CREATE TABLE deltameta.delta_commit (
  table_id            bigint NOT NULL REFERENCES deltameta.delta_table ON DELETE CASCADE,
  version             bigint NOT NULL CHECK (version >= 0),
  -- The version's timestamp for time travel: in-commit timestamp where the
  -- table enables it, else the commit file's modification time (import) or
  -- the commit time (commit); strictly increasing per table.
  timestamp_ms        bigint NOT NULL,
  committed_at        timestamptz NOT NULL DEFAULT now(),
  operation           text,
  commit_info         jsonb,
  commit_info_ordinal integer,
  txn_id              text,
  num_adds            integer NOT NULL DEFAULT 0,
  num_removes         integer NOT NULL DEFAULT 0,
  num_actions         integer NOT NULL DEFAULT 0,
  metadata_changed    boolean NOT NULL DEFAULT false,
  protocol_changed    boolean NOT NULL DEFAULT false,
  -- Imported from a checkpoint: the version's rows are the whole reconciled
  -- state at that version, not the actions its commit file had.
  is_checkpoint       boolean NOT NULL DEFAULT false,
  -- Action types this version of the protocol does not know, kept as they came.
  unknown_actions     jsonb,
  PRIMARY KEY (table_id, version)
);
-- serves: commit idempotency (a retried commit with the same commitInfo.txnId)
CREATE UNIQUE INDEX delta_commit_txn_id ON deltameta.delta_commit (table_id, txn_id) WHERE txn_id IS NOT NULL;
-- serves: time travel by timestamp (latest version at or before T)
CREATE INDEX delta_commit_timestamp ON deltameta.delta_commit (table_id, timestamp_ms);

-- File actions are the bulk (millions of rows per large table): hash
-- partitioned by table so one table's scans and vacuums stay in its part.
CREATE TABLE deltameta.delta_add (
  table_id          bigint NOT NULL,
  version           bigint NOT NULL,
  ordinal           integer NOT NULL,
  path              text COLLATE "C" NOT NULL,
  dv_id             text COLLATE "C" NOT NULL DEFAULT '',
  partition_values  jsonb NOT NULL,
  size              bigint NOT NULL,
  modification_time bigint NOT NULL,
  data_change       boolean NOT NULL,
  action            text NOT NULL,
  -- serves: the actions of one version (export, change feed, snapshot range scans)
  PRIMARY KEY (table_id, version, ordinal)
) PARTITION BY HASH (table_id);

CREATE TABLE deltameta.delta_remove (
  table_id           bigint NOT NULL,
  version            bigint NOT NULL,
  ordinal            integer NOT NULL,
  path               text COLLATE "C" NOT NULL,
  dv_id              text COLLATE "C" NOT NULL DEFAULT '',
  deletion_timestamp bigint,
  data_change        boolean NOT NULL,
  action             text NOT NULL,
  -- serves: the actions of one version; conflict checks read the removes of
  -- the (few) winning versions by this key and match paths in memory
  PRIMARY KEY (table_id, version, ordinal)
) PARTITION BY HASH (table_id);

DO $$
BEGIN
  FOR i IN 0..7 LOOP
    EXECUTE format('CREATE TABLE deltameta.delta_add_p%s PARTITION OF deltameta.delta_add FOR VALUES WITH (MODULUS 8, REMAINDER %s)', i, i);
    EXECUTE format('CREATE TABLE deltameta.delta_remove_p%s PARTITION OF deltameta.delta_remove FOR VALUES WITH (MODULUS 8, REMAINDER %s)', i, i);
  END LOOP;
END $$;

CREATE TABLE deltameta.delta_cdc (
  table_id bigint NOT NULL,
  version  bigint NOT NULL,
  ordinal  integer NOT NULL,
  path     text NOT NULL,
  action   text NOT NULL,
  -- serves: the actions of one version (change feed, export)
  PRIMARY KEY (table_id, version, ordinal)
);

-- Small per-version actions: at most one metaData and one protocol per version.
CREATE TABLE deltameta.delta_metadata (
  table_id          bigint NOT NULL,
  version           bigint NOT NULL,
  ordinal           integer NOT NULL,
  metadata_id       text NOT NULL,
  schema_string     text NOT NULL,
  partition_columns text[] NOT NULL,
  configuration     jsonb NOT NULL,
  action            text NOT NULL,
  -- serves: latest metadata at or before a version (ORDER BY version DESC LIMIT 1)
  PRIMARY KEY (table_id, version)
);

CREATE TABLE deltameta.delta_protocol (
  table_id           bigint NOT NULL,
  version            bigint NOT NULL,
  ordinal            integer NOT NULL,
  min_reader_version integer NOT NULL,
  min_writer_version integer NOT NULL,
  reader_features    text[],
  writer_features    text[],
  action             text NOT NULL,
  -- serves: latest protocol at or before a version
  PRIMARY KEY (table_id, version)
);

CREATE TABLE deltameta.delta_txn (
  table_id     bigint NOT NULL,
  version      bigint NOT NULL,
  ordinal      integer NOT NULL,
  app_id       text NOT NULL,
  txn_version  bigint NOT NULL,
  last_updated bigint,
  action       text NOT NULL,
  PRIMARY KEY (table_id, version, ordinal)
);
-- serves: latest txn version per appId (idempotent streaming writers, conflict checks)
CREATE INDEX delta_txn_app ON deltameta.delta_txn (table_id, app_id, version DESC);

CREATE TABLE deltameta.delta_domain_metadata (
  table_id      bigint NOT NULL,
  version       bigint NOT NULL,
  ordinal       integer NOT NULL,
  domain        text NOT NULL,
  configuration text NOT NULL,
  removed       boolean NOT NULL,
  action        text NOT NULL,
  PRIMARY KEY (table_id, version, ordinal)
);
-- serves: latest configuration per domain (tombstones win when newest)
CREATE INDEX delta_domain_metadata_domain ON deltameta.delta_domain_metadata (table_id, domain, version DESC);
