/**
 * A service process: start its pieces, then on SIGTERM or SIGINT stop them
 * in order (stop taking work, finish or hand back what is in flight, close
 * connections), and exit. A second signal, or a stop that overruns its
 * grace time, exits at once: what was in flight is redelivered (Kafka
 * offsets and the replication slot only ever move after work is done).
 */
import type { Logger } from '../logging/index.ts';

export interface RunningService {
  /** Stops everything; must be safe to call once. */
  stop(): Promise<void>;
}

export function runUntilSignal(
  logger: Logger,
  service: RunningService,
  options: { shutdownGraceMs?: number; exitWhenStopped?: boolean } = {},
): Promise<void> {
  const graceMs = options.shutdownGraceMs ?? 30_000;
  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'shutting down');
      const timer = setTimeout(() => {
        logger.error({ graceMs }, 'shutdown overran its grace time: exiting');
        process.exit(1);
      }, graceMs);
      timer.unref();
      service.stop().then(
        () => {
          clearTimeout(timer);
          logger.info('stopped');
          resolve();
        },
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exitCode = 1;
          resolve();
        },
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  if (options.exitWhenStopped === false) return stopped;
  // Once everything is flushed and closed, exit: a client library's reconnect
  // timer (kafkajs, ioredis after a broker or Redis restart) must not keep a
  // stopped service alive.
  return stopped.then(() => {
    setImmediate(() => process.exit());
  });
}

/** Retries `attempt` with exponential backoff and jitter until it succeeds or `isStopped` says to give up. */
export async function withBackoff<T>(
  what: string,
  attempt: () => Promise<T>,
  options: { maxBackoffMs: number; logger: Logger; isStopped: () => boolean },
): Promise<T | undefined> {
  let delayMs = 100;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (options.isStopped()) return undefined;
      options.logger.warn({ err: error, retryInMs: delayMs }, `${what} failed; retrying`);
      await new Promise((resolve) => setTimeout(resolve, delayMs * (0.5 + Math.random() / 2)));
      delayMs = Math.min(delayMs * 2, options.maxBackoffMs);
    }
  }
}
