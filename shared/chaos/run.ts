/**
 * A chaos run (issue 15): several instances of the services on an isolated
 * run (its own slot, topics, queues and Redis prefix), a steady write
 * workload over many tables, readers recording every answer, and rounds of
 * faults; after each round the writers pause, the pipeline must converge,
 * and the checker holds every answer, the materialized state and the
 * events to the invariants. Used by `deltameta chaos` (full) and
 * test/fault/chaos.test.ts (bounded).
 */
import path from 'node:path';
import { createKafka } from '../clients/index.ts';
import { loadConfig, type Config } from '../config/index.ts';
import { HeadPointers } from '../contracts/index.ts';
import { createRedis } from '../clients/index.ts';
import type { Pool } from '../db/index.ts';
import { isolatedEnvironment, runPipelineNames } from '../service/index.ts';
import { Checker } from './checker.ts';
import { EventRecorder } from './events.ts';
import { faultKinds, injectFault, type FaultKind } from './faults.ts';
import { Fleet, type InstanceCounts } from './fleet.ts';
import { Readers } from './readers.ts';
import { Workload } from './workload.ts';

export interface ChaosOptions {
  readonly rounds: number;
  /** workload and faults per round, before the convergence check */
  readonly seconds: number;
  readonly faultsPerRound: number;
  readonly kinds: readonly FaultKind[];
  readonly tables: number;
  readonly readerClients: number;
  readonly instances: InstanceCounts;
  /** the run's database (a superuser URL: the run drops its own slot as a fault) */
  readonly postgresUrl: string;
  readonly pool: Pool;
  /** the stack's configuration: the faults restart its PostgreSQL, Redis and Kafka */
  readonly stack: Config;
  readonly run: string;
  readonly convergeTimeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly log?: (line: string) => void;
  /** ends the run after the step under way (Ctrl-C): the report covers the rounds done */
  readonly signal?: AbortSignal;
}

export interface ChaosReport {
  readonly rounds: number;
  readonly faults: Partial<Record<FaultKind, number>>;
  readonly faultsTotal: number;
  readonly commits: number;
  readonly commitsByKind: Record<string, number>;
  readonly commitsByPath: { library: number; api: number };
  readonly failedCommitAttempts: number;
  readonly answersChecked: number;
  readonly unanswered: number;
  readonly events: number;
  readonly violations: string[];
  /** the longest time, after a fault of that kind healed, until every table's head pointer and materialized state reached the log, ms */
  readonly convergeMsByKind: Partial<Record<FaultKind, number>>;
  readonly longestConvergeMs: number;
  readonly seconds: number;
}

export const defaultInstances: InstanceCounts = { cdc: 2, invalidator: 2, refresher: 2, reader: 2, committer: 1 };

/** The fault kinds for `count` faults: every kind in turn (shuffled each cycle), so short runs still cover them all. */
function schedule(kinds: readonly FaultKind[], count: number): FaultKind[] {
  const order: FaultKind[] = [];
  while (order.length < count) order.push(...[...kinds].sort(() => Math.random() - 0.5));
  return order.slice(0, count);
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  const started = Date.now();
  const names = runPipelineNames(options.run);
  const env = isolatedEnvironment(options.postgresUrl, names, {
    DELTAMETA_MV_REFRESH_INTERVAL_MS: '3000',
    DELTAMETA_COMMITS_TOPIC_PARTITIONS: '6',
    DELTAMETA_RECONNECT_MAX_BACKOFF_MS: '2000',
    ...options.env,
  });
  const config = loadConfig(env);
  const logDir = path.join(options.stack.stackDir, 'chaos', options.run);
  const fleet = new Fleet(options.instances, env, logDir);
  const redis = createRedis(config, 'deltameta-chaos-checker');
  const kafka = createKafka({ clientId: 'deltameta-chaos', brokers: config.kafkaBrokers, retry: { retries: 30, maxRetryTime: 2000 } });
  const recorder = new EventRecorder(kafka, names.commitsTopic, `${names.consumerGroup}-checker`);
  const tables = Array.from({ length: options.tables }, (_, i) => `chaos_${options.run}_${i}`.toLowerCase().replace(/[^a-z0-9_]/g, '_'));
  const workload = new Workload(options.pool, tables, fleet);
  const readers = new Readers(fleet, tables, (table) => workload.head(table));
  const checker = new Checker(options.pool, new HeadPointers(redis, config.pipeline.redisPrefix), tables);
  const faults: Partial<Record<FaultKind, number>> = {};
  const convergeMsByKind: Partial<Record<FaultKind, number>> = {};
  const violations: string[] = [];
  options.pool.on('error', () => undefined);
  let roundsDone = 0;
  const plan = schedule(options.kinds.length > 0 ? options.kinds : faultKinds, options.rounds * options.faultsPerRound);
  try {
    await fleet.start();
    log(`fleet up: ${fleet.instances.map((instance) => instance.id).join(', ')}; their logs in ${logDir}`);
    await recorder.start();
    await workload.create();
    workload.start();
    readers.start(options.readerClients);
    for (let round = 1; round <= options.rounds && !options.signal?.aborted; round++) {
      const kinds = plan.slice((round - 1) * options.faultsPerRound, round * options.faultsPerRound);
      const roundEnd = Date.now() + options.seconds * 1000;
      for (const kind of kinds) {
        if (options.signal?.aborted) break;
        // Faults at random moments of the round, one after the other.
        const slack = Math.max(0, roundEnd - Date.now()) / (kinds.length + 1);
        await new Promise((resolve) => setTimeout(resolve, Math.random() * slack));
        const done = await injectFault(kind, { fleet, stack: options.stack, pool: options.pool, slotName: names.slotName, commitsTopic: names.commitsTopic, pauseMs: 8000, log }).catch((error: unknown) => `failed: ${String(error)}`);
        faults[kind] = (faults[kind] ?? 0) + 1;
        // Healed: how long until every table's head pointer and materialized state reach the log as it stands now (writers go on).
        const after = await checker.converge(options.convergeTimeoutMs ?? 180_000);
        convergeMsByKind[kind] = Math.max(convergeMsByKind[kind] ?? 0, after.ms);
        if (after.behind.length > 0) violations.push(...after.behind.map((line) => `round ${round}: after ${kind}, not converged in ${after.ms} ms: ${line}`));
        log(`round ${round}: ${kind}: ${done}; converged in ${after.ms} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, roundEnd - Date.now())));
      await workload.stop();
      const crashed = fleet.restartCrashed();
      const converged = await checker.converge(options.convergeTimeoutMs ?? 180_000);
      const problems = crashed.map((line) => `round ${round}: ${line}`);
      problems.push(...converged.behind.map((line) => `round ${round}: not converged after ${converged.ms} ms: ${line}`));
      const heads = await checker.headsNow();
      problems.push(...(await waitForEvents(checker, recorder, heads, 60_000)).map((line) => `round ${round}: ${line}`));
      problems.push(...(await checker.verifyState()).map((line) => `round ${round}: ${line}`));
      problems.push(...(await checker.checkAnswers(readers.take())).map((line) => `round ${round}: ${line}`));
      violations.push(...problems);
      log(`round ${round}: converged in ${converged.ms} ms; commits ${workload.counts.commits}, answers checked ${checker.answersChecked}, violations ${problems.length}`);
      for (const problem of problems.slice(0, 5)) log(`  ${problem}`);
      roundsDone = round;
      workload.start();
    }
  } finally {
    await readers.stop();
    await workload.stop();
    await recorder.stop();
    await fleet.stop();
    redis.disconnect();
  }
  const convergeValues = Object.values(convergeMsByKind);
  return {
    rounds: roundsDone, faults, faultsTotal: Object.values(faults).reduce((sum, count) => sum + count, 0),
    commits: workload.counts.commits, commitsByKind: workload.counts.byKind, commitsByPath: workload.counts.byPath, failedCommitAttempts: workload.counts.failed,
    answersChecked: checker.answersChecked, unanswered: readers.unanswered, events: recorder.events, violations,
    convergeMsByKind, longestConvergeMs: Math.max(0, ...convergeValues), seconds: Math.round((Date.now() - started) / 1000),
  };
}

/** Events lag the head pointers a little (and a recreated consumer reads again): wait for them before calling anything missing. */
async function waitForEvents(checker: Checker, recorder: EventRecorder, heads: Awaited<ReturnType<Checker['headsNow']>>, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const problems = checker.checkEvents(recorder, heads);
    if (problems.length === 0 || Date.now() > deadline) return problems;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export function formatChaosReport(report: ChaosReport): string {
  const kinds = Object.entries(report.faults).map(([kind, count]) => `${kind} ${count}`).join(', ');
  const converge = Object.entries(report.convergeMsByKind).map(([kind, ms]) => `${kind} ${((ms ?? 0) / 1000).toFixed(1)} s`).join(', ');
  return [
    `chaos: ${report.rounds} rounds, ${report.faultsTotal} faults (${kinds}), ${report.commits} commits (${Object.entries(report.commitsByKind).map(([kind, count]) => `${kind} ${count}`).join(', ')}; library ${report.commitsByPath.library}, API ${report.commitsByPath.api}; ${report.failedCommitAttempts} attempts failed and retried)`,
    `answers checked ${report.answersChecked} (${report.unanswered} requests unanswered), events ${report.events}, violations ${report.violations.length}`,
    `longest convergence ${(report.longestConvergeMs / 1000).toFixed(1)} s; by fault kind: ${converge}; ${report.seconds} s in all`,
  ].join('\n');
}
