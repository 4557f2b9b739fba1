/**
 * Reloads a tokens file while a service runs (the reader's read tokens, the
 * committer's write tokens), so a revoked token stops working (and a new
 * one starts) without a restart: on SIGHUP, on a change
 * fs.watch reports, and on a stat change seen by a periodic check (fs.watch
 * misses edits on some filesystems — network mounts, a ConfigMap's symlink
 * swap — and stops following a file replaced by rename). A file that does
 * not read or validate keeps the tokens in force and logs an error.
 */
import { statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from '../logging/index.ts';

/** What holds the tokens: reads its file again, throwing (and keeping the tokens in force) when it does not read or validate. */
export interface ReloadableTokens {
  reload(): void;
}

/** Editors and `mv` land several events for one save: reload once they settle. */
const settleMs = 50;

function statKey(file: string): string {
  try {
    const stat = statSync(file);
    return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

export class TokenReloader {
  private watcher: FSWatcher | undefined;
  private interval: NodeJS.Timeout | undefined;
  private pending: NodeJS.Timeout | undefined;
  private lastStat: string;
  private readonly onSignal = (): void => this.reload('SIGHUP');

  constructor(private readonly access: ReloadableTokens, private readonly file: string, private readonly deps: { logger: Logger; checkIntervalMs: number; label: string }) {
    this.lastStat = statKey(file);
  }

  start(): void {
    try {
      // The directory, not the file: a file replaced by rename keeps being followed.
      this.watcher = watch(dirname(this.file), (_event, changed) => {
        if (changed === null || changed === basename(this.file)) this.schedule();
      });
      this.watcher.on('error', (error) => this.deps.logger.warn({ err: error }, `watching the ${this.deps.label} file failed; the periodic check remains`));
    } catch (error) {
      this.deps.logger.warn({ err: error }, `cannot watch the ${this.deps.label} file; the periodic check remains`);
    }
    this.interval = setInterval(() => {
      if (statKey(this.file) !== this.lastStat) this.reload('stat');
    }, this.deps.checkIntervalMs);
    this.interval.unref();
    process.on('SIGHUP', this.onSignal);
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
    clearInterval(this.interval);
    clearTimeout(this.pending);
    process.off('SIGHUP', this.onSignal);
  }

  private schedule(): void {
    clearTimeout(this.pending);
    this.pending = setTimeout(() => this.reload('watch'), settleMs);
    this.pending.unref();
  }

  private reload(cause: string): void {
    this.lastStat = statKey(this.file);
    try {
      this.access.reload();
      this.deps.logger.info({ file: this.file, cause }, `${this.deps.label} reloaded`);
    } catch (error) {
      this.deps.logger.error({ err: error, file: this.file, cause }, `${this.deps.label} file rejected; the tokens in force stay`);
    }
  }
}
