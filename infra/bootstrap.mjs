#!/usr/bin/env node
// The README's two commands start here, in plain Node with no dependency:
// install what is missing (npm packages now; the stack installs its own
// system packages and Kafka jars), then hand over to the TypeScript CLI.
//   node infra/bootstrap.mjs demo   -> deltameta demo
//   node infra/bootstrap.mjs test   -> deltameta stack up, then mocha
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

function ensureNodeModules() {
  const lock = path.join(root, 'package-lock.json');
  const marker = path.join(root, 'node_modules', '.deltameta-installed');
  const digest = createHash('sha256').update(readFileSync(lock)).digest('hex');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === digest) return;
  console.error('deltameta: installing npm dependencies (npm ci)');
  const status = run('npm', ['ci', '--no-audit', '--no-fund']);
  if (status !== 0) process.exit(status);
  writeFileSync(marker, digest);
}

const command = process.argv[2];
ensureNodeModules();
const cli = path.join(root, 'bin', 'deltameta.mjs');
if (command === 'demo') {
  process.exit(run(process.execPath, [cli, 'demo']));
} else if (command === 'test') {
  const up = run(process.execPath, [cli, 'stack', 'up']);
  if (up !== 0) process.exit(up);
  const specs = process.argv.length > 3 ? process.argv.slice(3) : ['test/**/*.test.ts'];
  process.exit(run(path.join(root, 'node_modules', '.bin', 'mocha'), specs));
} else {
  console.error('usage: node infra/bootstrap.mjs demo|test [mocha args…]');
  process.exit(2);
}
