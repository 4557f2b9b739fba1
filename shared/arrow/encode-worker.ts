/**
 * The Arrow encoding worker (encode-pool.ts), in the layout of the metaData
 * sent with each request: add lines in, one record batch message out
 * (uncompressed: a file page's batch); or page batches in, one LZ4 batch
 * out (coalesced: an Arrow segment).
 */
import { parentPort } from 'node:worker_threads';
import type { MetadataAction } from '../delta/index.ts';
import { encodeAddLines } from './add-actions-encode.ts';
import { addActionsLayout } from './add-actions-layout.ts';
import { coalesceBatches } from './coalesce.ts';

/** What the worker is asked to do, in the layout of `metadata`. */
export type EncodeWork = { readonly metadata: string } & ({ readonly lines: readonly string[] } | { readonly batches: readonly Uint8Array[] });
export type EncodeRequest = { readonly id: number } & EncodeWork;

export type EncodeResponse = { readonly id: number; readonly body: Uint8Array } | { readonly id: number; readonly error: string };

const parsed = new Map<string, MetadataAction>();

parentPort?.on('message', (request: EncodeRequest) => {
  try {
    let metadata = parsed.get(request.metadata);
    if (!metadata) {
      if (parsed.size > 100) parsed.clear();
      metadata = JSON.parse(request.metadata) as MetadataAction;
      parsed.set(request.metadata, metadata);
    }
    const layout = addActionsLayout(metadata);
    const body = 'lines' in request ? encodeAddLines(layout, request.lines, 'none') : coalesceBatches(layout, request.batches);
    const copy = new Uint8Array(body);
    parentPort?.postMessage({ id: request.id, body: copy } satisfies EncodeResponse, [copy.buffer]);
  } catch (error) {
    parentPort?.postMessage({ id: request.id, error: error instanceof Error ? error.message : String(error) } satisfies EncodeResponse);
  }
});
