/**
 * A bound on the time a client takes to send a commit's body. Node's
 * server.requestTimeout (set by Fastify) was seen not to end a request whose
 * body trickles in (90 s past a 1 s limit, Node 20): a client could hold a
 * connection and its buffer as long as it liked. From its route's onRequest
 * until its handler starts (the body fully read), a request has
 * `timeoutMs`; past it the client gets a 408 and its connection is closed
 * (Fastify's onResponse still sees the 408: the metrics count it as refused).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from '../../shared/logging/index.ts';

export function installReceiveDeadline(app: FastifyInstance, options: { route: string; timeoutMs: number; logger: Logger }): void {
  const timers = new WeakMap<FastifyRequest, NodeJS.Timeout>();
  const clear = (request: FastifyRequest): void => {
    clearTimeout(timers.get(request));
    timers.delete(request);
  };
  app.addHook('onRequest', (request, reply, done) => {
    if (request.routeOptions.url === options.route) {
      const timer = setTimeout(() => {
        timers.delete(request);
        options.logger.warn({ url: request.url, timeoutMs: options.timeoutMs }, 'commit refused: its body was not received in time');
        const socket = request.raw.socket;
        if (reply.raw.headersSent) {
          socket.destroy();
          return;
        }
        const problem = {
          type: 'https://deltameta.dev/problems/request-timeout', title: 'Request Timeout', status: 408,
          detail: `the request was not received within ${options.timeoutMs} ms (DELTAMETA_COMMITTER_REQUEST_TIMEOUT_MS); nothing was committed`,
        };
        reply.raw.writeHead(408, { 'content-type': 'application/problem+json', connection: 'close' });
        reply.raw.end(JSON.stringify(problem), () => socket.destroy());
      }, options.timeoutMs);
      timer.unref();
      timers.set(request, timer);
    }
    done();
  });
  app.addHook('preHandler', (request, _reply, done) => {
    clear(request);
    done();
  });
  app.addHook('onResponse', (request, _reply, done) => {
    clear(request);
    done();
  });
  app.addHook('onRequestAbort', (request, done) => {
    clear(request);
    done();
  });
}
