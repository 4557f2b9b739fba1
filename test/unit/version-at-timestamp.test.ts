/**
 * versionAtTimestamp (shared/delta/version-timestamps.ts), the rule every
 * path (replay, PostgreSQL, reader) runs, against a direct reading of
 * Spark's getActiveCommitAtTime over random version timelines (fast-check).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { versionAtTimestamp } from '../../shared/delta/index.ts';
import { LogFormatError, NotFoundError } from '../../shared/errors/index.ts';

type TimedBy = 'file' | 'inCommitTimestamp';

interface Timeline {
  readonly earliest: number;
  /** times of versions earliest.. (file times before `ictFrom`, in-commit timestamps from it) */
  readonly times: readonly number[];
  readonly ictFrom: number | undefined;
  /** configuration without enablement keys: ICT for every version */
  readonly ictFromCreation: boolean;
}

function sourceOf(timeline: Timeline): Parameters<typeof versionAtTimestamp>[0] {
  const { earliest, times, ictFrom, ictFromCreation } = timeline;
  const latest = earliest + times.length - 1;
  const timedByOf = (version: number): TimedBy => (ictFromCreation || (ictFrom !== undefined && version >= ictFrom) ? 'inCommitTimestamp' : 'file');
  const entries = times.map((timestampMs, index) => ({ version: earliest + index, timestampMs }));
  const configuration: Record<string, string> = {};
  if (ictFromCreation || ictFrom !== undefined) configuration['delta.enableInCommitTimestamps'] = 'true';
  if (!ictFromCreation && ictFrom !== undefined) {
    configuration['delta.inCommitTimestampEnablementVersion'] = String(ictFrom);
    configuration['delta.inCommitTimestampEnablementTimestamp'] = String(times[ictFrom - earliest]);
  }
  const inRange = (version: number, from: number, to: number, timedBy: TimedBy): boolean => version >= from && version <= to && timedByOf(version) === timedBy;
  return {
    where: 't',
    earliestVersion: earliest,
    latestVersion: latest,
    configuration,
    protocol: { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: [], writerFeatures: ['inCommitTimestamp'] },
    newestAtOrBefore: (from, to, timestampMs, timedBy) =>
      Promise.resolve(entries.filter((entry) => inRange(entry.version, from, to, timedBy) && entry.timestampMs <= timestampMs).at(-1)),
    oldest: (from, to, timedBy) => Promise.resolve(entries.find((entry) => inRange(entry.version, from, to, timedBy))),
  };
}

/** Spark's answer, read straight off the definition: the search range by T_E, then the two error checks. */
function sparkAnswer(timeline: Timeline, time: number): number | 'before' | 'after' {
  const { earliest, times, ictFrom, ictFromCreation } = timeline;
  const latest = earliest + times.length - 1;
  let versions = times.map((_, index) => earliest + index);
  if (!ictFromCreation && ictFrom !== undefined && ictFrom > earliest) {
    const enablementTime = times[ictFrom - earliest] as number;
    versions = time >= enablementTime ? versions.filter((version) => version >= ictFrom) : versions.filter((version) => version < ictFrom);
  }
  const candidates = versions.filter((version) => (times[version - earliest] as number) <= time);
  if (candidates.length === 0) return 'before';
  const found = Math.max(...candidates);
  if (found === latest && (times[found - earliest] as number) < time) return 'after';
  return found;
}

async function answer(timeline: Timeline, time: number): Promise<number | 'before' | 'after'> {
  try {
    return await versionAtTimestamp(sourceOf(timeline), time);
  } catch (error) {
    if (error instanceof NotFoundError) return error.message.includes('after the latest') ? 'after' : 'before';
    throw error;
  }
}

const timelineArbitrary: fc.Arbitrary<Timeline> = fc
  .record({
    earliest: fc.integer({ min: 0, max: 5 }),
    // File times increase (monotonized); ICTs increase among themselves but may lie anywhere relative to file times.
    fileSteps: fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 8 }),
    ictStart: fc.integer({ min: 0, max: 1_000_000 }),
    ictSteps: fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 0, maxLength: 8 }),
    ictFromCreation: fc.boolean(),
  })
  .map(({ earliest, fileSteps, ictStart, ictSteps, ictFromCreation }) => {
    const fileTimes = fileSteps.reduce<number[]>((times, step) => [...times, (times.at(-1) ?? 500_000) + step], []);
    const icts = ictSteps.reduce<number[]>((times, step) => [...times, (times.at(-1) ?? ictStart) + step], []);
    if (ictFromCreation) return { earliest, times: icts.length > 0 ? icts : fileTimes, ictFrom: undefined, ictFromCreation: icts.length > 0 };
    return { earliest, times: [...fileTimes, ...icts], ictFrom: icts.length > 0 ? earliest + fileTimes.length : undefined, ictFromCreation: false };
  });

describe('versionAtTimestamp (Spark rule)', () => {
  it('answers as Spark at, between, before and after every version time (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(timelineArbitrary, fc.integer({ min: -1, max: 1 }), async (timeline, offset) => {
        for (const time of timeline.times) {
          expect(await answer(timeline, time + offset)).to.equal(sparkAnswer(timeline, time + offset));
        }
        expect(await answer(timeline, 0)).to.equal('before');
      }),
      { seed: 11, numRuns: 300 },
    );
  });

  it('with ICT on, the enablement version and timestamp must both be there or both absent', async () => {
    const source = { ...sourceOf({ earliest: 0, times: [1, 2], ictFrom: undefined, ictFromCreation: false }) };
    const halfEnabled = { ...source, configuration: { 'delta.enableInCommitTimestamps': 'true', 'delta.inCommitTimestampEnablementVersion': '1' } };
    const error = await versionAtTimestamp(halfEnabled, 2).then(() => undefined, (caught: unknown) => caught);
    expect(error).to.be.instanceOf(LogFormatError);
    expect((error as Error).message).to.include('delta.inCommitTimestampEnablementTimestamp');
  });
});
