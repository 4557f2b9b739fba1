/**
 * The generator's column-mapping option: partition values and stats keyed by
 * physical names (nested for the struct column), names fixed across the
 * rename, the dropped column's physical name left only in files written
 * before the drop; without the option the table is as before (logical keys).
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { columnNames, generateTable, TableGenerator, type Action, type AddAction } from '../../shared/delta/index.ts';
import { BadRequestError } from '../../shared/errors/index.ts';

function statsKeys(add: AddAction): string[] {
  const stats = JSON.parse(add.stats ?? '{}') as { minValues?: Record<string, unknown> };
  return Object.keys(stats.minValues ?? {}).sort();
}

describe('generator: column mapping', function () {
  for (const mode of ['name', 'id'] as const) {
    it(`${mode}: keys are physical at every version, through a rename and a drop`, function () {
      const generator = new TableGenerator({ seed: 4, partitions: 4, columnMapping: { mode, renameAt: 5, dropAt: 8 } });
      let metadata = (generator.create().find((a) => a.kind === 'metaData') as Extract<Action, { kind: 'metaData' }>).metaData;
      const first = columnNames(metadata);
      expect(first.mode).to.equal(mode);
      expect([...first.physicalByLogical.values()].every((name) => name.startsWith('col-'))).to.equal(true);
      const physicalOf = new Map(first.physicalByLogical);
      const droppedPhysical = physicalOf.get('category') as string;
      let newShapeAfterDrop = 0;
      for (let version = 1; version <= 12; version++) {
        const actions = generator.next(version, 12, 200);
        const change = actions.find((a): a is Extract<Action, { kind: 'metaData' }> => a.kind === 'metaData');
        if (change) metadata = change.metaData;
        const names = columnNames(metadata);
        // physical names never change; logical ones do
        for (const [logical, physical] of names.physicalByLogical) expect([...physicalOf.values()]).to.include(physical, logical);
        expect(metadata.partitionColumns).to.deep.equal([version >= 5 ? 'day' : 'date']);
        expect(names.physicalByLogical.has('category')).to.equal(version < 8);
        for (const action of actions) {
          if (action.kind !== 'add') continue;
          expect(Object.keys(action.add.partitionValues)).to.deep.equal(names.partitionPhysicalNames);
          const expected = [...names.physicalByLogical.values()].filter((name) => !names.partitionPhysicalNames.includes(name)).sort();
          // after the drop: a new file has no stats for the dropped column, an older one (re-added with a DV) keeps them
          const keys = statsKeys(action.add);
          if (version > 8) {
            expect([expected, [...expected, droppedPhysical].sort()]).to.deep.include(keys);
            if (keys.length === expected.length) newShapeAfterDrop++;
          } else {
            expect(keys).to.deep.equal(expected);
          }
        }
      }
      expect(newShapeAfterDrop).to.be.greaterThan(0);
      // files written before the drop keep its stats under its physical name (checkpoint rows re-derive them)
      const old = [...generator.checkpointActions(undefined)].filter((a): a is Extract<Action, { kind: 'add' }> => a.kind === 'add');
      expect(old.some((a) => statsKeys(a.add).includes(droppedPhysical))).to.equal(true);
      expect(old.some((a) => !statsKeys(a.add).includes(droppedPhysical))).to.equal(true);
    });
  }

  it('without the option keeps logical keys and no mapping configuration', function () {
    const generator = new TableGenerator({ seed: 4, partitions: 4 });
    const metadata = (generator.create().find((a) => a.kind === 'metaData') as Extract<Action, { kind: 'metaData' }>).metaData;
    expect(metadata.configuration).to.not.have.property('delta.columnMapping.mode');
    const add = generator.add(3, 0);
    expect(Object.keys(add.partitionValues)).to.deep.equal(['date']);
    expect(statsKeys(add)).to.deep.equal(['category', 'event_time', 'id', 'value']);
  });

  it('refuses a rename or drop at the first or last version', async function () {
    const dir = mkdtempSync(path.join(tmpdir(), 'deltameta-gen-cm-'));
    try {
      for (const columnMapping of [{ mode: 'name', renameAt: 0 }, { mode: 'id', dropAt: 5 }, { mode: 'name', renameAt: 2, dropAt: 2 }] as const) {
        let error: unknown;
        await generateTable(dir, { files: 10, commits: 5, columnMapping }).catch((e: unknown) => (error = e));
        expect(error, JSON.stringify(columnMapping)).to.be.instanceOf(BadRequestError);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
