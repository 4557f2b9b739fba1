/**
 * The `deltameta` command. Each subcommand reads the config once, builds
 * what it needs from `shared/`, and maps errors to exit codes in one place.
 */
import { Command, Option } from 'commander';
import { loadConfig } from '../../shared/config/index.ts';
import { createPool, migrate } from '../../shared/db/index.ts';
import { DeltametaError, exitCodeFor } from '../../shared/errors/index.ts';
import { formatStatus, serviceNames, stackDown, stackStatus, stackUp, type ServiceName } from '../../shared/stack/index.ts';
import { runDemo } from './demo.ts';

function parseServices(names: readonly string[]): ServiceName[] {
  for (const name of names) {
    if (!(serviceNames as readonly string[]).includes(name)) {
      throw new DeltametaError('BAD_INPUT', `unknown service "${name}": expected one of ${serviceNames.join(', ')}`);
    }
  }
  return names as ServiceName[];
}

const program = new Command('deltameta')
  .description('Delta Lake transaction-log metadata in PostgreSQL, served fast and never stale')
  .showHelpAfterError();

const stack = program.command('stack').description('the local PostgreSQL (wal_level=logical), Redis and Kafka (KRaft), without Docker');

stack
  .command('up')
  .description('start what is not running (idempotent; reuses services already answering on their ports)')
  .argument('[services...]', `some of: ${serviceNames.join(', ')}`)
  .action(async (names: string[]) => {
    const config = loadConfig();
    const started = Date.now();
    const statuses = await stackUp(config, parseServices(names));
    console.log(formatStatus(statuses));
    console.error(`stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

stack
  .command('down')
  .description('stop what this stack started; leaves no process behind')
  .argument('[services...]', `some of: ${serviceNames.join(', ')}`)
  .action(async (names: string[]) => {
    console.log(formatStatus(await stackDown(loadConfig(), parseServices(names))));
  });

stack
  .command('status')
  .description('what runs where, and where its log is')
  .argument('[services...]', `some of: ${serviceNames.join(', ')}`)
  .addOption(new Option('--json', 'print JSON'))
  .action(async (names: string[], options: { json?: boolean }) => {
    const statuses = await stackStatus(loadConfig(), parseServices(names));
    console.log(options.json ? JSON.stringify(statuses, null, 2) : formatStatus(statuses));
  });

program
  .command('migrate')
  .description('apply the sql/ migrations to DELTAMETA_PG_URL')
  .action(async () => {
    const pool = createPool(loadConfig().postgresUrl, { max: 1 });
    try {
      const { applied } = await migrate(pool);
      console.log(applied.length > 0 ? `applied ${applied.join(', ')}` : 'schema is up to date');
    } finally {
      await pool.end();
    }
  });

program
  .command('demo')
  .description('the whole story end to end on a sample table')
  .action(async () => {
    await runDemo(loadConfig());
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`deltameta: ${message}`);
  if (process.env['DELTAMETA_DEBUG'] && error instanceof Error) console.error(error.stack);
  process.exitCode = exitCodeFor(error);
}
