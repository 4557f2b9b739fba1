/**
 * The file-page byte format: CRC-32 combination against zlib's CRC of the
 * concatenation, and sync-flushed segments framed as one gzip member that
 * zlib, gzip(1) and Python decode (each checks the CRC and length).
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { crc32, gunzipSync } from 'node:zlib';
import { GzipAssembler, compressPage, crc32Combine, gzipHeader, inflatePage } from '../../shared/materialized/index.ts';

function pagesOf(parts: readonly Buffer[]): Promise<Array<Awaited<ReturnType<typeof compressPage>>>> {
  return Promise.all(parts.map((part) => compressPage(part)));
}

async function gzipOf(parts: readonly Buffer[]): Promise<Buffer> {
  const assembler = new GzipAssembler();
  const bodies: Buffer[] = [gzipHeader];
  for (const page of await pagesOf(parts)) {
    assembler.add(page);
    bodies.push(page.body);
  }
  return Buffer.concat([...bodies, assembler.trailer()]);
}

describe('file pages: byte format', () => {
  it('combines CRC-32s like the CRC of the concatenation, for lengths from 0 to 1 MiB', () => {
    let seed = 7;
    const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    for (const length of [0, 1, 2, 3, 7, 64, 1000, 65_536, 100_003, 1 << 20]) {
      const a = randomBytes(random(5000));
      const b = randomBytes(length);
      expect(crc32Combine(crc32(a), crc32(b), b.length), `length ${length}`).to.equal(crc32(Buffer.concat([a, b])));
    }
    expect(crc32Combine(0, crc32('abc'), 3)).to.equal(crc32('abc'));
  });

  it('frames pages (empty ones too) as one gzip member that zlib, gzip and Python read, CRC checked', async () => {
    const lines = Array.from({ length: 3000 }, (_, i) => `{"add":{"path":"part=${i % 7}/file-${i}.parquet","size":${i * 31}}}\n`);
    const parts = [Buffer.from(lines.slice(0, 1000).join('')), Buffer.alloc(0), Buffer.from(lines.slice(1000, 1001).join('')), Buffer.from(lines.slice(1001).join(''))];
    const whole = Buffer.concat(parts);
    const gz = await gzipOf(parts);
    expect(gunzipSync(gz).equals(whole)).to.equal(true);
    expect(execFileSync('gzip', ['-dc'], { input: gz }).equals(whole)).to.equal(true);
    expect(execFileSync('python3', ['-c', 'import gzip,sys; sys.stdout.buffer.write(gzip.decompress(sys.stdin.buffer.read()))'], { input: gz }).equals(whole)).to.equal(true);
    for (const [i, page] of (await pagesOf(parts)).entries()) expect(inflatePage(page.body).equals(parts[i] as Buffer)).to.equal(true);
  });

  it('is caught by the trailer when a page is lost or its CRC is wrong', async () => {
    const parts = [Buffer.from('a\n'.repeat(500)), Buffer.from('b\n'.repeat(500))];
    const [first, second] = await pagesOf(parts);
    if (!first || !second) throw new Error('two pages expected');
    const assembler = new GzipAssembler();
    assembler.add(first);
    assembler.add(second);
    const missing = Buffer.concat([gzipHeader, first.body, assembler.trailer()]);
    expect(() => gunzipSync(missing)).to.throw();
    const wrong = new GzipAssembler();
    wrong.add(first);
    wrong.add({ ...second, crc32: second.crc32 ^ 1 });
    expect(() => gunzipSync(Buffer.concat([gzipHeader, first.body, second.body, wrong.trailer()]))).to.throw();
  });
});
