/**
 * The Arrow encoding worker (encode-pool.ts): add lines in, one record batch
 * message out (uncompressed: a file page's batch), in the layout of the
 * metaData sent with them.
 */
import { parentPort } from 'node:worker_threads';
import type { MetadataAction } from '../delta/index.ts';
import { encodeAddLines } from './add-actions-encode.ts';
import { addActionsLayout } from './add-actions-layout.ts';

export interface EncodeRequest {
  readonly id: number;
  readonly metadata: string;
  readonly lines: readonly string[];
}

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
    const body = encodeAddLines(addActionsLayout(metadata), request.lines, 'none');
    const copy = new Uint8Array(body);
    parentPort?.postMessage({ id: request.id, body: copy } satisfies EncodeResponse, [copy.buffer]);
  } catch (error) {
    parentPort?.postMessage({ id: request.id, error: error instanceof Error ? error.message : String(error) } satisfies EncodeResponse);
  }
});
