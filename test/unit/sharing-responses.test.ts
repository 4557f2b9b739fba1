/**
 * The Delta Sharing response lines without a server: each line is one JSON
 * object with one key, parses back to the protocol's shapes in both
 * formats; the capabilities header picks the format the protocol says, and
 * refuses parquet for a table parquet cannot express; file ids are stable
 * and distinct.
 */
import { expect } from 'chai';
import type { AddAction, DeletionVectorDescriptor, MetadataAction, ProtocolAction } from '../../shared/delta/index.ts';
import {
  changeLine, chooseFormat, deletionVectorFileId, endStreamLine, fileId, fileLine, metadataLine, parseCapabilities, protocolLine, responseCapabilities, SharingResponseError, wantsEndStream,
} from '../../services/reader/index.ts';

const metadata: MetadataAction = {
  id: 'f8d5c169-3d01-4ca3-ad9e-7dc3355aedb2',
  format: { provider: 'parquet', options: {} },
  schemaString: '{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}},{"name":"date","type":"date","nullable":true,"metadata":{}}]}',
  partitionColumns: ['date'],
  configuration: { 'delta.enableChangeDataFeed': 'true' },
  createdTime: 1652140000000,
};
const v1: ProtocolAction = { minReaderVersion: 1, minWriterVersion: 2 };
const dv: ProtocolAction = { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['deletionVectors'], writerFeatures: ['deletionVectors'] };
const stats = '{"numRecords":1,"minValues":{"id":1},"maxValues":{"id":1},"nullCount":{"id":0}}';
const add: AddAction = { path: 'date=2021-04-28/part-0.parquet', partitionValues: { date: '2021-04-28' }, size: 573, modificationTime: 1, dataChange: true, stats };

function parsed(text: string): Record<string, unknown> {
  expect(text.endsWith('\n')).to.equal(true);
  expect(text.slice(0, -1)).to.not.include('\n');
  const object = JSON.parse(text) as Record<string, unknown>;
  expect(Object.keys(object)).to.have.length(1);
  return object;
}

function refusal(run: () => unknown): SharingResponseError {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(SharingResponseError);
    return error as SharingResponseError;
  }
  throw new Error('expected a SharingResponseError');
}

describe('sharing: response lines and format negotiation', () => {
  it('parses the capabilities header case-insensitively, with repeated keys and spaces', () => {
    const caps = parseCapabilities('ResponseFormat=Delta, Parquet; readerFeatures=DeletionVectors,columnMapping;includeEndStreamAction=true;junk');
    expect(caps.responseFormats).to.deep.equal(['delta', 'parquet']);
    expect([...(caps.readerFeatures ?? [])]).to.deep.equal(['deletionvectors', 'columnmapping']);
    expect(wantsEndStream(caps)).to.equal(true);
    expect(parseCapabilities(undefined).responseFormats).to.deep.equal([]);
    expect(parseCapabilities(undefined).readerFeatures).to.equal(undefined);
    expect(parseCapabilities(['responseformat=delta', 'readerfeatures=x']).responseFormats).to.deep.equal(['delta']);
    expect(wantsEndStream(parseCapabilities('responseformat=parquet'))).to.equal(false);
    expect(responseCapabilities('delta', true)).to.equal('responseformat=delta;includeendstreamaction=true');
    expect(parseCapabilities(responseCapabilities('parquet', false)).responseFormats).to.deep.equal(['parquet']);
  });

  it('chooses parquet without a header, the one format asked, parquet for both when the table allows it', () => {
    expect(chooseFormat(parseCapabilities(undefined), v1, metadata)).to.equal('parquet');
    expect(chooseFormat(parseCapabilities('responseformat=delta'), v1, metadata)).to.equal('delta');
    expect(chooseFormat(parseCapabilities('responseformat=parquet'), v1, metadata)).to.equal('parquet');
    expect(chooseFormat(parseCapabilities('responseformat=delta,parquet'), v1, metadata)).to.equal('parquet');
    expect(chooseFormat(parseCapabilities('responseformat=delta,parquet'), dv, metadata)).to.equal('delta');
    // features transparent to a plain Parquet reader do not force delta
    const ntz: ProtocolAction = { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['timestampNtz'] };
    expect(chooseFormat(parseCapabilities(undefined), ntz, metadata)).to.equal('parquet');
    // column mapping only matters in name or id mode
    const mapping: ProtocolAction = { minReaderVersion: 2, minWriterVersion: 5 };
    expect(chooseFormat(parseCapabilities(undefined), mapping, metadata)).to.equal('parquet');
    const named = { ...metadata, configuration: { 'delta.columnMapping.mode': 'name' } };
    expect(chooseFormat(parseCapabilities('responseformat=parquet,delta'), mapping, named)).to.equal('delta');
  });

  it('refuses parquet for a table with features parquet cannot express, and delta when the client lacks a feature', () => {
    for (const header of [undefined, 'responseformat=parquet', 'readerfeatures=deletionvectors']) {
      const error = refusal(() => chooseFormat(parseCapabilities(header), dv, metadata));
      expect(error.errorCode).to.equal('UNSUPPORTED_OPERATION');
      expect(error.statusCode).to.equal(400);
      expect(error.message).to.include('deletionvectors');
    }
    expect(refusal(() => chooseFormat(parseCapabilities('responseformat=delta;readerfeatures=columnmapping'), dv, metadata)).message).to.include('deletionvectors');
    expect(chooseFormat(parseCapabilities('responseformat=delta;readerfeatures=deletionvectors'), dv, metadata)).to.equal('delta');
  });

  it('parquet lines: protocol, metaData, file, add/cdf/remove, endStreamAction', () => {
    expect(parsed(protocolLine('parquet', dv))).to.deep.equal({ protocol: { minReaderVersion: 1 } });
    expect(parsed(metadataLine('parquet', metadata, { version: 3, size: 573, numFiles: 1 }))).to.deep.equal({
      metaData: {
        id: metadata.id, format: { provider: 'parquet' }, schemaString: metadata.schemaString, partitionColumns: ['date'],
        configuration: metadata.configuration, version: 3, size: 573, numFiles: 1,
      },
    });
    expect(parsed(metadataLine('parquet', metadata))).to.not.have.nested.property('metaData.version');
    const file = parsed(fileLine('parquet', { add, url: 'https://r/files/tok', expirationTimestamp: 99, version: 3, timestamp: 1000 }));
    expect(file).to.deep.equal({
      file: { url: 'https://r/files/tok', id: fileId(add), partitionValues: { date: '2021-04-28' }, size: 573, stats, version: 3, timestamp: 1000, expirationTimestamp: 99 },
    });
    const bare = parsed(fileLine('parquet', { add: { ...add, stats: null }, url: 'u', expirationTimestamp: 1 }));
    expect(Object.keys(bare.file as object)).to.deep.equal(['url', 'id', 'partitionValues', 'size', 'expirationTimestamp']);

    const facts = { url: 'u', expirationTimestamp: 5, version: 2, timestamp: 7 };
    expect(parsed(changeLine('parquet', { kind: 'add', action: add }, facts))).to.deep.equal({
      add: { url: 'u', id: fileId(add), partitionValues: { date: '2021-04-28' }, size: 573, timestamp: 7, version: 2, stats, expirationTimestamp: 5 },
    });
    const cdc = { path: '_change_data/c.parquet', partitionValues: {}, size: 10, dataChange: false };
    expect(parsed(changeLine('parquet', { kind: 'cdc', action: cdc }, facts))).to.deep.equal({
      cdf: { url: 'u', id: fileId(cdc), partitionValues: {}, size: 10, timestamp: 7, version: 2, expirationTimestamp: 5 },
    });
    const remove = { path: add.path, dataChange: true, deletionTimestamp: 7, partitionValues: add.partitionValues, size: 573 };
    expect(parsed(changeLine('parquet', { kind: 'remove', action: remove }, facts))).to.deep.equal({
      remove: { url: 'u', id: fileId(add), partitionValues: { date: '2021-04-28' }, size: 573, timestamp: 7, version: 2, expirationTimestamp: 5 },
    });

    expect(parsed(endStreamLine({ nextPageToken: 'n', minUrlExpirationTimestamp: 5 }))).to.deep.equal({ endStreamAction: { nextPageToken: 'n', minUrlExpirationTimestamp: 5 } });
    expect(parsed(endStreamLine({ refreshToken: 'r' }))).to.deep.equal({ endStreamAction: { refreshToken: 'r' } });
  });

  it('a parquet file line is the JSON of its object byte for byte (it is written out by hand, for speed)', () => {
    const tricky = { ...add, path: 'date=x/\u00fc "q".parquet', partitionValues: { date: null, 'we"ird': 'a\\b\n' }, stats: '{"numRecords":1,"minValues":{"s":"\u00fc\\u0000\\""}}' };
    const url = 'https://r/files/p?X-Databricks-Signature=m';
    const full = { file: { url, id: fileId(tricky), partitionValues: tricky.partitionValues, size: 573, stats: tricky.stats, version: 3, timestamp: 1000, expirationTimestamp: 99 } };
    expect(fileLine('parquet', { add: tricky, url, expirationTimestamp: 99, version: 3, timestamp: 1000 })).to.equal(`${JSON.stringify(full)}\n`);
    const bare = { file: { url, id: fileId(tricky), partitionValues: tricky.partitionValues, size: 573, expirationTimestamp: 99 } };
    expect(fileLine('parquet', { add: { ...tricky, stats: undefined }, url, expirationTimestamp: 99 })).to.equal(`${JSON.stringify(bare)}\n`);
  });

  it('a delta file line is the JSON of its object byte for byte (written out by hand, for speed)', () => {
    const vector = { storageType: 'u' as const, pathOrInlineDv: 'ab^-aqEH.-t@S}K{vb[*k^', offset: 4, sizeInBytes: 40, cardinality: 6 };
    const withDv = { ...add, path: 'x/\u00fc "q".parquet', deletionVector: vector, baseRowId: 7, defaultRowCommitVersion: 2, tags: { a: 'b' } };
    const url = 'https://r/files/p?X-Databricks-Signature=m';
    const dvUrl = 'https://r/files/dv?X-Databricks-Signature=n';
    const expected = (action: string, body: Record<string, unknown>, facts: Record<string, unknown>, file: { path: string; deletionVector?: DeletionVectorDescriptor | null }): string => {
      const present = (object: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined && value !== null));
      const dv = file.deletionVector ? { ...file.deletionVector, storageType: 'p', pathOrInlineDv: dvUrl } : undefined;
      return `${JSON.stringify({
        file: present({
          id: fileId(file), deletionVectorFileId: file.deletionVector ? deletionVectorFileId(file.deletionVector) : undefined, ...facts,
          deltaSingleAction: { [action]: present({ ...body, path: url, deletionVector: dv }) },
        }),
      })}\n`;
    };
    expect(fileLine('delta', { add: withDv, url, deletionVectorUrl: dvUrl, expirationTimestamp: 9, version: 4, timestamp: 8 }))
      .to.equal(expected('add', withDv, { version: 4, timestamp: 8, expirationTimestamp: 9 }, withDv));
    const plainAdd = { ...add, stats: null };
    expect(fileLine('delta', { add: plainAdd, url, expirationTimestamp: 9 })).to.equal(expected('add', plainAdd, { expirationTimestamp: 9 }, plainAdd));
    const remove = { path: 'r.parquet', dataChange: true, deletionTimestamp: 7, partitionValues: {}, size: 5, deletionVector: vector };
    expect(changeLine('delta', { kind: 'remove', action: remove }, { url, deletionVectorUrl: dvUrl, expirationTimestamp: 5, version: 2, timestamp: 7 }))
      .to.equal(expected('remove', remove, { version: 2, timestamp: 7, expirationTimestamp: 5 }, remove));
    const cdc = { path: '_change_data/c.parquet', partitionValues: {}, size: 10, dataChange: false };
    expect(changeLine('delta', { kind: 'cdc', action: cdc }, { url, expirationTimestamp: 5, version: 2, timestamp: 7 }))
      .to.equal(expected('cdc', cdc, { version: 2, timestamp: 7, expirationTimestamp: 5 }, cdc));
  });

  it('delta lines: deltaProtocol, deltaMetadata, file.deltaSingleAction with the signed URL as path', () => {
    expect(parsed(protocolLine('delta', dv))).to.deep.equal({ protocol: { deltaProtocol: dv } });
    expect(parsed(metadataLine('delta', metadata, { version: 4, size: 1, numFiles: 2 }))).to.deep.equal({
      metaData: { deltaMetadata: metadata, version: 4, size: 1, numFiles: 2 },
    });
    const withDv: AddAction = {
      ...add, deletionVector: { storageType: 'u', pathOrInlineDv: 'ab^-aqEH.-t@S}K{vb[*k^', offset: 1, sizeInBytes: 36, cardinality: 2 },
    };
    const line = parsed(fileLine('delta', { add: withDv, url: 'https://r/files/a', deletionVectorUrl: 'https://r/files/dv', expirationTimestamp: 9, version: 4, timestamp: 8 }));
    const file = line.file as Record<string, unknown>;
    expect(file.id).to.equal(fileId(withDv));
    expect(file.deletionVectorFileId).to.be.a('string');
    expect(file).to.include({ version: 4, timestamp: 8, expirationTimestamp: 9 });
    expect(file.deltaSingleAction).to.deep.equal({
      add: { ...withDv, path: 'https://r/files/a', deletionVector: { storageType: 'p', pathOrInlineDv: 'https://r/files/dv', offset: 1, sizeInBytes: 36, cardinality: 2 } },
    });
    expect(() => fileLine('delta', { add: withDv, url: 'u', expirationTimestamp: 1 })).to.throw(/no signed URL/);
    const inline: AddAction = { ...add, deletionVector: { storageType: 'i', pathOrInlineDv: 'wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L', sizeInBytes: 40, cardinality: 6 } };
    const inlineLine = parsed(fileLine('delta', { add: inline, url: 'u', expirationTimestamp: 1 })).file as Record<string, unknown>;
    expect(inlineLine.deletionVectorFileId).to.equal(undefined);
    expect(inlineLine.deltaSingleAction).to.have.nested.property('add.deletionVector.storageType', 'i');

    const remove = { path: add.path, dataChange: true, deletionTimestamp: 7, partitionValues: add.partitionValues, size: 573 };
    const removeLine = parsed(changeLine('delta', { kind: 'remove', action: remove }, { url: 'u', expirationTimestamp: 5, version: 2, timestamp: 7 }));
    expect(removeLine).to.deep.equal({ file: { id: fileId(add), version: 2, timestamp: 7, expirationTimestamp: 5, deltaSingleAction: { remove: { ...remove, path: 'u' } } } });
    const cdc = { path: '_change_data/c.parquet', partitionValues: {}, size: 10, dataChange: false };
    expect(parsed(changeLine('delta', { kind: 'cdc', action: cdc }, { url: 'u', expirationTimestamp: 5, version: 2, timestamp: 7 })))
      .to.have.nested.property('file.deltaSingleAction.cdc.path', 'u');
  });

  it('file ids are stable per path, distinct across paths and deletion vectors', () => {
    const resized: AddAction = { ...add, size: 1 };
    expect(fileId(add)).to.equal(fileId(resized));
    expect(fileId(add)).to.match(/^[0-9a-f]{32}$/);
    const ids = new Set(Array.from({ length: 1000 }, (_unused, i) => fileId({ path: `part-${i}.parquet` })));
    expect(ids.size).to.equal(1000);
    expect(fileId(add)).to.not.equal(fileId({ ...add, deletionVector: { storageType: 'u', pathOrInlineDv: 'x', sizeInBytes: 1, cardinality: 1 } }));
  });
});
