/**
 * The type changes Type Widening allows (PROTOCOL.md "Type Widening"). A
 * reader must fail on a recorded change it does not support: deltameta
 * passes values through untouched, so it supports exactly the spec's list
 * and refuses a schema that records anything else.
 */
const integerRank: Readonly<Record<string, number>> = { byte: 1, short: 2, integer: 3, long: 4 };

function decimal(type: string): { precision: number; scale: number } | undefined {
  const match = /^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$/.exec(type);
  return match ? { precision: Number(match[1]), scale: Number(match[2]) } : undefined;
}

/** Decimal(p, s) → Decimal(p + k1, s + k2) with k1 ≥ k2 ≥ 0, from a base precision and scale. */
function widensDecimal(from: { precision: number; scale: number }, to: { precision: number; scale: number }): boolean {
  const k1 = to.precision - from.precision;
  const k2 = to.scale - from.scale;
  return k1 >= k2 && k2 >= 0;
}

export function isSupportedTypeChange(fromType: unknown, toType: unknown): boolean {
  if (typeof fromType !== 'string' || typeof toType !== 'string') return false;
  const fromRank = integerRank[fromType];
  const toRank = integerRank[toType];
  if (fromRank !== undefined && toRank !== undefined) return fromRank < toRank;
  if (fromType === 'float' && toType === 'double') return true;
  if (fromRank !== undefined && fromRank <= 3 && toType === 'double') return true;
  if (fromType === 'date' && toType === 'timestamp_ntz') return true;
  const to = decimal(toType);
  if (!to) return false;
  const from = decimal(fromType);
  if (from) return widensDecimal(from, to);
  // Byte, Short, Int → Decimal(10 + k1, k2); Long → Decimal(20 + k1, k2)
  if (fromRank !== undefined) return widensDecimal({ precision: fromRank <= 3 ? 10 : 20, scale: 0 }, to);
  return false;
}
