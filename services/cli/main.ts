/**
 * The `deltameta` command. Each subcommand reads the config once, builds
 * what it needs from `shared/`, and errors become exit codes in one place
 * (`exitCodeFor` in shared/errors). The commands, by group, in the order
 * `--help` lists them: the local stack and the schema, the Delta log, the
 * pipeline, the benchmarks, the demo.
 */
import { Command } from 'commander';
import { exitCodeFor } from '../../shared/errors/index.ts';
import { registerBenchCommand } from './bench-command.ts';
import { registerChaosCommand } from './chaos-command.ts';
import { registerDemoCommand } from './demo.ts';
import { registerDropCommand } from './drop-command.ts';
import { registerLogCommands } from './log-commands.ts';
import { registerPipelineCommands } from './pipeline-commands.ts';
import { registerPublishCommand } from './publish-command.ts';
import { registerSharingCommand } from './sharing-command.ts';
import { registerStackCommands } from './stack-commands.ts';
import { registerTableKindCommands } from './table-kind-commands.ts';
import { registerTailCommand } from './tail-command.ts';

const program = new Command('deltameta')
  .description('Delta Lake transaction-log metadata in PostgreSQL, served fast and never stale')
  .showHelpAfterError();
registerStackCommands(program);
registerLogCommands(program);
registerTableKindCommands(program);
registerPublishCommand(program);
registerSharingCommand(program);
registerPipelineCommands(program);
registerChaosCommand(program);
registerDropCommand(program);
registerTailCommand(program);
registerBenchCommand(program);
registerDemoCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`deltameta: ${message}`);
  if (process.env['DELTAMETA_DEBUG'] && error instanceof Error) console.error(error.stack);
  process.exitCode = exitCodeFor(error);
}
// A command is done when its action returns: exit once stdout is flushed,
// rather than wait for client libraries' reconnect timers (kafkajs, ioredis).
process.stdout.write('', () => process.exit());
