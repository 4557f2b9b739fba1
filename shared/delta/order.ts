/**
 * Snapshot output is sorted by path in Unicode code point order, which is
 * the byte order of UTF-8 and so PostgreSQL's COLLATE "C" order. JavaScript's
 * default string order compares UTF-16 code units, which differs only when a
 * surrogate pair meets a character in U+E000..U+FFFF; that case is handled.
 */
export function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index++) {
    const x = a.charCodeAt(index);
    const y = b.charCodeAt(index);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Surrogates (D800..DFFF) encode code points above FFFF: they sort after E000..FFFF.
      const xHigh = x >= 0xd800 && x <= 0xdfff;
      const yHigh = y >= 0xd800 && y <= 0xdfff;
      if (xHigh !== yHigh) return xHigh ? 1 : -1;
    }
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}
