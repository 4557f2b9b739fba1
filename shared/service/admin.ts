/**
 * The admin port every service has (docs/design.md: cdc 9401, invalidator 9402,
 * refresher 9403, reader 9404): /metrics for Prometheus, /healthz (the
 * process is alive), /readyz (it does its job: connected, caught up enough).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

export type ReadinessCheck = () => Promise<{ ready: boolean; detail: Record<string, unknown> }>;

export interface AdminServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startAdminServer(options: { port: number; host?: string; registry: Registry; readiness: ReadinessCheck }): Promise<AdminServer> {
  const app: FastifyInstance = Fastify({ logger: false });
  app.get('/metrics', async (_request, reply) => {
    const body = await options.registry.metrics();
    return reply.header('content-type', options.registry.contentType).send(body);
  });
  app.get('/healthz', (_request, reply) => reply.send({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    try {
      const { ready, detail } = await options.readiness();
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', ...detail });
    } catch (error) {
      return reply.code(503).send({ status: 'not ready', error: error instanceof Error ? error.message : String(error) });
    }
  });
  await app.listen({ port: options.port, host: options.host ?? '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return { port, close: () => app.close() };
}
