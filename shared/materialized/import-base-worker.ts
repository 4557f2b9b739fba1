/**
 * Worker thread of an import's base checkpoint (import-base.ts starts it):
 * decodes the checkpoint (readCheckpoint: Parquet, parts and sidecars in
 * order) and turns its actions into COPY text, the log tables' rows as the
 * import's RowBatch writes them and file_index rows as ImportState.baseAdd
 * writes them, so the import's main thread only relays text to PostgreSQL.
 * Chunks go out with at most two unacknowledged (memory stays bounded by a
 * few chunks). Adds whose key the tail touches go back as JSON, for the main
 * thread to reconcile with the tail.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { deletionVectorUniqueId, readCheckpoint, type LocatedAction } from '../delta/index.ts';
import { emptySummary, RowBatch } from '../log-store/index.ts';
import { baseMessages, type BaseInit, type BaseMessage, type PartitionCount } from './import-base-messages.ts';
import { copyLine } from './copy.ts';
import { fileColumns } from './file-row.ts';

const port = parentPort;
if (!port) throw new Error('import-base-worker.ts runs as a worker thread');
const init = (workerData as { init: BaseInit }).init;
const { tableId, version } = init;
const touched = new Set(init.touchedKeys);

let credits = 2;
let wake: (() => void) | undefined;
port.on('message', (message) => {
  if (message !== 'more') return;
  credits++;
  wake?.();
  wake = undefined;
});

async function send(message: BaseMessage): Promise<void> {
  while (credits <= 0) await new Promise<void>((resolve) => { wake = resolve; });
  credits--;
  port?.postMessage(message);
}

async function run(): Promise<void> {
  const batch = new RowBatch(tableId);
  const summary = emptySummary();
  const samples = new Map<string, LocatedAction>();
  const partitions = new Map<string, PartitionCount>();
  const totals = { files: 0, bytes: 0, records: 0 };
  let lines: string[] = [];
  let actions: LocatedAction[] = [];
  let touchedAdds: string[] = [];
  let ordinal = 0;
  const flush = async (): Promise<void> => {
    const rows = batch.size;
    const message: BaseMessage = { type: 'chunk', log: batch.takeTexts(), state: lines.join(''), actions, touchedAdds, rows };
    lines = [];
    actions = [];
    touchedAdds = [];
    await send(message);
  };
  for await (const located of readCheckpoint(init.listing, init.checkpoint, init.limits)) {
    const { action } = located;
    batch.addAction(version, ordinal++, action, summary);
    if (action.kind === 'add') {
      const add = action.add;
      const signature = Object.keys(add.partitionValues).join('\u0000');
      if (!samples.has(signature)) samples.set(signature, located);
      const dvId = deletionVectorUniqueId(add.deletionVector);
      if (touched.has(`${add.path}\u0000${dvId}`)) {
        touchedAdds.push(JSON.stringify(add));
      } else {
        const row = { path: add.path, dvId, addedVersion: version, removedVersion: null, ...fileColumns(add) };
        lines.push(copyLine(tableId, row));
        totals.files++;
        totals.bytes += row.size;
        totals.records += row.numRecords ?? 0;
        const count = partitions.get(row.partitionKey);
        if (count) {
          count.files++;
          count.bytes += row.size;
          count.records += row.numRecords ?? 0;
        } else {
          partitions.set(row.partitionKey, { partitionValues: row.partitionValues, files: 1, bytes: row.size, records: row.numRecords ?? 0 });
        }
      }
    } else if (action.kind !== 'remove' && action.kind !== 'cdc') {
      actions.push(located);
    }
    if (batch.size + lines.length >= init.chunkRows) await flush();
  }
  await flush();
  await send({ type: 'end', summary, partitionSamples: [...samples.values()], partitions: [...partitions], ...totals });
}

run().catch((error: unknown) => {
  port.postMessage({ type: 'error', error: baseMessages.describeError(error) } satisfies BaseMessage);
});
