/**
 * The public event contract: one `deltameta.commit.v1` per committed
 * version on the Kafka topic `deltameta.commits`, keyed by table name so
 * that per-table order follows the key. Delivery is at least once:
 * consumers are idempotent on (table, version). Other systems may
 * subscribe; a change of shape is a new `schema`.
 *
 * `deltameta.drop.v1`: the table was dropped (`deltameta drop`): its log,
 * materialized state and head pointer are gone. Published on the same topic
 * with the same key, after every commit event of the table (the CDC reads
 * it from the WAL in commit order). A consumer keeps nothing of the table;
 * a later commit event of the same name is a new table (another tableId).
 * Consumers must skip a `schema` they do not know rather than fail: this
 * topic carries more than one.
 */
import { z } from 'zod';
import { DeltametaError } from '../errors/index.ts';

export const commitEventSchemaName = 'deltameta.commit.v1';

export const commitEventSchema = z.object({
  schema: z.literal(commitEventSchemaName),
  table: z.string().min(1),
  tableId: z.number().int().nonnegative(),
  version: z.number().int().nonnegative(),
  /** ISO 8601, the version's timestamp (delta_commit.timestamp_ms) */
  committedAt: z.string().datetime({ offset: true }),
  operation: z.string().nullable(),
  adds: z.number().int().nonnegative(),
  removes: z.number().int().nonnegative(),
  metadataChanged: z.boolean(),
  protocolChanged: z.boolean(),
  /** WAL position of the commit (end of its transaction) */
  lsn: z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i),
});

export type CommitEvent = z.infer<typeof commitEventSchema>;

export const dropEventSchemaName = 'deltameta.drop.v1';

/**
 * The prefix of the transactional logical decoding message the drop's
 * transaction emits (pg_logical_emit_message); its content is
 * `{"table": …, "tableId": …}`. The CDC turns it into a drop event.
 */
export const tableDropMessagePrefix = 'deltameta.drop.v1';

export const dropEventSchema = z.object({
  schema: z.literal(dropEventSchemaName),
  table: z.string().min(1),
  tableId: z.number().int().positive(),
  /** WAL position of the drop (end of its transaction) */
  lsn: z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i),
});

export type DropEvent = z.infer<typeof dropEventSchema>;

/** Every event on the commits topic, told apart by `schema`. */
export type PipelineEvent = CommitEvent | DropEvent;

/** Thrown for a message on the commits topic that is not a valid event: it goes to the dead-letter topic. */
export class PoisonEventError extends DeltametaError {
  constructor(reason: string, schemaName = commitEventSchemaName) {
    super('BAD_INPUT', `not a ${schemaName} event: ${reason}`);
  }
}

export function encodeDropEvent(event: DropEvent): string {
  return JSON.stringify(event);
}

export function encodeCommitEvent(event: CommitEvent): string {
  return JSON.stringify(event);
}

function parseJson(value: Buffer | string | null, schemaName: string): unknown {
  if (value === null) throw new PoisonEventError('empty message', schemaName);
  try {
    return JSON.parse(value.toString());
  } catch {
    throw new PoisonEventError('not JSON', schemaName);
  }
}

function check<T>(schema: z.ZodType<T>, json: unknown, schemaName: string): T {
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new PoisonEventError(parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; '), schemaName);
  }
  return parsed.data;
}

/** A commit event only: a drop event (or any other schema) is a PoisonEventError. Consumers of the topic use parsePipelineEvent. */
export function parseCommitEvent(value: Buffer | string | null): CommitEvent {
  return check(commitEventSchema, parseJson(value, commitEventSchemaName), commitEventSchemaName);
}

/** Any event of the commits topic, by its `schema`; what is none of them is a PoisonEventError. */
export function parsePipelineEvent(value: Buffer | string | null): PipelineEvent {
  const json = parseJson(value, commitEventSchemaName);
  const schemaName = typeof json === 'object' && json !== null && 'schema' in json ? json.schema : undefined;
  if (schemaName === dropEventSchemaName) return check(dropEventSchema, json, dropEventSchemaName);
  return check(commitEventSchema, json, commitEventSchemaName);
}
