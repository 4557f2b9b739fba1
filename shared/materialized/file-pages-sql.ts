/**
 * The statements that maintain file pages (sql/000005_file_pages.sql), one
 * named constant per operation, each with the index that serves it.
 */

/** serves: table_state and file_page_state primary keys, delta_table primary key */
export const pageStateSql = `
  SELECT s.mv_version, s.file_index_min_version, t.log_start_version, p.version AS pages_version
    FROM deltameta.table_state s
    JOIN deltameta.delta_table t ON t.table_id = s.table_id
    LEFT JOIN deltameta.file_page_state p ON p.table_id = s.table_id
   WHERE s.table_id = $1`;

/** serves: delta_add / delta_remove primary keys (table_id, version, ordinal) */
export const changedPathsSql = `
  SELECT DISTINCT path FROM (
    SELECT path FROM deltameta.delta_add WHERE table_id = $1 AND version > $2 AND version <= $3
    UNION ALL
    SELECT path FROM deltameta.delta_remove WHERE table_id = $1 AND version > $2 AND version <= $3
  ) changed`;

/**
 * The current page of each changed path (the one with the greatest lower
 * bound at or below it: there is always one with ''), with its upper bound.
 * serves: file_page_current, two probes per path.
 */
export const affectedPagesSql = `
  SELECT DISTINCT page.lower_path, page.raw_bytes, upper.lower_path AS upper_path
    FROM unnest($2::text[]) AS changed(path)
   CROSS JOIN LATERAL (
     SELECT lower_path, raw_bytes FROM deltameta.file_page
      WHERE table_id = $1 AND valid_to IS NULL AND lower_path <= changed.path COLLATE "C"
      ORDER BY lower_path DESC LIMIT 1) page
    LEFT JOIN LATERAL (
     SELECT lower_path FROM deltameta.file_page
      WHERE table_id = $1 AND valid_to IS NULL AND lower_path > page.lower_path
      ORDER BY lower_path LIMIT 1) upper ON true`;

/** The current page at a lower bound, with its upper bound. serves: file_page_current */
export const pageAtSql = `
  SELECT page.raw_bytes,
         (SELECT u.lower_path FROM deltameta.file_page u
           WHERE u.table_id = $1 AND u.valid_to IS NULL AND u.lower_path > page.lower_path
           ORDER BY u.lower_path LIMIT 1) AS upper_path
    FROM deltameta.file_page page
   WHERE page.table_id = $1 AND page.valid_to IS NULL AND page.lower_path = $2`;

/** path in [$2, $4), or from $2 on for the last run of a table */
const range = (bounded: boolean): string => `path >= $2 ${bounded ? 'AND path < $4' : ''}`;

/** At the watermark. serves: file_index_live, an ordered range scan. */
const runLinesAtWatermark = (bounded: boolean): string => `
  SELECT path, add_line FROM deltameta.file_index
   WHERE table_id = $1 AND removed_version IS NULL AND added_version <= $3 AND ${range(bounded)}
   ORDER BY path, dv_id`;

/**
 * Before the watermark: the live and the removed rows of the range live at
 * the version, merged in path order (as liveFileLines does for a whole
 * table). serves: file_index_live and file_index_removed.
 */
const runLinesAsOf = (bounded: boolean): string => `
  SELECT path, add_line FROM (
    (SELECT path, dv_id, add_line FROM deltameta.file_index
      WHERE table_id = $1 AND removed_version IS NULL AND added_version <= $3 AND ${range(bounded)}
      ORDER BY path, dv_id)
    UNION ALL
    (SELECT path, dv_id, add_line FROM deltameta.file_index
      WHERE table_id = $1 AND removed_version IS NOT NULL AND removed_version > $3 AND added_version <= $3 AND ${range(bounded)}
      ORDER BY path, dv_id)
  ) asof ORDER BY path, dv_id`;

/** The live lines of one run: $1 table, $2 lower bound, $3 version, $4 upper bound (bounded only). */
export const runLinesSql = {
  atWatermark: { bounded: runLinesAtWatermark(true), open: runLinesAtWatermark(false) },
  asOf: { bounded: runLinesAsOf(true), open: runLinesAsOf(false) },
} as const;

const runRange = 'path >= r.lower COLLATE "C" AND path < r.upper COLLATE "C"';
const liveInRun = `SELECT path, dv_id, add_line FROM deltameta.file_index
     WHERE table_id = $1 AND removed_version IS NULL AND added_version <= $4 AND ${runRange}`;
const removedInRun = `SELECT path, dv_id, add_line FROM deltameta.file_index
     WHERE table_id = $1 AND removed_version IS NOT NULL AND removed_version > $4 AND added_version <= $4 AND ${runRange}`;
// OFFSET 0 keeps each run's scan a scan of its range: flattened, the
// planner may prefer one ordered walk of the whole table with every range
// as a join filter (seconds instead of milliseconds).
const batchedRunLines = (rows: string): string => `
  SELECT f.path, f.dv_id, f.add_line FROM unnest($2::text[], $3::text[]) AS r(lower, upper)
   CROSS JOIN LATERAL (SELECT * FROM (${rows}) run ORDER BY path, dv_id OFFSET 0) f`;

/**
 * The live lines of several bounded runs: $1 table, $2 lower bounds, $3
 * upper bounds, $4 version. One index range scan per run (serves:
 * file_index_live, plus file_index_removed before the watermark).
 */
export const batchedRunLinesSql = {
  atWatermark: batchedRunLines(liveInRun),
  asOf: batchedRunLines(`${liveInRun} UNION ALL ${removedInRun}`),
} as const;

/**
 * The bodies come as two binary parameters (all gzip segments in $7, all
 * Arrow batches in $9, each row's slice by start and length): a bytea[]
 * parameter would go out as hex text, twice the bytes, parsed again by the
 * server. $8: the Arrow layout (null without batches); $14: each page's
 * partition values when all its lines share them (sql/000012), else null. serves:
 * file_page_current and file_page_at (the unique checks of the new rows)
 */
export const insertPagesSql = `
  INSERT INTO deltameta.file_page (table_id, valid_from, lines, raw_bytes, crc32, lower_path, body, arrow_layout, arrow_body, partition_values)
  SELECT $1, $2, lines, raw_bytes, crc32, lower_path, substring($7::bytea FROM body_from FOR body_bytes), $8::text,
         CASE WHEN arrow_bytes IS NULL THEN NULL ELSE substring($9::bytea FROM arrow_from FOR arrow_bytes) END, partition_values::jsonb
    FROM unnest($3::integer[], $4::integer[], $5::integer[], $6::text[], $10::integer[], $11::integer[], $12::integer[], $13::integer[], $14::text[])
      AS page(lines, raw_bytes, crc32, lower_path, body_from, body_bytes, arrow_from, arrow_bytes, partition_values)`;

/** The current pages' lower bounds (a layout change rewrites them all). serves: file_page_current */
export const currentLowerPathsSql = 'SELECT lower_path FROM deltameta.file_page WHERE table_id = $1 AND valid_to IS NULL ORDER BY lower_path';

/** Ends the current pages at the given lower bounds with valid_to. serves: file_page_current */
export const closePagesSql = `
  WITH closed AS (
    UPDATE deltameta.file_page SET valid_to = $2
     WHERE table_id = $1 AND valid_to IS NULL AND lower_path = ANY($3::text[])
     RETURNING raw_bytes, octet_length(body) AS body_bytes)
  SELECT count(*)::integer AS pages, sum(raw_bytes) AS raw_bytes, sum(body_bytes) AS body_bytes FROM closed`;

/** A build from scratch. serves: file_page_at (leading table_id) */
export const deletePagesSql = 'DELETE FROM deltameta.file_page WHERE table_id = $1';

/**
 * $6: rebuilt (the totals replace the old ones) or not (the written pages
 * are added and the closed ones, $7..$9, taken off). serves:
 * file_page_state primary key
 */
export const recordPageStateSql = `
  INSERT INTO deltameta.file_page_state AS s (table_id, version, min_version, pages, raw_bytes, body_bytes)
  VALUES ($1, $2, $2, $3, $4, $5)
  ON CONFLICT (table_id) DO UPDATE SET
    version = excluded.version,
    min_version = CASE WHEN $6 THEN excluded.min_version ELSE s.min_version END,
    pages = CASE WHEN $6 THEN excluded.pages ELSE s.pages + excluded.pages - $7 END,
    raw_bytes = CASE WHEN $6 THEN excluded.raw_bytes ELSE s.raw_bytes + excluded.raw_bytes - $8 END,
    body_bytes = CASE WHEN $6 THEN excluded.body_bytes ELSE s.body_bytes + excluded.body_bytes - $9 END,
    built_at = now()`;
