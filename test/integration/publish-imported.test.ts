/**
 * Publishing a table that was imported from a checkpoint (its oldest stored
 * version is the checkpoint's whole state, not a commit): the publisher
 * writes that version as a checkpoint (and what was kept of its commit) and
 * every later version as a commit file, and delta-rs reads the published
 * log at every retained version exactly as deltameta's snapshot; commits made
 * after the import through deltameta follow. Tables generated on disk.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { localLoginUrl } from '../../shared/config/index.ts';
import { createPool, type Pool } from '../../shared/db/index.ts';
import { generateTable } from '../../shared/delta/index.ts';
import { findTable, importTable } from '../../shared/log-store/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { LogPublisher, publisherMetrics } from '../../services/publisher/index.ts';
import { runDeltameta } from '../support/cli.ts';
import { ensureDeltaRs } from '../support/deltars.ts';
import { describeWithEnv } from '../support/env.ts';
import { commitOnHead, pathsOf, snapshotOf, TempDirs } from '../support/tables.ts';

const readVersions = `
import json, sys
from deltalake import DeltaTable
where, first, head = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print(json.dumps([{"version": DeltaTable(where, version=v).version(), "paths": sorted(DeltaTable(where, version=v).get_add_actions(flatten=True).column("path").to_pylist())} for v in range(first, head + 1)]))
`;

describeWithEnv('publishing an imported table', (env) => {
  const dirs = new TempDirs();
  let pool: Pool;
  let publisherPool: Pool;

  before(() => {
    pool = env.pool(4);
    publisherPool = createPool(localLoginUrl(env.config.postgresUrl, 'logPublisher'), { max: 2, applicationName: `test:${env.id}` });
  });
  after(async () => {
    await Promise.all([pool.end(), publisherPool.end()]);
    dirs.removeAll();
  });

  it('writes the import\'s checkpoint version and every later one, and delta-rs reads each as deltameta does', async function () {
    this.timeout(120_000);
    const source = path.join(dirs.make('imported-source'), 'table');
    await generateTable(source, { files: 200, commits: 14, partitions: 3, checkpointInterval: 10, seed: 21 });
    const imported = await importTable(pool, source, 'pub_imported');
    const table = await findTable(pool, 'pub_imported');
    expect(table?.logStartVersion, 'imported from the checkpoint at 10').to.equal(10);
    // A commit through deltameta after the import: an owned table.
    const first = JSON.parse((await snapshotOf(pool, 'pub_imported')).lines[0] ?? '{}') as { add: { partitionValues: Record<string, string | null> } };
    const { version: committed } = await commitOnHead(pool, {
      table: 'pub_imported', isBlindAppend: true,
      actions: [{ kind: 'add', add: { path: 'late.parquet', partitionValues: first.add.partitionValues, size: 1, modificationTime: 1, dataChange: true } }],
    });
    expect(committed).to.equal(imported.toVersion + 1);

    const target = path.join(dirs.make('imported-target'), 'table');
    const published = await runDeltameta(['publish', '--table', 'pub_imported', target], { DELTAMETA_PG_URL: env.config.postgresUrl, DELTAMETA_LOG_LEVEL: 'silent' });
    expect(published.code, published.stderr).to.equal(0);
    const publisher = new LogPublisher(
      { postgresUrl: '', consumerGroup: '', sweepIntervalMs: 60_000, concurrency: 1, defaultCheckpointInterval: 10 },
      { pool: publisherPool, logger: createLogger('publisher', 'silent'), metrics: publisherMetrics(new Registry()) },
    );
    await publisher.sweep();
    const { rows } = await pool.query<{ published_version: string; stopped_reason: string | null }>(
      'SELECT published_version, stopped_reason FROM deltameta.table_publication p JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1', ['pub_imported'],
    );
    expect(rows[0]?.stopped_reason ?? null).to.equal(null);
    expect(Number(rows[0]?.published_version)).to.equal(committed);

    const python = await ensureDeltaRs();
    const { stdout } = await promisify(execFile)(python, ['-c', readVersions, target, '10', String(committed)], { maxBuffer: 64 << 20 });
    const read = JSON.parse(stdout) as Array<{ version: number; paths: string[] }>;
    expect(read.map((entry) => entry.version)).to.deep.equal(Array.from({ length: committed - 9 }, (_, i) => 10 + i));
    for (const entry of read) {
      expect(entry.paths, `version ${entry.version}`).to.deep.equal(pathsOf((await snapshotOf(pool, 'pub_imported', { version: entry.version })).lines));
    }
  });
});
