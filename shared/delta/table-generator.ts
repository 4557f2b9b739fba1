/**
 * The actions of a realistic synthetic Delta table (`deltameta gen`,
 * generate.ts writes them), deterministic by seed. The live set is a pair
 * of Int32Arrays of file ids; every action of a file is re-derived from
 * (seed, id, deletion-vector generation), so no action is kept once handed
 * out. The mix: appends (the bulk), deletes, compactions that remove many
 * files and add one, deletion-vector updates (remove + add of the same path
 * with a new DV), metadata changes, streaming txn ids and a domain metadata.
 * With `columnMapping` the columns carry physical names (generated-columns.ts)
 * and one version each may rename and drop columns.
 */
import type { Action, AddAction, DeletionVectorDescriptor, MetadataAction, ProtocolAction, RemoveAction, TxnAction } from './actions.ts';
import { GeneratedColumns, type GeneratedColumnMapping } from './generated-columns.ts';
import { LiveSet } from './generated-live-set.ts';

export interface TableGeneratorOptions {
  /** partitions (0: unpartitioned). Default 10. */
  readonly partitions?: number;
  readonly seed?: number;
  /** DV updates in the mix (protocol 3/7 with the deletionVectors feature). Default true. */
  readonly deletionVectors?: boolean;
  /** column mapping (name or id), with an optional rename and drop at later versions. Default none. */
  readonly columnMapping?: GeneratedColumnMapping;
}

/** Version v was committed at baseTimeMs + v minutes. */
export const baseTimeMs = Date.UTC(2026, 0, 1);
const z85 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';

/** sfc32: small, fast, good enough, and the same on every machine. */
function prng(seed: number): () => number {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x243f6a88 ^ (seed * 31);
  let c = 0xb7e15162;
  let d = 1;
  const next = (): number => {
    a |= 0; b |= 0; c |= 0; d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}

/** A stable 32-bit hash of integers (for per-file attributes independent of generation order). */
function hash(...values: number[]): number {
  let h = 0x811c9dc5;
  for (const value of values) {
    h ^= value & 0xffffffff;
    h = Math.imul(h, 0x01000193);
    h ^= h >>> 13;
    h = Math.imul(h, 0x5bd1e995);
    h ^= h >>> 15;
  }
  return h >>> 0;
}

export class TableGenerator {
  private readonly random: () => number;
  private readonly live = new LiveSet();
  private dvGeneration = new Uint16Array(1024);
  private nextId = 0;
  private metadata: MetadataAction;
  private readonly protocol: ProtocolAction;
  private txn: TxnAction | undefined;
  private readonly partitions: number;
  private readonly seed: number;
  private readonly deletionVectors: boolean;
  private readonly columns: GeneratedColumns;
  private readonly columnMapping: GeneratedColumnMapping | undefined;
  /** files with an id below this were written before `category` was dropped */
  private firstIdAfterDrop = Number.POSITIVE_INFINITY;

  constructor(options: TableGeneratorOptions) {
    this.seed = options.seed ?? 1;
    this.random = prng(this.seed);
    this.partitions = options.partitions ?? 10;
    this.deletionVectors = options.deletionVectors ?? true;
    this.columnMapping = options.columnMapping;
    this.columns = new GeneratedColumns(this.partitions > 0, options.columnMapping, (a, b) => uuidFrom(this.seed, a, b));
    this.protocol = protocolOf(this.deletionVectors, this.columns.mapped);
    const mapping: Record<string, string> = options.columnMapping
      ? { 'delta.columnMapping.mode': options.columnMapping.mode, 'delta.columnMapping.maxColumnId': String(this.columns.maxColumnId) }
      : {};
    this.metadata = {
      id: uuidFrom(this.seed, 0, 0),
      name: `gen_${this.seed}`,
      format: { provider: 'parquet', options: {} },
      schemaString: this.columns.schemaString(),
      partitionColumns: this.columns.partitionColumns,
      configuration: { ...(this.deletionVectors ? { 'delta.enableDeletionVectors': 'true' } : {}), ...mapping },
      createdTime: baseTimeMs,
    };
  }

  private partitionOf(id: number): Record<string, string | null> {
    const key = this.columns.partitionKey;
    if (this.partitions === 0 || key === undefined) return {};
    const p = hash(this.seed, id, 7) % this.partitions;
    // One partition holds nulls, as real tables often do.
    if (p === this.partitions - 1 && this.partitions > 2) return { [key]: null };
    return { [key]: new Date(baseTimeMs + p * 86_400_000).toISOString().slice(0, 10) };
  }

  private deletionVector(id: number, generation: number): DeletionVectorDescriptor | undefined {
    if (generation === 0) return undefined;
    // Z85 of a 16-byte UUID, 4 bytes → 5 characters: any 20 characters would not
    // do (base 85 of 5 characters exceeds 2^32), readers decode it to a file name.
    let encoded = '';
    for (let word = 0; word < 4; word++) {
      let value = hash(this.seed, id, generation, word) >>> 0;
      let chunk = '';
      for (let i = 0; i < 5; i++) {
        chunk = (z85[value % 85] as string) + chunk;
        value = Math.floor(value / 85);
      }
      encoded += chunk;
    }
    return { storageType: 'u', pathOrInlineDv: encoded, offset: 1, sizeInBytes: 34 + generation, cardinality: generation * 3 };
  }

  add(id: number, generation: number, dataChange = true): AddAction {
    const partitionValues = this.partitionOf(id);
    const h = hash(this.seed, id);
    const key = this.columns.partitionKey;
    const folder = key === undefined || partitionValues[key] === undefined ? '' : `${key}=${partitionValues[key] ?? '__HIVE_DEFAULT_PARTITION__'}/`;
    const records = 1000 + (h % 9000);
    const minValue = (h % 1000) / 10;
    const withDropped = id < this.firstIdAfterDrop;
    const city = `city${h % 7}`;
    const stats = {
      numRecords: records,
      minValues: this.columns.statsValues({ id: id * 10_000, value: minValue, category: `c${h % 50}`, event_time: new Date(baseTimeMs + (h % 86_400) * 1000).toISOString(), 'geo.city': city }, withDropped),
      maxValues: this.columns.statsValues({ id: id * 10_000 + records - 1, value: minValue + 50, category: `c${(h % 50) + 10}`, event_time: new Date(baseTimeMs + ((h % 86_400) + 3600) * 1000).toISOString(), 'geo.city': `${city}z` }, withDropped),
      nullCount: this.columns.statsValues({ id: 0, value: h % 3, category: 0, event_time: 0, 'geo.city': 0 }, withDropped),
    };
    const dv = this.deletionVector(id, generation);
    return {
      path: `${folder}part-${String(id).padStart(8, '0')}-${h.toString(16).padStart(8, '0')}.snappy.parquet`,
      partitionValues,
      size: 100_000 + (h % 900_000),
      modificationTime: baseTimeMs + id * 1000,
      dataChange,
      stats: JSON.stringify(dv ? { ...stats, tightBounds: false } : stats),
      ...(dv ? { deletionVector: dv } : {}),
    };
  }

  private remove(id: number, generation: number, timestampMs: number): RemoveAction {
    const add = this.add(id, generation);
    const dv = this.deletionVector(id, generation);
    return {
      path: add.path, deletionTimestamp: timestampMs, dataChange: true, extendedFileMetadata: true,
      partitionValues: add.partitionValues, size: add.size, ...(dv ? { deletionVector: dv } : {}),
    };
  }

  private newFile(): number {
    const id = this.nextId++;
    if (id >= this.dvGeneration.length) {
      const grown = new Uint16Array(this.dvGeneration.length * 2);
      grown.set(this.dvGeneration);
      this.dvGeneration = grown;
    }
    this.live.add(id);
    return id;
  }

  /** The actions of version 0: create the table. */
  create(): Action[] {
    return [
      { kind: 'commitInfo', commitInfo: { timestamp: baseTimeMs, operation: 'CREATE TABLE', operationParameters: { partitionBy: JSON.stringify(this.metadata.partitionColumns) }, isBlindAppend: true, engineInfo: 'deltameta-gen' } },
      { kind: 'protocol', protocol: this.protocol },
      { kind: 'metaData', metaData: this.metadata },
    ];
  }

  /** The actions of version `version` of `total`, aiming at `targetFiles` live files after the last. */
  next(version: number, total: number, targetFiles: number): Action[] {
    const timestampMs = baseTimeMs + version * 60_000;
    const remaining = total - version + 1;
    const need = targetFiles - this.live.count;
    const roll = this.random();
    const actions: Action[] = [];
    let operation = 'WRITE';
    let blind = true;
    const removeFile = (id: number): void => {
      actions.push({ kind: 'remove', remove: this.remove(id, this.dvGeneration[id] ?? 0, timestampMs) });
      this.live.remove(id);
    };
    const last = version === total;
    const schemaChange = this.schemaChange(version);
    if (schemaChange) {
      operation = schemaChange;
      blind = false;
      actions.push({ kind: 'metaData', metaData: this.metadata });
    } else if (last || this.live.count < 20 || roll < 0.7) {
      // Append; the last version lands exactly on the target.
      let adds = last ? need : Math.max(1, Math.round((need / remaining) * (0.5 + this.random())));
      if (last && need < 0) {
        operation = 'DELETE';
        blind = false;
        for (let i = 0; i < -need; i++) removeFile(this.live.pick(this.random));
        adds = 0;
      }
      for (let i = 0; i < adds; i++) actions.push({ kind: 'add', add: this.add(this.newFile(), 0) });
      this.txn = { appId: `gen-stream-${this.seed}`, version, lastUpdated: timestampMs };
      actions.push({ kind: 'txn', txn: this.txn });
    } else if (roll < 0.8) {
      operation = 'DELETE';
      blind = false;
      const count = Math.max(1, Math.floor(this.live.count * 0.01 * this.random()));
      for (let i = 0; i < count; i++) removeFile(this.live.pick(this.random));
    } else if (roll < 0.9) {
      operation = 'OPTIMIZE';
      blind = false;
      const count = Math.min(this.live.count - 1, 2 + Math.floor(this.random() * 19));
      for (let i = 0; i < count; i++) removeFile(this.live.pick(this.random));
      actions.push({ kind: 'add', add: this.add(this.newFile(), 0) });
    } else if (roll < 0.97 && this.deletionVectors) {
      operation = 'DELETE';
      blind = false;
      const count = Math.max(1, Math.min(50, Math.floor(this.live.count * 0.005)));
      const chosen = new Set<number>();
      for (let i = 0; i < count; i++) chosen.add(this.live.pick(this.random));
      for (const id of chosen) {
        const generation = this.dvGeneration[id] ?? 0;
        actions.push({ kind: 'remove', remove: this.remove(id, generation, timestampMs) });
        this.dvGeneration[id] = generation + 1;
        actions.push({ kind: 'add', add: this.add(id, generation + 1) });
      }
    } else {
      operation = 'SET TBLPROPERTIES';
      blind = false;
      this.metadata = { ...this.metadata, configuration: { ...this.metadata.configuration, 'deltameta.gen.version': String(version) } };
      actions.push({ kind: 'metaData', metaData: this.metadata });
      actions.push({ kind: 'domainMetadata', domainMetadata: { domain: 'deltameta.gen', configuration: JSON.stringify({ version }), removed: false } });
    }
    actions.unshift({
      kind: 'commitInfo',
      commitInfo: { timestamp: timestampMs, operation, isBlindAppend: blind, txnId: uuidFrom(this.seed, version, 1), engineInfo: 'deltameta-gen' },
    });
    return actions;
  }

  /** A rename or drop due at `version` (a column-mapping table): the operation's name, after moving the metadata on. */
  private schemaChange(version: number): string | undefined {
    const mapping = this.columnMapping;
    if (mapping?.renameAt === version) this.columns.rename();
    else if (mapping?.dropAt === version) {
      this.columns.drop();
      this.firstIdAfterDrop = this.nextId;
    } else return undefined;
    this.metadata = { ...this.metadata, schemaString: this.columns.schemaString(), partitionColumns: this.columns.partitionColumns };
    return mapping.renameAt === version ? 'RENAME COLUMN' : 'DROP COLUMN';
  }

  get liveCount(): number {
    return this.live.count;
  }

  /** The checkpoint's rows: protocol, metadata, txn, domain, then every live file as state (dataChange false). */
  *checkpointActions(domainVersion: number | undefined): Generator<Action> {
    yield { kind: 'protocol', protocol: this.protocol };
    yield { kind: 'metaData', metaData: this.metadata };
    if (this.txn) yield { kind: 'txn', txn: this.txn };
    if (domainVersion !== undefined) {
      yield { kind: 'domainMetadata', domainMetadata: { domain: 'deltameta.gen', configuration: JSON.stringify({ version: domainVersion }), removed: false } };
    }
    for (let i = 0; i < this.live.count; i++) {
      const id = this.live.ids[i] as number;
      yield { kind: 'add', add: this.add(id, this.dvGeneration[id] ?? 0, false) };
    }
  }
}

function protocolOf(deletionVectors: boolean, columnMapping: boolean): ProtocolAction {
  if (deletionVectors) {
    const features = columnMapping ? ['columnMapping', 'deletionVectors'] : ['deletionVectors'];
    return { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: features, writerFeatures: features };
  }
  return columnMapping ? { minReaderVersion: 2, minWriterVersion: 5 } : { minReaderVersion: 1, minWriterVersion: 2 };
}

function uuidFrom(seed: number, a: number, b: number): string {
  const hex = [hash(seed, a, b, 1), hash(seed, a, b, 2), hash(seed, a, b, 3), hash(seed, a, b, 4)].map((n) => n.toString(16).padStart(8, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
