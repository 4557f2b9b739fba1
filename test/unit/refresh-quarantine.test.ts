/**
 * When a table leaves quarantine (services/refresher/quarantine.ts): only
 * with a success that reaches the version that failed. With
 * refreshConcurrency > 1, an older job for the same table can finish at the
 * old version after a newer one failed (CI once saw the gauge fall back to 0
 * that way while the poison was still there).
 */
import { expect } from 'chai';
import { pino } from 'pino';
import { createRegistry, refresherMetrics } from '../../shared/metrics/index.ts';
import { RefreshQuarantine } from '../../services/refresher/index.ts';

describe('refresh quarantine (unit)', function () {
  const setup = () => {
    const registry = createRegistry('refresher');
    const quarantine = new RefreshQuarantine(pino({ level: 'silent' }), refresherMetrics(registry));
    const gauge = async () => (await registry.getSingleMetric('deltameta_refresh_quarantined_tables')?.get())?.values[0]?.value;
    return { quarantine, gauge };
  };
  const failure = (table: string, version: number) => ({ table, version, attempt: 1, retryInMs: 200, error: new Error('boom') });

  it('stays quarantined after a success below the failed version, leaves at or above it', async function () {
    const { quarantine, gauge } = setup();
    quarantine.failed(failure('t', 1));
    quarantine.release('t', 0);
    expect(quarantine.has('t'), 'an older job finishing at version 0').to.equal(true);
    expect(await gauge()).to.equal(1);
    quarantine.release('t', 1);
    expect(quarantine.has('t')).to.equal(false);
    expect(await gauge()).to.equal(0);
  });

  it('remembers the newest failed version across failures, and counts each table once', async function () {
    const { quarantine, gauge } = setup();
    quarantine.failed(failure('t', 3));
    quarantine.failed(failure('t', 5));
    quarantine.failed(failure('u', 2));
    expect(await gauge()).to.equal(2);
    quarantine.release('t', 4);
    expect(quarantine.has('t')).to.equal(true);
    quarantine.release('t', 7);
    quarantine.release('u', Number.POSITIVE_INFINITY);
    expect(quarantine.size).to.equal(0);
    expect(await gauge()).to.equal(0);
  });

  it('ignores a release for a table it does not hold', async function () {
    const { quarantine, gauge } = setup();
    quarantine.release('never', 10);
    expect(quarantine.size).to.equal(0);
    expect(await gauge()).to.equal(0);
  });
});
