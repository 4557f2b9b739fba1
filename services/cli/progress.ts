/**
 * The one progress bar of the long commands (gen, import, export, verify):
 * cli-progress on stderr when stderr is a terminal, silent otherwise, so
 * piped or captured output never carries bar frames.
 */
import { clearLine, cursorTo } from 'node:readline';
import { SingleBar } from 'cli-progress';

export interface Progress {
  update(done: number, total: number): void;
  /** Prints a result line on stdout without it landing in the middle of the bar. */
  log(line: string): void;
}

function progressBar(label: string): Progress & { stop(): void } {
  const silent = !process.stderr.isTTY;
  const bar = silent ? undefined : new SingleBar({ format: `${label} [{bar}] {percentage}% | {value}/{total} | {eta_formatted} left`, stream: process.stderr, hideCursor: true });
  let started = false;
  return {
    update(done, total) {
      if (!bar) return;
      if (!started) {
        bar.start(total, done);
        started = true;
      }
      bar.setTotal(total);
      bar.update(done);
    },
    log(line) {
      // Both on one terminal: wipe the bar's line first; the bar redraws itself on its next tick.
      if (started && process.stdout.isTTY) {
        clearLine(process.stderr, 0);
        cursorTo(process.stderr, 0);
      }
      process.stdout.write(`${line}\n`);
    },
    stop() {
      if (bar && started) bar.stop();
      started = false;
    },
  };
}

/** Runs `work` with a progress bar that is gone (stopped, cursor back) before this returns or throws. */
export async function withProgress<T>(label: string, work: (progress: Progress) => Promise<T>): Promise<T> {
  const bar = progressBar(label);
  try {
    return await work(bar);
  } finally {
    bar.stop();
  }
}
