/** PostgreSQL WAL positions ("16/B374D848") as comparable bigints. */
import { BadRequestError } from '../errors/index.ts';

export type Lsn = string;

export function lsnToBigInt(lsn: Lsn): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (!match?.[1] || !match[2]) throw new BadRequestError(`not an LSN: ${JSON.stringify(lsn)}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function bigIntToLsn(value: bigint): Lsn {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function compareLsn(a: Lsn, b: Lsn): number {
  const difference = lsnToBigInt(a) - lsnToBigInt(b);
  return difference < 0n ? -1 : difference > 0n ? 1 : 0;
}
