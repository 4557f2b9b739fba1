/**
 * Waiting is on a condition, never on a clock: poll a probe until it yields
 * a value, the deadline passes, or what is waited on is gone. The one polling
 * loop behind the stack's readiness, a service process's /readyz, the demo's
 * "caught up" checks and the tests' `eventually`. Written by hand rather than
 * with p-wait-for: a probe that throws (a port not listening yet) must count
 * as "not yet", and its last error must reach the timeout's message.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { TimedOutError } from '../errors/index.ts';

export interface WaitOptions {
  timeoutMs: number;
  /** Pause between probes. Default 200 ms. */
  intervalMs?: number;
  /** Asked after each miss: false means what is waited on is gone (its process exited), so waiting stops at once. */
  whileAlive?: () => boolean;
}

/** A probe's answer: anything but `undefined` or `false` ends the wait and is returned. */
export type ProbeResult<T> = T | undefined | false;

/** Thrown by `waitUntil` when the deadline passed (`reason: 'timeout'`) or `whileAlive` said no (`reason: 'gone'`). */
export class WaitTimeoutError extends TimedOutError {
  readonly what: string;
  readonly reason: 'timeout' | 'gone';
  readonly timeoutMs: number;
  /** What the probe threw last, if it ever threw. */
  readonly lastError: unknown;
  constructor(what: string, reason: 'timeout' | 'gone', timeoutMs: number, lastError: unknown) {
    const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
    super(
      reason === 'gone' ? `${what}: the process exited before it became ready` : `${what}: not ready after ${timeoutMs} ms${detail}`,
      { cause: lastError },
    );
    this.what = what;
    this.reason = reason;
    this.timeoutMs = timeoutMs;
    this.lastError = lastError;
  }
}

export async function waitUntil<T>(
  what: string,
  probe: () => Promise<ProbeResult<T>> | ProbeResult<T>,
  options: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (options.whileAlive && !options.whileAlive()) throw new WaitTimeoutError(what, 'gone', options.timeoutMs, lastError);
    if (Date.now() >= deadline) throw new WaitTimeoutError(what, 'timeout', options.timeoutMs, lastError);
    await delay(options.intervalMs ?? 200);
  }
}
