/**
 * The alert rules in a real Prometheus (Debian's) scraping an isolated set
 * of the seven services plus a watch-only invalidator (the pipeline watch
 * that keeps the lag gauges while a stage is down), every second. The rules
 * are infra/prometheus/rules/*.yml with only the `for:` durations rewritten
 * to 3 s (thresholds and expressions unchanged: the test file is generated
 * from the real one here). Stopping the refresher, then the invalidator,
 * then the CDC while commits arrive takes DeltametaRefreshQueueStuck,
 * DeltametaConsumerLag and DeltametaSlotLagGrowing through pending to firing
 * in /api/v1/alerts; starting the stage again resolves them. A team's own
 * subscriber group (a plain kafkajs consumer) that stops falls behind the
 * same way: its lag is exported under its group, the alert fires for it and
 * `deltameta status` names it and exits 1. Then every
 * panel's query of infra/grafana/dashboards/deltameta.json must return data.
 */
import { expect } from 'chai';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { projectRoot } from '../../shared/config/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import { commit } from '../../shared/log-store/index.ts';
import { runDeltameta } from '../support/cli.ts';
import { ServiceProcess, type PipelineServiceName } from '../../shared/service/index.ts';
import { startPrometheus, type RunningPrometheus } from '../../shared/stack/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { suitePipelineEnvironment } from '../support/pipeline.ts';
import { eventually } from '../support/wait.ts';

const names: PipelineServiceName[] = ['cdc', 'invalidator', 'refresher', 'reader', 'follower', 'publisher', 'committer'];
const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }] });

interface Alert { labels: Record<string, string>; state: 'pending' | 'firing' }
interface Dashboard { panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }> }

/** The real rules with every `for:` set to `shortFor`: nothing else differs. */
function shortenedAlertRules(text: string, shortFor = '3s'): string {
  return text.replace(/^(\s+)for: \S+$/gm, `$1for: ${shortFor}`);
}

describeWithEnv('alerts through a real Prometheus', (env) => {
  const running = new Map<string, ServiceProcess>();
  const adminPorts = new Map<string, number>();
  let environment: NodeJS.ProcessEnv;
  let prometheus: RunningPrometheus | undefined;
  let pool: Pool;
  let files = 0;
  /** This run's Prometheus configuration, rules and TSDB (removed afterwards). */
  let dir: string | undefined;

  async function start(name: PipelineServiceName, key: string = name, extra: NodeJS.ProcessEnv = {}): Promise<ServiceProcess> {
    // A restarted service keeps its admin port: Prometheus scrapes the ports it was configured with.
    const port = adminPorts.get(key);
    const pinned = port === undefined ? {} : { [`DELTAMETA_${name.toUpperCase()}_ADMIN_PORT`]: String(port) };
    const service = ServiceProcess.spawn(name, { env: { ...environment, ...extra, ...pinned } });
    running.set(key, service);
    await service.waitReady(90_000);
    if (service.adminPort !== undefined) adminPorts.set(key, service.adminPort);
    return service;
  }

  async function stop(key: string): Promise<void> {
    const service = running.get(key);
    running.delete(key);
    await service?.terminate();
  }

  /** Commits `count` versions of `table`, `adds` files each, `parallel` tables' worth at a time. */
  async function commitSome(table: string, count: number, adds = 1): Promise<void> {
    for (let i = 0; i < count; i++) {
      const actions = Array.from({ length: adds }, () => ({
        kind: 'add' as const, add: { path: `part-${files++}-${'x'.repeat(40)}.parquet`, partitionValues: {}, size: 1000, modificationTime: 1, dataChange: true },
      }));
      await commit(pool, { table, actions });
    }
  }

  async function createTable(table: string): Promise<void> {
    await commit(pool, {
      table,
      actions: [
        { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
        { kind: 'metaData', metaData: { id: table, format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration: {} } },
      ],
    });
  }

  /** A few commits through the committer's API (its request and latency series). */
  async function postSome(): Promise<void> {
    const committer = running.get('committer');
    for (let i = 0; i < 3; i++) {
      const posted = await fetch(`http://127.0.0.1:${committer?.apiPort}/v1/tables/orders/commits`, {
        method: 'POST', headers: { 'content-type': 'application/x-ndjson', 'delta-blind-append': 'true' },
        body: `${JSON.stringify({ add: { path: `api-${files++}.parquet`, partitionValues: {}, size: 1, modificationTime: 1, dataChange: true } })}\n`,
      });
      expect(posted.status, await posted.text()).to.equal(201);
    }
  }

  /** A few reads through the reader (its request, latency and cache series). */
  async function readSome(): Promise<void> {
    const reader = running.get('reader');
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`http://127.0.0.1:${reader?.apiPort}/v1/tables/orders`).catch((error: unknown) => {
        throw new Error(`the reader does not answer (running: ${reader?.running}):\n${reader?.output.slice(-20).join('\n')}`, { cause: error });
      });
      expect(response.status).to.equal(200);
    }
  }

  async function alerts(): Promise<Alert[]> {
    const body = await (await fetch(`${prometheus?.url}/api/v1/alerts`)).json() as { data: { alerts: Alert[] } };
    return body.data.alerts;
  }

  async function alertState(name: string, labels: Record<string, string> = {}): Promise<Alert['state'] | 'inactive'> {
    const found = (await alerts()).find((alert) => alert.labels['alertname'] === name && Object.entries(labels).every(([key, value]) => alert.labels[key] === value));
    return found?.state ?? 'inactive';
  }

  /** Waits for pending, then firing, while `feed` keeps commits coming. */
  async function expectPendingThenFiring(name: string, labels: Record<string, string>, feed: () => Promise<void>, timeoutMs: number): Promise<void> {
    const seen = new Set<string>();
    const deadline = Date.now() + timeoutMs;
    while (!seen.has('firing')) {
      if (Date.now() > deadline) throw new Error(`${name}: not firing after ${timeoutMs} ms (seen: ${[...seen].join(', ') || 'nothing'})\n${prometheus?.logTail(10) ?? ''}`);
      await feed();
      seen.add(await alertState(name, labels));
      await delay(200);
    }
    expect(seen.has('pending'), `${name} went firing without being seen pending`).to.equal(true);
  }

  async function expectResolved(name: string, labels: Record<string, string>, timeoutMs = 60_000): Promise<void> {
    await eventually(`${name} resolved`, async () => (await alertState(name, labels)) === 'inactive', timeoutMs);
  }

  async function query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
    const response = await fetch(`${prometheus?.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = await response.json() as { status: string; error?: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
    return body.data.result;
  }

  before(async function () {
    this.timeout(240_000);
    pool = env.pool(4);
    environment = suitePipelineEnvironment(env, {
      DELTAMETA_INVALIDATOR_WATCH_INTERVAL_MS: '1000',
      DELTAMETA_INVALIDATOR_GROUPS_RELIST_MS: '2000',
      DELTAMETA_COMMITTER_PORT: '0',
      DELTAMETA_READER_PORT: '0',
    });
    await Promise.all(names.map((name) => start(name)));
    await start('invalidator', 'watch', { DELTAMETA_INVALIDATOR_CONSUME: 'off' });

    dir = path.join(env.config.stackDir, 'prometheus', env.id);
    mkdirSync(path.join(dir, 'rules'), { recursive: true });
    const rules = path.join(projectRoot, 'infra/prometheus/rules');
    writeFileSync(path.join(dir, 'rules/recording.yml'), readFileSync(path.join(rules, 'recording.yml')));
    writeFileSync(path.join(dir, 'rules/alerts.yml'), shortenedAlertRules(readFileSync(path.join(rules, 'alerts.yml'), 'utf8')));
    const jobs = [...running].map(([key, service]) => `  - job_name: ${key === 'watch' ? 'invalidator-watch' : key}\n    static_configs: [{ targets: ['127.0.0.1:${service.adminPort}'] }]`);
    writeFileSync(path.join(dir, 'prometheus.yml'), [
      'global: { scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 900ms }',
      'rule_files: [rules/recording.yml, rules/alerts.yml]',
      'scrape_configs:', ...jobs, '',
    ].join('\n'));
    prometheus = await startPrometheus(env.config, { configFile: path.join(dir, 'prometheus.yml'), name: `${env.id}/run` });

    await createTable('orders');
    await commitSome('orders', 5);
    // Commits through the committer's API and reads through the reader: their series exist.
    await postSome();
    await readSome();
    await eventually('orders materialized', async () => (await query('deltameta:mv_staleness_versions:max'))[0]?.value[1] === '0', 60_000);
  });

  after(async function () {
    this.timeout(120_000);
    await prometheus?.stop();
    await Promise.allSettled([...running.keys()].map((key) => stop(key)));
    await pool?.end();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the refresher stopped while commits arrive: DeltametaRefreshQueueStuck pending, firing, then resolved once it is back', async function () {
    this.timeout(120_000);
    await stop('refresher');
    await commitSome('orders', 2);
    await expectPendingThenFiring('DeltametaRefreshQueueStuck', { queue: environment['DELTAMETA_REFRESH_QUEUE'] ?? '' }, () => commitSome('orders', 1), 60_000);
    await start('refresher');
    await expectResolved('DeltametaRefreshQueueStuck', {});
  });

  it('the invalidator stopped while commits arrive: DeltametaConsumerLag of its group pending, firing, then resolved', async function () {
    this.timeout(120_000);
    const group = environment['DELTAMETA_CONSUMER_GROUP'] ?? '';
    await stop('invalidator');
    await Promise.all(['lag_a', 'lag_b', 'lag_c', 'lag_d'].map(async (table) => {
      await createTable(table);
      await commitSome(table, 280);
    }));
    await expectPendingThenFiring('DeltametaConsumerLag', { group }, () => Promise.resolve(), 60_000);
    await start('invalidator');
    await expectResolved('DeltametaConsumerLag', { group });
  });

  it('a subscriber\'s own group that stops: its lag exported, DeltametaConsumerLag for its group, named by deltameta status', async function () {
    this.timeout(180_000);
    const group = env.topic('team-subscriber');
    const topic = environment['DELTAMETA_COMMITS_TOPIC'] ?? '';
    const high = async (): Promise<number> => (await admin.fetchTopicOffsets(topic)).reduce((sum, partition) => sum + Number(partition.high), 0);
    const admin = env.kafka().admin();
    await admin.connect();
    /** A subscriber as a team writes one: reads the topic from the start, offsets committed after each batch. */
    const subscribe = async (): Promise<{ seen: () => number; stop: () => Promise<void> }> => {
      const consumer = env.kafka().consumer({ groupId: group, sessionTimeout: 6000, heartbeatInterval: 500 });
      let seen = 0;
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: () => {
          seen++;
          return Promise.resolve();
        },
      });
      return { seen: () => seen, stop: () => consumer.disconnect() };
    };
    try {
      const first = await subscribe();
      const target = await high();
      await eventually('the subscriber caught up', () => Promise.resolve(first.seen() >= target), 60_000);
      await first.stop();
      await eventually('its lag exported under its group', async () => (await query(`deltameta_kafka_consumer_lag_messages{group="${group}"}`)).length > 0, 30_000);
      await Promise.all(['sub_a', 'sub_b', 'sub_c', 'sub_d'].map(async (table) => {
        await createTable(table);
        await commitSome(table, 280);
      }));
      await expectPendingThenFiring('DeltametaConsumerLag', { group }, () => Promise.resolve(), 60_000);
      const status = await runDeltameta(['status'], environment);
      expect(status.code, status.stdout + status.stderr).to.equal(1);
      expect(status.stdout).to.match(new RegExp(`consumer group ${group} \\(subscriber\\): lag \\d{4,} messages`));
      expect(status.stdout).to.contain(`DeltametaConsumerLag: deltameta:kafka_consumer_lag_messages:max{group="${group}"}`);
      const again = await subscribe();
      await expectResolved('DeltametaConsumerLag', { group }, 90_000);
      await again.stop();
    } finally {
      await admin.deleteGroups([group]).catch(() => undefined);
      await admin.disconnect();
    }
  });

  it('the CDC stopped while commits arrive: DeltametaSlotLagGrowing pending, firing, then resolved', async function () {
    this.timeout(120_000);
    await stop('cdc');
    await expectPendingThenFiring('DeltametaSlotLagGrowing', {}, () => commitSome('orders', 2, 200), 90_000);
    await start('cdc');
    await expectResolved('DeltametaSlotLagGrowing', {});
  });

  it('every dashboard panel\'s query returns data after the pipeline has worked', async function () {
    this.timeout(60_000);
    await commitSome('orders', 3);
    await postSome();
    await readSome();
    const dashboard = JSON.parse(readFileSync(path.join(projectRoot, 'infra/grafana/dashboards/deltameta.json'), 'utf8')) as Dashboard;
    const targets = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })));
    expect(targets.length).to.be.greaterThan(20);
    const dead: string[] = [];
    await eventually('every panel has data', async () => {
      dead.length = 0;
      for (const { panel, expr } of targets) {
        const result = await query(expr);
        if (!result.some((series) => Number.isFinite(Number(series.value[1])))) dead.push(`${panel}: ${expr}`);
      }
      return dead.length === 0;
    }, 40_000).catch((error: unknown) => {
      throw new Error(`dead panels:\n${dead.join('\n')}`, { cause: error });
    });
  });
});
