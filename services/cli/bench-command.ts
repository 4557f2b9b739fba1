/** `deltameta bench`: the benchmark suite. bench/run.ts is a script (its effects are at top level), so it runs as a process of its own. */
import { spawnSync } from 'node:child_process';
import { type Command } from 'commander';
import { projectRoot } from '../../shared/config/index.ts';

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('the benchmark suite (docs/design.md section 6); writes docs/benchmarks.md with charts')
    .option('--quick', 'a short run')
    .argument('[names...]', 'only these benchmarks (refresh, pipeline, reader, import)')
    .action((names: string[], options: { quick?: boolean }) => {
      const result = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...names, ...(options.quick ? ['--quick'] : [])], { stdio: 'inherit', cwd: projectRoot });
      process.exitCode = result.status ?? 1;
    });
}
