/**
 * A source file past ~300 lines usually holds two jobs (../../docs/design.md
 * section 8). One that is long on purpose says why near its top, in a comment
 * line starting "Kept whole:". Test suites are exempt: a suite reads top to
 * bottom as one story of one subject.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../shared/config/index.ts';

const maxLines = 320;
const folders = ['services', 'shared', 'bench', 'infra', 'test/support'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) return entry === 'node_modules' || entry === 'results' ? [] : sourceFiles(full);
    return /\.(ts|mjs)$/.test(entry) && !entry.endsWith('.test.ts') && !entry.endsWith('.d.mts') ? [full] : [];
  });
}

describe('file length', function () {
  it(`has no source file over ${maxLines} lines without a "Kept whole:" reason near its top`, function () {
    const files = folders.flatMap((folder) => sourceFiles(path.join(projectRoot, folder)));
    expect(files.length, 'source files found').to.be.greaterThan(50);
    const unexplained = files.flatMap((file) => {
      const lines = readFileSync(file, 'utf8').split('\n');
      if (lines.length <= maxLines) return [];
      const explained = lines.slice(0, 40).some((line) => /^\s*(\/\/|\*|\/\*\*)\s*Kept whole:/.test(line));
      return explained ? [] : [`${path.relative(projectRoot, file)} (${lines.length} lines)`];
    });
    expect(unexplained, 'long files without a reason').to.deep.equal([]);
  });
});
