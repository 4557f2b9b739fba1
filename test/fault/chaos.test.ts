/**
 * The chaos suite, bounded (issue 15): two instances of the CDC, the
 * invalidator, the refresher and the reader and a committer, on the
 * suite's database; writers commit every kind of commit to six tables
 * (library and commit API) and readers record every answer while each of
 * the fault kinds strikes once (SIGKILL and SIGSTOP of instances, Kafka
 * killed, Redis killed, flushed and filled, PostgreSQL restarted, the
 * replication slot dropped). After each round the checker must find no
 * violation. `deltameta chaos` runs the same for as long as asked.
 * Restarts the stack's own PostgreSQL, Redis and Kafka: it needs a stack
 * started by `deltameta stack up`.
 */
import { expect } from 'chai';
import { faultKinds, formatChaosReport, runChaos } from '../../shared/chaos/index.ts';
import { loadConfig } from '../../shared/config/index.ts';
import { describeWithEnv } from '../support/env.ts';

describeWithEnv('chaos: every answer checked while faults strike', (env) => {
  it('survives one fault of each kind with no violation', async function () {
    this.timeout(900_000);
    const pool = env.pool(4);
    try {
      const report = await runChaos({
        rounds: 2, seconds: 20, faultsPerRound: Math.ceil(faultKinds.length / 2), kinds: faultKinds, tables: 6, readerClients: 4,
        instances: { cdc: 2, invalidator: 2, refresher: 2, reader: 2, committer: 1 },
        postgresUrl: env.config.postgresUrl, pool, stack: loadConfig(), run: env.id.slice(0, 24),
        log: (line) => process.stderr.write(`    ${line}\n`),
      });
      process.stderr.write(`${formatChaosReport(report)}\n`);
      expect(report.faultsTotal).to.equal(faultKinds.length);
      expect(Object.keys(report.faults).sort()).to.deep.equal([...faultKinds].sort());
      expect(report.commits).to.be.greaterThan(50);
      expect(report.answersChecked).to.be.greaterThan(100);
      expect(report.violations, report.violations.slice(0, 20).join('\n')).to.deep.equal([]);
    } finally {
      await pool.end();
    }
  });
});
