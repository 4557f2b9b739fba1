/**
 * The sharing configuration, read whole from PostgreSQL (one query,
 * shared/sharing loadSharingConfig) and kept at most `reloadMs`
 * (DELTAMETA_READER_SHARING_RELOAD_MS): CLI changes — a new share, a revoked
 * recipient — are served within that, without a restart. Concurrent requests
 * that find it stale share one load; a failed load fails those requests
 * (503/500) and the next request tries again.
 */
import type { Pool } from '../../../shared/db/index.ts';
import { loadSharingConfig } from '../../../shared/sharing/index.ts';
import { SharingCatalog } from './catalog.ts';

export class SharingConfigCache {
  private current: { readonly catalog: SharingCatalog; readonly loadedAt: number } | undefined;
  private loading: Promise<SharingCatalog> | undefined;

  constructor(private readonly pool: Pool, private readonly reloadMs: number, private readonly now: () => number = Date.now) {}

  async catalog(): Promise<SharingCatalog> {
    const current = this.current;
    if (current && this.now() - current.loadedAt < this.reloadMs) return current.catalog;
    this.loading ??= this.load().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async load(): Promise<SharingCatalog> {
    // Aged from when the read began: what it returns is at least that old.
    const startedAt = this.now();
    const catalog = new SharingCatalog(await loadSharingConfig(this.pool));
    this.current = { catalog, loadedAt: startedAt };
    return catalog;
  }
}
