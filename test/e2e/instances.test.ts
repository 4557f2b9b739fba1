/**
 * Several instances of the pipeline (issue 15), as `deltameta up --instances`
 * plans them (services/cli/instances.ts): 2 CDCs, 3 invalidators, 3
 * refreshers and 2 readers on a commits topic of 6 partitions. Commits to 20
 * tables all become head-pointer moves and materialized state equal to the
 * log; the invalidators share the partitions and the refreshers the jobs.
 * SIGKILL the active CDC: the standby takes the slot over; SIGKILL an
 * invalidator: its partitions move to the others. Both figures are printed
 * (docs/scaling.md quotes them). Both readers answer the same version.
 */
import { expect } from 'chai';
import { AssignerProtocol, type Admin } from 'kafkajs';
import { loadConfig } from '../../shared/config/index.ts';
import { HeadPointers } from '../../shared/contracts/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import type { Action } from '../../shared/delta/index.ts';
import { commit } from '../../shared/log-store/index.ts';
import { verifyTable } from '../../shared/materialized/index.ts';
import { ServiceProcess, terminateAll, type PipelineServiceName } from '../../shared/service/index.ts';
import { parseInstanceCounts, planInstances, type PlannedInstance } from '../../services/cli/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { suitePipelineEnvironment } from '../support/pipeline.ts';
import { eventually } from '../support/wait.ts';

const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }, { name: 'p', type: 'string', nullable: true, metadata: {} }] });
const create: Action[] = [
  { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
  { kind: 'metaData', metaData: { id: 'scale', format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: ['p'], configuration: {} } },
];
let fileCounter = 0;
function append(): Action {
  const p = String(fileCounter % 3);
  return { kind: 'add', add: { path: `p=${p}/f${fileCounter++}.parquet`, partitionValues: { p }, size: 1000 + fileCounter, modificationTime: 1_700_000_000_000, dataChange: true, stats: '{"numRecords":5}' } };
}

const partitions = 6;
const tables = Array.from({ length: 20 }, (_, index) => `scale_${String(index).padStart(2, '0')}`);

interface Running {
  readonly plan: PlannedInstance;
  readonly process: ServiceProcess;
}

describeWithEnv('several instances of every service', (env) => {
  let pool: Pool;
  let admin: Admin;
  let heads: HeadPointers;
  const redis = env.redis();
  const running: Running[] = [];
  const environment = suitePipelineEnvironment(env, {
    DELTAMETA_COMMITS_TOPIC_PARTITIONS: String(partitions),
    DELTAMETA_CDC_STANDBY_RETRY_MS: '1000',
    // No catch-up sweep in this test (it moves head pointers too): what becomes visible here went through Kafka.
    DELTAMETA_MV_REFRESH_INTERVAL_MS: '600000',
  });
  const config = loadConfig(environment);

  const of = (service: PipelineServiceName): Running[] => running.filter((instance) => instance.plan.service === service && instance.process.running);

  async function readyz(instance: Running): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(instance.process.adminUrl('/readyz'));
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  async function metric(instance: Running, name: string): Promise<number> {
    const text = await (await fetch(instance.process.adminUrl('/metrics'))).text();
    return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1] ?? 0);
  }

  async function headVersion(table: string): Promise<number> {
    const { rows } = await pool.query<{ head: number }>(
      'SELECT max(c.version)::int AS head FROM deltameta.delta_commit c JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1', [table],
    );
    return rows[0]?.head ?? -1;
  }

  async function commitEach(count: number): Promise<void> {
    await Promise.all(tables.map(async (table) => {
      for (let i = 0; i < count; i++) await commit(pool, { table, actions: [append()] });
    }));
  }

  /** Every table's head pointer at its newest committed version. */
  async function headsCaughtUp(timeoutMs: number): Promise<void> {
    for (const table of tables) {
      const head = await headVersion(table);
      await eventually(`${table}: head pointer at ${head}`, async () => ((await heads.get(table))?.version ?? -1) >= head, timeoutMs);
    }
  }

  /** The invalidators' group: partitions of the commits topic per member clientId. */
  async function assignments(): Promise<Map<string, number[]>> {
    const { groups } = await admin.describeGroups([config.pipeline.consumerGroup]);
    const result = new Map<string, number[]>();
    const group = groups[0];
    if (group?.state !== 'Stable') return result;
    for (const member of group.members) {
      const decoded = AssignerProtocol.MemberAssignment.decode(member.memberAssignment);
      result.set(member.clientId, [...(decoded?.assignment[config.pipeline.commitsTopic] ?? [])].sort((a, b) => a - b));
    }
    return result;
  }

  before(async function () {
    this.timeout(180_000);
    pool = env.pool(8);
    heads = new HeadPointers(redis, env.keyPrefix);
    admin = env.kafka().admin();
    await admin.connect();
    for (const table of tables) await commit(pool, { table, actions: create });
    const plan = planInstances(config, parseInstanceCounts('cdc=2,invalidator=3,refresher=3,reader=2', ['cdc', 'invalidator', 'refresher', 'reader']), environment);
    for (const instance of plan) running.push({ plan: instance, process: ServiceProcess.spawn(instance.service, { env: { ...environment, ...instance.env } }) });
    // Every one answers /readyz with 200, the standing-by CDC included.
    const deadline = Date.now() + 150_000;
    for (const instance of running) await instance.process.waitReady(Math.max(1000, deadline - Date.now()));
  });

  after(async function () {
    this.timeout(90_000);
    await terminateAll(running.map((instance) => instance.process));
    await admin.disconnect();
    await pool.end();
    redis.disconnect();
  });

  it('runs one active CDC and one standby, both ready, with deltameta_cdc_active 1 and 0', async function () {
    const cdcs = of('cdc');
    expect(cdcs).to.have.length(2);
    const states = await eventually('one CDC active, the other standing by', async () => {
      const all = await Promise.all(cdcs.map(async (instance) => ({ instance, ...(await readyz(instance)) })));
      const roles = all.map((state) => state.body['role']).sort();
      return roles[0] === 'active' && roles[1] === 'standby' ? all : undefined;
    }, 30_000);
    for (const state of states) expect(state.status).to.equal(200);
    const active = states.find((state) => state.body['role'] === 'active');
    const standby = states.find((state) => state.body['role'] === 'standby');
    expect(active?.body).to.deep.include({ streaming: true });
    expect(standby?.body).to.deep.include({ streaming: false });
    expect(standby?.body['slotHeldBy']).to.be.a('number');
    const gauges = await Promise.all(cdcs.map((instance) => metric(instance, 'deltameta_cdc_active')));
    expect(gauges.sort()).to.deep.equal([0, 1]);
    // The standby said so once, and logged no warning per retry.
    const output = standby?.instance.process.output ?? [];
    expect(output.filter((line) => line.includes('standing by: slot held by pid'))).to.have.length(1);
    expect(output.filter((line) => line.includes('"level":40') && line.includes('replication slot'))).to.deep.equal([]);
  });

  it('catches every table up across the instances: invalidators share the partitions, refreshers the jobs', async function () {
    this.timeout(180_000);
    for (let wave = 0; wave < 4; wave++) await commitEach(2);
    await headsCaughtUp(60_000);
    for (const table of tables) {
      const head = await headVersion(table);
      await eventually(`${table}: materialized at ${head}`, async () => {
        const { rows } = await pool.query<{ mv: number }>('SELECT s.mv_version::int AS mv FROM deltameta.table_state s JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1', [table]);
        return rows[0]?.mv === head;
      }, 60_000);
      const verification = await verifyTable(pool, table);
      expect(verification.ok, `${table}: ${verification.problems.join('\n')}`).to.equal(true);
    }
    const members = await eventually('the invalidators\' group stable with three members', async () => {
      const found = await assignments();
      return found.size === 3 ? found : undefined;
    }, 30_000);
    expect([...members.keys()].sort()).to.deep.equal(['deltameta-invalidator.invalidator-1', 'deltameta-invalidator.invalidator-2', 'deltameta-invalidator.invalidator-3']);
    for (const [clientId, owned] of members) expect(owned, `${clientId} owns partitions`).to.not.be.empty;
    expect([...members.values()].flat().sort((a, b) => a - b)).to.deep.equal([0, 1, 2, 3, 4, 5]);
    const applied = await Promise.all(of('refresher').map((instance) => metric(instance, 'deltameta_refresh_versions_applied_total')));
    console.log(`      versions applied per refresher: ${applied.join(', ')}`);
    expect(applied.filter((count) => count > 0).length, 'refreshers that applied versions').to.be.at.least(2);
  });

  it('takes the slot over on the standby CDC within seconds of a SIGKILL of the active one', async function () {
    this.timeout(120_000);
    const roles = await Promise.all(of('cdc').map(async (instance) => ({ instance, role: (await readyz(instance)).body['role'] })));
    const active = roles.find((entry) => entry.role === 'active')?.instance;
    const standby = roles.find((entry) => entry.role === 'standby')?.instance;
    if (!active || !standby) throw new Error(`expected an active and a standby CDC: ${JSON.stringify(roles.map((entry) => entry.role))}`);
    const killedAt = Date.now();
    await active.process.kill();
    const table = tables[0] as string;
    const { version } = await commit(pool, { table, actions: [append()] });
    const activeAfterMs = await eventually('the standby to stream', async () => ((await readyz(standby)).body['role'] === 'active' ? Date.now() - killedAt : undefined), 30_000);
    await eventually(`${table} v${version} visible`, async () => ((await heads.get(table))?.version ?? -1) >= version, 30_000);
    const visibleAfterMs = Date.now() - killedAt;
    console.log(`      CDC takeover: standby streaming ${activeAfterMs} ms after the SIGKILL; a commit made at the kill visible after ${visibleAfterMs} ms`);
    expect(await metric(standby, 'deltameta_cdc_active')).to.equal(1);
    expect(standby.process.output.some((line) => line.includes('taking over: the slot is free'))).to.equal(true);
    await commitEach(1);
    await headsCaughtUp(30_000);
    // A new instance stands by behind the new holder, and stops gracefully on SIGTERM while it waits.
    const another = { plan: { ...active.plan, label: 'cdc#3', env: { ...active.plan.env, DELTAMETA_INSTANCE: 'cdc#3' } }, process: ServiceProcess.spawn('cdc', { env: { ...environment, ...active.plan.env, DELTAMETA_INSTANCE: 'cdc#3' } }) };
    running.push(another);
    await another.process.waitReady(60_000);
    expect((await readyz(another)).body).to.deep.include({ role: 'standby', streaming: false });
    expect((await another.process.terminate(20_000)).code).to.equal(0);
  });

  it('moves a SIGKILLed invalidator\'s partitions to the others; commits keep becoming visible', async function () {
    this.timeout(120_000);
    const [victim] = of('invalidator');
    if (!victim) throw new Error('no invalidator');
    const victimClient = `deltameta-invalidator.${victim.plan.label.replace('#', '-')}`;
    const killedAt = Date.now();
    await victim.process.kill();
    await commitEach(1);
    await headsCaughtUp(60_000);
    const visibleAfterMs = Date.now() - killedAt;
    const members = await eventually('two invalidators owning all partitions', async () => {
      const found = await assignments();
      return found.size === 2 && !found.has(victimClient) && [...found.values()].flat().length === partitions ? found : undefined;
    }, 60_000);
    const movedAfterMs = Date.now() - killedAt;
    console.log(`      invalidator SIGKILL: the group rebalanced to ${members.size} members within ${movedAfterMs} ms; every table's commit made at the kill visible after ${visibleAfterMs} ms`);
    // The tables in the dead member's partitions waited for the rebalance (the session timeout, 6 s): nothing else moved their heads.
    expect(visibleAfterMs).to.be.at.least(5_000);
    await commitEach(1);
    await headsCaughtUp(30_000);
  });

  it('answers the same version from either reader', async function () {
    this.timeout(60_000);
    const readers = of('reader');
    expect(readers).to.have.length(2);
    for (const table of tables.slice(0, 5)) {
      const head = await headVersion(table);
      for (const query of ['', '?consistency=strong', `?minVersion=${head}`]) {
        const versions = await eventually(`${table}${query}: both readers at ${head}`, async () => {
          const answers = await Promise.all(readers.map(async (reader) => {
            const response = await fetch(`http://127.0.0.1:${reader.process.apiPort}/v1/tables/${table}${query}`);
            await response.arrayBuffer();
            return response.status === 200 ? Number(response.headers.get('delta-table-version')) : -1;
          }));
          return answers.every((answer) => answer === head) ? answers : undefined;
        }, 15_000);
        expect(versions).to.deep.equal([head, head]);
      }
    }
  });
});
