/**
 * Who may read what, per request. Decided on the route Fastify matched and
 * its decoded parameters, never on the URL's text: `/%761/tables/x`,
 * `http://host/v1/tables/x` and `/v1/tables/%73ales` all reach the same
 * handlers as their plain spellings, so a check that reads request.url can
 * be walked around. Deny by default: every matched route is authenticated
 * (401 without a valid token when access control is on), and a route with
 * a `:name` parameter is authorized for that table (403) before its handler
 * runs; only unmatched requests (404) pass without a token.
 */
import type { FastifyRequest } from 'fastify';
import type { AccessControl, TokenGrant } from './auth.ts';
import { isSharingRoute } from './sharing/index.ts';

/** The table a matched route is about: its decoded `:name` parameter. */
function tableParamOf(request: FastifyRequest): string | undefined {
  const params = request.params;
  if (typeof params !== 'object' || params === null || !('name' in params)) return undefined;
  return typeof params.name === 'string' ? params.name : undefined;
}

export class RequestAccess {
  private readonly grants = new WeakMap<FastifyRequest, TokenGrant>();

  constructor(private readonly access: AccessControl) {}

  /**
   * Authenticates the request and, on a route about one table, authorizes it
   * (throws UnauthorizedError / ForbiddenError). Run from the reader's one
   * onRequest hook (reader-app.ts), which runs after routing: the matched
   * route and its decoded parameters are known. With access control off
   * there is nothing to decide, and the hot path pays nothing for it.
   * Delta Sharing's routes (config `sharing: true`) authenticate their
   * recipients themselves (services/reader/sharing/auth.ts): skipped here.
   */
  admit(request: FastifyRequest): void {
    if (!this.access.enabled || request.is404 || isSharingRoute(request)) return;
    const grant = this.access.authenticate(request.headers.authorization);
    if (grant) this.grants.set(request, grant);
    const table = tableParamOf(request);
    if (table !== undefined) this.access.authorize(grant, table);
  }

  get enabled(): boolean {
    return this.access.enabled;
  }

  /** Whether the request's grant covers `table` (always, when access control is off; never, without a grant). */
  covers(request: FastifyRequest, table: string): boolean {
    return this.access.covers(this.grants.get(request), table);
  }

  /** The request's grant; undefined when access control is off or the request was not authenticated. */
  grantOf(request: FastifyRequest): TokenGrant | undefined {
    return this.grants.get(request);
  }

  /** Throws ForbiddenError unless the request's grant covers the table. */
  authorize(request: FastifyRequest, table: string): void {
    this.access.authorize(this.grants.get(request), table);
  }
}
