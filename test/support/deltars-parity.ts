/**
 * delta-rs writing the parity tables (test/reference/deltars_parity.py, with
 * delta-rs's own operations) and answering time travel and txn questions
 * about them, for test/reference/deltars-parity.test.ts.
 */
import path from 'node:path';
import { z } from 'zod';
import { projectRoot } from '../../shared/config/index.ts';
import { jsonValue, runReference } from './deltars.ts';

const parityScript = path.join(projectRoot, 'test', 'reference', 'deltars_parity.py');

/** The kinds of table deltars_parity.py writes with delta-rs's own operations (its docstring says what each holds). */
export const deltaRsParityKinds = [
  'column-mapping-name',
  'column-mapping-id',
  'deletion-vectors',
  'v2-checkpoint',
  'concurrent',
  'schema-evolution',
  'ict-property',
  'row-tracking-feature',
  'in-commit-timestamps',
  'tied-times',
] as const;
export type DeltaRsParityKind = (typeof deltaRsParityKinds)[number];

const parityTableSchema = z.object({
  versions: z.number().int().positive(),
  /** each version's commit file modification time (ms), as the writer set it */
  commitTimes: z.array(z.number().int()),
  /** what the writer observed: refusals, conflicts, ICT values (`ict`: version → ms, `enabledAt`) */
  notes: z.record(z.string(), jsonValue),
});
export type DeltaRsParityTable = z.infer<typeof parityTableSchema>;

/** Writes one kind of table with delta-rs (test/reference/deltars_parity.py); commit file times are set to a fixed clock. */
export async function deltaRsWriteParityTable(tableDir: string, kind: DeltaRsParityKind): Promise<DeltaRsParityTable> {
  const written = parityTableSchema.parse(await runReference(['write', kind, tableDir], parityScript));
  if (written.commitTimes.length !== written.versions) throw new Error(`${kind}: ${written.commitTimes.length} commit times for ${written.versions} versions`);
  return written;
}

/**
 * delta-rs's time travel by timestamp: per timestamp (ms since the epoch)
 * the version `load_as_version(datetime)` loads, or null where it refuses.
 * delta-rs 1.6 reads commit file times only, ICT or not, and does not make
 * them increasing (see deltars-parity.test.ts for where that differs from Spark).
 */
export async function deltaRsTravel(tableDir: string, timestampsMs: readonly number[]): Promise<(number | null)[]> {
  if (timestampsMs.length === 0) return [];
  for (const ms of timestampsMs) if (!Number.isSafeInteger(ms)) throw new RangeError(`not a timestamp in ms: ${ms}`);
  const answers = z
    .array(z.number().int().nonnegative().nullable())
    .parse(await runReference(['travel', tableDir, '--at', ...timestampsMs.map(String)], parityScript));
  if (answers.length !== timestampsMs.length) throw new Error(`delta-rs answered ${answers.length} of ${timestampsMs.length} timestamps`);
  return answers;
}

/** Per version (every one: the parity writers keep all commits), each app id's txn version as delta-rs reads it, or null. */
export async function deltaRsTransactionVersions(tableDir: string, appIds: readonly string[]): Promise<{ version: number; txns: Record<string, number | null> }[]> {
  if (appIds.length === 0) throw new RangeError('no app ids asked');
  return z
    .array(z.object({ version: z.number().int().nonnegative(), txns: z.record(z.string(), z.number().int().nullable()) }))
    .parse(await runReference(['txns', tableDir, '--apps', ...appIds], parityScript));
}
