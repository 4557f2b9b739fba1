/**
 * The tree's boundaries (docs/design.md "The tree"): the lint rule that
 * enforces them catches each kind of violation, and the modules' import graph
 * has no cycle.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { RuleTester } from 'eslint';
import { projectRoot } from '../../shared/config/index.ts';
import { moduleBoundaries } from '../../infra/lint/module-boundaries.mjs';

const root = '/repo';
const at = (file: string) => path.join(root, file);

describe('module boundaries', function () {
  // RuleTester registers its own describe/it blocks under this one.
  new RuleTester({ languageOptions: { ecmaVersion: 2024, sourceType: 'module' } }).run('module-boundaries', moduleBoundaries, {
    valid: [
      { filename: at('services/cdc/main.ts'), code: "import { x } from '../../shared/db/index.ts';", options: [{ root }] },
      { filename: at('services/cdc/main.ts'), code: "import { y } from './commit-publisher.ts';", options: [{ root }] },
      { filename: at('shared/materialized/refresh-table.ts'), code: "import { z } from '../contracts/index.ts';", options: [{ root }] },
      { filename: at('shared/materialized/refresh-table.ts'), code: "import { z } from './table-ref.ts';", options: [{ root }] },
      { filename: at('test/integration/x.test.ts'), code: "import { R } from '../../services/reader/index.ts';", options: [{ root }] },
      { filename: at('bench/reader.ts'), code: "import { k } from 'kafkajs';", options: [{ root }] },
    ],
    invalid: [
      {
        filename: at('shared/materialized/refresh-table.ts'), code: "import { pool } from '../db/pool.ts';", options: [{ root }],
        errors: [{ messageId: 'deepImport' }],
      },
      {
        filename: at('shared/summary/index.ts'), code: "export { a } from '../contracts/redis-keys.ts';", options: [{ root }],
        errors: [{ messageId: 'deepImport' }],
      },
      {
        filename: at('test/integration/x.test.ts'), code: "const m = await import('../../services/cdc/commit-publisher.ts');", options: [{ root }],
        errors: [{ messageId: 'deepImport' }],
      },
      {
        filename: at('shared/summary/index.ts'), code: "import { Reader } from '../../services/reader/index.ts';", options: [{ root }],
        errors: [{ messageId: 'sharedToServices' }],
      },
      {
        filename: at('services/refresher/refresh-worker.ts'), code: "import { Reader } from '../reader/index.ts';", options: [{ root }],
        errors: [{ messageId: 'serviceToService' }],
      },
      {
        filename: at('services/cli/status.ts'), code: "export * from '../cdc/index.ts';", options: [{ root }],
        errors: [{ messageId: 'serviceToService' }],
      },
    ],
  });

  it('has no import cycle between modules of shared/', function () {
    const sharedDir = path.join(projectRoot, 'shared');
    const edges = new Map<string, Set<string>>();
    const specifier = /(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g;
    const walk = (dir: string): string[] => readdirSync(dir).flatMap((entry) => {
      const full = path.join(dir, entry);
      return statSync(full).isDirectory() ? walk(full) : full.endsWith('.ts') ? [full] : [];
    });
    for (const file of walk(sharedDir)) {
      const from = path.relative(sharedDir, file).split(path.sep)[0] as string;
      const source = readFileSync(file, 'utf8');
      for (const match of source.matchAll(specifier)) {
        // A type-only import has no effect at run time, but a cycle of them still ties two modules together: count it.
        const to = path.relative(sharedDir, path.resolve(path.dirname(file), match[1] as string)).split(path.sep)[0] as string;
        if (to !== from && !to.startsWith('..')) edges.set(from, (edges.get(from) ?? new Set()).add(to));
      }
    }
    expect(edges.size, 'shared/ modules importing each other').to.be.greaterThan(5);
    const cycles: string[] = [];
    const visit = (node: string, trail: string[]): void => {
      if (trail.includes(node)) {
        cycles.push([...trail.slice(trail.indexOf(node)), node].join(' → '));
        return;
      }
      for (const next of edges.get(node) ?? []) visit(next, [...trail, node]);
    };
    for (const node of edges.keys()) visit(node, []);
    expect(cycles, 'cycles between shared/ modules').to.deep.equal([]);
  });
});
