/**
 * What the HTTP services (the reader, the committer) share around their
 * Fastify server: telling "PostgreSQL could not serve this now" (a 503 with
 * Retry-After: the request was fine, the service is busy) from a failure,
 * and a stop that does not wait forever on idle keep-alive connections.
 */
import type { FastifyInstance } from 'fastify';

/** Seconds a client is told to wait (Retry-After) before repeating a request PostgreSQL could not serve now. */
export const retryAfterSeconds = 1;

/** pg-pool's and pg's messages when no connection could be had within connectionTimeoutMillis. */
const acquireTimeoutMessages = new Set(['timeout exceeded when trying to connect', 'Connection terminated due to connection timeout']);

/**
 * Why PostgreSQL could not serve this now, when that is what `error` (or an
 * error it wraps) says: a SQLSTATE of `sqlStates` (each with its reason), or
 * no pooled connection in time (`acquireReason`).
 */
export function postgresUnavailableReason(error: unknown, sqlStates: ReadonlyMap<string, string>, acquireReason: string): string | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    const code = 'code' in current && typeof current.code === 'string' ? current.code : undefined;
    const reason = code === undefined ? undefined : sqlStates.get(code);
    if (reason !== undefined) return reason;
    if (acquireTimeoutMessages.has(current.message)) return acquireReason;
  }
  return undefined;
}

/**
 * Stop taking requests, finish those in flight, then close connections. A
 * connection that holds no request (an aborted keep-alive) can keep
 * Fastify's close waiting: after `closeGraceMs` every connection is closed.
 */
export async function closeHttpServer(app: FastifyInstance, closeGraceMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const overran = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      app.server.closeAllConnections();
      resolve();
    }, closeGraceMs);
  });
  const closing = app.close();
  await Promise.race([closing, overran]);
  clearTimeout(timer);
  await closing;
}
