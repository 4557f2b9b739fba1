/**
 * bench/pipeline.ts's measuring side, for one set of tables and one fleet of
 * services: commits at a fixed rate, and per commit
 *   commit → visible:   commit() returned → head pointer announced at ≥ that version
 *   commit → refreshed: commit() returned → table_state.mv_version ≥ that version
 * plus the CPU each stage spent (docs/benchmarks.md).
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { redisKeys } from '../shared/contracts/index.ts';
import { createPool, type Pool } from '../shared/db/index.ts';
import { commit } from '../shared/log-store/index.ts';
import type { PipelineRateRow } from './chart.ts';
import type { BenchFleet } from './pipeline-fleet.ts';
import { percentile } from './support.ts';

export interface PipelineProbe {
  /** Every table once, then until the pipeline has caught up. */
  warmUp(): Promise<void>;
  /** `rate` commits/s for `seconds`, then until the pipeline has caught up. */
  measure(rate: number, seconds: number): Promise<PipelineRateRow>;
  close(): Promise<void>;
}

const summary = (samples: number[]) => ({
  count: samples.length,
  p50: +percentile(samples, 50).toFixed(1),
  p95: +percentile(samples, 95).toFixed(1),
  p99: +percentile(samples, 99).toFixed(1),
  max: +percentile(samples, 100).toFixed(1),
});

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

function resolve(pending: Map<string, Map<number, number>>, table: string, upTo: number, now: number, into: number[]): void {
  const versions = pending.get(table);
  if (!versions) return;
  for (const [version, at] of versions) {
    if (version <= upTo) {
      into.push(Math.max(0, now - at));
      versions.delete(version);
    }
  }
}

export async function startProbe(url: string, pool: Pool, tables: readonly string[], fleet: BenchFleet): Promise<PipelineProbe> {
  // Per table: version → time commit() returned, until both latencies of that version are taken.
  const pendingVisible = new Map<string, Map<number, number>>();
  const pendingRefreshed = new Map<string, Map<number, number>>();
  const samples = { visible: [] as number[], refreshed: [] as number[] };

  const subscriber = new Redis(fleet.config.redisUrl);
  const announced = new Map<string, number>();
  await subscriber.subscribe(redisKeys(fleet.config.pipeline.redisPrefix).headsChannel);
  subscriber.on('message', (_channel: string, message: string) => {
    const now = performance.now();
    const { table, version } = JSON.parse(message) as { table: string; version: number };
    announced.set(table, Math.max(announced.get(table) ?? -1, version));
    resolve(pendingVisible, table, version, now, samples.visible);
  });

  const tableIds = new Map<number, string>();
  for (const row of (await pool.query<{ table_id: number; name: string }>('SELECT table_id, name FROM deltameta.delta_table')).rows) tableIds.set(row.table_id, row.name);
  const refreshedTo = new Map<string, number>();
  let polling = true;
  const pollPool = createPool(url, { max: 1, applicationName: 'bench-poller' });
  const poller = (async () => {
    while (polling) {
      const { rows } = await pollPool.query<{ table_id: number; mv_version: number }>('SELECT table_id, mv_version FROM deltameta.table_state');
      const now = performance.now();
      for (const row of rows) {
        const table = tableIds.get(row.table_id) ?? '';
        refreshedTo.set(table, row.mv_version);
        resolve(pendingRefreshed, table, row.mv_version, now, samples.refreshed);
      }
      await sleep(5);
    }
  })();

  async function commitTo(table: string, record: boolean): Promise<number> {
    const file = `f-${Math.random().toString(36).slice(2)}.parquet`;
    const { version } = await commit(pool, { table, actions: [{ kind: 'add', add: { path: file, partitionValues: {}, size: 100, modificationTime: Date.now(), dataChange: true } }] });
    const now = performance.now();
    if (!record) return now;
    for (const pending of [pendingVisible, pendingRefreshed]) {
      const versions = pending.get(table) ?? new Map<number, number>();
      pending.set(table, versions);
      versions.set(version, now);
    }
    // An announcement (or a refresh) may beat commit() returning: then it is there already.
    resolve(pendingVisible, table, announced.get(table) ?? -1, now, samples.visible);
    resolve(pendingRefreshed, table, refreshedTo.get(table) ?? -1, now, samples.refreshed);
    return now;
  }

  async function caughtUp(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const { rows } = await pool.query<{ behind: number }>(
        `SELECT count(*)::int AS behind FROM deltameta.delta_table t LEFT JOIN deltameta.table_state s USING (table_id)
          WHERE coalesce(s.mv_version, -1) < (SELECT max(version) FROM deltameta.delta_commit c WHERE c.table_id = t.table_id)`,
      );
      if (rows[0]?.behind === 0 && tables.every((table) => (announced.get(table) ?? -1) >= 1)) return true;
      await sleep(100);
    }
    return false;
  }

  /**
   * CPU seconds so far per stage: each service instance's
   * process_cpu_seconds_total (its /metrics), the benchmark process itself
   * (the load generator), and the PostgreSQL backends of the benchmark's
   * database by application (from /proc: writers, the CDC's walsender, the
   * refresher's connections). Backends that ended between two readings are
   * missed (pools keep theirs).
   */
  async function cpuSeconds(): Promise<Record<string, number>> {
    const totals: Record<string, number> = { generator: (process.cpuUsage().user + process.cpuUsage().system) / 1e6 };
    for (const [instance, port] of fleet.adminPorts) {
      const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((response) => response.text(), () => '');
      const match = /^deltameta_process_process_cpu_seconds_total\S* ([0-9.e+-]+)$/m.exec(text);
      if (match) totals[instance] = Number(match[1]);
    }
    const { rows } = await pool.query<{ pid: number; application_name: string; backend_type: string }>(
      `SELECT pid, application_name, backend_type FROM pg_stat_activity WHERE datname = current_database()`,
    );
    const ticks = 100;
    for (const row of rows) {
      let stat: string;
      try {
        stat = readFileSync(`/proc/${row.pid}/stat`, 'utf8');
      } catch {
        continue;
      }
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const seconds = (Number(fields[11]) + Number(fields[12])) / ticks;
      const application = row.application_name === 'deltameta' ? 'generator' : row.application_name.replace(/^deltameta-/, '');
      const stage = row.backend_type === 'walsender' ? 'pg:walsender' : `pg:${application}`;
      totals[stage] = (totals[stage] ?? 0) + seconds;
    }
    return totals;
  }

  function cpuMsPerCommit(before: Record<string, number>, after: Record<string, number>, commits: number): Record<string, number> {
    const perCommit: Record<string, number> = {};
    for (const [stage, seconds] of Object.entries(after)) {
      const used = seconds - (before[stage] ?? 0);
      if (used > 0) perCommit[stage] = +((used * 1000) / Math.max(1, commits)).toFixed(2);
    }
    return perCommit;
  }

  async function measure(rate: number, seconds: number): Promise<PipelineRateRow> {
    samples.visible = [];
    samples.refreshed = [];
    console.error(`load: ${rate} commits/s over ${tables.length} table(s) for ${seconds} s…`);
    const intervalMs = 1000 / rate;
    const windowMs = seconds * 1000;
    const cpuBefore = await cpuSeconds();
    const started = performance.now();
    const inFlight: Array<Promise<void>> = [];
    let sent = 0;
    let errors = 0;
    let returnedInWindow = 0;
    let generatorLagMsMax = 0;
    for (;;) {
      const due = started + sent * intervalMs;
      if (due - started >= windowMs) break;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      generatorLagMsMax = Math.max(generatorLagMsMax, performance.now() - due);
      const table = tables[sent % tables.length] as string;
      inFlight.push(commitTo(table, true).then((at) => { if (at - started <= windowMs) returnedInWindow++; }, () => { errors++; }));
      sent++;
    }
    await Promise.all(inFlight);
    const drainDeadline = Date.now() + 60_000;
    while (Date.now() < drainDeadline && (samples.visible.length < sent - errors || samples.refreshed.length < sent - errors)) await sleep(50);
    for (const pending of [pendingVisible, pendingRefreshed]) pending.clear();
    const cpu = cpuMsPerCommit(cpuBefore, await cpuSeconds(), sent);
    const row: PipelineRateRow = {
      askedCommitsPerSecond: rate, tables: tables.length, seconds, commits: sent, errors,
      achievedCommitsPerSecond: +(returnedInWindow / seconds).toFixed(1), generatorLagMsMax: +generatorLagMsMax.toFixed(1),
      commitToVisibleMs: summary(samples.visible), commitToRefreshedMs: summary(samples.refreshed), cpuMsPerCommit: cpu,
    };
    console.error(JSON.stringify(row));
    // The next rate starts from a caught-up pipeline.
    if (!(await caughtUp(120_000))) console.error('the pipeline did not catch up within 120 s');
    return row;
  }

  return {
    async warmUp() {
      console.error(`warming up ${tables.length} tables…`);
      await Promise.all(tables.map((table) => commitTo(table, false)));
      await caughtUp(120_000);
    },
    measure,
    async close() {
      polling = false;
      await poller;
      subscriber.disconnect();
      await pollPool.end();
    },
  };
}
