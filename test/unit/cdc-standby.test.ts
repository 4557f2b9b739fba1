/**
 * The CDC's standby (services/cdc/slot-consumer.ts) tells a slot held by
 * another walsender from any other failure by PostgreSQL's refusal:
 * SQLSTATE 55006, 'replication slot "x" is active for PID n'.
 */
import { expect } from 'chai';
import { slotHolderPid } from '../../services/cdc/index.ts';
import { DatabaseError } from 'pg';

describe('cdc standby: a held slot', () => {
  it('reads the holder\'s pid from PostgreSQL\'s refusal, and nothing from other failures', () => {
    const refusal = Object.assign(new Error('replication slot "s_test" is active for PID 4242'), { code: '55006' });
    expect(slotHolderPid(refusal)).to.equal(4242);
    const database = new DatabaseError('replication slot "s" is active for PID 17', 0, 'error');
    database.code = '55006';
    expect(slotHolderPid(database)).to.equal(17);
    // The same SQLSTATE worded otherwise (another server language) still counts as held, holder unknown.
    expect(slotHolderPid(Object.assign(new Error('le slot est actif'), { code: '55006' }))).to.equal(0);
    expect(slotHolderPid(Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' }))).to.equal(undefined);
    expect(slotHolderPid(Object.assign(new Error('replication slot "s" does not exist'), { code: '42704' }))).to.equal(undefined);
    expect(slotHolderPid(undefined)).to.equal(undefined);
    expect(slotHolderPid('is active for PID 3')).to.equal(undefined);
  });
});
