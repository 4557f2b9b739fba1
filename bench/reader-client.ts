/**
 * Client-visible reader times for bench/reader.ts: each request timed by a
 * Python client (bench/reader_client.py) the whole way to a usable table or
 * object, decoding included (gzip inflate, then JSON, NDJSON into pyarrow or
 * the Arrow IPC stream), as a delta-rs user gets a pyarrow table.
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { projectRoot } from '../shared/config/index.ts';

export type ClientFormat = 'json' | 'ndjson' | 'arrow';

export const arrowStreamType = 'application/vnd.apache.arrow.stream';

const execFileAsync = promisify(execFile);
const clientScript = path.join(projectRoot, 'bench', 'reader_client.py');
const clientOutput = z.object({ samples: z.array(z.number()), rows: z.number(), bytes: z.number() });
export type ClientTimes = z.infer<typeof clientOutput>;

/** `repeat` timed requests after `warmup` untimed ones, on one keep-alive connection. */
export async function clientTimes(python: string, port: number, route: string, format: ClientFormat, repeat: number, warmup = 0): Promise<ClientTimes> {
  const { stdout } = await execFileAsync(
    python,
    [clientScript, '--port', String(port), '--route', route, '--format', format, '--repeat', String(repeat), '--warmup', String(warmup)],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  return clientOutput.parse(JSON.parse(stdout));
}

/** Whether the reader answers this route in Arrow (a reader without Arrow lists sends NDJSON whatever Accept says). */
export function answersArrow(port: number, route: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: route, headers: { accept: arrowStreamType } }, (response) => {
      response.resume();
      resolve(response.statusCode === 200 && (response.headers['content-type'] ?? '').startsWith(arrowStreamType));
    });
    request.on('error', reject);
  });
}
