/**
 * `deltameta tail [--table T] [--from-version V] [--json]`: the events of
 * the commits topic as they arrive (docs/contracts/README.md), one line
 * each: human-readable, or with --json the event itself
 * (`deltameta.commit.v1`, `deltameta.drop.v1`). Ctrl-C stops it.
 *
 * Live: a throwaway consumer group of its own (nothing committed, deleted
 * on exit), positioned at the topic's end as it was before the history is
 * read. With --from-version (and --table) the commits of T from V up to the
 * head are read from the log tables first — what GET
 * /v1/tables/{T}/commits?from=V answers — and printed in the event shape
 * (`lsn` "0/0": a commit read from the log tables has no WAL position);
 * live events that arrive meanwhile wait, then follow. A commit published
 * after that end is read live; one before it was committed before the
 * history read, so the history has it: no gap. Events already printed (in
 * the history, or redelivered: at least once) are skipped by (table id,
 * version): no duplicate.
 */
import { type Command, Option } from 'commander';
import type { Consumer, Kafka } from 'kafkajs';
import { hostname } from 'node:os';
import { createKafka } from '../../shared/clients/index.ts';
import { loadConfig } from '../../shared/config/index.ts';
import { commitEventSchemaName, dropEventSchemaName, ensureCommitTopics, parsePipelineEvent, PoisonEventError, type CommitEvent, type PipelineEvent } from '../../shared/contracts/index.ts';
import { createPool, type Pool } from '../../shared/db/index.ts';
import { DeltametaError } from '../../shared/errors/index.ts';
import { requireTable } from '../../shared/log-store/index.ts';
import { integer, tableOption } from './options.ts';

interface TailOptions {
  table?: string;
  fromVersion?: number;
  json?: boolean;
}

/**
 * How long the broker holds a fetch while nothing arrives (it answers as soon
 * as an event does): the services' few milliseconds would cost an idle tail
 * a fifth of a core.
 */
const tailMaxWaitMs = 250;

/** Commits read from the log tables a query. */
const historyPageRows = 1000;

// serves: delta_commit primary key (table_id, version), a range read in order up to a limit
const historySql = `
  SELECT version, timestamp_ms, operation, num_adds, num_removes, metadata_changed, protocol_changed
    FROM deltameta.delta_commit WHERE table_id = $1 AND version >= $2 ORDER BY version LIMIT $3`;

interface HistoryRow {
  version: number;
  timestamp_ms: number;
  operation: string | null;
  num_adds: number;
  num_removes: number;
  metadata_changed: boolean;
  protocol_changed: boolean;
}

/** The commits of `table` from `fromVersion` to the head, in the event shape, a page at a time. */
async function* history(pool: Pool, table: string, tableId: number, fromVersion: number): AsyncGenerator<CommitEvent> {
  let next = fromVersion;
  for (;;) {
    const { rows } = await pool.query<HistoryRow>(historySql, [tableId, next, historyPageRows]);
    for (const row of rows) {
      yield {
        schema: commitEventSchemaName, table, tableId, version: row.version, committedAt: new Date(row.timestamp_ms).toISOString(), operation: row.operation,
        adds: row.num_adds, removes: row.num_removes, metadataChanged: row.metadata_changed, protocolChanged: row.protocol_changed, lsn: '0/0',
      };
    }
    if (rows.length < historyPageRows) return;
    next = (rows.at(-1)?.version ?? next) + 1;
  }
}

/** One human-readable line. */
export function formatEvent(event: PipelineEvent, fromHistory = false): string {
  if (event.schema === dropEventSchemaName) return `${new Date().toISOString()}  ${event.table}  dropped (table id ${event.tableId})  lsn ${event.lsn}`;
  const changes = [event.metadataChanged ? 'metadata' : '', event.protocolChanged ? 'protocol' : ''].filter(Boolean).join(' ');
  const where = fromHistory ? 'history' : `lsn ${event.lsn}`;
  return `${event.committedAt}  ${event.table}  v${event.version}  ${event.operation ?? '-'}  +${event.adds} -${event.removes}${changes ? `  ${changes} changed` : ''}  ${where}`;
}

/** Prints each event once: a table id's versions only move forward (per-table order is the key's). */
class EventPrinter {
  private readonly printed = new Map<number, number>();
  private held: Array<{ event: PipelineEvent; raw: string }> | undefined = [];

  constructor(private readonly options: TailOptions) {}

  /** A live event: printed now, or after the history while it is being caught up. */
  live(event: PipelineEvent, raw: string): void {
    if (this.options.table !== undefined && event.table !== this.options.table) return;
    if (this.held) this.held.push({ event, raw });
    else this.print(event, raw, false);
  }

  history(event: CommitEvent): void {
    this.print(event, JSON.stringify(event), true);
  }

  /** The history is printed: the live events held meanwhile follow, then every one as it comes. */
  caughtUp(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const { event, raw } of held) this.print(event, raw, false);
  }

  private print(event: PipelineEvent, raw: string, fromHistory: boolean): void {
    if (event.schema === commitEventSchemaName) {
      if (event.version <= (this.printed.get(event.tableId) ?? -1)) return;
      this.printed.set(event.tableId, event.version);
    } else {
      this.printed.delete(event.tableId);
    }
    process.stdout.write(`${this.options.json ? raw : formatEvent(event, fromHistory)}\n`);
  }
}

/** The end offset of each partition of `topic` now. */
async function topicEnd(kafka: Kafka, topic: string): Promise<Array<{ partition: number; offset: string }>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).map(({ partition, high }) => ({ partition, offset: high }));
  } finally {
    await admin.disconnect();
  }
}

async function deleteGroup(kafka: Kafka, groupId: string): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.deleteGroups([groupId]);
  } catch {
    // Best effort: a group with nothing committed expires by itself.
  } finally {
    await admin.disconnect();
  }
}

function schemaOf(raw: string): unknown {
  try {
    const json: unknown = JSON.parse(raw);
    return typeof json === 'object' && json !== null && 'schema' in json ? json.schema : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves on Ctrl-C, SIGTERM, or when the reader of stdout went away (`| head`). */
function untilStopped(): Promise<string> {
  return new Promise((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve(signal));
    process.stdout.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'stdout error'));
  });
}

async function tail(options: TailOptions): Promise<void> {
  if (options.fromVersion !== undefined && options.table === undefined) throw new DeltametaError('BAD_INPUT', '--from-version needs --table: versions are per table');
  const config = loadConfig();
  const topic = config.pipeline.commitsTopic;
  const kafka = createKafka({ clientId: 'deltameta-tail', brokers: config.kafkaBrokers });
  const groupId = `deltameta-tail-${hostname()}-${process.pid}-${Date.now()}`;
  const printer = new EventPrinter(options);
  let stopping = false;
  const stopped = untilStopped().then(() => {
    stopping = true;
  });
  // Like the CDC and the invalidator at their start: the topic exists from here on (idempotent).
  await ensureCommitTopics(kafka, config);
  const end = await topicEnd(kafka, topic);
  const consumer: Consumer = kafka.consumer({ groupId, maxWaitTimeInMs: tailMaxWaitMs, minBytes: 1 });
  const pool = options.fromVersion === undefined ? undefined : createPool(config.postgresUrl, { max: 1, applicationName: 'deltameta-tail' });
  try {
    // A table that does not exist is refused (exit 4) before anything is followed.
    const tableId = pool && options.table !== undefined ? (await requireTable(pool, options.table)).tableId : undefined;
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: false });
    await consumer.run({
      autoCommit: false,
      eachMessage: ({ message }) => {
        const raw = message.value?.toString() ?? '';
        const schema = schemaOf(raw);
        // Another schema is skipped, as consumers must; a message that is no valid event is named, not fatal.
        if (typeof schema === 'string' && schema !== commitEventSchemaName && schema !== dropEventSchemaName) return Promise.resolve();
        try {
          printer.live(parsePipelineEvent(message.value), raw);
        } catch (error) {
          if (!(error instanceof PoisonEventError)) throw error;
          console.error(`deltameta tail: skipped a message at offset ${message.offset}: ${error.message}`);
        }
        return Promise.resolve();
      },
    });
    for (const { partition, offset } of end) consumer.seek({ topic, partition, offset });
    console.error(`deltameta tail: following ${topic}${options.table ? ` for ${options.table}` : ''} (Ctrl-C stops)`);
    if (pool && options.table !== undefined && tableId !== undefined && options.fromVersion !== undefined) {
      let count = 0;
      for await (const event of history(pool, options.table, tableId, options.fromVersion)) {
        if (stopping) break;
        printer.history(event);
        count++;
      }
      console.error(`deltameta tail: ${count} commits of ${options.table} from version ${options.fromVersion} caught up; live from here`);
    }
    printer.caughtUp();
    await stopped;
  } finally {
    await pool?.end();
    await consumer.disconnect();
    await deleteGroup(kafka, groupId);
  }
}

export function registerTailCommand(program: Command): void {
  program
    .command('tail')
    .description('print commit events as they arrive on the commits topic (with --from-version, the history first); Ctrl-C stops')
    .addOption(tableOption('only this table', false))
    .addOption(new Option('--from-version <v>', 'first print the commits of --table from this version up to the head, then follow').argParser(integer('--from-version')))
    .option('--json', 'print each event as JSON (the event itself), one a line')
    .action(async (options: TailOptions) => {
      await tail(options);
    });
}
