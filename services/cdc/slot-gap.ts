/**
 * A lost replication slot must not lose events. The slot's confirmed
 * position is the CDC's memory of what Kafka has; a slot dropped by an
 * operator, or invalidated by max_slot_wal_keep_size while Kafka was away,
 * takes it along, and a new slot starts at the WAL's present: the commits
 * between are never decoded. So the CDC also keeps, in PostgreSQL
 * (deltameta.cdc_published, sql/000013), the newest version Kafka
 * acknowledged per table (written after the acknowledgement, half a second
 * behind at most: never ahead of Kafka). Creating a slot whose name has
 * such records first marks the gap (cdc_slot_gap, before the slot exists:
 * no instance can stream it unmarked); the instance that then starts
 * streaming it publishes every version after the records, in version order
 * per table, before any of the stream's rows (BatchSender.publishFirst),
 * and clears the mark. What the stream delivers again is a duplicate after
 * its original, which the pipeline drops (head pointers only move forward).
 *
 * A slot seen for the first time (no records) gets a row per table at its
 * head: history from before the pipeline is not replayed. It also gets the
 * row of table_id 0 (no table has it: identities start at 1), version -1,
 * which says "this slot has published" even when there was no table yet:
 * without it, a slot lost before the first acknowledged versions were
 * written (half a second) had no records, so no gap was marked and the
 * commits between the loss and the new slot were never published; and each
 * reconnect of such a slot recorded the heads again, ahead of Kafka. A
 * table without a row has had nothing recorded: all its versions are in
 * the gap.
 */
import type { Message } from 'kafkajs';
import type { Pool } from '../../shared/db/index.ts';
import { encodeCommitEvent } from '../../shared/contracts/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import { commitEventFromRow, type CommitRow } from './commit-row.ts';

/** The row that marks a slot as seen (no table has id 0). */
const slotSeenTableId = 0;

// serves: cdc_published primary key (slot_name, table_id); delta_commit primary key for the heads
const baselineSql = `
  INSERT INTO deltameta.cdc_published (slot_name, table_id, version)
  SELECT $1, t.table_id, (SELECT max(version) FROM deltameta.delta_commit c WHERE c.table_id = t.table_id)
    FROM deltameta.delta_table t
   WHERE EXISTS (SELECT 1 FROM deltameta.delta_commit c WHERE c.table_id = t.table_id)
  UNION ALL SELECT $1, ${slotSeenTableId}, -1
  ON CONFLICT (slot_name, table_id) DO NOTHING`;

// serves: delta_commit primary key (table_id, version) range per table, cdc_published primary key
const unpublishedSql = `
  SELECT t.table_id, t.name, c.version, c.timestamp_ms, c.operation, c.num_adds, c.num_removes, c.metadata_changed, c.protocol_changed
    FROM deltameta.delta_table t
    LEFT JOIN deltameta.cdc_published p ON p.slot_name = $1 AND p.table_id = t.table_id
   CROSS JOIN LATERAL (SELECT * FROM deltameta.delta_commit c
                        WHERE c.table_id = t.table_id AND c.version > coalesce(p.version, -1)
                        ORDER BY c.version LIMIT $2) c
   ORDER BY t.table_id, c.version
   LIMIT $2`;

const recordSql = `
  INSERT INTO deltameta.cdc_published (slot_name, table_id, version)
  SELECT $1, unnest($2::bigint[]), unnest($3::bigint[])
  ON CONFLICT (slot_name, table_id) DO UPDATE SET version = GREATEST(deltameta.cdc_published.version, EXCLUDED.version)`;

interface UnpublishedRow {
  table_id: string | number; name: string; version: string | number; timestamp_ms: string | number; operation: string | null;
  num_adds: number; num_removes: number; metadata_changed: boolean; protocol_changed: boolean;
}

/** Versions Kafka acknowledged, written to PostgreSQL every `intervalMs` (one statement for all the tables since the last). */
export class PublishedVersions {
  private pending = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly pool: Pool, private readonly slotName: string, private readonly logger: Logger, private readonly intervalMs = 500) {}

  /** After Kafka acknowledged these versions. */
  note(rows: Iterable<{ tableId: number; version: number }>): void {
    for (const { tableId, version } of rows) this.pending.set(tableId, Math.max(version, this.pending.get(tableId) ?? -1));
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.writing = this.writing.then(() => this.write());
    }, this.intervalMs);
  }

  /** Writes what is pending now; throws if PostgreSQL did not take it (kept for the next write). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const written = this.writing.then(() => this.write(true));
    this.writing = written.catch(() => undefined);
    await written;
  }

  private async write(rethrow = false): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    try {
      await this.pool.query(recordSql, [this.slotName, [...batch.keys()], [...batch.values()]]);
    } catch (error) {
      // PostgreSQL away: kept for the next write (a record behind Kafka only costs duplicates).
      for (const [tableId, version] of batch) this.pending.set(tableId, Math.max(version, this.pending.get(tableId) ?? -1));
      if (rethrow) throw error;
      this.logger.warn({ err: error, tables: batch.size }, 'could not record the published versions (retried)');
      this.note([]);
    }
  }
}

/** Before creating the slot: when versions were recorded under its name, the new slot has a gap to publish. */
export async function markGapIfRecorded(pool: Pool, slotName: string): Promise<boolean> {
  const { rowCount } = await pool.query(
    `INSERT INTO deltameta.cdc_slot_gap (slot_name)
     SELECT $1 WHERE EXISTS (SELECT 1 FROM deltameta.cdc_published WHERE slot_name = $1)
     ON CONFLICT (slot_name) DO NOTHING`,
    [slotName],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * At a stream start: a slot without records gets them at the heads; a slot
 * marked by markGapIfRecorded has every version after its records
 * published with `send` (`lsn`, the slot's position, stands for the
 * commits' own: they were not decoded from the WAL), then the mark is
 * cleared. Returns how many events.
 */
export async function publishUnpublished(options: {
  readonly pool: Pool;
  readonly slotName: string;
  readonly lsn: bigint;
  readonly send: (messages: Message[]) => Promise<unknown>;
  readonly published: PublishedVersions;
  readonly logger: Logger;
  readonly chunk?: number;
}): Promise<number> {
  const { pool, slotName } = options;
  const { rows: known } = await pool.query('SELECT 1 FROM deltameta.cdc_published WHERE slot_name = $1 LIMIT 1', [slotName]);
  if (known.length === 0) {
    const { rowCount } = await pool.query(baselineSql, [slotName]);
    options.logger.info({ slot: slotName, tables: (rowCount ?? 1) - 1 }, 'first start of this slot: published versions recorded at the heads');
    return 0;
  }
  const { rows: marked } = await pool.query('SELECT 1 FROM deltameta.cdc_slot_gap WHERE slot_name = $1', [slotName]);
  if (marked.length === 0) return 0;
  // What this process acknowledged before is recorded first: the gap starts after it.
  await options.published.flush();
  let total = 0;
  for (;;) {
    const { rows } = await pool.query<UnpublishedRow>(unpublishedSql, [slotName, options.chunk ?? 2000]);
    if (rows.length === 0) break;
    const messages: Message[] = [];
    const acknowledged: Array<{ tableId: number; version: number }> = [];
    for (const row of rows) {
      const commit: CommitRow = {
        tableId: Number(row.table_id), version: Number(row.version), timestampMs: Number(row.timestamp_ms), operation: row.operation,
        adds: row.num_adds, removes: row.num_removes, metadataChanged: row.metadata_changed, protocolChanged: row.protocol_changed,
      };
      const event = commitEventFromRow(commit, row.name, options.lsn);
      messages.push({ key: event.table, value: encodeCommitEvent(event) });
      acknowledged.push({ tableId: commit.tableId, version: commit.version });
    }
    await options.send(messages);
    total += messages.length;
    // Recorded before the next chunk is read: the next query starts after these.
    options.published.note(acknowledged);
    await options.published.flush();
  }
  await pool.query('DELETE FROM deltameta.cdc_slot_gap WHERE slot_name = $1', [slotName]);
  options.logger.warn({ slot: slotName, events: total }, 'the slot was created anew: published the versions it missed (duplicates of some may follow)');
  return total;
}
