/**
 * The import's base checkpoint read by a worker thread
 * (import-base-worker.ts): decoding and row building leave the main thread,
 * which validates the few non-file actions and relays COPY text, so
 * PostgreSQL ingests one chunk while the worker builds the next.
 */
import { Worker } from 'node:worker_threads';
import type { PoolClient } from '../db/index.ts';
import { InternalError } from '../errors/index.ts';
import { copyTexts, type BaseChunk, type BaseEnd, type BaseInput, type BaseReader } from '../log-store/index.ts';
import { baseMessages, type BaseInit, type BaseMessage, type PartitionCount } from './import-base-messages.ts';
import { copyFileIndexRows } from './copy.ts';

/** What ImportState gives the worker and takes back from it. */
export interface BaseSink {
  readonly touchedKeys: readonly string[];
  /** an add of the checkpoint on a key the tail touches, as JSON */
  touchedAdd(version: number, json: string): void;
  mergeCounts(partitions: readonly [string, PartitionCount][], files: number, bytes: number, records: number): void;
}

const entry = new URL('../delta/worker-entry.mjs', import.meta.url);
const workerModule = new URL('./import-base-worker.ts', import.meta.url).href;
/** Rows per chunk: ~5 MB of COPY text, so a chunk's strings die in the young generation. */
const chunkRows = 5_000;

/**
 * Starts the worker now, so that it loads its modules (~1 s) while the
 * import reads the tail; `chunks` gives it the input, the tail's keys
 * included, once they are known.
 */
export function startBaseWorker(sink: BaseSink, base: BaseInput): BaseReader {
  const version = base.checkpoint.version;
  const worker = new Worker(entry, {
    workerData: { module: workerModule },
    // A young generation big enough that a chunk's strings die young (the default promotes them, and old-space GC then dominates).
    resourceLimits: { maxYoungGenerationSizeMb: 128 },
  });
  const queue: (BaseMessage | { type: 'crash'; error: Error })[] = [];
  let wake: (() => void) | undefined;
  const push = (message: BaseMessage | { type: 'crash'; error: Error }): void => {
    queue.push(message);
    wake?.();
    wake = undefined;
  };
  worker.on('message', (message: BaseMessage) => push(message));
  worker.on('error', (error) => push({ type: 'crash', error }));
  worker.on('exit', (code) => push({ type: 'crash', error: new InternalError(`import: the checkpoint worker exited (code ${code}) before it was done`) }));
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      worker.removeAllListeners();
      await worker.terminate();
    })();
    return closed;
  };
  async function* chunks(): AsyncGenerator<BaseChunk, BaseEnd> {
    try {
      const init: BaseInit = {
        listing: base.listing, checkpoint: base.checkpoint, limits: base.limits, tableId: base.tableId, version, touchedKeys: sink.touchedKeys, chunkRows,
      };
      worker.postMessage({ init });
      for (;;) {
        while (queue.length === 0) await new Promise<void>((resolve) => { wake = resolve; });
        const message = queue.shift() as BaseMessage | { type: 'crash'; error: Error };
        switch (message.type) {
          case 'crash': throw message.error;
          case 'error': throw baseMessages.reviveError(message.error, base.checkpoint);
          case 'end':
            sink.mergeCounts(message.partitions, message.files, message.bytes, message.records);
            return { summary: message.summary, partitionSamples: message.partitionSamples };
          case 'chunk': {
            for (const json of message.touchedAdds) sink.touchedAdd(version, json);
            const { log, state } = message;
            yield {
              actions: message.actions,
              rows: message.rows,
              write: async (client: PoolClient) => {
                await copyTexts(client, log);
                if (state !== '') await copyFileIndexRows(client, [state]);
              },
            };
            // Consumed: the worker may build one more.
            worker.postMessage('more');
            break;
          }
        }
      }
    } finally {
      await close();
    }
  }
  return { chunks, close };
}
