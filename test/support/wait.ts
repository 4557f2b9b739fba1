/** Waiting in tests is on a condition, never on a clock: poll until it holds or fail saying what never happened. */
import { waitUntil, WaitTimeoutError, type ProbeResult } from '../../shared/service/index.ts';

export async function eventually<T>(what: string, probe: () => Promise<ProbeResult<T>> | ProbeResult<T>, timeoutMs = 15_000): Promise<T> {
  try {
    return await waitUntil(what, probe, { timeoutMs, intervalMs: 20 });
  } catch (error) {
    if (!(error instanceof WaitTimeoutError)) throw error;
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: error });
  }
}
