export { createPool, inTransaction, transactionOn, type Pool, type PoolClient } from './pool.ts';
export { migrate, migrationsDigest, readMigrations, type MigrationFile } from './migrate.ts';
export { copyLines } from './copy.ts';
export { BinaryCopyValues, copyOutValues, sqlInteger } from './copy-out.ts';
export { cursorBatches, type CursorBatchOptions } from './cursor.ts';
export { roleWrites, type RoleWrites } from './role-privileges.ts';
