/**
 * Tells a table's follower when its `_delta_log` may have a new version:
 * - inotify (fs.watch on the folder, Linux's inotify): each commit file
 *   created or renamed into place is reported at once, with its version.
 *   Where the filesystem gives no events (NFS, FUSE mounts, some object
 *   store mounts) or the watch fails (no inotify watches left, the folder
 *   replaced), the poll below still finds every version: inotify only
 *   makes it sooner. A failed watch is armed again on a later poll.
 * - a poll every `pollMs`: one stat of the next commit file (cheap however
 *   long the log is). Always on: the fallback without inotify, the safety
 *   net with it (a lost or coalesced event costs at most one interval).
 *
 * A commit file is complete once it exists: Delta writers create it
 * atomically (put-if-absent, or a rename of a finished temporary file), so
 * its appearance is the signal; temporary files are ignored.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from '../../shared/logging/index.ts';

const commitFilePattern = /^(\d{20})\.json$/;

export interface WatcherOptions {
  readonly logDir: string;
  readonly inotify: boolean;
  readonly pollMs: number;
  readonly logger: Logger;
  /** A commit file appeared (inotify): its version. */
  readonly onCommitFile: (version: number) => void;
  /** The poll's turn: the follower checks for its next commit file. */
  readonly onPoll: () => void;
}

/** How long a failed watch waits before it is armed again (on a poll). */
const rearmAfterMs = 5000;

export class LogWatcher {
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private watchFailedAt = -Infinity;
  private warned = false;
  private closed = false;

  constructor(private readonly options: WatcherOptions) {}

  /** Whether an inotify watch is armed right now. */
  get watching(): boolean {
    return this.watcher !== undefined;
  }

  start(): void {
    this.arm();
    this.pollTimer = setInterval(() => {
      if (!this.watcher) this.arm();
      this.options.onPoll();
    }, this.options.pollMs);
    this.pollTimer.unref();
  }

  close(): void {
    this.closed = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    this.unwatch();
  }

  private arm(): void {
    if (!this.options.inotify || this.closed || this.watcher) return;
    if (Date.now() - this.watchFailedAt < rearmAfterMs) return;
    try {
      const watcher = watch(this.options.logDir, { persistent: false }, (_event, filename) => {
        const match = typeof filename === 'string' ? commitFilePattern.exec(filename) : null;
        if (match) this.options.onCommitFile(Number(match[1]));
      });
      watcher.on('error', (error) => this.failed(error));
      // The folder itself removed or renamed: its watch sees nothing more.
      watcher.on('close', () => {
        if (this.watcher === watcher) this.watcher = undefined;
      });
      this.watcher = watcher;
      if (this.warned) this.options.logger.info({ logDir: this.options.logDir }, 'inotify watch armed again');
      this.warned = false;
    } catch (error) {
      this.failed(error);
    }
  }

  private failed(error: unknown): void {
    this.unwatch();
    this.watchFailedAt = Date.now();
    if (!this.warned) {
      this.options.logger.warn(
        { logDir: this.options.logDir, err: error instanceof Error ? error.message : String(error), pollMs: this.options.pollMs },
        'inotify watch failed: polling only until it can be armed again',
      );
      this.warned = true;
    }
  }

  private unwatch(): void {
    const watcher = this.watcher;
    this.watcher = undefined;
    watcher?.close();
  }
}
