/**
 * Shadow verification (services/reader/shadow.ts): the reader re-derives
 * sampled versions of followed and published tables from their _delta_log
 * files and compares them with what it serves. A table whose files agree is
 * counted a match; files rewritten under a stored version (what a writer
 * rewriting history or a restored backup leaves) are a mismatch, counted,
 * kept for `deltameta status` and named with the fields that differ; an
 * owned table that is not published is never checked, nor is anything with
 * the sample at 0. Tables generated on disk (real _delta_log files).
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadReaderConfig } from '../../shared/config/index.ts';
import { redisKeys } from '../../shared/contracts/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import { commitFileName, generateTable } from '../../shared/delta/index.ts';
import { importTable } from '../../shared/log-store/index.ts';
import { importMaterialized } from '../../shared/materialized/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createRegistry, readerMetrics } from '../../shared/metrics/index.ts';
import { Reader } from '../../services/reader/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { TempDirs } from '../support/tables.ts';
import { eventually } from '../support/wait.ts';

interface Outcome {
  readonly table: string;
  readonly version: number;
  readonly outcome: string;
}

describeWithEnv('shadow verification', (env) => {
  const dirs = new TempDirs();
  let pool: Pool;
  const outcomes: Outcome[] = [];
  const registries: ReturnType<typeof createRegistry>[] = [];
  const running: { reader: Reader; stop: () => Promise<void> }[] = [];

  before(() => {
    pool = env.pool(4);
  });

  after(async () => {
    for (const { stop } of running.splice(0)) await stop();
    await pool.end();
    dirs.removeAll();
  });

  async function startReader(sample: string): Promise<string> {
    const registry = createRegistry('shadow-test');
    registries.push(registry);
    const redis = env.redis();
    const reader = new Reader({
      config: loadReaderConfig({ DELTAMETA_READER_PORT: '0', DELTAMETA_READER_SHADOW_SAMPLE: sample }),
      defaultPostgresUrl: env.readerUrl, redis, redisPrefix: env.keyPrefix, logger: createLogger('shadow-test', 'silent'), metrics: readerMetrics(registry),
      onShadowOutcome: (table, version, outcome) => outcomes.push({ table, version, outcome }),
    });
    await reader.start();
    running.push({ reader, stop: async () => { await reader.stop(); redis.disconnect(); } });
    return `http://127.0.0.1:${reader.port}`;
  }

  async function generated(label: string): Promise<string> {
    const dir = path.join(dirs.make(label), 'table');
    await generateTable(dir, { files: 40, commits: 4, partitions: 2, checkpointInterval: 0, seed: 5 });
    return dir;
  }

  const outcomesOf = (table: string): string[] => outcomes.filter((entry) => entry.table === table).map((entry) => entry.outcome);

  it('counts a followed table whose files agree as a match, and files rewritten under a stored version as a mismatch naming what differs', async () => {
    const dir = await generated('shadow-followed');
    const imported = await importMaterialized(pool, dir, 'shadow_followed', { follow: 'register' });
    const base = await startReader('1');
    expect((await fetch(`${base}/v1/tables/shadow_followed`)).status).to.equal(200);
    await eventually('the summary checked', () => outcomesOf('shadow_followed').length === 1);
    expect(outcomesOf('shadow_followed')).to.deep.equal(['match']);
    expect((await fetch(`${base}/v1/tables/shadow_followed/files`)).status).to.equal(200);
    await eventually('the list checked', () => outcomesOf('shadow_followed').length === 2);
    expect(outcomesOf('shadow_followed')).to.deep.equal(['match', 'match']);

    // The head's commit file rewritten with one add's path changed: the files now say something else about that version.
    const head = imported.toVersion;
    const file = path.join(dir, '_delta_log', commitFileName(head));
    const text = readFileSync(file, 'utf8');
    const rewritten = text.replace(/"path":"([^"]+)\.parquet"/, '"path":"$1-rewritten.parquet"');
    expect(rewritten, 'the head commit has an add to rewrite').to.not.equal(text);
    writeFileSync(file, rewritten);
    expect((await fetch(`${base}/v1/tables/shadow_followed/files?version=${head}`)).status).to.equal(200);
    await eventually('the rewritten version checked', () => outcomesOf('shadow_followed').length === 3);
    expect(outcomesOf('shadow_followed')[2]).to.equal('mismatch');

    const redis = env.redis();
    const record = await redis.hgetall(redisKeys(env.keyPrefix).shadow('shadow_followed'));
    redis.disconnect();
    expect(Number(record['checked'])).to.equal(3);
    expect(Number(record['mismatches'])).to.equal(1);
    const last = JSON.parse(record['lastMismatch'] ?? '{}') as { version: number; differing: string[] };
    expect(last.version).to.equal(head);
    expect(last.differing).to.include('linesSha256');
    const mismatches = await registries[0]?.getSingleMetricAsString('deltameta_shadow_mismatches_total');
    expect(mismatches).to.match(/deltameta_shadow_mismatches_total(\{[^}]*\})? 1$/m);
  });

  it('never checks an owned table that is not published, nor anything with the sample at 0', async () => {
    const ownedDir = await generated('shadow-owned');
    await importTable(pool, ownedDir, 'shadow_owned');
    const followedDir = await generated('shadow-off');
    await importMaterialized(pool, followedDir, 'shadow_off', { follow: 'register' });
    const sampling = await startReader('1');
    const off = await startReader('0');
    expect((await fetch(`${sampling}/v1/tables/shadow_owned`)).status).to.equal(200);
    expect((await fetch(`${off}/v1/tables/shadow_off`)).status).to.equal(200);
    // A followed table read through the sampling reader afterwards: its check is done once the owned one's would have been.
    expect((await fetch(`${sampling}/v1/tables/shadow_off`)).status).to.equal(200);
    await eventually('the followed table checked', () => outcomesOf('shadow_off').length === 1);
    expect(outcomesOf('shadow_owned')).to.deep.equal([]);
    expect(outcomesOf('shadow_off')).to.deep.equal(['match']);
  });
});
