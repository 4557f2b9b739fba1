/**
 * Who may read what, per request. The bearer token is checked on arrival
 * (onRequest: before routing and parsing, so a request without a valid
 * token costs nothing more), its grant kept for the request, and each
 * table route asks whether the grant covers its table (403 if not).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AccessControl, TokenGrant } from './auth.ts';

export class RequestAccess {
  private readonly grants = new WeakMap<FastifyRequest, TokenGrant | undefined>();

  constructor(private readonly access: AccessControl) {}

  /** Authenticates every /v1 request (401 without a valid token when access control is on). */
  register(app: FastifyInstance): void {
    app.addHook('onRequest', (request, _reply, done) => {
      try {
        if (request.url.startsWith('/v1/')) this.grants.set(request, this.access.authenticate(request.headers.authorization));
        done();
      } catch (error) {
        done(error as Error);
      }
    });
  }

  get enabled(): boolean {
    return this.access.enabled;
  }

  /** The request's grant; undefined when access control is off. */
  grantOf(request: FastifyRequest): TokenGrant | undefined {
    return this.grants.get(request);
  }

  /** Throws ForbiddenError unless the request's grant covers the table. */
  authorize(request: FastifyRequest, table: string): void {
    this.access.authorize(this.grants.get(request), table);
  }
}
