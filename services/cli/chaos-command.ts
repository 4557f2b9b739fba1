/**
 * `deltameta chaos [--rounds N] [--seconds S] …`: the fault suite of issue
 * 15 at full length (test/fault/chaos.test.ts runs it bounded) against the
 * stack: several instances of the services on an isolated run of the
 * stack's database (its own slot, topics, queues, Redis prefix and tables),
 * writers and readers, and rounds of faults — which restart the stack's own
 * PostgreSQL, Redis and Kafka, so nothing else should be using the stack.
 * Prints each fault and round, then the report (docs/reliability.md);
 * exits 1 when the checker found any violation. The run's tables,
 * replication slot and publication are removed afterwards.
 */
import { Option, type Command } from 'commander';
import { defaultInstances, faultKinds, formatChaosReport, runChaos, type FaultKind, type InstanceCounts } from '../../shared/chaos/index.ts';
import { loadConfig } from '../../shared/config/index.ts';
import { createPool, migrate } from '../../shared/db/index.ts';
import { DeltametaError } from '../../shared/errors/index.ts';
import { dropTable } from '../../shared/log-store/index.ts';
import { dropRunReplication, pipelineServiceNames, runPipelineNames, sidecarServiceNames } from '../../shared/service/index.ts';
import { formatStatus, stackUp } from '../../shared/stack/index.ts';
import { parseInstanceCounts } from './instances.ts';
import { integer } from './options.ts';

interface ChaosCommandOptions {
  rounds: number;
  seconds: number;
  faultsPerRound: number;
  kinds?: string;
  tables: number;
  readers: number;
  instances?: string;
  json?: boolean;
}

function parseKinds(text: string | undefined): FaultKind[] {
  if (text === undefined) return [...faultKinds];
  const kinds = text.split(',').map((kind) => kind.trim()).filter((kind) => kind !== '');
  for (const kind of kinds) {
    if (!(faultKinds as readonly string[]).includes(kind)) throw new DeltametaError('BAD_INPUT', `--kinds: no fault kind ${JSON.stringify(kind)} (expected some of ${faultKinds.join(', ')})`);
  }
  if (kinds.length === 0) throw new DeltametaError('BAD_INPUT', '--kinds: name at least one fault kind');
  return kinds as FaultKind[];
}

function parseInstances(text: string | undefined): InstanceCounts {
  if (text === undefined) return defaultInstances;
  const services = [...pipelineServiceNames, ...sidecarServiceNames];
  const given = parseInstanceCounts(text, services);
  // Only the services named, plus the defaults' (a run needs its pipeline).
  const counts: InstanceCounts = { ...defaultInstances };
  for (const part of text.split(',')) {
    const name = part.split('=')[0]?.trim() as keyof InstanceCounts;
    counts[name] = given.get(name) ?? 1;
  }
  return counts;
}

export function registerChaosCommand(program: Command): void {
  program
    .command('chaos')
    .description('the fault suite: instances of every service, writers and readers, faults at random (services killed and paused, Kafka, Redis and PostgreSQL restarted, Redis flushed and filled, the slot dropped); every answer checked. Restarts the stack\'s own services: run it on a stack nothing else uses')
    .addOption(new Option('--rounds <n>', 'rounds of faults, each followed by the checks').argParser(integer('--rounds', 1)).default(10))
    .addOption(new Option('--seconds <s>', 'workload seconds per round').argParser(integer('--seconds', 5)).default(30))
    .addOption(new Option('--faults-per-round <n>', 'faults in each round, one after the other').argParser(integer('--faults-per-round', 1)).default(2))
    .option('--kinds <list>', `fault kinds, comma-separated (default all: ${faultKinds.join(', ')}); taken in turn so every kind comes up`)
    .addOption(new Option('--tables <n>', 'tables the writers commit to').argParser(integer('--tables', 1)).default(12))
    .addOption(new Option('--readers <n>', 'reading clients').argParser(integer('--readers', 1)).default(6))
    .option('--instances <counts>', 'instances per service (default cdc=2,invalidator=2,refresher=2,reader=2,committer=1)')
    .option('--json', 'print the report as JSON')
    .action(async (options: ChaosCommandOptions) => {
      const kinds = parseKinds(options.kinds);
      const instances = parseInstances(options.instances);
      const config = loadConfig();
      console.error(formatStatus(await stackUp(config)));
      const pool = createPool(config.postgresUrl, { max: 6, applicationName: 'deltameta-chaos' });
      const run = `chaos${Date.now().toString(36)}`;
      const started = Date.now();
      // Ctrl-C: the run ends after the step under way, reports and cleans up (a second Ctrl-C is the default: exit at once).
      const stop = new AbortController();
      const onSignal = (): void => {
        process.stderr.write('stopping after the step under way (again to quit at once)\n');
        stop.abort();
        process.off('SIGINT', onSignal);
      };
      process.on('SIGINT', onSignal);
      process.once('SIGTERM', () => stop.abort());
      try {
        await migrate(pool);
        const report = await runChaos({
          rounds: options.rounds, seconds: options.seconds, faultsPerRound: options.faultsPerRound, kinds, tables: options.tables, readerClients: options.readers,
          instances, postgresUrl: config.postgresUrl, pool, stack: config, run, signal: stop.signal,
          log: (line) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s] ${line}\n`),
        });
        console.log(options.json ? JSON.stringify(report, null, 2) : formatChaosReport(report));
        for (const violation of report.violations.slice(0, 50)) console.log(`  violation: ${violation}`);
        if (report.violations.length > 0) process.exitCode = 1;
      } finally {
        const { rows } = await pool.query<{ name: string }>('SELECT name FROM deltameta.delta_table WHERE name LIKE $1', [`chaos_${run}_%`]).catch(() => ({ rows: [] as Array<{ name: string }> }));
        for (const { name } of rows) await dropTable(pool, name, { force: true }).catch(() => undefined);
        await dropRunReplication(pool, runPipelineNames(run)).catch(() => undefined);
        await pool.end();
      }
    });
}
