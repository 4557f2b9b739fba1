/**
 * Expired application transactions (PROTOCOL.md "Transaction Identifiers",
 * table property `delta.setTransactionRetentionDuration`): a txn whose
 * `lastUpdated` is older than the retention before the snapshot's time is
 * no longer part of the snapshot (a txn without `lastUpdated` never
 * expires). Spark measures from its clock at load time; deltameta from the
 * snapshot version's commit time, so a version's snapshot is the same
 * whenever it is read (and may be cached).
 */
import { LogFormatError } from '../errors/index.ts';
import type { TxnAction } from './actions.ts';

export const transactionRetentionKey = 'delta.setTransactionRetentionDuration';

const unitMs: Readonly<Record<string, number>> = {
  millisecond: 1, second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000, week: 604_800_000,
};

/**
 * The retention in milliseconds, or undefined when the table keeps every txn.
 * Spark's interval syntax: `interval 7 days`, `1 week 2 days`, units from
 * millisecond to week, singular or plural. Anything else names the property.
 */
export function transactionRetentionMs(configuration: Readonly<Record<string, string>> | undefined): number | undefined {
  const value = configuration?.[transactionRetentionKey];
  if (value === undefined) return undefined;
  const words = value.trim().toLowerCase().replace(/^interval\s+/, '').split(/\s+/);
  let total = 0;
  for (let index = 0; index < words.length; index += 2) {
    const amount = Number(words[index]);
    const unit = words[index + 1]?.replace(/s$/, '');
    const ms = unit === undefined ? undefined : unitMs[unit];
    if (!Number.isSafeInteger(amount) || amount < 0 || ms === undefined) {
      throw new LogFormatError('metaData', undefined, `configuration ${transactionRetentionKey} is ${JSON.stringify(value)}; expected an interval such as "interval 7 days"`);
    }
    total += amount * ms;
  }
  return words.length === 0 ? undefined : total;
}

/** The txns still in the snapshot at `snapshotTimestampMs` under the table's retention. */
export function unexpiredTransactions(
  txns: readonly TxnAction[], configuration: Readonly<Record<string, string>> | undefined, snapshotTimestampMs: number,
): TxnAction[] {
  const retentionMs = transactionRetentionMs(configuration);
  if (retentionMs === undefined) return [...txns];
  const oldest = snapshotTimestampMs - retentionMs;
  return txns.filter((txn) => typeof txn.lastUpdated !== 'number' || txn.lastUpdated >= oldest);
}
