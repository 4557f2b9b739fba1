/** What the /v1 route plugins are given (reader-app.ts builds it once per app). */
import type { ReaderConfig } from '../../shared/config/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import type { ReaderMetrics } from '../../shared/metrics/index.ts';
import type { RequestAccess } from './access-hooks.ts';
import type { TableEtags } from './conditional-request.ts';
import type { PageTokens } from './page-token.ts';
import type { ResponseCache } from './response-cache.ts';
import type { TableResponder } from './table-responder.ts';
import type { VersionResolver } from './version-resolution.ts';
import type { ShadowVerifier } from './shadow.ts';

export interface RouteContext {
  readonly pool: Pool;
  /** the streams' own pool (Reader.streamPool), for whole lists streamed by a route itself (Arrow) */
  readonly streamPool: Pool;
  /** the Redis key prefix (the summaries' plain-JSON L2 keys are the refresher's) */
  readonly redisPrefix: string;
  readonly metrics: ReaderMetrics;
  readonly config: ReaderConfig;
  readonly cache: ResponseCache;
  readonly etags: TableEtags;
  readonly access: RequestAccess;
  /** signs and opens the next-page tokens of every paged route */
  readonly pageTokens: PageTokens;
  readonly versions: VersionResolver;
  readonly responder: TableResponder;
  /** samples answers of followed and published tables for a check against their files (shadow.ts) */
  readonly shadow: ShadowVerifier;
}
