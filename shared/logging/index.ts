/**
 * Structured logs with fixed fields (service, table, version, lsn). One root
 * logger per process; modules take a child. kafkajs logs go through it too.
 */
import { logLevel, type logCreator } from 'kafkajs';
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(service: string, level: string): Logger {
  return pino({ name: 'deltameta', level, base: { service } });
}

/**
 * kafkajs' logs as pino entries. kafkajs logs every retry and every lost
 * race to create a topic as an error; the services log what they give up
 * on, so kafkajs errors are warnings here. Its warning that a bounded retry
 * count "may invalidate EoS guarantees" is expected (we bound retries and
 * retry whole batches ourselves) and goes to debug.
 */
export function kafkaLogCreator(logger: Logger): logCreator {
  return () => ({ namespace, level, log }) => {
    const { message, timestamp: _timestamp, logger: _logger, ...fields } = log;
    const entry = { kafka: namespace, ...fields };
    if ((level === logLevel.ERROR || level === logLevel.WARN) && !message.startsWith('Limiting retries')) logger.warn(entry, message);
    else logger.debug(entry, message);
  };
}
