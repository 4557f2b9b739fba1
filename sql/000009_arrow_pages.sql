-- Arrow file pages: each file page (000005) also keeps its lines as one
-- Arrow IPC record batch message, so a whole list in Arrow (GET
-- /v1/tables/{name}/files with Accept: application/vnd.apache.arrow.stream)
-- is a schema message, the pages' batches as stored and an end-of-stream
-- marker: nothing encoded per request (docs/reader.md "Arrow").
--
-- Columns on file_page, not a sibling table: a batch is another encoding of
-- exactly the page's lines, with the page's range and versions, so it is
-- written by the same INSERT, closed by the same valid_to, and dropped by
-- the same rebuild and retention; a sibling table would repeat the key and
-- every one of those statements.
--
-- arrow_layout names the columns' layout (shared/arrow: the table's schema
-- at the page's version decides names and types). Every page valid at one
-- version has one layout: a metaData change that changes the layout
-- rewrites every page at its version, and pages written before this
-- migration (NULL) are rebuilt by the next maintenance pass. Readers use
-- the batches only when the layout matches the version they answer.
ALTER TABLE deltameta.file_page
  ADD COLUMN arrow_layout text,
  ADD COLUMN arrow_body bytea,
  ADD CONSTRAINT file_page_arrow_whole CHECK ((arrow_layout IS NULL) = (arrow_body IS NULL));

-- LZ4-compressed buffers already: stored out of line without pglz.
ALTER TABLE deltameta.file_page ALTER COLUMN arrow_body SET STORAGE EXTERNAL;

-- Table-level grants cover new columns; restated so the roles' access to
-- them is visible here: the refresher writes them, the reader (deltameta_reader,
-- a member of deltameta_read) reads them.
GRANT SELECT, INSERT, UPDATE, DELETE ON deltameta.file_page TO deltameta_refresh;
GRANT SELECT ON deltameta.file_page TO deltameta_read;
