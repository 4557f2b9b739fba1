/**
 * The kind of a table (sql/000011_table_kinds.sql): `follow` registers a
 * followed table (its _delta_log is the authority; services/follower keeps
 * it in step), `handover` makes a followed table owned, published where it
 * was followed. (`publish`, an owned table's location, is the publisher's.)
 */
import { type Command, Option } from 'commander';
import { DeltametaError } from '../../shared/errors/index.ts';
import { handoverToOwned } from '../../shared/log-store/index.ts';
import { importMaterialized } from '../../shared/materialized/index.ts';
import { pagesAfterImport } from './log-commands.ts';
import { tableOption, withPool } from './options.ts';
import { withProgress } from './progress.ts';

export function registerTableKindCommands(program: Command): void {
  program
    .command('follow')
    .description("follow a Delta table written elsewhere: import it now as a followed table (its _delta_log is the authority, commits through deltameta are refused); services/follower imports each new version as it appears")
    .argument('<dir>', 'Delta table folder (holding _delta_log)')
    .addOption(tableOption())
    .action(async (dir: string, options: { table: string }) => {
      await withPool(async (pool) => {
        const result = await withProgress(`follow ${options.table}`, (progress) =>
          importMaterialized(pool, dir, options.table, { follow: 'register', onProgress: (p) => progress.update(p.stepsDone, p.stepsTotal) }));
        if (result.created) await pagesAfterImport(pool, result.tableId);
        const head = Math.max(result.toVersion, result.fromVersion - 1);
        console.log(`${options.table}: followed from ${dir} at version ${head}${result.created ? ' (created)' : ''}`);
      });
    });

  program
    .command('handover')
    .description('hand a followed table over to deltameta: owned from the version its files hold (synced first, no gap), then published to the same _delta_log by services/publisher; stop the file writers first')
    .addOption(tableOption())
    .addOption(new Option('--to <kind>', 'the kind it becomes').choices(['owned']).makeOptionMandatory())
    .action(async (options: { table: string; to: string }) => {
      if (options.to !== 'owned') throw new DeltametaError('BAD_INPUT', `--to must be owned, got ${JSON.stringify(options.to)}`);
      const result = await withPool((pool) => handoverToOwned(pool, options.table));
      console.log(`${options.table}: owned from version ${result.version} (${result.synced} versions synced from ${result.location} first); published there from version ${result.version + 1}`);
    });
}
