/**
 * The reader's budget for what it keeps in L2 (DELTAMETA_READER_L2_WRITE_BUDGET_BYTES).
 * Every distinct query string is a distinct cache key, so without a budget a
 * client that invents query strings fills Redis at the rate it can send
 * requests. The budget counts the bytes this process has written that may
 * still be in Redis: each write is charged to the time slot it was made in,
 * and a slot is forgotten once everything written in it has expired (the
 * entries' TTL plus the minute their pages outlive them). A write that does
 * not fit is skipped — the answer is still served, only not kept — so the
 * reader's L2 keys take at most the budget, whatever the requests.
 */

export interface L2WriteBudgetOptions {
  readonly budgetBytes: number;
  /** how long a written key can live (TTL + the pages' extra minute), in ms */
  readonly lifetimeMs: number;
  readonly now?: () => number;
}

/** jemalloc rounds an allocation up to its size class (less than 25% more) and each key carries Redis's own bookkeeping. */
const allocationFactor = 1.25;
const perKeyOverheadBytes = 128;

/** What Redis may take for a key holding `valueBytes`: an upper bound of MEMORY USAGE. */
export function chargedBytes(keyBytes: number, valueBytes: number): number {
  return Math.ceil((keyBytes + valueBytes) * allocationFactor) + perKeyOverheadBytes;
}

/** Slots per lifetime: the bound is exact to within one slot's expiry, and the bookkeeping stays this small. */
const slotsPerLifetime = 60;

export class L2WriteBudget {
  private readonly slots: Array<{ readonly startMs: number; bytes: number }> = [];
  private total = 0;
  private readonly slotMs: number;
  private readonly now: () => number;

  constructor(private readonly options: L2WriteBudgetOptions) {
    this.slotMs = Math.max(1000, Math.ceil(options.lifetimeMs / slotsPerLifetime));
    this.now = options.now ?? Date.now;
  }

  /** Bytes charged for writes that may still be in Redis. */
  get bytes(): number {
    this.forgetExpired(this.now());
    return this.total;
  }

  /** Charges `bytes` and returns true, or returns false (nothing charged) when they do not fit the budget. */
  tryCharge(bytes: number): boolean {
    const nowMs = this.now();
    this.forgetExpired(nowMs);
    if (this.total + bytes > this.options.budgetBytes) return false;
    const startMs = nowMs - (nowMs % this.slotMs);
    const current = this.slots.at(-1);
    if (current?.startMs === startMs) current.bytes += bytes;
    else this.slots.push({ startMs, bytes });
    this.total += bytes;
    return true;
  }

  private forgetExpired(nowMs: number): void {
    // A key written at the end of a slot lives until the slot's end plus its lifetime.
    while (this.slots.length > 0 && (this.slots[0]?.startMs ?? 0) + this.slotMs + this.options.lifetimeMs <= nowMs) {
      this.total -= this.slots.shift()?.bytes ?? 0;
    }
  }
}
