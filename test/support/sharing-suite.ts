/**
 * The setting of the Delta Sharing data tests (test/integration/sharing-query,
 * sharing-changes): delta-rs tables imported with their whole history, a share
 * `lake` (schema `main`) of them and a share `other` configured with the real
 * CLI, recipient `alice` (lake) and `bob` (other only) with the profile files
 * the CLI writes, a real reader on the suite's database; and the raw protocol
 * requests the connector does not make (paging, capabilities) as plain HTTP.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Pool } from '../../shared/db/index.ts';
import { importTable } from '../../shared/log-store/index.ts';
import { runDeltameta } from './cli.ts';
import type { TestEnv } from './env.ts';
import { startTestReader, type RunningReader } from './reader.ts';

export const urlKey = 'a sharing-test HMAC key, 32 bytes or more';

export type Recipient = 'alice' | 'bob';

/** One NDJSON line of a table response. */
export type ResponseLine = Record<string, Record<string, unknown>>;

export interface TableAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** the NDJSON lines (for a 200), else [] */
  readonly lines: ResponseLine[];
}

export interface SharingSuite {
  readonly pool: Pool;
  readonly reader: RunningReader;
  readonly endpoint: string;
  readonly profiles: Record<Recipient, string>;
  /** the connector's table URL, `<profile>#lake.main.<table>` (or another share) */
  url(recipient: Recipient, table: string, share?: string): string;
  token(recipient: Recipient): string;
  /** POST …/query with `body`, the capabilities header when given */
  query(table: string, body: Record<string, unknown>, options?: RequestOptions): Promise<TableAnswer>;
  /** GET …/{what} (version, metadata, changes?...) */
  get(table: string, what: string, options?: RequestOptions): Promise<TableAnswer>;
  stop(): Promise<void>;
}

export interface RequestOptions {
  readonly recipient?: Recipient;
  readonly capabilities?: string;
  readonly share?: string;
  readonly schema?: string;
  readonly endpoint?: string;
}

async function answerOf(response: Response): Promise<TableAnswer> {
  const text = await response.text();
  const lines = response.status === 200 && text.trim() !== '' && !response.headers.get('content-type')?.startsWith('application/json')
    ? text.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as ResponseLine)
    : [];
  return { status: response.status, headers: response.headers, text, lines };
}

/** The `file` (or add/cdf/remove) objects of a response's lines. */
export function filesOf(answer: TableAnswer, kinds: readonly string[] = ['file']): Array<Record<string, unknown>> {
  return answer.lines.flatMap((line) => kinds.filter((kind) => kind in line).map((kind) => line[kind] as Record<string, unknown>));
}

export function endStreamOf(answer: TableAnswer): Record<string, unknown> | undefined {
  return answer.lines.find((line) => 'endStreamAction' in line)?.['endStreamAction'];
}

/**
 * Imports `tables` (deltameta name → delta-rs table folder) with history,
 * shares them all as lake.main, `otherTable` as other.misc, makes the two
 * recipients and starts a reader with `readerEnv` over the suite's settings.
 */
export async function startSharingSuite(
  env: TestEnv,
  profileDir: string,
  tables: Readonly<Record<string, string>>,
  otherTable: string,
  readerEnv: Record<string, string> = {},
): Promise<SharingSuite> {
  const pool = env.pool(2);
  for (const [name, dir] of Object.entries(tables)) await importTable(pool, dir, name, { history: true });
  const reader = await startTestReader(env, { DELTAMETA_READER_SHARING_URL_KEY: urlKey, DELTAMETA_READER_SHARING_RELOAD_MS: '100', ...readerEnv }, ':sharing');
  const endpoint = `${reader.base}/delta-sharing`;
  const childEnv = { ...process.env, DELTAMETA_PG_URL: env.config.postgresUrl, DELTAMETA_REDIS_PREFIX: env.keyPrefix };
  const cli = async (...args: string[]): Promise<void> => {
    const run = await runDeltameta(['sharing', ...args], childEnv);
    if (run.code !== 0) throw new Error(`deltameta sharing ${args.join(' ')}: exit ${run.code}\n${run.stderr}`);
  };
  await cli('share', 'lake', 'main', ...Object.keys(tables));
  await cli('share', 'other', 'misc', otherTable);
  const profiles = { alice: path.join(profileDir, 'alice.share'), bob: path.join(profileDir, 'bob.share') };
  await cli('recipient', 'alice', '--share', 'lake', '--profile', profiles.alice, '--endpoint', endpoint);
  await cli('recipient', 'bob', '--share', 'other', '--profile', profiles.bob, '--endpoint', endpoint);
  const token = (recipient: Recipient): string => (JSON.parse(readFileSync(profiles[recipient], 'utf8')) as { bearerToken: string }).bearerToken;
  const tableUrl = (table: string, options: RequestOptions): string =>
    `${options.endpoint ?? endpoint}/shares/${options.share ?? 'lake'}/schemas/${options.schema ?? 'main'}/tables/${table}`;
  const headers = (options: RequestOptions): Record<string, string> => ({
    authorization: `Bearer ${token(options.recipient ?? 'alice')}`,
    ...(options.capabilities === undefined ? {} : { 'delta-sharing-capabilities': options.capabilities }),
  });
  return {
    pool, reader, endpoint, profiles, token,
    url: (recipient, table, share = 'lake') => `${profiles[recipient]}#${share}.${share === 'lake' ? 'main' : 'misc'}.${table}`,
    async query(table, body, options = {}) {
      const response = await fetch(`${tableUrl(table, options)}/query`, {
        method: 'POST', headers: { ...headers(options), 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(body),
      });
      return answerOf(response);
    },
    async get(table, what, options = {}) {
      return answerOf(await fetch(`${tableUrl(table, options)}/${what}`, { headers: headers(options) }));
    },
    async stop() {
      await reader.stop();
      await pool.end();
    },
  };
}
