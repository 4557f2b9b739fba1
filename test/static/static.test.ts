/** Type-check and lint are part of the tests: a type error or a floating promise fails the run. */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { projectRoot } from '../../shared/config/index.ts';

const execFileAsync = promisify(execFile);

async function runTool(bin: string, args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(`${projectRoot}/node_modules/.bin/${bin}`, args, { cwd: projectRoot, maxBuffer: 32 * 1024 * 1024 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failure.code ?? 1, output: `${failure.stdout ?? ''}${failure.stderr ?? ''}` };
  }
}

describe('static checks', function () {
  this.timeout(300_000);

  it('type-checks (tsc --noEmit, strict, noUncheckedIndexedAccess)', async function () {
    const { code, output } = await runTool('tsc', ['--noEmit', '-p', 'tsconfig.json']);
    expect(code, output).to.equal(0);
  });

  it('lints clean (typescript-eslint with type information)', async function () {
    const { code, output } = await runTool('eslint', ['--max-warnings=0', '.']);
    expect(code, output).to.equal(0);
  });
});
