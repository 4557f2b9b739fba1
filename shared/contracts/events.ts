/**
 * The public event contract: one `deltameta.commit.v1` per committed
 * version on the Kafka topic `deltameta.commits`, keyed by table name so
 * that per-table order follows the key. Delivery is at least once:
 * consumers are idempotent on (table, version). Other systems may
 * subscribe; a change of shape is a new `schema`.
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

/** Thrown for a message on the commits topic that is not a valid event: it goes to the dead-letter topic. */
export class PoisonEventError extends DeltametaError {
  constructor(reason: string) {
    super('BAD_INPUT', `not a ${commitEventSchemaName} event: ${reason}`);
  }
}

export function encodeCommitEvent(event: CommitEvent): string {
  return JSON.stringify(event);
}

export function parseCommitEvent(value: Buffer | string | null): CommitEvent {
  if (value === null) throw new PoisonEventError('empty message');
  let json: unknown;
  try {
    json = JSON.parse(value.toString());
  } catch {
    throw new PoisonEventError('not JSON');
  }
  const parsed = commitEventSchema.safeParse(json);
  if (!parsed.success) {
    throw new PoisonEventError(parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; '));
  }
  return parsed.data;
}
