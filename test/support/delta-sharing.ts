/**
 * The official Delta Sharing Python connector (`delta-sharing`, pinned with
 * its dependencies in infra/python/sharing-requirements.txt) in a virtual
 * environment of its own, `<checkout>/.venv/delta-sharing` (inside the
 * ignored .venv, apart from delta-rs's packages), created on first use like
 * shared/stack's delta-rs venv: a marker holds the sha256 of the
 * requirements installed completely. `runSharingClient` runs one connector
 * call against a profile file and returns its JSON answer.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../shared/config/index.ts';
import { ensureDeltaRs } from '../../shared/stack/index.ts';

const venvDir = path.join(projectRoot, '.venv', 'delta-sharing');
const venvPython = path.join(venvDir, 'bin', 'python');
const requirementsFile = path.join(projectRoot, 'infra', 'python', 'sharing-requirements.txt');
const markerFile = path.join(venvDir, '.deltameta-requirements.sha256');

let ready: Promise<string> | undefined;

/** The venv's python, with delta-sharing installed; concurrent callers share one install, a failed one is retried. */
export function ensureDeltaSharingVenv(): Promise<string> {
  ready ??= prepare().catch((error: unknown) => {
    ready = undefined;
    throw error;
  });
  return ready;
}

async function prepare(): Promise<string> {
  const wanted = createHash('sha256').update(await readFile(requirementsFile)).digest('hex');
  const marker = await readFile(markerFile, 'utf8').then((text) => text.trim(), () => undefined);
  if (existsSync(venvPython) && marker === wanted) return venvPython;
  await rm(markerFile, { force: true });
  // The delta-rs venv's setup makes sure python3 can create venvs (python3-venv on Debian).
  await ensureDeltaRs();
  if (!existsSync(venvPython)) await run('python3', ['-m', 'venv', venvDir]);
  await run(path.join(venvDir, 'bin', 'pip'), ['install', '-q', '-r', requirementsFile]);
  const temporary = `${markerFile}.${process.pid}.tmp`;
  await writeFile(temporary, `${wanted}\n`);
  await rename(temporary, markerFile);
  return venvPython;
}

function run(command: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: projectRoot, stdio: ['ignore', process.stderr, process.stderr], env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' } });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${String(code)}`}); its output is on stderr above`));
    });
  });
}

/**
 * One connector call: `list_shares`, `list_all_tables`, `list_schemas <share>`
 * or `list_tables <share> <schema>` through `SharingClient(profile)`. Prints
 * {"names": [...]} (tables as share.schema.name), or {"error": status,
 * "message": ...} when the server refused (the connector's HTTPError).
 */
const clientScript = `
import json, sys
import delta_sharing
from delta_sharing.protocol import Share, Schema
from requests.exceptions import HTTPError
profile, action, *rest = sys.argv[1:]
client = delta_sharing.SharingClient(profile)
try:
    if action == 'list_shares':
        names = [s.name for s in client.list_shares()]
    elif action == 'list_all_tables':
        names = [f'{t.share}.{t.schema}.{t.name}' for t in client.list_all_tables()]
    elif action == 'list_schemas':
        names = [s.name for s in client.list_schemas(Share(name=rest[0]))]
    elif action == 'list_tables':
        names = [f'{t.share}.{t.schema}.{t.name}' for t in client.list_tables(Schema(name=rest[1], share=rest[0]))]
    else:
        raise SystemExit('unknown action ' + action)
    print(json.dumps({'names': names}))
except HTTPError as error:
    print(json.dumps({'error': error.response.status_code, 'message': str(error)}))
`;

export interface SharingClientAnswer {
  readonly names?: string[];
  readonly error?: number;
  readonly message?: string;
}

export async function runSharingClient(profile: string, action: string, ...args: string[]): Promise<SharingClientAnswer> {
  const python = await ensureDeltaSharingVenv();
  const { stdout } = await promisify(execFile)(python, ['-c', clientScript, profile, action, ...args], { cwd: projectRoot, encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(stdout) as SharingClientAnswer;
}

const connectorScript = path.join(projectRoot, 'test', 'support', 'sharing_connector.py');

/** What test/support/sharing_connector.py prints: rows in sharing_rows.py's comparable form, a version, or the server's refusal. */
export interface ConnectorAnswer {
  readonly count?: number;
  readonly columns?: string[];
  readonly rows?: Array<Record<string, unknown>>;
  readonly version?: number;
  readonly metadata?: { id: string; schemaString: string; partitionColumns: string[]; configuration: Record<string, string> };
  readonly error?: number;
  readonly message?: string;
}

/**
 * One call of the official connector's data API through sharing_connector.py:
 * `load <url> [--version V] [--timestamp T] [--limit N] [--predicate JSON] [--delta] [--count-only]`,
 * `changes <url> --start S --end E`, `version <url> [--starting-timestamp T]`, `metadata <url>`;
 * `url` is `<profile>#<share>.<schema>.<table>`.
 */
export async function runSharingConnector(args: readonly string[], timeoutMs = 170_000): Promise<ConnectorAnswer> {
  const python = await ensureDeltaSharingVenv();
  try {
    const { stdout } = await promisify(execFile)(python, [connectorScript, ...args], { cwd: projectRoot, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 256 * 1024 * 1024 });
    return JSON.parse(stdout) as ConnectorAnswer;
  } catch (error) {
    const stderr = error instanceof Error && 'stderr' in error && typeof error.stderr === 'string' ? error.stderr.trimEnd().slice(-4000) : '';
    throw new Error(`sharing_connector.py ${args.join(' ')} failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}\n${stderr}`, { cause: error });
  }
}
