-- File pages: the live file list of a table kept pre-serialized and
-- compressed, so that a full list is a read of ~55 MB of finished bytes per
-- 1M files instead of 1M rows (~500 MB of JSON) re-encoded per request
-- (DESIGN.md section 6). Written only by the refresher (shared/file-pages),
-- derived from file_index and rebuildable from it at any time.
--
-- A page holds the canonical add lines (file_index.add_line, each followed
-- by "\n") of the live files whose path lies in [lower_path, the next
-- page's lower_path), in path then dv_id order, compressed as one raw
-- DEFLATE segment that ends with a sync flush: no final block, byte
-- aligned, no reference before its own start. Segments concatenate into
-- one DEFLATE stream, so a response is a 10-byte gzip header, the pages'
-- bodies in path order, an empty final block and a trailer whose CRC-32 is
-- combined from the pages' (crc32_combine): a single standard gzip member,
-- sent without compressing anything.
--
-- Pages are versioned like file_index rows: a page is the list of its range
-- from valid_from (inclusive) to valid_to (exclusive; NULL = still current),
-- so the list at any version in [file_page_state.min_version, .version] is
-- the pages valid at it. A commit rewrites only the pages whose range it
-- touched (a new version of each; the old one gets valid_to), cut again
-- into pages of ~32 kB of JSON; a page that shrank takes in its neighbour.
CREATE TABLE deltameta.file_page (
  table_id    bigint NOT NULL,
  valid_from  bigint NOT NULL,
  valid_to    bigint,
  -- add lines in the page, and their bytes uncompressed (with the "\n"s)
  lines       integer NOT NULL CHECK (lines >= 0),
  raw_bytes   integer NOT NULL CHECK (raw_bytes >= 0),
  -- CRC-32 (gzip's) of the uncompressed bytes, as a signed 32-bit integer
  crc32       integer NOT NULL,
  -- the page covers paths >= lower_path; every version of a table has a page with lower_path ''
  lower_path  text COLLATE "C" NOT NULL,
  -- raw DEFLATE, sync-flushed (see above); empty for an empty page
  body        bytea NOT NULL,
  CHECK (valid_to IS NULL OR valid_to > valid_from)
);

-- Bodies are compressed already: no TOAST compression attempt (EXTERNAL
-- stores out of line without pglz).
ALTER TABLE deltameta.file_page ALTER COLUMN body SET STORAGE EXTERNAL;

-- serves: the current pages in path order (maintenance finds the page of a
-- changed path by one backward probe; the latest list is an ordered scan);
-- unique: one current page per range.
CREATE UNIQUE INDEX file_page_current ON deltameta.file_page (table_id, lower_path) WHERE valid_to IS NULL;

-- serves: the pages valid at a version (time travel), in path order.
CREATE UNIQUE INDEX file_page_at ON deltameta.file_page (table_id, lower_path, valid_from);

-- serves: retention (pages replaced at or before a version).
CREATE INDEX file_page_expiry ON deltameta.file_page (table_id, valid_to) WHERE valid_to IS NOT NULL;

-- Per table: the versions the pages answer. The pages lag file_index by
-- the time a maintenance pass takes (milliseconds for a commit; a first
-- build of 1M files takes seconds); readers use them only for versions in
-- [min_version, version] and read file_index otherwise.
CREATE TABLE deltameta.file_page_state (
  table_id    bigint PRIMARY KEY REFERENCES deltameta.delta_table ON DELETE CASCADE,
  version     bigint NOT NULL,
  min_version bigint NOT NULL,
  -- pages and bytes of the current list (for status and the reader's choice)
  pages       integer NOT NULL,
  raw_bytes   bigint NOT NULL,
  body_bytes  bigint NOT NULL,
  built_at    timestamptz NOT NULL DEFAULT now()
);
