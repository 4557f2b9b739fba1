-- The deltameta schema. Everything the project owns in the database lives in
-- it; later migrations add the log tables (writers' source of truth) and the
-- materialized state (the refresher's).
CREATE SCHEMA IF NOT EXISTS deltameta;

COMMENT ON SCHEMA deltameta IS 'Delta Lake transaction logs and their materialized state (deltameta)';
