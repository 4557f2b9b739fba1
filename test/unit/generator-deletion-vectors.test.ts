/**
 * The generator's deletion-vector descriptors must name files a reader can
 * open: storage type 'u' is a UUID in Z85 (20 characters, each group of 5
 * decoding to 4 bytes). delta-rs refuses any other 20 characters ("Failed to
 * decode DV uuid"); before the fix about 1 in 8 were such.
 */
import { expect } from 'chai';
import { TableGenerator } from '../../shared/delta/index.ts';

const z85 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';

/** Z85 decoding as the spec (ZeroMQ RFC 32) writes it; undefined when a group exceeds 32 bits. */
function decodeZ85(text: string): Buffer | undefined {
  if (text.length % 5 !== 0) return undefined;
  const out = Buffer.alloc((text.length / 5) * 4);
  for (let group = 0; group < text.length / 5; group++) {
    let value = 0;
    for (const char of text.slice(group * 5, group * 5 + 5)) {
      const digit = z85.indexOf(char);
      if (digit < 0) return undefined;
      value = value * 85 + digit;
    }
    if (value > 0xffffffff) return undefined;
    out.writeUInt32BE(value, group * 4);
  }
  return out;
}

describe('generator deletion vectors', function () {
  it('names every deletion-vector file with a UUID in Z85', function () {
    let checked = 0;
    for (const seed of [1, 7, 42, 83]) {
      const generator = new TableGenerator({ seed, partitions: 4 });
      for (let id = 0; id < 200; id++) {
        for (let generation = 1; generation <= 3; generation++) {
          const dv = generator.add(id, generation).deletionVector;
          expect(dv, `seed ${seed} id ${id} generation ${generation}`).to.not.equal(undefined);
          expect(dv?.storageType).to.equal('u');
          const path = dv?.pathOrInlineDv ?? '';
          expect(path).to.have.length(20);
          expect(decodeZ85(path)?.length, `seed ${seed} id ${id}: ${path} decodes to 16 bytes`).to.equal(16);
          checked++;
        }
      }
    }
    expect(checked).to.equal(4 * 200 * 3);
  });
});
