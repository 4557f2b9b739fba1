/**
 * The page cutter (pure): pages of about targetBytes, never cut between two
 * lines of one path, every line kept once and in order, the run's lower
 * bound on the first page and a path on every later one. Inputs are
 * generated (seeded) runs with paths of one to four lines of varied length,
 * multi-byte characters included; the expectations are computed here from
 * the input, not with the cutter.
 */
import { expect } from 'chai';
import { cutPages, PageCutter, type CutPage } from '../../shared/materialized/index.ts';

interface Line {
  readonly path: string;
  readonly line: string;
}

const lineBytes = (line: string): number => Buffer.byteLength(line, 'utf8') + 1;

/** Sorted, distinct paths; each with 1..4 lines (deletion vectors of one file); some lines multi-byte. */
function generateRun(seed: number, paths: number, prefix = 'p'): Line[] {
  let state = seed;
  const random = (n: number): number => ((state = (state * 1103515245 + 12345) % 2 ** 31) % n);
  const lines: Line[] = [];
  for (let i = 0; i < paths; i++) {
    const path = `${prefix}/${String(i).padStart(6, '0')}.parquet`;
    const copies = 1 + (random(5) === 0 ? random(4) : 0);
    for (let copy = 0; copy < copies; copy++) {
      const filler = random(7) === 0 ? 'é€'.repeat(random(400)) : 'x'.repeat(random(900));
      lines.push({ path, line: `{"path":"${path}","dv":${copy},"f":"${filler}"}` });
    }
  }
  return lines;
}

/** The invariants of one cut, checked against the input lines. */
function expectWellCut(pages: readonly CutPage[], input: readonly Line[], lower: string, targetBytes: number): void {
  // Every line once, in order.
  expect(pages.flatMap((page) => page.lines)).to.deep.equal(input.map((entry) => entry.line));
  if (input.length === 0) return;
  const pathOf = new Map(input.map((entry) => [entry.line, entry.path]));
  const bytesOfPath = new Map<string, number>();
  for (const entry of input) bytesOfPath.set(entry.path, (bytesOfPath.get(entry.path) ?? 0) + lineBytes(entry.line));
  const largestPath = Math.max(...bytesOfPath.values());
  const seenPaths = new Set<string>();
  pages.forEach((page, index) => {
    expect(page.lines.length, `page ${index} is empty`).to.be.greaterThan(0);
    const paths = page.lines.map((line) => pathOf.get(line) as string);
    // Lower bounds: the run's on the first page, the page's first path on the others.
    expect(page.lower, `lower bound of page ${index}`).to.equal(index === 0 ? lower : paths[0]);
    // Never between two lines of one path: no path on two pages.
    for (const path of new Set(paths)) {
      expect(seenPaths.has(path), `${path} is on two pages`).to.equal(false);
      seenPaths.add(path);
    }
    const bytes = page.lines.reduce((sum, line) => sum + lineBytes(line), 0);
    expect(page.rawBytes, `rawBytes of page ${index}`).to.equal(bytes);
    const last = index === pages.length - 1;
    // A page closes at the first new path once it holds targetBytes: before
    // its last path it holds less. The last page may also hold a small tail.
    const lastPath = paths[paths.length - 1] as string;
    const beforeLastPath = bytes - (bytesOfPath.get(lastPath) as number);
    if (!last) {
      expect(beforeLastPath, `page ${index}: ${bytes} bytes before its last path`).to.be.lessThan(targetBytes);
      // No dwindling pages: all but the last hold at least targetBytes.
      expect(bytes, `page ${index} is small`).to.be.at.least(targetBytes);
    } else {
      expect(bytes, `last page: ${bytes} bytes`).to.be.lessThan(targetBytes + largestPath + targetBytes / 4);
    }
  });
}

describe('file pages: page cutter', () => {
  for (const targetBytes of [1024, 4096, 32 * 1024]) {
    for (const seed of [1, 2, 3]) {
      it(`cuts a run at ${targetBytes} bytes (seed ${seed}) on path boundaries, keeping every line in order`, () => {
        const input = generateRun(seed * 7919 + targetBytes, 400);
        const pages = cutPages('', targetBytes, input);
        expect(pages.length).to.be.greaterThan(2);
        expectWellCut(pages, input, '', targetBytes);
      });
    }
  }

  it('keeps many lines of one path on one page, however far they pass the size', () => {
    const input: Line[] = [
      { path: 'a', line: 'a'.repeat(600) },
      ...Array.from({ length: 10 }, (_, i) => ({ path: 'b', line: `b${i}`.repeat(100) })),
      { path: 'c', line: 'c'.repeat(600) },
      { path: 'd', line: 'd'.repeat(600) },
    ];
    const pages = cutPages('', 1000, input);
    expectWellCut(pages, input, '', 1000);
    const withB = pages.filter((page) => page.lines.some((line) => line.startsWith('b')));
    expect(withB).to.have.length(1);
    expect(withB[0]?.lines.filter((line) => line.startsWith('b'))).to.have.length(10);
  });

  it('joins a small tail to the page before it, and keeps a big one as a page of its own', () => {
    const big = (path: string): Line => ({ path, line: path.repeat(1100) });
    // 1101-byte pages; a 100-byte tail (< 1000 / 4) joins, a 400-byte one does not.
    const small = cutPages('', 1000, [big('a'), big('b'), { path: 'c', line: 'c'.repeat(99) }]);
    expect(small.map((page) => page.lines.length)).to.deep.equal([1, 2]);
    expect(small.map((page) => page.lower)).to.deep.equal(['', 'b']);
    const large = cutPages('', 1000, [big('a'), big('b'), { path: 'c', line: 'c'.repeat(399) }]);
    expect(large.map((page) => page.lower)).to.deep.equal(['', 'b', 'c']);
  });

  it('keeps the run lower bound on the first page of a run that starts after it', () => {
    const input = generateRun(11, 200, 'q');
    const pages = cutPages('m', 2048, input);
    expectWellCut(pages, input, 'm', 2048);
    expect(pages[0]?.lower).to.equal('m');
  });

  it('answers an empty run with one empty page only for the table\'s first bound', () => {
    expect(cutPages('', 1024, []).map(({ lower, lines, rawBytes }) => ({ lower, lines, rawBytes }))).to.deep.equal([{ lower: '', lines: [], rawBytes: 0 }]);
    expect(cutPages('m', 1024, [])).to.deep.equal([]);
  });

  it('hands out complete pages while lines still come, the same pages as at once', () => {
    const input = generateRun(5, 300);
    const cutter = new PageCutter('', 4096);
    const streamed: CutPage[] = [];
    let handedOutEarly = 0;
    for (const { path, line } of input) {
      cutter.push(path, line);
      const ready = cutter.take();
      handedOutEarly += ready.length;
      streamed.push(...ready);
    }
    streamed.push(...cutter.finish());
    expect(handedOutEarly).to.be.greaterThan(0);
    expect(streamed.map((page) => ({ lower: page.lower, lines: page.lines }))).to.deep.equal(
      cutPages('', 4096, input).map((page) => ({ lower: page.lower, lines: page.lines })),
    );
    expectWellCut(streamed, input, '', 4096);
  });
});
