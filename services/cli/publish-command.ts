/**
 * `deltameta publish --table T <dir>` (docs/publisher.md): gives an owned
 * table the location services/publisher writes its `_delta_log` to. The
 * folder must hold no commit file, or only commit files of this very log:
 * each is compared with what deltameta writes for that version (its
 * `deltameta export`: the same bytes, or the same actions line by line),
 * and a mismatch is refused naming the version. The publication starts
 * after the versions the folder already holds from the log's start.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { inTransaction, type Pool, type PoolClient } from '../../shared/db/index.ts';
import { commitFileName } from '../../shared/delta/index.ts';
import { BadRequestError } from '../../shared/errors/index.ts';
import { exportTable, findTable, requireTable, type TableRow } from '../../shared/log-store/index.ts';
import { tableOption, withPool } from './options.ts';

export function registerPublishCommand(program: Command): void {
  program
    .command('publish')
    .description("give an owned table a location: services/publisher writes each of its versions to <dir>/_delta_log (put-if-absent, with checkpoints); <dir> is empty or already holds this table's log")
    .argument('<dir>', 'table folder (created if missing)')
    .addOption(tableOption())
    .action(async (dir: string, options: { table: string }) => {
      const result = await withPool((pool) => publishTable(pool, options.table, dir));
      const held = result.publishedVersion >= 0 ? `the folder holds versions up to ${result.publishedVersion}` : 'the folder holds no version yet';
      console.log(`${options.table}: published to ${result.location} (${held}; services/publisher writes the rest)`);
    });
}

export interface PublishResult {
  readonly location: string;
  /** the newest version the folder already held (identical), from the log's start; -1 for none */
  readonly publishedVersion: number;
}

const commitFilePattern = /^(\d{20})\.json$/;

export async function publishTable(pool: Pool, name: string, dir: string): Promise<PublishResult> {
  const table = await requireTable(pool, name);
  refuseFollowed(table);
  mkdirSync(dir, { recursive: true });
  const location = realpathSync(dir);
  const logDir = path.join(location, '_delta_log');
  const present = existsSync(logDir) ? readdirSync(logDir) : [];
  const versions = present.flatMap((entry) => {
    const match = commitFilePattern.exec(entry);
    return match ? [Number(match[1])] : [];
  }).sort((a, b) => a - b);
  await refuseShared(pool, table, location);
  const others = present.filter((entry) => !entry.startsWith('.') && !commitFilePattern.test(entry));
  if (versions.length === 0 && others.length > 0) {
    throw new BadRequestError(`${name}: ${logDir} holds ${others.slice(0, 3).join(', ')}${others.length > 3 ? ', …' : ''} but no commit file: not a log this table's can be checked against (use an empty folder)`);
  }
  const publishedVersion = versions.length === 0 ? -1 : await compareWithLog(pool, table, logDir, versions, new Set(present));
  await inTransaction(pool, async (client) => {
    const locked = await findTable(client, name, { forUpdate: true });
    if (!locked || locked.tableId !== table.tableId) throw new BadRequestError(`${name}: the table was dropped or recreated meanwhile: run publish again`);
    refuseFollowed(locked);
    await refuseShared(client, table, location);
    await client.query('UPDATE deltameta.delta_table SET location = $2 WHERE table_id = $1', [table.tableId, location]);
    await client.query(
      `INSERT INTO deltameta.table_publication (table_id, published_version) VALUES ($1, $2)
       ON CONFLICT (table_id) DO UPDATE SET published_version = excluded.published_version, checkpoint_version = NULL,
         published_at = NULL, stopped_reason = NULL, stopped_at = NULL`,
      [table.tableId, publishedVersion],
    );
  });
  return { location, publishedVersion };
}

/** One _delta_log, one table: refuses a location another table is followed from or published to. */
async function refuseShared(db: Pool | PoolClient, table: TableRow, location: string): Promise<void> {
  // serves: a scan of delta_table (one row per table)
  const { rows } = await db.query<{ name: string }>(
    `SELECT name FROM deltameta.delta_table t WHERE t.location = $1 AND t.table_id <> $2
        AND (t.kind = 'followed' OR EXISTS (SELECT FROM deltameta.table_publication p WHERE p.table_id = t.table_id))`,
    [location, table.tableId],
  );
  if (rows[0]) throw new BadRequestError(`${table.name}: ${location} is already the location of table ${rows[0].name} (followed from or published there): one _delta_log, one table`);
}

function refuseFollowed(table: TableRow): void {
  if (table.kind === 'followed') {
    throw new BadRequestError(
      `${table.name}: the table is followed from ${table.location ?? '?'}: its _delta_log there is the authority, so deltameta does not publish it (hand it over first: deltameta handover --table ${table.name} --to owned)`,
    );
  }
}

/**
 * Every commit file in `logDir` against deltameta's own for that version;
 * throws naming the first that differs. Returns the newest version held
 * without a gap from the log's start (a version deltameta keeps as a
 * checkpoint only counts when its checkpoint is there).
 */
async function compareWithLog(pool: Pool, table: TableRow, logDir: string, versions: number[], present: ReadonlySet<string>): Promise<number> {
  const newest = versions.at(-1) ?? -1;
  if (newest > table.headVersion) {
    throw new BadRequestError(`${table.name}: ${logDir} holds version ${newest}, but the table's newest version is ${table.headVersion}: a different log`);
  }
  const scratch = mkdtempSync(path.join(tmpdir(), 'deltameta-publish-'));
  try {
    await exportTable(pool, table.name, scratch, { checkpointInterval: 0 });
    const ownLog = path.join(scratch, '_delta_log');
    for (const version of versions) {
      const own = path.join(ownLog, commitFileName(version));
      if (!existsSync(own)) {
        throw new BadRequestError(`${table.name}: ${logDir} holds a commit file for version ${version}, which this table's log has none of (it starts at ${table.logStartVersion}): a different log`);
      }
      const [theirs, ours] = await Promise.all([readFile(path.join(logDir, commitFileName(version))), readFile(own)]);
      if (!theirs.equals(ours) && !sameActions(theirs.toString('utf8'), ours.toString('utf8'))) {
        throw new BadRequestError(`${table.name}: version ${version} in ${logDir} differs from the table's version ${version}: a different log (publish refused, nothing changed)`);
      }
    }
    const held = new Set(versions);
    let published = -1;
    for (let version = table.logStartVersion; version <= newest; version++) {
      const checkpointOnly = !existsSync(path.join(ownLog, commitFileName(version)));
      if (held.has(version) || (checkpointOnly && present.has(`${String(version).padStart(20, '0')}.checkpoint.parquet`))) published = version;
      else break;
    }
    return published;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The same actions in the same order, whatever the order of keys inside each (another writer's JSON). */
function sameActions(a: string, b: string): boolean {
  const linesA = a.split('\n').filter((line) => line.trim() !== '');
  const linesB = b.split('\n').filter((line) => line.trim() !== '');
  if (linesA.length !== linesB.length) return false;
  try {
    return linesA.every((line, index) => canonical(JSON.parse(line)) === canonical(JSON.parse(linesB[index] as string)));
  } catch {
    return false;
  }
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonical(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
