/**
 * Logical replication the way services/cdc will use it: pgoutput through
 * pg-logical-replication, automatic acknowledgement off, and the library's
 * keepalive timer off too (with timeoutSeconds > 0 it acknowledges the last
 * LSN it *saw*, not the last one we made durable elsewhere).
 */
import { expect } from 'chai';
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { bigIntToLsn, compareLsn, lsnToBigInt } from '../../shared/replication/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { eventually } from '../support/wait.ts';

interface Received {
  lsn: string;
  message: Pgoutput.Message;
}

describeWithEnv('logical replication (pgoutput)', (env) => {
  const slot = `s_${env.id}`.slice(0, 63);
  const publication = 'demo_publication';

  async function slotFlushLsn(): Promise<string> {
    const pool = env.pool(1);
    try {
      const { rows } = await pool.query<{ confirmed_flush_lsn: string }>(
        'SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      const lsn = rows[0]?.confirmed_flush_lsn;
      if (!lsn) throw new Error(`slot ${slot} not found`);
      return lsn;
    } finally {
      await pool.end();
    }
  }

  /** Streams from the slot until `stop()`; the caller decides when to acknowledge. */
  async function subscribe(): Promise<{ received: Received[]; service: LogicalReplicationService; stop: () => Promise<void> }> {
    const received: Received[] = [];
    const service = new LogicalReplicationService(
      { connectionString: env.config.postgresUrl, application_name: `test:${env.id}:replication` },
      { acknowledge: { auto: false, timeoutSeconds: 0 } },
    );
    service.on('data', (lsn: string, message: Pgoutput.Message) => {
      received.push({ lsn, message });
    });
    const started = new Promise<void>((resolve) => service.once('start', () => resolve()));
    const streaming = service.subscribe(new PgoutputPlugin({ protoVersion: 1, publicationNames: [publication] }), slot);
    streaming.catch(() => undefined);
    await started;
    return {
      received,
      service,
      stop: async () => {
        await service.destroy();
        await streaming.catch(() => undefined);
      },
    };
  }

  before(async function () {
    const pool = env.pool(1);
    try {
      await pool.query(`CREATE TABLE demo (id int PRIMARY KEY, note text NOT NULL)`);
      await pool.query(`CREATE PUBLICATION ${publication} FOR TABLE demo`);
      await pool.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    } finally {
      await pool.end();
    }
  });

  it('delivers an inserted row, and the slot moves only when acknowledged', async function () {
    const flushAtStart = await slotFlushLsn();
    const stream = await subscribe();
    try {
      const pool = env.pool(1);
      try {
        await pool.query(`INSERT INTO demo VALUES (1, 'first')`);
      } finally {
        await pool.end();
      }
      const commit = await eventually('the commit message', () =>
        stream.received.find((entry) => entry.message.tag === 'commit'),
      );
      const insert = stream.received.find((entry) => entry.message.tag === 'insert');
      if (insert?.message.tag !== 'insert') throw new Error('no insert message');
      expect(stream.received.indexOf(insert), 'the insert comes before its commit').to.be.below(stream.received.indexOf(commit));
      expect(insert.message.relation.name).to.equal('demo');
      expect(insert.message.new).to.deep.equal({ id: 1, note: 'first' });

      // Received is not acknowledged: the slot has not moved. A standby status
      // update with the reply flag makes the server answer; it reports the
      // position we already had (the library adds 1 to what it is given), so
      // by the time the reply is here any flush position sent before it has
      // been processed by the server.
      const reply = new Promise<void>((resolve) => stream.service.once('heartbeat', () => resolve()));
      await stream.service.acknowledge(bigIntToLsn(lsnToBigInt(flushAtStart) - 1n), true);
      await reply;
      expect(await slotFlushLsn()).to.equal(flushAtStart);

      if (commit.message.tag !== 'commit' || !commit.message.commitEndLsn) throw new Error('commit without end LSN');
      const commitEnd = commit.message.commitEndLsn;
      expect(compareLsn(commitEnd, flushAtStart)).to.equal(1);
      await stream.service.acknowledge(commitEnd);
      const moved = await eventually('the slot to confirm the acknowledged LSN', async () => {
        const lsn = await slotFlushLsn();
        return compareLsn(lsn, commitEnd) >= 0 ? lsn : undefined;
      });
      // Exactly one past what it was given: the "+1" services/cdc compensates for.
      expect(moved).to.equal(bigIntToLsn(lsnToBigInt(commitEnd) + 1n));
    } finally {
      await stream.stop();
    }
  });

  it('redelivers what was not acknowledged after a reconnect, and nothing that was', async function () {
    const pool = env.pool(1);
    try {
      let stream = await subscribe();
      await pool.query(`INSERT INTO demo VALUES (2, 'not acknowledged')`);
      const delivered = await eventually('row 2', () => stream.received.find((entry) => entry.message.tag === 'commit'));
      if (delivered.message.tag !== 'commit' || !delivered.message.commitEndLsn) throw new Error('commit without end LSN');
      const firstCommitEnd = delivered.message.commitEndLsn;
      await stream.stop();

      stream = await subscribe();
      const again = await eventually('row 2 again', () =>
        stream.received.find((entry) => entry.message.tag === 'insert' && entry.message.new['id'] === 2),
      );
      if (again.message.tag !== 'insert') throw new Error('not an insert');
      expect(again.message.new).to.deep.equal({ id: 2, note: 'not acknowledged' });
      const commit = await eventually('its commit', () => stream.received.find((entry) => entry.message.tag === 'commit'));
      if (commit.message.tag !== 'commit' || !commit.message.commitEndLsn) throw new Error('commit without end LSN');
      const commitEnd = commit.message.commitEndLsn;
      expect(commitEnd, 'the same transaction, delivered again').to.equal(firstCommitEnd);
      await stream.service.acknowledge(commitEnd);
      await eventually('the acknowledgement to land', async () => compareLsn(await slotFlushLsn(), commitEnd) >= 0);
      await stream.stop();

      stream = await subscribe();
      await pool.query(`INSERT INTO demo VALUES (3, 'after')`);
      await eventually('row 3', () => stream.received.find((entry) => entry.message.tag === 'commit'));
      const ids = stream.received.flatMap((entry) => (entry.message.tag === 'insert' ? [entry.message.new['id'] as number] : []));
      expect(ids).to.deep.equal([3]);
      await stream.stop();
    } finally {
      await pool.end();
    }
  });
});
