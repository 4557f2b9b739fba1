/**
 * The delta-rs parity check of one table, for deltars-parity.test.ts: delta-rs
 * writes it (deltars_parity.py), `deltameta import --history` and `deltameta
 * export` run as a user runs them, and then, at every version:
 * - deltameta's snapshot equals delta-rs's, whole (comparable-state.ts);
 * - deltameta's time travel equals Spark's rule (parity-state.ts) at each
 *   version's time, a millisecond before it, halfway to the next, and
 *   outside the history on both sides;
 * - delta-rs reads the export as the same table.
 * delta-rs's own time travel on the table and on the export is returned for
 * the tests to compare where delta-rs follows the same rule.
 */
import { expect } from 'chai';
import path from 'node:path';
import type { Pool } from '../../shared/db/index.ts';
import { NotFoundError } from '../../shared/errors/index.ts';
import {
  type ComparableState,
  deltaRsAllVersions,
  ensureDeltaRs,
} from '../support/deltars.ts';
import { deltaRsTravel, deltaRsWriteParityTable, type DeltaRsParityKind, type DeltaRsParityTable } from '../support/deltars-parity.ts';
import { type TestEnv } from '../support/env.ts';
import { snapshotOf, TempDirs } from '../support/tables.ts';
import { expectSameTable } from './comparable-state.ts';
import { runCli, sparkVersionAt, storedState, storedTransactionVersions, type VersionTimes } from './parity-state.ts';

const range = (count: number): number[] => Array.from({ length: count }, (_, index) => index);

/** Every version's times as the writer made them: commit file times, and ICT where enabled. */
export function versionTimes(written: DeltaRsParityTable): VersionTimes[] {
  const ict = written.notes['ict'];
  const ictOf = (version: number): number | undefined => {
    if (ict === null || typeof ict !== 'object' || Array.isArray(ict)) return undefined;
    const value = ict[String(version)];
    return typeof value === 'number' ? value : undefined;
  };
  return written.commitTimes.map((fileMs, version) => {
    const ictMs = ictOf(version);
    return ictMs === undefined ? { version, fileMs } : { version, fileMs, ictMs };
  });
}

/** The timestamps asked: each version's own, a millisecond before, halfway to the next, and a minute outside the history on both sides. */
function probeTimes(times: readonly VersionTimes[]): number[] {
  const own = times.map((entry) => entry.ictMs ?? entry.fileMs);
  const probes = new Set<number>();
  own.forEach((ms, index) => {
    probes.add(ms);
    probes.add(ms - 1);
    const next = own[index + 1];
    if (next !== undefined && next > ms + 1) probes.add(Math.floor((ms + next) / 2));
  });
  const last = own.at(-1) ?? 0;
  probes.add(last + 1);
  probes.add(last + 60_000);
  probes.add(Math.min(...own) - 60_000);
  return [...probes].sort((a, b) => a - b);
}

/** deltameta's answer by timestamp: the version, or null where it refuses (NotFoundError). */
async function deltametaVersionAt(pool: Pool, tableName: string, ms: number): Promise<number | null> {
  try {
    return (await snapshotOf(pool, tableName, { timestampMs: ms })).version;
  } catch (error) {
    if (error instanceof NotFoundError) return null;
    throw error;
  }
}

/** Per probe (ms since the epoch), each side's version, or null where it refuses. */
export interface TravelAnswers {
  readonly probes: readonly number[];
  readonly spark: readonly (number | null)[];
  readonly deltaRs: readonly (number | null)[];
  readonly deltameta: readonly (number | null)[];
  readonly deltaRsOnExport: readonly (number | null)[];
}
type TravelSide = Exclude<keyof TravelAnswers, 'probes'>;

/**
 * The probes where `side` answers otherwise than `against` (Spark's rule
 * unless given), as `time: answer (expected: …)` lines, so a failure names
 * each timestamp; `insideOnly` skips the probes the expectation refuses.
 */
export function travelMismatches(travel: TravelAnswers, side: TravelSide, options: { insideOnly?: boolean; against?: readonly (number | null)[] } = {}): string[] {
  const expected = options.against ?? travel.spark;
  return travel.probes.flatMap((ms, index) => {
    const [answer, wanted] = [travel[side][index] ?? null, expected[index] ?? null];
    if (answer === wanted || (options.insideOnly === true && wanted === null)) return [];
    return [`${new Date(ms).toISOString()}: ${String(answer)} (expected: ${String(wanted)})`];
  });
}

/**
 * For a table whose commit times strictly increase and carry no ICT,
 * delta-rs agrees with Spark inside the history, on the original and on the
 * export; outside it delta-rs answers the first or the latest version where
 * Spark (and deltameta) refuse.
 */
export function expectDeltaRsTravelAgrees(travel: TravelAnswers, versions: number): void {
  expect(travelMismatches(travel, 'deltaRs', { insideOnly: true }), "delta-rs's time travel inside the history").to.deep.equal([]);
  expect(travelMismatches(travel, 'deltaRsOnExport', { insideOnly: true }), "delta-rs's time travel on the export").to.deep.equal([]);
  const outside = travel.probes.flatMap((_, index) => (travel.spark[index] === null ? [travel.deltaRs[index]] : []));
  // Probed a minute and a millisecond before the first commit, and a millisecond and a minute after the last.
  expect(outside, "delta-rs's answers outside the history (Spark: an error)").to.deep.equal([0, 0, versions - 1, versions - 1]);
}

interface Prepared {
  readonly tableDir: string;
  readonly tableName: string;
  readonly written: DeltaRsParityTable;
  /** delta-rs's reading of the table as written, every version */
  readonly reference: ComparableState[];
  /** delta-rs's reading of `deltameta export`, every version */
  readonly fromExport: ComparableState[];
  readonly times: VersionTimes[];
  readonly probes: number[];
  readonly deltaRsTravel: (number | null)[];
  readonly deltaRsTravelOnExport: (number | null)[];
}

export interface ParityResult {
  /** the table delta-rs wrote (removed after the suite) */
  readonly tableDir: string;
  readonly written: DeltaRsParityTable;
  readonly reference: ComparableState[];
  readonly travel: TravelAnswers;
  /** each app id's txn version as PostgreSQL holds it at a version */
  readonly storedTxns: (version: number, appIds: readonly string[]) => Promise<Record<string, number | null>>;
}

/**
 * Registers the suite's hooks and returns `checkParity(kind)`. Everything
 * outside this process (delta-rs writing and reading, the two CLI runs) is
 * started for every kind in `kinds` at `before`, two kinds at a time (each
 * CLI run is mostly node's start-up), and each test awaits its own.
 */
export function parityHarness(env: TestEnv, kinds: readonly DeltaRsParityKind[]): (kind: DeltaRsParityKind) => Promise<ParityResult> {
  const dirs = new TempDirs();
  let pool: Pool;
  const preparing = new Map<DeltaRsParityKind, Promise<{ ok: Prepared } | { error: unknown }>>();
  let finished: Promise<unknown> = Promise.resolve();

  async function prepare(kind: DeltaRsParityKind): Promise<Prepared> {
    const root = dirs.make(`parity-${kind}`);
    const table = path.join(root, 'table');
    const tableName = `parity_${kind.replaceAll('-', '_')}`;
    const written = await deltaRsWriteParityTable(table, kind);
    const imported = await runCli(env.config.postgresUrl, ['import', table, '--table', tableName, '--history']);
    expect(imported, `${kind}: import`).to.contain(`${tableName}: imported versions 0..${written.versions - 1}`);
    const exported = path.join(root, 'exported');
    await runCli(env.config.postgresUrl, ['export', exported, '--table', tableName, '--checkpoint-interval', '4']);
    const times = versionTimes(written);
    const probes = probeTimes(times);
    return {
      tableDir: table,
      tableName,
      written,
      reference: await deltaRsAllVersions(table),
      fromExport: await deltaRsAllVersions(exported),
      times,
      probes,
      deltaRsTravel: await deltaRsTravel(table, probes),
      deltaRsTravelOnExport: await deltaRsTravel(exported, probes),
    };
  }

  before(async function () {
    this.timeout(600_000);
    await ensureDeltaRs();
    pool = env.pool(4);
    const queue = [...kinds];
    const lane = async (): Promise<void> => {
      for (let kind = queue.shift(); kind !== undefined; kind = queue.shift()) {
        // Settled into a value: a kind that fails must fail its own test, not surface as an unhandled rejection.
        const settled = prepare(kind).then(
          (ok) => ({ ok }),
          (error: unknown) => ({ error }),
        );
        preparing.set(kind, settled);
        await settled;
      }
    };
    finished = Promise.all([lane(), lane()]);
  });

  after(async function () {
    this.timeout(600_000);
    // Nothing may still write into the folders or the database being removed.
    await finished;
    await pool.end();
    dirs.removeAll();
  });

  async function prepared(kind: DeltaRsParityKind): Promise<Prepared> {
    if (!kinds.includes(kind)) throw new Error(`${kind} is not among this suite's kinds`);
    // A kind still queued behind others is not in the map yet: wait for its turn.
    while (!preparing.has(kind)) await new Promise((resolve) => setTimeout(resolve, 100));
    const settled = await preparing.get(kind);
    if (settled === undefined) throw new Error(`${kind} was never prepared`);
    if ('error' in settled) throw settled.error;
    return settled.ok;
  }

  return async function checkParity(kind: DeltaRsParityKind): Promise<ParityResult> {
    const { tableDir, tableName, written, reference, fromExport, times, probes, deltaRsTravel: deltaRs, deltaRsTravelOnExport } = await prepared(kind);
    expect(reference.map((state) => state.version), `${kind}: versions delta-rs loads`).to.deep.equal(range(written.versions));
    for (const expected of reference) {
      expectSameTable(await storedState(pool, tableName, expected.version), expected, `${kind}: snapshot at ${expected.version}`);
    }

    const travel: TravelAnswers = {
      probes,
      spark: probes.map((ms) => sparkVersionAt(times, ms)),
      deltaRs,
      deltameta: await Promise.all(probes.map((ms) => deltametaVersionAt(pool, tableName, ms))),
      deltaRsOnExport: deltaRsTravelOnExport,
    };
    expect(travelMismatches(travel, 'deltameta'), `${kind}: where deltameta's time travel differs from Spark's rule`).to.deep.equal([]);

    expect(fromExport.map((state) => state.version), `${kind}: versions of the export`).to.deep.equal(range(written.versions));
    fromExport.forEach((state, version) => {
      const original = reference[version];
      if (original === undefined) throw new Error(`${kind}: delta-rs has no version ${version} of the original`);
      expectSameTable(state, original, `${kind}: export at ${version}`);
    });
    return { tableDir, written, reference, travel, storedTxns: (version, appIds) => storedTransactionVersions(pool, tableName, version, appIds) };
  };
}
