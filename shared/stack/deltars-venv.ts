/**
 * delta-rs (the Python `deltalake` package, pinned in
 * infra/python/requirements.txt, with pyarrow) in a project-local virtual
 * environment, `<checkout>/.venv`, created on first use: the independent
 * reference the tests and benchmarks compare with, and the other engine the
 * demo writes and reads tables with.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../config/index.ts';
import { installSystemPackages } from './system.ts';

const venvDir = path.join(projectRoot, '.venv');
const venvPython = path.join(venvDir, 'bin', 'python');
const venvPip = path.join(venvDir, 'bin', 'pip');
const requirementsFile = path.join(projectRoot, 'infra', 'python', 'requirements.txt');
/** Holds the sha256 of the requirements last installed completely. */
const markerFile = path.join(venvDir, '.deltameta-requirements.sha256');

let venvReady: Promise<string> | undefined;

/**
 * Makes sure `.venv` exists with the pinned requirements and returns its
 * python. Fast when the marker matches; concurrent callers share one install.
 */
export async function ensureDeltaRs(): Promise<string> {
  // A failed attempt is forgotten, so a later caller (or a re-run after the
  // network came back) tries again instead of inheriting the rejection.
  venvReady ??= prepareVenv().catch((error: unknown) => {
    venvReady = undefined;
    throw error;
  });
  return venvReady;
}

async function prepareVenv(): Promise<string> {
  const wanted = createHash('sha256')
    .update(await readFile(requirementsFile))
    .digest('hex');
  if (existsSync(venvPython) && (await readMarker()) === wanted) return venvPython;

  // The marker goes first so that an install interrupted halfway is never
  // taken for a finished one, whatever requirements.txt says next time.
  await rm(markerFile, { force: true });
  // existsSync follows the symlink: a venv whose base python disappeared is
  // re-created in place (`venv` upgrades an existing folder).
  if (!existsSync(venvPython)) {
    await requireVenvModule();
    await runToStderr('python3', ['-m', 'venv', venvDir]);
  }
  // Pinned `==` versions, so installing over an older set up- or downgrades
  // exactly what changed.
  await runToStderr(venvPip, ['install', '-q', '-r', requirementsFile]);

  // Written aside and renamed, so a reader never sees half a hash.
  const temporary = `${markerFile}.${process.pid}.tmp`;
  await writeFile(temporary, `${wanted}\n`);
  await rename(temporary, markerFile);
  return venvPython;
}

/**
 * Debian splits `venv`'s pip bootstrap (ensurepip) into python3-venv, so a
 * bare python3 fails halfway through `-m venv` and leaves a venv without
 * pip. Checked first, and installed as the local stack installs its packages:
 * with apt-get when root on Debian, otherwise an error that names the package.
 */
async function requireVenvModule(): Promise<void> {
  if (await hasVenvModule()) return;
  await installSystemPackages(['python3-venv'], "python3's venv module (with ensurepip) is missing");
  if (!(await hasVenvModule())) throw new Error("python3's venv module (with ensurepip) is still missing after installing python3-venv");
}

async function hasVenvModule(): Promise<boolean> {
  try {
    await promisify(execFile)('python3', ['-c', 'import ensurepip, venv'], { cwd: projectRoot });
    return true;
  } catch {
    return false;
  }
}

async function readMarker(): Promise<string | undefined> {
  try {
    return (await readFile(markerFile, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** Runs a setup command with its output on our stderr, where pip's progress and errors belong. */
function runToStderr(command: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: projectRoot,
      stdio: ['ignore', process.stderr, process.stderr],
      env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' },
    });
    child.once('error', (error) => {
      reject(new Error(`could not start ${command}: ${error.message}`, { cause: error }));
    });
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${String(code)}`}); its output is on stderr above`));
    });
  });
}
