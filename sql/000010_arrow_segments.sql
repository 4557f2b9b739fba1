-- Arrow segments: the current whole file list in Arrow as a few large
-- record batches, so that a whole list in Arrow is a read of a few dozen
-- finished LZ4 batches instead of one small batch per file page.
--
-- The file pages' batches (000009) are one per page, ~65 rows, raw: a
-- client pays per batch and per buffer (pyarrow reads 1M files in 15k page
-- batches in ~330 ms, in 16 batches of 64k rows in ~30 ms) and a 65-row
-- buffer is too small to compress (235 MB per 1M files as pages, 82 MB as
-- segments). A segment is the concatenation of the batches of consecutive
-- current pages, its buffers copied and LZ4-compressed, nothing parsed
-- (shared/arrow/coalesce.ts). Written only by the refresher after a pages
-- pass (shared/materialized/arrow-segments.ts), derived from the pages and
-- rebuildable from them at any time.
--
-- Segments are of the current pages only, not versioned: the whole set
-- answers exactly one version (file_arrow_segment_state.version, in the
-- state's layout); a reader uses them only for that version and otherwise
-- reads the pages. A pass rewrites only the segments whose pages changed
-- since; segment boundaries are page boundaries chosen by the pages' own
-- lower bounds (content-defined), so a commit moves no other boundary.
CREATE TABLE deltameta.file_arrow_segment (
  table_id    bigint NOT NULL REFERENCES deltameta.delta_table ON DELETE CASCADE,
  -- covers the pages with lower_path in [lower_path, upper_path); NULL upper: to the end
  lower_path  text COLLATE "C" NOT NULL,
  upper_path  text COLLATE "C",
  -- the pages version it was built at (its pages are unchanged since when the state's version is later)
  built_version bigint NOT NULL,
  -- current pages it was built from: the same count and none newer than built_version is the same pages
  pages       integer NOT NULL CHECK (pages >= 0),
  rows        integer NOT NULL CHECK (rows >= 0),
  -- one Arrow IPC record batch message (LZ4_FRAME buffers); empty for no rows
  body        bytea NOT NULL,
  PRIMARY KEY (table_id, lower_path),
  CHECK (upper_path IS NULL OR upper_path > lower_path)
);

-- LZ4-compressed buffers already: stored out of line without pglz.
ALTER TABLE deltameta.file_arrow_segment ALTER COLUMN body SET STORAGE EXTERNAL;

CREATE TABLE deltameta.file_arrow_segment_state (
  table_id    bigint PRIMARY KEY REFERENCES deltameta.delta_table ON DELETE CASCADE,
  -- the version the segments answer (the pages' version when they were brought up to date)
  version     bigint NOT NULL,
  -- the layout fingerprint of every segment (shared/arrow)
  layout      text NOT NULL,
  segments    integer NOT NULL CHECK (segments >= 0),
  rows        bigint NOT NULL CHECK (rows >= 0),
  body_bytes  bigint NOT NULL CHECK (body_bytes >= 0),
  built_at    timestamptz NOT NULL DEFAULT now()
);

-- The refresher writes them; the reader (deltameta_reader, a member of deltameta_read) reads them.
GRANT SELECT, INSERT, UPDATE, DELETE ON deltameta.file_arrow_segment, deltameta.file_arrow_segment_state TO deltameta_refresh;
GRANT SELECT ON deltameta.file_arrow_segment, deltameta.file_arrow_segment_state TO deltameta_read;
