/** `deltameta stack up | down | status` and `migrate`: the local stack and the schema on it. */
import { type Command, Option } from 'commander';
import { loadConfig } from '../../shared/config/index.ts';
import { migrate } from '../../shared/db/index.ts';
import { DeltametaError } from '../../shared/errors/index.ts';
import { formatStatus, maxKafkaNodes, serviceNames, stackDown, stackStatus, stackUp, type ServiceName } from '../../shared/stack/index.ts';
import { withPool } from './options.ts';

function parseStackServices(names: readonly string[]): ServiceName[] {
  for (const name of names) {
    if (!(serviceNames as readonly string[]).includes(name)) {
      throw new DeltametaError('BAD_INPUT', `unknown service "${name}": expected one of ${serviceNames.join(', ')}`);
    }
  }
  return names as ServiceName[];
}

function parseKafkaBrokers(value: string): number {
  const count = Number(value);
  if (!/^\d+$/.test(value.trim()) || count < 1 || count > maxKafkaNodes) {
    throw new DeltametaError('BAD_INPUT', `--kafka-brokers must be an integer from 1 to ${maxKafkaNodes} (got "${value}")`);
  }
  return count;
}

export function registerStackCommands(program: Command): void {
  const stack = program.command('stack').description('the local PostgreSQL (wal_level=logical), Redis and Kafka (KRaft), without Docker');
  const servicesArgument = `some of: ${serviceNames.join(', ')}`;

  stack
    .command('up')
    .description('start what is not running (idempotent; reuses services already answering on their ports)')
    .argument('[services...]', servicesArgument)
    .addOption(new Option('--kafka-brokers <n>', `Kafka as a cluster of n broker+controller nodes (1..${maxKafkaNodes}; 3 gives replication 3, min.insync.replicas 2); default: as the stack folder records, or 1`).argParser(parseKafkaBrokers))
    .action(async (names: string[], options: { kafkaBrokers?: number }) => {
      const started = Date.now();
      const statuses = await stackUp(loadConfig(), parseStackServices(names), { kafkaBrokers: options.kafkaBrokers });
      console.log(formatStatus(statuses));
      console.error(`stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    });

  stack
    .command('down')
    .description('stop what this stack started; leaves no process behind')
    .argument('[services...]', servicesArgument)
    .action(async (names: string[]) => {
      console.log(formatStatus(await stackDown(loadConfig(), parseStackServices(names))));
    });

  stack
    .command('status')
    .description('what runs where, and where its log is')
    .argument('[services...]', servicesArgument)
    .addOption(new Option('--json', 'print JSON'))
    .action(async (names: string[], options: { json?: boolean }) => {
      const statuses = await stackStatus(loadConfig(), parseStackServices(names));
      console.log(options.json ? JSON.stringify(statuses, null, 2) : formatStatus(statuses));
    });

  program
    .command('migrate')
    .description('apply the sql/ migrations to DELTAMETA_PG_URL')
    .action(async () => {
      const { applied } = await withPool((pool) => migrate(pool), 1);
      console.log(applied.length > 0 ? `applied ${applied.join(', ')}` : 'schema is up to date');
    });
}
