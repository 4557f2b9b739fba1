/**
 * One add action's value for one column of an AddActionsLayout, typed for
 * its Arrow buffer: number for numbers, timestamps (microseconds since the
 * epoch: exact as doubles until the year 2255) and dates (days), bigint for
 * decimals (the unscaled integer) and longs beyond 2^53 (a partition value
 * spelled exactly), boolean, string; null where the action has no
 * value or one that does not read as the column's type (delta-rs leaves
 * such stats null too). Partition values are strings in the log
 * (PROTOCOL.md "Partition Value Serialization"); stats are JSON values.
 */
import type { LayoutColumn, ValueKind } from './add-actions-layout.ts';

type Value = string | number | bigint | boolean | Uint8Array | null;

const timestampPattern = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/;

/** A timestamp string (partition or stats spelling) in microseconds since the epoch; a zone-less one is read as UTC. */
export function timestampMicros(text: string): number | null {
  const match = timestampPattern.exec(text.trim());
  if (!match) return null;
  const [, year, month, day, hour = '0', minute = '0', second = '0', fraction = '', zone] = match;
  const millis = Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second));
  if (Number.isNaN(millis)) return null;
  let micros = millis * 1000 + (fraction === '' ? 0 : Number((fraction + '00000').slice(0, 6)));
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    micros -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000_000;
  }
  return micros;
}

function dateDays(text: string): number | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
  if (!match) return null;
  const millis = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  return Number.isNaN(millis) ? null : Math.floor(millis / 86_400_000);
}

/** The unscaled integer of a decimal spelled in plain or exponent notation, rounded half up at `scale` digits. */
export function unscaledDecimal(text: string, scale: number): bigint | null {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text.trim());
  if (!match || (match[2] === '' && (match[3] ?? '') === '')) return null;
  const [, sign, whole = '', fractionDigits = '', exponent = '0'] = match;
  const digits = `${whole}${fractionDigits}`;
  // the value is digits × 10^(exponent − fraction length); unscaled = value × 10^scale
  const shift = Number(exponent) - fractionDigits.length + scale;
  let unscaled: bigint;
  if (shift >= 0) {
    unscaled = BigInt(digits || '0') * 10n ** BigInt(shift);
  } else {
    const kept = digits.slice(0, Math.max(0, digits.length + shift));
    const dropped = digits.slice(Math.max(0, digits.length + shift)).padStart(-shift, '0');
    unscaled = BigInt(kept || '0') + ((dropped[0] ?? '0') >= '5' ? 1n : 0n);
  }
  return sign === '-' ? -unscaled : unscaled;
}

/** A JSON value (or a partition value's string) as the column's kind. */
export function typedValue(kind: ValueKind, raw: unknown): Value {
  if (raw === null || raw === undefined) return null;
  if (typeof kind !== 'string') return typeof raw === 'number' || typeof raw === 'string' ? unscaledDecimal(String(raw), kind.scale) : null;
  switch (kind) {
    case 'string':
      return typeof raw === 'string' ? raw : null;
    case 'binary':
      return typeof raw === 'string' ? Buffer.from(raw, 'utf8') : null;
    case 'boolean':
      return typeof raw === 'boolean' ? raw : raw === 'true' ? true : raw === 'false' ? false : null;
    case 'long': {
      if (typeof raw === 'number') return Number.isInteger(raw) ? raw : null;
      if (typeof raw === 'string' && /^[+-]?\d+$/.test(raw.trim())) {
        const value = Number(raw);
        return Number.isSafeInteger(value) ? value : BigInt(raw.trim());
      }
      return null;
    }
    case 'integer': case 'short': case 'byte': {
      const value = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
      return Number.isInteger(value) ? value : null;
    }
    case 'float': case 'double': {
      const value = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
      return Number.isNaN(value) && raw !== 'NaN' ? null : value;
    }
    case 'date':
      return typeof raw === 'string' ? dateDays(raw) : null;
    case 'timestamp': case 'timestamp_ntz':
      return typeof raw === 'string' ? timestampMicros(raw) : null;
  }
}

function statsAt(stats: Record<string, unknown> | null, group: string, physical: readonly string[]): unknown {
  let node: unknown = stats?.[group];
  for (const part of physical) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

export function columnValue(column: LayoutColumn, add: Record<string, unknown>, stats: Record<string, unknown> | null): Value {
  const source = column.source;
  switch (source.from) {
    case 'path': return typeof add['path'] === 'string' ? add['path'] : '';
    case 'size': return typedValue('long', add['size']) ?? 0;
    case 'modificationTime': return typedValue('long', add['modificationTime']) ?? 0;
    case 'dataChange': return add['dataChange'] === true;
    case 'numRecords': return typedValue('long', stats?.['numRecords']);
    case 'stats': {
      const raw = statsAt(stats, source.group, source.physical);
      // A struct's leaf under a missing or non-object parent has no value; a nested object is no leaf value.
      return typeof raw === 'object' ? null : typedValue(column.kind, raw);
    }
    case 'partition': {
      const raw = (add['partitionValues'] as Record<string, unknown> | undefined)?.[source.physical];
      // An empty partition value is null (PROTOCOL.md), except for a string column, where delta-rs reads it as null too.
      return raw === '' ? null : typedValue(column.kind, raw);
    }
    case 'deletionVector': {
      const dv = add['deletionVector'] as Record<string, unknown> | undefined;
      return dv ? typedValue(column.kind, dv[source.field]) : null;
    }
  }
}
