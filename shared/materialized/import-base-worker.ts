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
import { parentPort } from 'node:worker_threads';
import { addLine, addLineFromJson, deletionVectorUniqueId, readCheckpoint, type LocatedAction } from '../delta/index.ts';
import { emptySummary, jsonCopyCell, RowBatch } from '../log-store/index.ts';
import { baseMessages, type BaseInit, type BaseMessage, type PartitionCount } from './import-base-messages.ts';
import { liveCopyLine } from './copy.ts';
import { addColumns } from './file-row.ts';

const port = parentPort;
if (!port) throw new Error('import-base-worker.ts runs as a worker thread');
// Started before the import knows the tail's keys (the modules above load meanwhile): the input is the first message.
const init = await new Promise<BaseInit>((resolve) => {
  port.once('message', (message: { init: BaseInit }) => resolve(message.init));
});
const { tableId, version } = init;
const touched = new Set(init.touchedKeys);
// Most adds' paths are not touched: checked first, the path (hashed once) spares building a key string per add.
const touchedPaths = new Set(init.touchedKeys.map((key) => key.slice(0, key.indexOf('\u0000'))));

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

interface FileRowLine {
  readonly path: string;
  readonly dvId: string;
  readonly line: string;
}

/**
 * A chunk's file_index rows in path order. The checkpoint lists files in
 * no useful order; the reader's whole list (and the pages build) scans
 * file_index_live in path order, so rows written in checkpoint order make
 * it a random walk over the heap. Sorted runs of a chunk each make it a few
 * hundred sequential streams instead: at 1M files the scan took 3.5 s over
 * checkpoint order, 1.7 s over a heap in path order and 1.7–2.2 s over
 * runs of 4,096 (measured in SQL here), while a sort of the whole table at
 * the end would cost ~18 s of PostgreSQL time.
 */
function inPathOrder(rows: FileRowLine[]): string {
  // UTF-16 order, not the code point order of COLLATE "C": they differ only past surrogates, and this order is physical only.
  rows.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.dvId < b.dvId ? -1 : a.dvId > b.dvId ? 1 : 0));
  return rows.map((row) => row.line).join('');
}

async function run(): Promise<void> {
  const batch = new RowBatch(tableId);
  const summary = emptySummary();
  const samples = new Map<string, LocatedAction>();
  const partitions = new Map<string, PartitionCount>();
  const totals = { files: 0, bytes: 0, records: 0 };
  let fileRows: FileRowLine[] = [];
  let actions: LocatedAction[] = [];
  let touchedAdds: string[] = [];
  let ordinal = 0;
  const flush = async (): Promise<void> => {
    const rows = batch.size;
    const message: BaseMessage = { type: 'chunk', log: batch.takeTexts(), state: inPathOrder(fileRows), actions, touchedAdds, rows };
    fileRows = [];
    actions = [];
    touchedAdds = [];
    await send(message);
  };
  for await (const located of readCheckpoint(init.listing, init.checkpoint, init.limits)) {
    const { action } = located;
    if (action.kind !== 'add') {
      batch.addAction(version, ordinal++, action, summary);
      if (action.kind !== 'remove' && action.kind !== 'cdc') actions.push(located);
    } else {
      const add = action.add;
      // Each JSON text of the add made once, shared by its delta_add and file_index rows.
      const partitionValuesJson = JSON.stringify(add.partitionValues);
      const actionCell = jsonCopyCell(JSON.stringify(add));
      batch.addAdd(version, ordinal++, add, summary, { action: actionCell, partitionValues: jsonCopyCell(partitionValuesJson) });
      const signature = Object.keys(add.partitionValues).join('\u0000');
      if (!samples.has(signature)) samples.set(signature, located);
      const dvId = deletionVectorUniqueId(add.deletionVector);
      if (touchedPaths.has(add.path) && touched.has(`${add.path}\u0000${dvId}`)) {
        touchedAdds.push(JSON.stringify(add));
      } else {
        const columns = addColumns(add, partitionValuesJson);
        const addLineCell = addLineFromJson(add, actionCell) ?? jsonCopyCell(addLine(add));
        fileRows.push({ path: add.path, dvId, line: liveCopyLine(tableId, version, add.path, dvId, columns, addLineCell) });
        totals.files++;
        totals.bytes += columns.size;
        totals.records += columns.numRecords ?? 0;
        const count = partitions.get(columns.partitionKey);
        if (count) {
          count.files++;
          count.bytes += columns.size;
          count.records += columns.numRecords ?? 0;
        } else {
          partitions.set(columns.partitionKey, { partitionValues: columns.partitionValues, files: 1, bytes: columns.size, records: columns.numRecords ?? 0 });
        }
      }
    }
    if (batch.size + fileRows.length >= init.chunkRows) await flush();
  }
  await flush();
  await send({ type: 'end', summary, partitionSamples: [...samples.values()], partitions: [...partitions], ...totals });
}

run().catch((error: unknown) => {
  port.postMessage({ type: 'error', error: baseMessages.describeError(error) } satisfies BaseMessage);
});
