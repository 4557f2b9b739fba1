/** Readiness by health check: poll a probe until it passes or the deadline says no. */
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number; whileAlive?: () => boolean },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = error;
    }
    if (options.whileAlive && !options.whileAlive()) {
      throw new Error(`${what}: the process exited before it became ready`, { cause: lastError });
    }
    if (Date.now() >= deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`${what}: not ready after ${options.timeoutMs} ms${reason}`, { cause: lastError });
    }
    await delay(options.intervalMs ?? 200);
  }
}

/** Whether something accepts TCP connections on host:port. */
export function tcpAnswers(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
