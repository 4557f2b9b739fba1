/**
 * The event contract (docs/contracts/): the CDC's real publisher on an
 * isolated slot and topic, commits of every kind (create, append, remove,
 * metadata change, protocol change) and a drop; the events read back from
 * Kafka validate against the JSON Schemas in shared/contracts/schemas with
 * ajv (draft 2020-12), wrong ones are refused by both the schema and the
 * zod contract, the schema files say what the zod schemas say, and the
 * AsyncAPI document names the topic, key and schema files. `deltameta tail`
 * spawned as a user runs it: history from a version first, then the commits
 * made while it runs, each once, in order; Ctrl-C stops it with exit 0.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Consumer } from 'kafkajs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CommitPublisher } from '../../services/cdc/index.ts';
import { loadConfig, projectRoot, type Config } from '../../shared/config/index.ts';
import { commitEventSchema, dropEventSchema, parsePipelineEvent, PoisonEventError } from '../../shared/contracts/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import type { Action } from '../../shared/delta/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { commit, dropTable } from '../../shared/log-store/index.ts';
import { cdcMetrics, createRegistry } from '../../shared/metrics/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { eventually } from '../support/wait.ts';

const schemasDir = path.join(projectRoot, 'shared/contracts/schemas');
const readJson = (file: string): Record<string, unknown> => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
const commitSchemaFile = path.join(schemasDir, 'deltameta.commit.v1.schema.json');
const dropSchemaFile = path.join(schemasDir, 'deltameta.drop.v1.schema.json');
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

function schemaOf(fields: string[]): string {
  return JSON.stringify({ type: 'struct', fields: fields.map((name) => ({ name, type: 'long', nullable: true, metadata: {} })) });
}
const metaData = (fields: string[]): Action => ({ kind: 'metaData', metaData: { id: 'c0ffee00-0000-4000-8000-00000000e14a', format: { provider: 'parquet', options: {} }, schemaString: schemaOf(fields), partitionColumns: [], configuration: {} } });
const add = (file: string): Action => ({ kind: 'add', add: { path: file, partitionValues: {}, size: 100, modificationTime: 1_700_000_000_000, dataChange: true } });
const remove = (file: string): Action => ({ kind: 'remove', remove: { path: file, deletionTimestamp: 1_700_000_000_001, dataChange: true } });
const info = (operation: string): Action => ({ kind: 'commitInfo', commitInfo: { operation } });

/** Every kind of commit: [actions, expected adds, removes, metadataChanged, protocolChanged]. */
const commits: Array<[Action[], number, number, boolean, boolean]> = [
  [[info('CREATE TABLE'), { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } }, metaData(['id'])], 0, 0, true, true],
  [[info('WRITE'), add('a.parquet'), add('b.parquet')], 2, 0, false, false],
  [[info('DELETE'), remove('a.parquet')], 0, 1, false, false],
  [[info('ADD COLUMNS'), metaData(['id', 'amount'])], 0, 0, true, false],
  [[info('UPGRADE PROTOCOL'), { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 3 } }], 0, 0, false, true],
  [[add('c.parquet')], 1, 0, false, false],
];

describeWithEnv('event contract: deltameta.commit.v1, deltameta.drop.v1, AsyncAPI, deltameta tail', (env) => {
  const ajv = addFormats(new Ajv2020({ strict: true, allErrors: true }));
  const validateCommit = ajv.compile(readJson(commitSchemaFile));
  const validateDrop = ajv.compile(readJson(dropSchemaFile));
  let pool: Pool;
  let config: Config;
  let publisher: CommitPublisher;
  let consumer: Consumer;
  const received: Array<{ key: string; raw: string }> = [];
  const children: ChildProcess[] = [];

  before(async function () {
    this.timeout(60_000);
    pool = env.pool(4);
    config = {
      ...env.config,
      pipeline: {
        ...env.config.pipeline, slotName: `s_${env.id}_contract`.toLowerCase().slice(0, 63), publicationName: `p_${env.id}_contract`.toLowerCase().slice(0, 63),
        commitsTopic: env.topic('commits'), deadLetterTopic: env.topic('dlq'),
      },
    };
    publisher = new CommitPublisher(config, { logger: createLogger('cdc', 'silent'), metrics: cdcMetrics(createRegistry('cdc')), kafka: env.kafka() });
    await publisher.start();
    consumer = env.kafka().consumer({ groupId: `${config.pipeline.commitsTopic}-reader`, maxWaitTimeInMs: 20 });
    await consumer.connect();
    await consumer.subscribe({ topic: config.pipeline.commitsTopic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        received.push({ key: message.key?.toString() ?? '', raw: message.value?.toString() ?? '' });
        return Promise.resolve();
      },
    });
  });

  after(async function () {
    this.timeout(30_000);
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await consumer.disconnect();
    await publisher.stop();
    await eventually('the slot to be released', async () => (await pool.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [config.pipeline.slotName])).rowCount === 0);
    await pool.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [config.pipeline.slotName]);
    await pool.end();
  });

  /** Commits versions [from, to) of `commits` to `table`, each having read the one before. */
  async function commitVersions(table: string, from: number, to: number): Promise<void> {
    for (let version = from; version < to; version++) await commit(pool, { table, actions: commits[version]?.[0] ?? [], ...(version > 0 ? { readVersion: version - 1 } : {}) });
  }

  it('the schema files say what the zod contract says (fields, required, types)', () => {
    for (const [file, zodSchema] of [[commitSchemaFile, commitEventSchema], [dropSchemaFile, dropEventSchema]] as const) {
      const fromZod = z.toJSONSchema(zodSchema) as { properties: Record<string, { type?: unknown }>; required: string[] };
      const fromFile = readJson(file) as { properties: Record<string, { type?: unknown; const?: unknown }>; required: string[]; additionalProperties: boolean };
      expect(Object.keys(fromFile.properties).sort(), file).to.deep.equal(Object.keys(fromZod.properties).sort());
      expect([...fromFile.required].sort(), file).to.deep.equal([...fromZod.required].sort());
      expect(fromFile.additionalProperties).to.equal(false);
      for (const [name, property] of Object.entries(fromZod.properties)) {
        if (property.type !== undefined && name !== 'schema') expect(fromFile.properties[name]?.type, `${file} ${name}`).to.deep.equal(property.type);
      }
    }
  });

  it('events the CDC produced for every kind of commit and a drop validate against the schemas; wrong ones are refused', async function () {
    this.timeout(60_000);
    const table = 'contract.orders';
    await commitVersions(table, 0, commits.length);
    const dropped = await dropTable(pool, table);
    await eventually('every event on the topic', () => received.filter(({ key }) => key === table).length >= commits.length + 1, 30_000);
    const events = received.filter(({ key }) => key === table);
    expect(events).to.have.length(commits.length + 1);
    for (const [version, [, adds, removes, metadataChanged, protocolChanged]] of commits.entries()) {
      const json = JSON.parse(events[version]?.raw ?? '') as Record<string, unknown>;
      expect(validateCommit(json), `version ${version}: ${ajv.errorsText(validateCommit.errors)}`).to.equal(true);
      expect(json).to.include({ schema: 'deltameta.commit.v1', table, tableId: dropped.tableId, version, adds, removes, metadataChanged, protocolChanged });
    }
    const drop = JSON.parse(events.at(-1)?.raw ?? '') as Record<string, unknown>;
    expect(validateDrop(drop), ajv.errorsText(validateDrop.errors)).to.equal(true);
    expect(drop).to.include({ schema: 'deltameta.drop.v1', table, tableId: dropped.tableId });
    expect(validateCommit(drop), 'a drop is not a commit').to.equal(false);

    const real = JSON.parse(events[1]?.raw ?? '') as Record<string, unknown>;
    const wrong: Array<[string, Record<string, unknown>]> = [
      ['no version', Object.fromEntries(Object.entries(real).filter(([key]) => key !== 'version'))],
      ['a negative version', { ...real, version: -1 }],
      ['a version as text', { ...real, version: '1' }],
      ['a fractional count', { ...real, adds: 1.5 }],
      ['a time without a zone', { ...real, committedAt: '2026-01-01T00:00:00' }],
      ['an LSN that is not X/Y', { ...real, lsn: '16/B374D848/0' }],
      ['an empty table name', { ...real, table: '' }],
      ['another schema name', { ...real, schema: 'deltameta.commit.v2' }],
      ['operation missing', Object.fromEntries(Object.entries(real).filter(([key]) => key !== 'operation'))],
    ];
    for (const [label, event] of wrong) {
      expect(validateCommit(event), label).to.equal(false);
      expect(() => parsePipelineEvent(JSON.stringify(event)), `zod: ${label}`).to.throw(PoisonEventError);
    }
    expect(validateCommit({ ...real, extra: 1 }), 'a field the schema does not have').to.equal(false);
  });

  it('the AsyncAPI document names the topic, its key and the same schema files', () => {
    const document = parseYaml(readFileSync(path.join(projectRoot, 'docs/contracts/asyncapi.yaml'), 'utf8')) as {
      asyncapi: string;
      channels: Record<string, { address: string; bindings: { kafka: { topic: string; partitions: number } } }>;
      components: { messages: Record<string, { name: string; payload: { schema: { $ref: string } }; bindings: { kafka: { key: { type: string } } } }> };
    };
    const defaults = loadConfig({});
    expect(document.asyncapi).to.match(/^3\./);
    const channel = document.channels['commits'];
    expect(channel?.address).to.equal(defaults.pipeline.commitsTopic);
    expect(channel?.bindings.kafka.topic).to.equal(defaults.pipeline.commitsTopic);
    expect(channel?.bindings.kafka.partitions).to.equal(defaults.pipeline.commitsTopicPartitions);
    const messages = document.components.messages;
    for (const [message, file] of [['commit', commitSchemaFile], ['drop', dropSchemaFile]] as const) {
      const definition = messages[message];
      expect(definition?.name).to.equal(readJson(file)['title']);
      expect(definition?.bindings.kafka.key.type).to.equal('string');
      expect(path.resolve(projectRoot, 'docs/contracts', definition?.payload.schema.$ref ?? '')).to.equal(file);
    }
  });

  /** `deltameta tail` against the suite's database and topic; its stdout lines as they come. */
  function spawnTail(args: string[]): { child: ChildProcess; lines: string[]; errors: string[] } {
    const child = spawn(process.execPath, [path.join(projectRoot, 'bin/deltameta.mjs'), 'tail', ...args], {
      env: { ...process.env, DELTAMETA_PG_URL: config.postgresUrl, DELTAMETA_COMMITS_TOPIC: config.pipeline.commitsTopic },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const lines: string[] = [];
    const errors: string[] = [];
    if (child.stdout) createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
    if (child.stderr) createInterface({ input: child.stderr }).on('line', (line) => errors.push(line));
    return { child, lines, errors };
  }

  async function interrupt(child: ChildProcess): Promise<number | null> {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    return exited;
  }

  it('deltameta tail --from-version catches up from history, then prints the commits made while it runs, each once, in order', async function () {
    this.timeout(90_000);
    const table = 'contract.tail';
    await commitVersions(table, 0, 3);
    const other = 'contract.other';
    await commit(pool, { table: other, actions: commits[0]?.[0] ?? [] });
    const tail = spawnTail(['--table', table, '--from-version', '1', '--json']);
    const human = spawnTail(['--table', table]);
    await eventually('tail to follow the topic', () => tail.errors.some((line) => line.includes('caught up')) && human.errors.some((line) => line.includes('following')), 30_000);
    // Made while it runs (and while the CDC may still be publishing the history's events: those must not print twice).
    await commitVersions(table, 3, commits.length);
    await commit(pool, { table: other, actions: commits[1]?.[0] ?? [] });
    // A sentinel commit last: the table's events share one partition, in order, so once tail prints the sentinel
    // every event before it has been read — a version printed twice would be among the lines by then.
    await commit(pool, { table, actions: [add('sentinel.parquet')] });
    const expected = commits.length;
    await eventually('every version from 1 on, the sentinel last', () => tail.lines.length >= expected && human.lines.length >= commits.length - 2
      && (JSON.parse(tail.lines.at(-1) ?? '{}') as { version?: number }).version === commits.length, 30_000);
    const events = tail.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events.map((event) => event['version']), tail.lines.join('\n')).to.deep.equal(Array.from({ length: expected }, (_, index) => index + 1));
    for (const event of events) expect(validateCommit(event), ajv.errorsText(validateCommit.errors)).to.equal(true);
    expect(events.every((event) => event['table'] === table)).to.equal(true);
    expect(events.slice(0, 2).map((event) => event['lsn']), 'history has no WAL position').to.deep.equal(['0/0', '0/0']);
    expect(events.slice(2).every((event) => event['lsn'] !== '0/0'), 'live events carry theirs').to.equal(true);
    expect(human.lines, 'live only, human-readable').to.have.length(commits.length - 2);
    expect(human.lines[0]).to.match(new RegExp(`^\\S+Z {2}${table.replace('.', '\\.')} {2}v3 {2}ADD COLUMNS {2}\\+0 -0 {2}metadata changed {2}lsn [0-9A-F]+/[0-9A-F]+$`));
    expect(await interrupt(tail.child), 'Ctrl-C stops it cleanly').to.equal(0);
    expect(await interrupt(human.child)).to.equal(0);
  });
});
