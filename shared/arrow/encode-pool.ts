/**
 * Arrow batches encoded on a worker thread, so a page build's JSON parsing
 * and encoding (~10 µs a line) runs beside the main thread's reads, gzip
 * and inserts instead of between them. One worker per process, started on
 * first use and kept (unref'd: it never keeps a process alive); a crash
 * fails what it held and the next call starts a new one.
 */
import { Worker } from 'node:worker_threads';
import type { EncodeRequest, EncodeResponse, EncodeWork } from './encode-worker.ts';

const entry = new URL('./worker-entry.mjs', import.meta.url);
const workerModule = new URL('./encode-worker.ts', import.meta.url).href;

interface Pending {
  readonly resolve: (body: Buffer) => void;
  readonly reject: (error: Error) => void;
}

let worker: Worker | undefined;
const pending = new Map<number, Pending>();
let nextId = 0;

function failAll(error: Error): void {
  worker = undefined;
  for (const entry of pending.values()) entry.reject(error);
  pending.clear();
}

function started(): Worker {
  if (worker) return worker;
  const created = new Worker(entry, { workerData: { module: workerModule } });
  created.unref();
  created.on('message', (response: EncodeResponse) => {
    const waiting = pending.get(response.id);
    pending.delete(response.id);
    if (pending.size === 0) created.unref();
    if (!waiting) return;
    if ('error' in response) waiting.reject(new Error(`Arrow encoding worker: ${response.error}`));
    else waiting.resolve(Buffer.from(response.body.buffer, response.body.byteOffset, response.body.byteLength));
  });
  created.on('error', (error) => failAll(error));
  created.on('exit', (code) => failAll(new Error(`the Arrow encoding worker exited (code ${code})`)));
  worker = created;
  return created;
}

function onWorker(work: EncodeWork): Promise<Buffer> {
  const target = started();
  const id = nextId++;
  return new Promise<Buffer>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    // Referenced while it owes answers: a process waiting on one must not exit under it.
    target.ref();
    target.postMessage({ id, ...work } satisfies EncodeRequest);
  });
}

/** One record batch message of `lines` in the layout of `metadata` (the metaData action's JSON), encoded on the worker. */
export function encodeAddLinesInWorker(metadata: string, lines: readonly string[]): Promise<Buffer> {
  return onWorker({ metadata, lines });
}

/**
 * The batches (in the layout of `metadata`) coalesced into one LZ4 batch on
 * the worker (coalesce.ts): ~0.15 s per 64k rows, which on the calling
 * thread would stall everything else the refresher does.
 */
export function coalesceBatchesInWorker(metadata: string, batches: readonly Uint8Array[]): Promise<Buffer> {
  return onWorker({ metadata, batches });
}
