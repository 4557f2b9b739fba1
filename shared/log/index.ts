/**
 * Structured logs with fixed fields (service, table, version, lsn). One root
 * logger per process; modules take a child.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(service: string, level: string): Logger {
  return pino({ name: 'deltameta', level, base: { service } });
}
