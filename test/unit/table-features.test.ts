/**
 * Table features (PROTOCOL.md "Table Features", "Protocol Evolution" and
 * each feature's writer requirements): the registry, what reading and
 * writing refuse, protocol actions as the spec allows them, metadata that
 * turns a feature on without the protocol supporting it, and what an active
 * feature demands of a commit. Each rule has its own test; each failed on
 * the code before table-features.ts (nothing was checked).
 */
import { expect } from 'chai';
import {
  checkCommitFeatures, checkMetadataFeatures, checkOneVersion, checkProtocolAction, checkReadable, supportedFeatures, TableState,
  tableFeatures, type Action, type AddAction, type LocatedAction, type MetadataAction, type ProtocolAction,
} from '../../shared/delta/index.ts';
import { BadRequestError, LogFormatError, UnsupportedFeatureError } from '../../shared/errors/index.ts';

const schema = (fields: unknown[]): string => JSON.stringify({ type: 'struct', fields });
const plainSchema = schema([
  { name: 'id', type: 'long', nullable: true, metadata: {} },
  { name: 'country', type: 'string', nullable: true, metadata: {} },
]);

function metadata(configuration: Record<string, string> = {}, schemaString = plainSchema, partitionColumns: string[] = []): MetadataAction {
  return { id: 'table-id', format: { provider: 'parquet' }, schemaString, partitionColumns, configuration };
}

function protocol(minReaderVersion: number, minWriterVersion: number, readerFeatures?: string[], writerFeatures?: string[]): ProtocolAction {
  return {
    minReaderVersion, minWriterVersion,
    ...(readerFeatures ? { readerFeatures } : {}),
    ...(writerFeatures ? { writerFeatures } : {}),
  };
}

const features = (reader: string[], writer: string[]): ProtocolAction => protocol(3, 7, reader, writer);
const writerOnly = (writer: string[]): ProtocolAction => protocol(1, 7, undefined, writer);

function add(path: string, extra: Partial<AddAction> = {}): Action {
  return { kind: 'add', add: { path, partitionValues: {}, size: 1, modificationTime: 0, dataChange: true, stats: '{"numRecords":3}', ...extra } };
}

function located(actions: Action[], file = '00000000000000000000.json'): LocatedAction[] {
  return actions.map((action, index) => ({ action, file, line: index + 1 }));
}

function catchError(run: () => void): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe('table features', function () {
  describe('registry', function () {
    it('records, for every feature named in PROTOCOL.md, reading and writing support and why', function () {
      const names = tableFeatures.map(({ name }) => name);
      for (const name of [
        'appendOnly', 'invariants', 'checkConstraints', 'changeDataFeed', 'generatedColumns', 'columnMapping', 'identityColumns',
        'deletionVectors', 'rowTracking', 'timestampNtz', 'domainMetadata', 'v2Checkpoint', 'icebergCompatV1', 'icebergCompatV2',
        'clustering', 'vacuumProtocolCheck', 'inCommitTimestamp', 'typeWidening', 'variantType', 'variantShredding', 'collations',
        'catalogManaged', 'allowColumnDefaults',
      ]) expect(names, name).to.include(name);
      for (const support of tableFeatures) expect(support.why, support.name).to.have.length.above(10);
      expect(new Set(names).size).to.equal(names.length);
    });

    it('derives the features of legacy versions from both versions (writer 5 without reader 2 has no columnMapping)', function () {
      expect([...supportedFeatures(protocol(1, 2))]).to.have.members(['appendOnly', 'invariants']);
      expect([...supportedFeatures(protocol(1, 4))]).to.have.members(['appendOnly', 'invariants', 'checkConstraints', 'changeDataFeed', 'generatedColumns']);
      expect([...supportedFeatures(protocol(1, 5))]).not.to.include('columnMapping');
      expect([...supportedFeatures(protocol(2, 5))]).to.include('columnMapping');
      expect([...supportedFeatures(protocol(2, 6))]).to.include.members(['columnMapping', 'identityColumns']);
      expect([...supportedFeatures(writerOnly(['appendOnly']))]).to.have.members(['appendOnly']);
    });
  });

  describe('checkReadable', function () {
    it('refuses an unsupported reader feature, naming it', function () {
      const error = catchError(() => checkReadable(features(['catalogManaged', 'deletionVectors'], ['catalogManaged', 'deletionVectors', 'inCommitTimestamp']), 'x.json'));
      expect(error).to.be.instanceOf(UnsupportedFeatureError);
      expect((error as UnsupportedFeatureError).features).to.deep.equal(['catalogManaged']);
      expect(error.message).to.contain('catalogManaged').and.contain('x.json').and.contain('reading');
    });

    it('refuses an unknown reader feature by its name', function () {
      const error = catchError(() => checkReadable(features(['someFutureFeature'], ['someFutureFeature']), 'x.json'));
      expect(error).to.be.instanceOf(UnsupportedFeatureError);
      expect(error.message).to.contain('someFutureFeature');
    });

    it('refuses a reader version above 3', function () {
      expect(catchError(() => checkReadable(protocol(4, 7), 'x.json')).message).to.contain('minReaderVersion 4');
    });

    it('reads supported reader features and ignores writer-only ones it does not write', function () {
      checkReadable(features(['deletionVectors', 'columnMapping', 'v2Checkpoint', 'timestampNtz', 'vacuumProtocolCheck', 'typeWidening'],
        ['deletionVectors', 'columnMapping', 'v2Checkpoint', 'timestampNtz', 'vacuumProtocolCheck', 'typeWidening', 'icebergCompatV2', 'unknownWriterThing']), 'x.json');
      checkReadable(protocol(2, 5), 'x.json');
    });
  });

  describe('checkProtocolAction', function () {
    const check = (next: ProtocolAction, previous?: ProtocolAction): Error => catchError(() => checkProtocolAction(next, previous, 'v.json', 2));

    it('allows reader features only with reader version 3', function () {
      const error = check(protocol(2, 7, ['deletionVectors'], ['deletionVectors']));
      expect(error).to.be.instanceOf(LogFormatError);
      expect(error.message).to.contain('v.json:2').and.contain('minReaderVersion 3');
    });

    it('allows writer features only with writer version 7', function () {
      expect(check(protocol(1, 6, undefined, ['appendOnly'])).message).to.contain('minWriterVersion 7');
    });

    it('needs writer version 7 for reader version 3', function () {
      expect(check(protocol(3, 6, [], undefined)).message).to.contain('minReaderVersion 3 needs minWriterVersion 7');
    });

    it('needs the feature lists at versions 3 and 7', function () {
      expect(check(protocol(3, 7, undefined, [])).message).to.contain('readerFeatures list');
      expect(check(protocol(1, 7)).message).to.contain('writerFeatures list');
    });

    it('needs every reader feature in writerFeatures too', function () {
      expect(check(features(['deletionVectors'], [])).message).to.contain('[deletionVectors] must be in writerFeatures');
    });

    it('needs a reader-writer feature on the reader side too', function () {
      expect(check(writerOnly(['deletionVectors'])).message).to.contain('[deletionVectors] must be in readerFeatures');
      // reader version 2 carries columnMapping for readers (the spec's example)
      checkProtocolAction(protocol(2, 7, undefined, ['columnMapping', 'identityColumns']), undefined, 'v.json', 1);
    });

    it('needs the features a feature depends on', function () {
      expect(check(writerOnly(['rowTracking'])).message).to.contain('rowTracking needs domainMetadata');
      expect(check(writerOnly(['clustering'])).message).to.contain('clustering needs domainMetadata');
      checkProtocolAction(writerOnly(['rowTracking', 'domainMetadata']), undefined, 'v.json', 1);
    });

    it('refuses a protocol that drops a feature the previous one supported', function () {
      const previous = features(['deletionVectors', 'columnMapping'], ['deletionVectors', 'columnMapping']);
      const error = check(features(['columnMapping'], ['columnMapping']), previous);
      expect(error).to.be.instanceOf(LogFormatError);
      expect(error.message).to.contain('drops table feature deletionVectors');
    });

    it('counts legacy versions as their features: (1,2) → (3,7) must keep appendOnly and invariants', function () {
      expect(check(features(['deletionVectors'], ['deletionVectors']), protocol(1, 2)).message).to.contain('appendOnly, invariants');
      checkProtocolAction(features(['deletionVectors'], ['appendOnly', 'invariants', 'deletionVectors']), protocol(1, 2), 'v.json', 1);
      expect(check(protocol(1, 3), protocol(1, 4)).message).to.contain('changeDataFeed, generatedColumns');
      expect(check(protocol(1, 7, undefined, ['columnMapping']), protocol(2, 5)).message).to.contain('columnMapping');
    });

    it('reading a log: an upgrade from legacy versions may leave out implied features (delta-rs 1.6), a commit may not', function () {
      const upgrade = features(['deletionVectors'], ['deletionVectors']);
      checkProtocolAction(upgrade, protocol(1, 2), 'v.json', 1, { readingLog: true });
      expect(check(upgrade, protocol(1, 2)).message).to.contain('drops');
      // explicit features stay: dropping one is refused when reading too
      const error = catchError(() => checkProtocolAction(features([], []), upgrade, 'v.json', 1, { readingLog: true }));
      expect(error.message).to.contain('drops table feature deletionVectors');
      // and so does a legacy downgrade
      expect(catchError(() => checkProtocolAction(protocol(1, 2), protocol(1, 4), 'v.json', 1, { readingLog: true })).message).to.contain('drops');
      // a missing companion feature (delta-rs 1.6's rowTracking) is read, not committed
      checkProtocolAction(writerOnly(['rowTracking']), undefined, 'v.json', 1, { readingLog: true });
    });

    it('allows an upgrade that keeps every feature', function () {
      checkProtocolAction(features(['columnMapping'], ['appendOnly', 'invariants', 'checkConstraints', 'changeDataFeed', 'generatedColumns', 'columnMapping']), protocol(2, 5), 'v.json', 1);
    });
  });

  describe('checkMetadataFeatures', function () {
    const cases: [string, MetadataAction, string][] = [
      ['columnMapping', metadata({ 'delta.columnMapping.mode': 'name' }, schema([
        { name: 'id', type: 'long', nullable: true, metadata: { 'delta.columnMapping.id': 1, 'delta.columnMapping.physicalName': 'col-1' } },
      ])), 'delta.columnMapping.mode=name'],
      ['deletionVectors', metadata({ 'delta.enableDeletionVectors': 'true' }), 'delta.enableDeletionVectors=true'],
      ['rowTracking', metadata({ 'delta.enableRowTracking': 'true' }), 'delta.enableRowTracking=true'],
      ['inCommitTimestamp', metadata({ 'delta.enableInCommitTimestamps': 'true' }), 'delta.enableInCommitTimestamps=true'],
      ['appendOnly', metadata({ 'delta.appendOnly': 'TRUE' }), 'delta.appendOnly=true'],
      ['changeDataFeed', metadata({ 'delta.enableChangeDataFeed': 'true' }), 'delta.enableChangeDataFeed=true'],
      ['checkConstraints', metadata({ 'delta.constraints.positive': 'id > 0' }), 'delta.constraints.positive'],
      ['v2Checkpoint', metadata({ 'delta.checkpointPolicy': 'v2' }), 'delta.checkpointPolicy=v2'],
      ['timestampNtz', metadata({}, schema([{ name: 's', type: { type: 'struct', fields: [{ name: 't', type: 'timestamp_ntz', nullable: true, metadata: {} }] }, nullable: true, metadata: {} }])), 'column "s.t" has type timestamp_ntz'],
      ['invariants', metadata({}, schema([{ name: 'x', type: 'integer', nullable: true, metadata: { 'delta.invariants': '{"expression":{"expression":"x > 3"}}' } }])), 'delta.invariants'],
      ['generatedColumns', metadata({}, schema([{ name: 'x', type: 'integer', nullable: true, metadata: { 'delta.generationExpression': '1' } }])), 'delta.generationExpression'],
      ['identityColumns', metadata({}, schema([{ name: 'x', type: 'long', nullable: true, metadata: { 'delta.identity.start': 1, 'delta.identity.step': 1 } }])), 'delta.identity'],
      ['variantType', metadata({}, schema([{ name: 'v', type: { type: 'array', elementType: 'variant', containsNull: true }, nullable: true, metadata: {} }])), 'v.element'],
    ];
    for (const [name, meta, use] of cases) {
      it(`refuses ${use} without ${name} in the protocol, and accepts it with`, function () {
        const error = catchError(() => checkMetadataFeatures(meta, protocol(1, 1), 'v.json', 3));
        expect(error).to.be.instanceOf(LogFormatError);
        expect(error.message).to.contain(name).and.contain(use).and.contain('v.json:3');
        const withFeature = writerOnly([name, 'domainMetadata']);
        const config = name === 'rowTracking'
          ? metadata({ ...meta.configuration, 'delta.rowTracking.materializedRowIdColumnName': 'r', 'delta.rowTracking.materializedRowCommitVersionColumnName': 'c' }, meta.schemaString)
          : meta;
        checkMetadataFeatures(config, withFeature, 'v.json', 3);
      });
    }

    it('refuses a recorded type change Type Widening does not allow, accepts the ones it does', function () {
      const widened = (changes: unknown[]): MetadataAction => metadata({}, schema([{ name: 'e', type: 'long', nullable: true, metadata: { 'delta.typeChanges': changes } }]));
      const typeWidening = features(['typeWidening'], ['typeWidening']);
      for (const [fromType, toType] of [
        ['short', 'integer'], ['byte', 'long'], ['float', 'double'], ['integer', 'double'], ['date', 'timestamp_ntz'],
        ['decimal(6, 2)', 'decimal(10, 4)'], ['integer', 'decimal(12,2)'], ['long', 'decimal(20,0)'],
      ]) checkMetadataFeatures(widened([{ fromType, toType }]), typeWidening, 'v.json', 1);
      for (const [fromType, toType] of [
        ['long', 'integer'], ['long', 'double'], ['string', 'integer'], ['decimal(10,4)', 'decimal(11,6)'], ['integer', 'decimal(10,1)'], ['timestamp', 'date'],
      ]) {
        const error = catchError(() => checkMetadataFeatures(widened([{ fromType, toType }]), typeWidening, 'v.json', 1));
        expect(error, `${fromType} → ${toType}`).to.be.instanceOf(LogFormatError);
        expect(error.message).to.contain('delta.typeChanges').and.contain(fromType);
      }
    });

    it('takes delta.appendOnly=false as off', function () {
      checkMetadataFeatures(metadata({ 'delta.appendOnly': 'false', 'delta.enableDeletionVectors': 'false' }), protocol(1, 1), 'v.json', 1);
    });

    it('needs the materialized column names to turn row tracking on', function () {
      const error = catchError(() => checkMetadataFeatures(metadata({ 'delta.enableRowTracking': 'true' }), writerOnly(['rowTracking', 'domainMetadata']), 'v.json', 1));
      expect(error.message).to.contain('materializedRowIdColumnName');
    });
  });

  describe('TableState', function () {
    const v0 = (meta: MetadataAction, proto: ProtocolAction, metaFirst = false): LocatedAction[] => located(metaFirst
      ? [{ kind: 'metaData', metaData: meta }, { kind: 'protocol', protocol: proto }]
      : [{ kind: 'protocol', protocol: proto }, { kind: 'metaData', metaData: meta }]);

    it('refuses to read a protocol with an unsupported reader feature', function () {
      const state = new TableState();
      const error = catchError(() => { for (const action of v0(metadata(), features(['catalogManaged'], ['catalogManaged', 'inCommitTimestamp']))) state.apply(action); });
      expect(error).to.be.instanceOf(UnsupportedFeatureError);
      expect(error.message).to.contain('catalogManaged');
    });

    it('checks metadata against the protocol of its own version, whichever comes first', function () {
      const meta = metadata({ 'delta.enableDeletionVectors': 'true' });
      const proto = features(['deletionVectors'], ['deletionVectors']);
      for (const metaFirst of [false, true]) {
        const state = new TableState();
        const actions = v0(meta, proto, metaFirst);
        checkOneVersion(actions, '0.json');
        for (const action of actions) state.apply(action);
        expect(state.protocol).to.equal(proto);
      }
    });

    it('refuses metadata turning a feature on in a later version without a protocol upgrade', function () {
      const state = new TableState();
      for (const action of v0(metadata(), protocol(1, 2))) state.apply(action);
      const next = located([{ kind: 'metaData', metaData: metadata({ 'delta.constraints.positive': 'id > 0' }) }], '1.json');
      checkOneVersion(next, '1.json');
      expect(catchError(() => state.apply(next[0] as LocatedAction)).message).to.contain('checkConstraints');
    });

    it('reads a writer-only property without its feature as inert (delta-rs sets the in-commit-timestamp property alone)', function () {
      const state = new TableState();
      for (const action of v0(metadata(), protocol(1, 2))) state.apply(action);
      for (const property of ['delta.enableInCommitTimestamps', 'delta.enableDeletionVectors', 'delta.enableChangeDataFeed', 'delta.appendOnly', 'delta.enableRowTracking']) {
        state.apply({ action: { kind: 'metaData', metaData: metadata({ [property]: 'true' }) }, file: '1.json', line: 1 });
      }
      expect(state.metadata?.configuration).to.deep.equal({ 'delta.enableRowTracking': 'true' });
    });

    it('refuses a protocol downgrade in a later version', function () {
      const state = new TableState();
      for (const action of v0(metadata(), protocol(1, 4))) state.apply(action);
      const error = catchError(() => state.apply({ action: { kind: 'protocol', protocol: protocol(1, 2) }, file: '1.json', line: 1 }));
      expect(error).to.be.instanceOf(LogFormatError);
      expect(error.message).to.contain('1.json:1').and.contain('drops');
    });

    it('refuses an upgrade that leaves out a feature the metadata in force uses', function () {
      const state = new TableState();
      for (const action of v0(metadata({ 'delta.constraints.positive': 'id > 0' }), protocol(1, 3))) state.apply(action);
      const next = located([{ kind: 'protocol', protocol: features(['deletionVectors'], ['deletionVectors']) }], '1.json');
      checkOneVersion(next, '1.json');
      const error = catchError(() => state.apply(next[0] as LocatedAction));
      expect(error.message).to.contain('1.json:1').and.contain('checkConstraints');
    });

    it('checks a checkpoint once all its rows are read (metaData before protocol)', function () {
      const state = new TableState();
      state.beginCheckpoint();
      state.apply({ action: { kind: 'metaData', metaData: metadata({ 'delta.constraints.positive': 'id > 0' }) }, file: 'c.parquet', line: undefined });
      state.apply({ action: { kind: 'protocol', protocol: protocol(1, 2) }, file: 'c.parquet', line: undefined });
      expect(catchError(() => state.endCheckpoint()).message).to.contain('checkConstraints');
    });
  });

  describe('checkCommitFeatures', function () {
    const dvTable = features(['deletionVectors'], ['appendOnly', 'invariants', 'deletionVectors']);
    const dv = { storageType: 'u', pathOrInlineDv: 'ab^-aqEH.-t@S}K{vb[*k^', offset: 1, sizeInBytes: 40, cardinality: 2 };
    const run = (input: { protocol?: ProtocolAction; metadata?: MetadataAction; actions: Action[] }): Error =>
      catchError(() => checkCommitFeatures({ protocol: input.protocol, metadata: input.metadata ?? metadata(), actions: input.actions, source: 'commit' }));

    it('refuses writing an unsupported writer feature, by name', function () {
      const error = run({ protocol: writerOnly(['icebergCompatV2', 'columnMapping']), actions: [add('a')] });
      expect(error).to.be.instanceOf(UnsupportedFeatureError);
      expect((error as UnsupportedFeatureError).features).to.deep.equal(['icebergCompatV2']);
      expect(run({ protocol: writerOnly(['fancyNewThing']), actions: [add('a')] }).message).to.contain('fancyNewThing');
      expect(run({ protocol: features(['typeWidening'], ['typeWidening']), actions: [add('a')] }).message).to.contain('typeWidening');
      expect(run({ protocol: protocol(1, 8), actions: [add('a')] }).message).to.contain('minWriterVersion 8');
    });

    it('refuses a data-changing remove on an append-only table, allows rearranging', function () {
      const meta = metadata({ 'delta.appendOnly': 'true' });
      const error = run({ protocol: protocol(1, 2), metadata: meta, actions: [{ kind: 'remove', remove: { path: 'a', dataChange: true } }] });
      expect(error).to.be.instanceOf(BadRequestError);
      expect(error.message).to.contain('appendOnly').and.contain('commit:1');
      checkCommitFeatures({ protocol: protocol(1, 2), metadata: meta, source: 'commit', actions: [{ kind: 'remove', remove: { path: 'a', dataChange: false } }, add('b', { dataChange: false })] });
      checkCommitFeatures({ protocol: protocol(1, 2), metadata: metadata(), source: 'commit', actions: [{ kind: 'remove', remove: { path: 'a', dataChange: true } }] });
    });

    it('allows deletion vectors only with the feature, new ones only with delta.enableDeletionVectors, each with numRecords', function () {
      expect(run({ protocol: protocol(1, 2), actions: [add('a', { deletionVector: dv })] }).message).to.contain('does not support deletionVectors');
      expect(run({ protocol: protocol(1, 2), actions: [{ kind: 'remove', remove: { path: 'a', dataChange: true, deletionVector: dv } }] }).message).to.contain('deletionVectors');
      expect(run({ protocol: dvTable, actions: [add('a', { deletionVector: dv })] }).message).to.contain('delta.enableDeletionVectors');
      const enabled = metadata({ 'delta.enableDeletionVectors': 'true' });
      expect(run({ protocol: dvTable, metadata: enabled, actions: [add('a', { deletionVector: dv, stats: null })] }).message).to.contain('numRecords');
      checkCommitFeatures({ protocol: dvTable, metadata: enabled, source: 'commit', actions: [add('a', { deletionVector: dv })] });
    });

    it('allows domainMetadata only with the feature, and of system domains only those it understands', function () {
      const domain = (name: string, configuration = '{}'): Action => ({ kind: 'domainMetadata', domainMetadata: { domain: name, configuration, removed: false } });
      expect(run({ protocol: protocol(1, 2), actions: [domain('com.example')] }).message).to.contain('does not support domainMetadata');
      checkCommitFeatures({ protocol: writerOnly(['domainMetadata']), metadata: metadata(), source: 'commit', actions: [domain('com.example')] });
      expect(run({ protocol: writerOnly(['domainMetadata']), actions: [domain('delta.somethingElse')] }).message).to.contain('delta.somethingElse');
      expect(run({ protocol: writerOnly(['domainMetadata']), actions: [domain('delta.rowTracking', '{"rowIdHighWaterMark":5}')] }).message).to.contain('rowTracking');
      const rowTracking = writerOnly(['domainMetadata', 'rowTracking']);
      expect(run({ protocol: rowTracking, actions: [domain('delta.rowTracking', '{"x":1}')] }).message).to.contain('rowIdHighWaterMark');
      checkCommitFeatures({ protocol: rowTracking, metadata: metadata(), source: 'commit', actions: [domain('delta.rowTracking', '{"rowIdHighWaterMark":5}')] });
    });

    it('needs stats.numRecords on every add of a row-tracking table (not while suspended)', function () {
      const rowTracking = writerOnly(['domainMetadata', 'rowTracking']);
      expect(run({ protocol: rowTracking, actions: [add('a', { stats: '{}' })] }).message).to.contain('rowTracking');
      checkCommitFeatures({ protocol: rowTracking, metadata: metadata({ 'delta.rowTrackingSuspended': 'true' }), source: 'commit', actions: [add('a', { stats: '{}' })] });
    });

    it('checks clustering: the domain names physical columns, clusteringProvider only on clustered tables, no partition columns', function () {
      const clustered = writerOnly(['domainMetadata', 'clustering']);
      const domain = (configuration: string): Action => ({ kind: 'domainMetadata', domainMetadata: { domain: 'delta.clustering', configuration, removed: false } });
      checkCommitFeatures({ protocol: clustered, metadata: metadata(), source: 'commit', actions: [domain('{"clusteringColumns":[["id"],"country"]}'), add('a', { clusteringProvider: 'liquid' })] });
      expect(run({ protocol: clustered, actions: [domain('{"clusteringColumns":[["nope"]]}')] }).message).to.contain('nope');
      expect(run({ protocol: protocol(1, 2), actions: [add('a', { clusteringProvider: 'liquid' })] }).message).to.contain('clustering');
      expect(run({ protocol: clustered, metadata: metadata({}, plainSchema, ['country']), actions: [add('a')] }).message).to.contain('partition columns');
    });

    it('refuses feature-enabling metadata and invalid protocols in the commit', function () {
      const enabling = metadata({ 'delta.enableDeletionVectors': 'true' });
      expect(run({ protocol: protocol(1, 2), metadata: enabling, actions: [{ kind: 'metaData', metaData: enabling }] }).message).to.contain('commit:1').and.contain('deletionVectors');
      const bad = protocol(2, 7, ['deletionVectors'], ['deletionVectors']);
      expect(run({ protocol: bad, actions: [{ kind: 'protocol', protocol: bad }] }).message).to.contain('minReaderVersion 3');
    });

    it('accepts commits on tables whose features it writes', function () {
      checkCommitFeatures({
        protocol: features(['columnMapping', 'deletionVectors', 'timestampNtz', 'v2Checkpoint', 'vacuumProtocolCheck'],
          ['columnMapping', 'deletionVectors', 'timestampNtz', 'v2Checkpoint', 'vacuumProtocolCheck', 'appendOnly', 'invariants', 'checkConstraints',
            'changeDataFeed', 'generatedColumns', 'identityColumns', 'inCommitTimestamp', 'allowColumnDefaults']),
        metadata: metadata({ 'delta.enableChangeDataFeed': 'true', 'delta.enableInCommitTimestamps': 'true' }),
        source: 'commit',
        actions: [add('a'), { kind: 'cdc', cdc: { path: '_change_data/x', partitionValues: {}, size: 1, dataChange: false } }],
      });
    });
  });
});
