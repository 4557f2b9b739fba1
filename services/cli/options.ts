/** Option parsing shared by the commands: integers, --table, --version/--timestamp, stdin, a short-lived pool. */
import { type Command, Option } from 'commander';
import { loadConfig } from '../../shared/config/index.ts';
import { createPool, type Pool } from '../../shared/db/index.ts';
import { parseTimestamp } from '../../shared/delta/index.ts';
import { DeltametaError } from '../../shared/errors/index.ts';

/** A commander argument parser: an integer >= `minimum`, else BAD_INPUT (exit 2) naming the option. */
export function integer(name: string, minimum = 0): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed < minimum) {
      throw new DeltametaError('BAD_INPUT', `${name} must be an integer >= ${minimum}, got ${JSON.stringify(value)}`);
    }
    return parsed;
  };
}

export function tableOption(description = 'table name', required = true): Option {
  const option = new Option('--table <name>', description);
  return required ? option.makeOptionMandatory() : option;
}

export function checkpointIntervalOption(): Option {
  return new Option('--checkpoint-interval <n>', 'a checkpoint every n versions (0: none)').argParser(integer('--checkpoint-interval')).default(10);
}

export interface VersionOptions {
  version?: number;
  timestamp?: string;
}

/** Adds --version and --timestamp: which version to read (`versionSelector` turns them into the library's selector). */
export function addVersionOptions(command: Command): Command {
  return command
    .addOption(new Option('--version <v>', 'version (default: latest)').argParser(integer('--version')))
    .addOption(new Option('--timestamp <t>', 'ISO 8601 timestamp: the newest version at or before it'));
}

export function versionSelector(options: VersionOptions): { version?: number; timestampMs?: number } {
  if (options.version !== undefined && options.timestamp !== undefined) {
    throw new DeltametaError('BAD_INPUT', 'give --version or --timestamp, not both');
  }
  if (options.timestamp !== undefined) return { timestampMs: parseTimestamp(options.timestamp) };
  return options.version !== undefined ? { version: options.version } : {};
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A small pool to DELTAMETA_PG_URL for one command, ended whatever happens. */
export async function withPool<T>(work: (pool: Pool) => Promise<T>, max = 2): Promise<T> {
  const pool = createPool(loadConfig().postgresUrl, { max, applicationName: 'deltameta-cli' });
  try {
    return await work(pool);
  } finally {
    await pool.end();
  }
}
