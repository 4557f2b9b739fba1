/** The pipeline commands: `up` (run the services), `status` (lags at a glance), `verify` (materialized state == log). */
import { type Command } from 'commander';
import { loadConfig } from '../../shared/config/index.ts';
import { verifyTable } from '../../shared/materialized/index.ts';
import { pipelineServiceNames, sidecarServiceNames } from '../../shared/service/index.ts';
import { tableOption, withPool } from './options.ts';
import { withProgress } from './progress.ts';
import { alertChecks, formatAlertChecks } from './status-alerts.ts';
import { formatPipelineStatus, pipelineStatus } from './status.ts';
import { runServices } from './up.ts';

// serves: delta_table name unique index
const tableNamesSql = 'SELECT name FROM deltameta.delta_table ORDER BY name';

export function registerPipelineCommands(program: Command): void {
  program
    .command('up')
    .description(`run the services against the stack (${[...pipelineServiceNames, ...sidecarServiceNames].join(', ')}); Ctrl-C stops them`)
    .argument('[services...]', 'only these services')
    .option('--instances <counts>', 'several instances of a service, e.g. cdc=2,invalidator=3,reader=2 (1..16 each; ports: docs/scaling.md)')
    .action(async (names: string[], options: { instances?: string }) => {
      process.exitCode = await runServices(loadConfig(), names, options.instances);
    });

  program
    .command('status')
    .description('pipeline health at a glance: slot lag, consumer lag, queue depth and age, staleness, tables; the alerts that would fire now (exit 1 when any would: a probe)')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const status = await pipelineStatus(loadConfig());
      const alerts = alertChecks(status);
      console.log(options.json ? JSON.stringify({ ...status, alerts }, null, 2) : `${formatPipelineStatus(status)}\n\n${formatAlertChecks(alerts)}`);
      if (alerts.some((check) => check.fires)) process.exitCode = 1;
    });

  program
    .command('verify')
    .description('check materialized state against log replay, for every table or one')
    .addOption(tableOption('only this table', false))
    .action(async (options: { table?: string }) => {
      const failures = await withPool(async (pool) => {
        const names = options.table ? [options.table] : (await pool.query<{ name: string }>(tableNamesSql)).rows.map((row) => row.name);
        return withProgress('verify', async (progress) => {
          let mismatched = 0;
          for (const [index, name] of names.entries()) {
            const result = await verifyTable(pool, name);
            progress.log(`${name}: ${result.ok ? 'ok' : 'MISMATCH'} at version ${result.watermark}`);
            for (const problem of result.problems) progress.log(`  ${problem}`);
            if (!result.ok) mismatched++;
            progress.update(index + 1, names.length);
          }
          return mismatched;
        });
      });
      if (failures > 0) {
        console.error(`deltameta: ${failures} table(s) do not match their log`);
        process.exitCode = 1;
      }
    });
}
