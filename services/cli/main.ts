/**
 * The `deltameta` command. Each subcommand reads the config once, builds
 * what it needs from `shared/`, and maps errors to exit codes in one place.
 */
import { Command, Option } from 'commander';
import { spawnSync } from 'node:child_process';
import { loadConfig, projectRoot } from '../../shared/config/index.ts';
import { createPool, migrate } from '../../shared/db/index.ts';
import { DeltametaError, exitCodeFor } from '../../shared/errors/index.ts';
import { generateTable, parseActionLines, parseTimestamp, replay } from '../../shared/delta/index.ts';
import { commit, describeImport, exportTable, importTable, snapshotLines } from '../../shared/log-store/index.ts';
import { formatStatus, serviceNames, stackDown, stackStatus, stackUp, type ServiceName } from '../../shared/stack/index.ts';
import { verifyTable } from '../../shared/materialized/index.ts';
import { runDemo } from './demo.ts';
import { formatPipelineStatus, pipelineStatus } from './status.ts';
import { pipelineServices, runServices } from './up.ts';
import { progressBar, writeLines } from './output.ts';

function integer(name: string, minimum = 0): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed < minimum) {
      throw new DeltametaError('BAD_INPUT', `${name} must be an integer >= ${minimum}, got ${JSON.stringify(value)}`);
    }
    return parsed;
  };
}

interface VersionOptions {
  version?: number;
  timestamp?: string;
}

function versionSelector(options: VersionOptions): { version?: number; timestampMs?: number } {
  if (options.version !== undefined && options.timestamp !== undefined) {
    throw new DeltametaError('BAD_INPUT', 'give --version or --timestamp, not both');
  }
  if (options.timestamp !== undefined) return { timestampMs: parseTimestamp(options.timestamp) };
  return options.version !== undefined ? { version: options.version } : {};
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function withPool<T>(work: (pool: ReturnType<typeof createPool>) => Promise<T>): Promise<T> {
  const pool = createPool(loadConfig().postgresUrl, { max: 2, applicationName: 'deltameta-cli' });
  try {
    return await work(pool);
  } finally {
    await pool.end();
  }
}

function parseServices(names: readonly string[]): ServiceName[] {
  for (const name of names) {
    if (!(serviceNames as readonly string[]).includes(name)) {
      throw new DeltametaError('BAD_INPUT', `unknown service "${name}": expected one of ${serviceNames.join(', ')}`);
    }
  }
  return names as ServiceName[];
}

const program = new Command('deltameta')
  .description('Delta Lake transaction-log metadata in PostgreSQL, served fast and never stale')
  .showHelpAfterError();

const stack = program.command('stack').description('the local PostgreSQL (wal_level=logical), Redis and Kafka (KRaft), without Docker');

stack
  .command('up')
  .description('start what is not running (idempotent; reuses services already answering on their ports)')
  .argument('[services...]', `some of: ${serviceNames.join(', ')}`)
  .action(async (names: string[]) => {
    const config = loadConfig();
    const started = Date.now();
    const statuses = await stackUp(config, parseServices(names));
    console.log(formatStatus(statuses));
    console.error(`stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

stack
  .command('down')
  .description('stop what this stack started; leaves no process behind')
  .argument('[services...]', `some of: ${serviceNames.join(', ')}`)
  .action(async (names: string[]) => {
    console.log(formatStatus(await stackDown(loadConfig(), parseServices(names))));
  });

stack
  .command('status')
  .description('what runs where, and where its log is')
  .argument('[services...]', `some of: ${serviceNames.join(', ')}`)
  .addOption(new Option('--json', 'print JSON'))
  .action(async (names: string[], options: { json?: boolean }) => {
    const statuses = await stackStatus(loadConfig(), parseServices(names));
    console.log(options.json ? JSON.stringify(statuses, null, 2) : formatStatus(statuses));
  });

program
  .command('migrate')
  .description('apply the sql/ migrations to DELTAMETA_PG_URL')
  .action(async () => {
    const pool = createPool(loadConfig().postgresUrl, { max: 1 });
    try {
      const { applied } = await migrate(pool);
      console.log(applied.length > 0 ? `applied ${applied.join(', ')}` : 'schema is up to date');
    } finally {
      await pool.end();
    }
  });

program
  .command('commit')
  .description('commit one version from Delta commit-file lines on stdin; prints the version (conflict: exit 3)')
  .requiredOption('--table <name>', 'table name')
  .option('--read-version <v>', 'the version the actions were decided on (omit for a blind commit)', integer('--read-version', -1))
  .action(async (options: { table: string; readVersion?: number }) => {
    const actions = parseActionLines(await readStdin(), '<stdin>').map((located) => located.action);
    const result = await withPool((pool) =>
      commit(pool, { table: options.table, actions, ...(options.readVersion !== undefined ? { readVersion: options.readVersion } : {}), source: '<stdin>' }),
    );
    console.log(result.version);
    if (result.alreadyCommitted) console.error(`deltameta: already committed as version ${result.version} (same commitInfo.txnId)`);
  });

program
  .command('replay')
  .description('file-based log replay: NDJSON of the live add actions, sorted by path')
  .argument('<dir>', 'Delta table folder (holding _delta_log)')
  .option('--version <v>', 'version (default: latest)', integer('--version'))
  .option('--timestamp <t>', 'ISO 8601 timestamp: the newest version at or before it')
  .action(async (dir: string, options: VersionOptions) => {
    const state = await replay(dir, versionSelector(options));
    await writeLines(state.liveLines());
  });

program
  .command('snapshot')
  .description('the same NDJSON as replay, from PostgreSQL')
  .requiredOption('--table <name>', 'table name')
  .option('--version <v>', 'version (default: latest)', integer('--version'))
  .option('--timestamp <t>', 'ISO 8601 timestamp: the newest version at or before it')
  .action(async (options: VersionOptions & { table: string }) => {
    await withPool(async (pool) => {
      const snapshot = await snapshotLines(pool, options.table, versionSelector(options));
      await writeLines(snapshot.lines);
    });
  });

program
  .command('import')
  .description("import (or incrementally sync) a Delta table's log into PostgreSQL")
  .argument('<dir>', 'Delta table folder (holding _delta_log)')
  .requiredOption('--table <name>', 'table name')
  .option('--history', 'import every retained version, not just the newest checkpoint and its tail')
  .action(async (dir: string, options: { table: string; history?: boolean }) => {
    const bar = progressBar(`import ${options.table}`);
    const started = Date.now();
    try {
      const result = await withPool((pool) =>
        importTable(pool, dir, options.table, { history: options.history === true, onProgress: (p) => bar.update(p.stepsDone, p.stepsTotal) }),
      );
      bar.stop();
      const seconds = (Date.now() - started) / 1000;
      console.log(describeImport(result, options.table, dir));
      if (result.rows > 0) console.error(`${result.rows} rows in ${seconds.toFixed(1)} s (${Math.round(result.rows / seconds)} rows/s)`);
    } finally {
      bar.stop();
    }
  });

program
  .command('export')
  .description("write the table's log back as _delta_log (JSON commits, Parquet checkpoints, _last_checkpoint)")
  .requiredOption('--table <name>', 'table name')
  .argument('<dir>', 'target table folder (its _delta_log must be empty or absent)')
  .option('--checkpoint-interval <n>', 'a checkpoint every n versions (0: none)', integer('--checkpoint-interval'), 10)
  .action(async (dir: string, options: { table: string; checkpointInterval: number }) => {
    const bar = progressBar(`export ${options.table}`);
    try {
      const result = await withPool((pool) =>
        exportTable(pool, options.table, dir, { checkpointInterval: options.checkpointInterval, onProgress: (done, total) => bar.update(done, total) }),
      );
      bar.stop();
      console.log(`${options.table}: wrote versions ${result.fromVersion}..${result.toVersion}, checkpoints at [${result.checkpoints.join(', ')}] into ${dir}`);
    } finally {
      bar.stop();
    }
  });

program
  .command('gen')
  .description('write a realistic synthetic Delta table (a real _delta_log), deterministic by seed')
  .argument('<dir>', 'target table folder')
  .requiredOption('--files <n>', 'live files at the last version', integer('--files'))
  .requiredOption('--commits <n>', 'commits after the create', integer('--commits', 1))
  .option('--partitions <n>', 'partitions (0: unpartitioned)', integer('--partitions'), 10)
  .option('--checkpoint-interval <n>', 'a checkpoint every n versions (0: none)', integer('--checkpoint-interval'), 10)
  .option('--seed <n>', 'random seed', integer('--seed'), 1)
  .option('--no-deletion-vectors', 'no deletion-vector updates (protocol 1/2)')
  .action(async (dir: string, options: { files: number; commits: number; partitions: number; checkpointInterval: number; seed: number; deletionVectors: boolean }) => {
    const bar = progressBar('gen');
    try {
      const result = await generateTable(dir, { ...options, onProgress: (done, total) => bar.update(done, total) });
      bar.stop();
      console.log(`${dir}: ${result.versions} versions, ${result.liveFiles} live files, ${result.actions} actions, checkpoints at [${result.checkpoints.join(', ')}]`);
    } finally {
      bar.stop();
    }
  });

program
  .command('up')
  .description(`run the services against the stack (${pipelineServices.join(', ')}); Ctrl-C stops them`)
  .argument('[services...]', 'only these services')
  .action(async (names: string[]) => {
    process.exitCode = await runServices(loadConfig(), names);
  });

program
  .command('status')
  .description('pipeline health at a glance: slot lag, consumer lag, queue depth and age, staleness')
  .option('--json', 'print JSON')
  .action(async (options: { json?: boolean }) => {
    const status = await pipelineStatus(loadConfig());
    console.log(options.json ? JSON.stringify(status, null, 2) : formatPipelineStatus(status));
  });

program
  .command('verify')
  .description('check materialized state against log replay, for every table or one')
  .option('--table <name>', 'only this table')
  .action(async (options: { table?: string }) => {
    const bad = await withPool(async (pool) => {
      const names = options.table
        ? [options.table]
        : (await pool.query<{ name: string }>('SELECT name FROM deltameta.delta_table ORDER BY name')).rows.map((row) => row.name);
      let failures = 0;
      for (const name of names) {
        const result = await verifyTable(pool, name);
        console.log(`${name}: ${result.ok ? 'ok' : 'MISMATCH'} at version ${result.watermark}`);
        for (const problem of result.problems) console.log(`  ${problem}`);
        if (!result.ok) failures++;
      }
      return failures;
    });
    if (bad > 0) {
      console.error(`deltameta: ${bad} table(s) do not match their log`);
      process.exitCode = 1;
    }
  });

program
  .command('bench')
  .description('the benchmark suite (DESIGN.md section 6); writes docs/benchmarks.md with charts')
  .option('--quick', 'a short run')
  .argument('[names...]', 'only these benchmarks (refresh, pipeline, reader)')
  .action((names: string[], options: { quick?: boolean }) => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...names, ...(options.quick ? ['--quick'] : [])], { stdio: 'inherit', cwd: projectRoot });
    process.exitCode = result.status ?? 1;
  });

program
  .command('demo')
  .description('the whole story end to end on a sample table')
  .action(async () => {
    await runDemo(loadConfig());
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`deltameta: ${message}`);
  if (process.env['DELTAMETA_DEBUG'] && error instanceof Error) console.error(error.stack);
  process.exitCode = exitCodeFor(error);
}
// A command is done when its action returns: exit once stdout is flushed,
// rather than wait for client libraries' reconnect timers (kafkajs, ioredis).
process.stdout.write('', () => process.exit());
