/**
 * Numbered, immutable SQL migrations from `sql/` (NNNNNN_name.sql), applied
 * in order, each in one transaction together with its row in
 * deltameta.schema_migrations. An applied file whose content changed is an
 * error: migrations are immutable once landed, add a new one instead.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../config/index.ts';
import { lockMigrations, unlockMigrations } from '../contracts/index.ts';
import { MigrationError } from '../errors/index.ts';
import type { Pool } from './pool.ts';

export interface MigrationFile {
  readonly version: number;
  readonly name: string;
  readonly file: string;
  readonly sql: string;
  readonly checksum: string;
}

export const migrationsDir = path.join(projectRoot, 'sql');

export function readMigrations(dir = migrationsDir): MigrationFile[] {
  const files = readdirSync(dir).filter((file) => file.endsWith('.sql')).sort();
  const migrations = files.map((file) => {
    const match = /^(\d{6})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!match?.[1] || !match[2]) {
      throw new MigrationError(file, { reason: 'file name must look like 000001_name.sql' });
    }
    const sql = readFileSync(path.join(dir, file), 'utf8');
    return { version: Number(match[1]), name: match[2], file, sql, checksum: createHash('sha256').update(sql).digest('hex') };
  });
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new MigrationError(migration.file, { reason: `expected version ${index + 1}: versions must be 1, 2, 3, … without gaps` });
    }
  });
  return migrations;
}

/** A digest of all migration files: a template database built from them is current when it carries this. */
export function migrationsDigest(dir = migrationsDir): string {
  const hash = createHash('sha256');
  for (const migration of readMigrations(dir)) hash.update(`${migration.file}:${migration.checksum}\n`);
  return hash.digest('hex').slice(0, 16);
}

export async function migrate(pool: Pool, dir = migrationsDir): Promise<{ applied: string[] }> {
  const migrations = readMigrations(dir);
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await lockMigrations(client);
    await client.query(`
      CREATE SCHEMA IF NOT EXISTS deltameta;
      CREATE TABLE IF NOT EXISTS deltameta.schema_migrations (
        version    integer PRIMARY KEY,
        name       text NOT NULL,
        checksum   text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const { rows } = await client.query<{ version: number; checksum: string }>('SELECT version, checksum FROM deltameta.schema_migrations');
    const done = new Map(rows.map((row) => [row.version, row.checksum]));
    for (const migration of migrations) {
      const checksum = done.get(migration.version);
      if (checksum !== undefined) {
        if (checksum !== migration.checksum) {
          throw new MigrationError(migration.file, { reason: 'it was changed after it was applied; migrations are immutable, add a new one' });
        }
        continue;
      }
      try {
        await client.query('BEGIN');
        await client.query(migration.sql);
        await client.query('INSERT INTO deltameta.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
          migration.version, migration.name, migration.checksum,
        ]);
        await client.query('COMMIT');
        applied.push(migration.file);
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new MigrationError(migration.file, { cause: error });
      }
    }
  } finally {
    await unlockMigrations(client).catch(() => undefined);
    client.release();
  }
  return { applied };
}
