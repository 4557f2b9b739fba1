-- Materialized state: written only by the refresher (shared/refresh), derived
-- from the log tables and rebuildable from them at any time (rebuildTable).
-- Readers answer a version from here when it lies in
-- [table_state.file_index_min_version, table_state.mv_version]; any other
-- retained version is answered from the log tables (snapshotLines).
-- Sizes are for the design point, a table with 1M live files.

-- One row per interval in the life of a logical file (path, dv_id): live
-- from added_version (inclusive) to removed_version (exclusive; NULL = still
-- live). The snapshot at v is
--   added_version <= v AND (removed_version IS NULL OR removed_version > v)
-- so time travel is a range query, not a replay. A key added, removed and
-- added again (or re-added over itself) has one row per add.
--
-- Fixed-width columns first: no alignment padding between them. A row is
-- ~1.1 kB (add_line ~500 B, stats ~410 B as jsonb), under the 2 kB TOAST
-- threshold: a streamed list reads add_line inline, uncompressed (PostgreSQL
-- compresses in line only rows above that threshold). ~1.3 GB of heap per
-- 1M files.
-- No foreign key to delta_table: it would cost an index probe per inserted
-- row (seconds on a 1M-file build); table_state carries the reference.
--
-- No primary key, on purpose: the live rows and the removed rows each have
-- their own unique index, and the two together serve every query. A key
-- over all rows would add a random-leaf insert (and after a checkpoint an
-- 8 kB full-page image in the WAL) for every new file, on an index of the
-- whole table; the removed rows' index stays as small as retention keeps it.
CREATE TABLE deltameta.file_index (
  table_id         bigint NOT NULL,
  added_version    bigint NOT NULL,
  removed_version  bigint,
  size             bigint NOT NULL,
  -- stats.numRecords; NULL when the add has no stats (counts then sum the known ones)
  num_records      bigint,
  path             text COLLATE "C" NOT NULL,
  -- deletion vector unique id, '' without one (as in delta_add)
  dv_id            text COLLATE "C" NOT NULL DEFAULT '',
  partition_values jsonb NOT NULL,
  -- canonical text of partition_values (jsonb's output orders keys), the
  -- same as partition_summary.partition_key: the two join on it
  partition_key    text COLLATE "C" NOT NULL GENERATED ALWAYS AS (partition_values::text) STORED,
  -- the parsed stats object, for min/max pruning; NULL without (or with unparsable) stats
  stats            jsonb,
  -- exactly addLine(add) (shared/delta): the canonical NDJSON line that
  -- `replay` and `snapshot` print, streamed by readers without re-encoding
  add_line         text NOT NULL,
  CHECK (removed_version IS NULL OR removed_version > added_version)
) PARTITION BY HASH (table_id);

-- HOT is impossible for the one update file_index sees (removed_version
-- NULL -> v): removed_version is in the partial indexes' predicates. So the
-- update inserts the new row version into the removed rows' indexes;
-- fillfactor 90 keeps that version on the same page (inserts leave the 10%
-- to updates), so the heap stays in the path order a build writes it in
-- (path-ordered index scans stay near-sequential) and page pruning reclaims
-- the old version without a vacuum. Each remove leaves a dead tuple, and the
-- live indexes keep pointing at it until vacuum: vacuum a part after 2% of
-- its rows changed rather than 20%.
DO $$
BEGIN
  FOR i IN 0..7 LOOP
    EXECUTE format(
      'CREATE TABLE deltameta.file_index_p%s PARTITION OF deltameta.file_index FOR VALUES WITH (MODULUS 8, REMAINDER %s)
         WITH (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05)',
      i, i);
  END LOOP;
END $$;

-- serves: "latest" — live files in path order at mv_version (liveFileLines,
-- the reader's full list: the heap is in path order after a build, so this
-- is a near-sequential read); the live half of time travel (rows with
-- added_version <= v, merged in path order with file_index_removed); the
-- refresher's lookup of the live row of a key that a new version removes or
-- replaces (UPDATE … FROM unnest: one probe per key). Unique: at most one
-- live row per logical file. ~85 MB per 1M live files (measured).
CREATE UNIQUE INDEX file_index_live ON deltameta.file_index (table_id, path, dv_id) WHERE removed_version IS NULL;

-- serves: the removed half of time travel (rows with added_version <= v <
-- removed_version, in path order, merged with file_index_live; when few rows
-- are removed after v the planner may prefer file_index_expiry and a small
-- sort); unique: one row per key and add version. Only removed rows: as big
-- as retention lets it be.
CREATE UNIQUE INDEX file_index_removed ON deltameta.file_index (table_id, path, dv_id, added_version) WHERE removed_version IS NOT NULL;

-- serves: applyRetention (rows removed at or before a version). Versions
-- only grow, so inserts land on the rightmost leaf.
CREATE INDEX file_index_expiry ON deltameta.file_index (table_id, removed_version) WHERE removed_version IS NOT NULL;

-- serves: partition-pruned file lists at mv_version (partition_summary names
-- the partitions that match a filter; their files come from here by
-- partition_key, then sorted by path). Few distinct keys: B-tree
-- deduplication stores each key once with a list of row pointers, so the
-- index is ~7 MB per 1M files (measured) and a new file touches its key's
-- last pages, not a random leaf. (jsonb cannot be deduplicated: hence the
-- text key.)
CREATE INDEX file_index_live_partition ON deltameta.file_index (table_id, partition_key) WHERE removed_version IS NULL;

-- Per table: the watermark and the summary of the state at it.
CREATE TABLE deltameta.table_state (
  table_id               bigint PRIMARY KEY REFERENCES deltameta.delta_table ON DELETE CASCADE,
  -- the version the materialized state reflects (the watermark)
  mv_version             bigint NOT NULL,
  -- the oldest version file_index can answer: log_start_version after a
  -- build, moved forward by retention (older versions: the log tables)
  file_index_min_version bigint NOT NULL,
  -- the newest metaData and protocol actions at mv_version, as their JSON text
  metadata               text,
  protocol               text,
  num_files              bigint NOT NULL CHECK (num_files >= 0),
  size_bytes             bigint NOT NULL CHECK (size_bytes >= 0),
  -- the sum of stats.numRecords over live files that have it
  num_records            bigint NOT NULL CHECK (num_records >= 0),
  -- commit time and time-travel timestamp (delta_commit.timestamp_ms) of mv_version
  last_commit_at         timestamptz NOT NULL,
  last_timestamp_ms      bigint NOT NULL,
  refreshed_at           timestamptz NOT NULL DEFAULT now(),
  CHECK (file_index_min_version <= mv_version)
);

-- Per table and partition (live files at mv_version): partition listing and
-- pruning without touching file_index. Rows whose count reaches zero are
-- deleted. Unpartitioned tables have one row, partition_values '{}'.
CREATE TABLE deltameta.partition_summary (
  table_id         bigint NOT NULL REFERENCES deltameta.delta_table ON DELETE CASCADE,
  partition_values jsonb NOT NULL,
  -- canonical text form: jsonb's output orders keys, so equal partition
  -- values always have the same key, whatever order the add wrote them in
  partition_key    text COLLATE "C" NOT NULL GENERATED ALWAYS AS (partition_values::text) STORED,
  -- Counts move by deltas: a negative one is drift, and the refresh fails
  -- loudly instead of carrying it on (verifyTable finds it, rebuildTable fixes it).
  num_files        bigint NOT NULL CHECK (num_files >= 0),
  size_bytes       bigint NOT NULL CHECK (size_bytes >= 0),
  num_records      bigint NOT NULL CHECK (num_records >= 0),
  -- serves: the refresher's count deltas (update by key, insert the rest),
  -- partition listing in key order
  PRIMARY KEY (table_id, partition_key)
);

-- Cross-table catalog for GET /v1/tables and dashboards: one row per table,
-- refreshed CONCURRENTLY on a schedule (refreshMaterializedViews), so
-- readers never block on it. `staleness` is how many committed versions the
-- materialized state was behind when the view was refreshed; the live
-- figure is mvStaleness().
CREATE MATERIALIZED VIEW deltameta.catalog_overview AS
SELECT t.table_id,
       t.name,
       head.version AS head_version,
       s.mv_version,
       s.num_files,
       s.size_bytes,
       s.num_records,
       head.committed_at AS last_commit_at,
       head.version - coalesce(s.mv_version, t.log_start_version - 1) AS staleness
  FROM deltameta.delta_table t
  -- delta_commit's primary key: the newest version is one backward index probe
  LEFT JOIN LATERAL (
    SELECT c.version, c.committed_at FROM deltameta.delta_commit c
     WHERE c.table_id = t.table_id ORDER BY c.version DESC LIMIT 1
  ) head ON true
  LEFT JOIN deltameta.table_state s ON s.table_id = t.table_id;

-- serves: REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index on
-- plain columns, no predicate); lookups by id
CREATE UNIQUE INDEX catalog_overview_table_id ON deltameta.catalog_overview (table_id);
-- serves: GET /v1/tables paged in name order (keyset: name > $after ORDER BY name LIMIT n)
CREATE UNIQUE INDEX catalog_overview_name ON deltameta.catalog_overview (name);
