-- A commit that adds files to a table with deletion vectors checks that each
-- path stays live with at most one deletion vector (shared/log-store,
-- liveKeysOfPathsSql): it reads the live keys of those paths from the
-- materialized file_index at its watermark plus the log after it, instead of
-- the table's whole log. Writers therefore read (never write) that state.
GRANT SELECT ON deltameta.file_index, deltameta.table_state TO deltameta_write;
