/**
 * Binary COPY output parsed into whole values (shared/db/copy-out.ts): the
 * format split at every byte boundary gives the same values (whole, or as
 * pieces that concatenate to them), NULLs skipped,
 * empty values kept, a header extension skipped, and a wrong signature or
 * column count refused.
 */
import { expect } from 'chai';
import { BinaryCopyValues } from '../../shared/db/index.ts';

const signature = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

function int16(value: number): Buffer {
  const buffer = Buffer.alloc(2);
  buffer.writeInt16BE(value);
  return buffer;
}

function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value);
  return buffer;
}

/** A one-column binary COPY stream of `values` (null: NULL), with a header extension of `extension` bytes. */
function copyStream(values: ReadonlyArray<Buffer | null>, extension = 0): Buffer {
  const rows = values.map((value) => Buffer.concat([int16(1), value === null ? int32(-1) : Buffer.concat([int32(value.length), value])]));
  return Buffer.concat([signature, int32(0), int32(extension), Buffer.alloc(extension, 7), ...rows, int16(-1)]);
}

function parse(chunks: readonly Buffer[], pieces = false): { values: Buffer[]; ended: boolean } {
  const parser = new BinaryCopyValues(pieces);
  const values: Buffer[] = [];
  for (const chunk of chunks) values.push(...parser.push(chunk));
  return { values, ended: parser.ended };
}

describe('binary COPY values', () => {
  const values: Array<Buffer | null> = [Buffer.from('first value'), null, Buffer.alloc(0), Buffer.alloc(300, 9), Buffer.from([0xff, 0xff, 0xff, 0xff])];
  const expected = values.filter((value): value is Buffer => value !== null);

  it('gives every value whole whatever the chunk boundaries', () => {
    const stream = copyStream(values, 5);
    for (let size = 1; size <= 40; size++) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < stream.length; at += size) chunks.push(stream.subarray(at, at + size));
      const parsed = parse(chunks);
      expect(parsed.values, `chunks of ${size}`).to.deep.equal(expected);
      expect(parsed.ended).to.equal(true);
      const inPieces = parse(chunks, true);
      expect(Buffer.concat(inPieces.values), `pieces, chunks of ${size}`).to.deep.equal(Buffer.concat(expected));
      expect(inPieces.values.every((piece) => piece.length > 0)).to.equal(true);
      const counted = new BinaryCopyValues(true);
      for (const chunk of chunks) [...counted.push(chunk)].forEach(() => undefined);
      expect(counted.nulls, 'the NULL is counted (copyOutValues can refuse it)').to.equal(1);
    }
  });

  it('assembles whole values in buffers of their own (a chunk changed after it is read changes nothing)', () => {
    const stream = copyStream([Buffer.from('abc'), Buffer.from('defg')]);
    const parser = new BinaryCopyValues();
    const got = [...parser.push(stream)];
    stream.fill(0);
    expect(got.map((value) => value.toString())).to.deep.equal(['abc', 'defg']);
  });

  it('is not ended before the trailer, and refuses a wrong signature or a second column', () => {
    const stream = copyStream([Buffer.from('x')]);
    expect(parse([stream.subarray(0, stream.length - 2)]).ended).to.equal(false);
    expect(() => parse([Buffer.concat([Buffer.from('NOTCOPY\n\xff\r\n'), stream.subarray(11)])])).to.throw(/signature/);
    const twoColumns = Buffer.concat([signature, int32(0), int32(0), int16(2), int32(1), Buffer.from('a'), int32(1), Buffer.from('b'), int16(-1)]);
    expect(() => parse([twoColumns])).to.throw(/2 columns/);
  });
});
