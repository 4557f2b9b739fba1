/**
 * Which version a table request is about. The rules (versionSelectorOf,
 * pure): an explicit version or a timestamp travels in time (not both);
 * otherwise the head, checked in PostgreSQL with consistency=strong, at
 * least minVersion (query, else the Delta-Min-Version header) to read your
 * own writes, else the latest head this process knows. The resolution
 * (VersionResolver) checks the version exists: 404 unknown, 410 past
 * retention.
 */
import type { FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import type { Pool } from '../../shared/db/index.ts';
import { BadRequestError, NotFoundError } from '../../shared/errors/index.ts';
import { requireTable, resolveVersion } from '../../shared/log-store/index.ts';
import type { HeadTracker } from './head-tracker.ts';
import { choiceParam, integerParam, parseParams, timestampParam, type QueryParams } from './request-params.ts';
import type { TableRef } from './snapshot-scope.ts';

export interface ResolvedVersion {
  readonly table: TableRef;
  readonly version: number;
}

export type VersionSelector =
  | { readonly kind: 'version'; readonly version: number }
  | { readonly kind: 'timestamp'; readonly timestampMs: number }
  | { readonly kind: 'strong' }
  | { readonly kind: 'at-least'; readonly minVersion: number }
  | { readonly kind: 'latest' };

const anyVersion = Number.MAX_SAFE_INTEGER;

const versionQuerySchema = z.object({
  version: integerParam('version', 0, anyVersion).optional(),
  timestamp: timestampParam('timestamp').optional(),
  consistency: choiceParam('consistency', ['strong', 'latest']).optional(),
  minVersion: integerParam('minVersion', 0, anyVersion).optional(),
});

const minVersionHeaderSchema = integerParam('Delta-Min-Version', 0, anyVersion);

/**
 * The selector of a request's query and Delta-Min-Version header.
 * `explicitVersion` (a page token's version, the commits route's `to`)
 * stands for `version`, which is then not read. Throws BadRequestError.
 */
export function versionSelectorOf(query: QueryParams, minVersionHeader: string | undefined, explicitVersion?: number): VersionSelector {
  const params = parseParams(versionQuerySchema, explicitVersion === undefined ? query : { ...query, version: undefined });
  const version = explicitVersion ?? params.version;
  if (version !== undefined && params.timestamp !== undefined) throw new BadRequestError('give version or timestamp, not both');
  const minVersion = params.minVersion ?? (minVersionHeader === undefined ? undefined : parseParams(minVersionHeaderSchema, minVersionHeader));
  if (params.timestamp !== undefined) return { kind: 'timestamp', timestampMs: params.timestamp };
  if (version !== undefined) return { kind: 'version', version };
  if (params.consistency === 'strong') return { kind: 'strong' };
  if (minVersion !== undefined) return { kind: 'at-least', minVersion };
  return { kind: 'latest' };
}

/** Table rows (id, log start) change only on import; versions are checked against heads, which are fresh. */
const tableRowTtlMs = 5000;
/** Far more tables than a reader serves at once; a table pushed out is read again on its next request. */
const tableRowsMax = 10_000;

export class VersionResolver {
  private readonly tableRows = new LRUCache<string, TableRef>({ max: tableRowsMax, ttl: tableRowTtlMs });

  constructor(private readonly deps: { readonly pool: Pool; readonly heads: HeadTracker; readonly minVersionWaitMs: number }) {
    // A dropped table's row (its id) must not outlive the drop: a table created again under the name has another id.
    deps.heads.onDropped((table) => this.tableRows.delete(table));
  }

  /** The version a request is about (its query and Delta-Min-Version header), resolved. */
  async resolveRequest(request: FastifyRequest, name: string, query: QueryParams, explicitVersion?: number): Promise<ResolvedVersion> {
    const header = request.headers['delta-min-version'];
    return this.resolve(name, versionSelectorOf(query, typeof header === 'string' ? header : undefined, explicitVersion));
  }

  /** The version `selector` names for table `name`, checked (NotFoundError, VersionGoneError). */
  async resolve(name: string, selector: VersionSelector): Promise<ResolvedVersion> {
    const { pool, heads } = this.deps;
    if (selector.kind === 'timestamp') {
      const row = await requireTable(pool, name);
      return { table: await this.tableRow(name, false), version: await resolveVersion(pool, row, { timestampMs: selector.timestampMs }) };
    }
    if (selector.kind === 'version') {
      const table = await this.tableRow(name, false);
      // Known to exist (at or below a head seen) and retained: no round trip.
      if (selector.version >= table.logStartVersion && selector.version <= (await heads.latest(name))) return { table, version: selector.version };
      const row = await requireTable(pool, name);
      return { table: await this.tableRow(name, true), version: await resolveVersion(pool, row, { version: selector.version }) };
    }
    const table = await this.tableRow(name, false);
    let head: number;
    if (selector.kind === 'strong') {
      head = await heads.strong(name);
    } else if (selector.kind === 'at-least') {
      head = await heads.atLeast(name, selector.minVersion, this.deps.minVersionWaitMs);
      if (head < selector.minVersion) throw new NotFoundError(`${name}: version ${selector.minVersion} does not exist (latest is ${head})`);
    } else {
      head = await heads.latest(name);
    }
    if (head < 0) throw new NotFoundError(`${name}: the table has no committed version`);
    if (head < table.logStartVersion) return { table: await this.tableRow(name, true), version: head };
    return { table, version: head };
  }

  private async tableRow(name: string, fresh: boolean): Promise<TableRef> {
    const cached = fresh ? undefined : this.tableRows.get(name);
    if (cached) return cached;
    const row = await requireTable(this.deps.pool, name);
    const table: TableRef = { tableId: row.tableId, name: row.name, logStartVersion: row.logStartVersion, kind: row.kind, location: row.location, published: row.published };
    this.tableRows.set(name, table);
    this.deps.heads.observe(name, row.headVersion);
    return table;
  }
}
