/**
 * Cutting a run of snapshot lines into file pages: pure, no I/O. Lines come
 * in path order; a page boundary is a path (its lower bound), so two lines
 * of one path (deletion vectors of one file) never straddle pages.
 */

/** A page cut from a run: its lower bound and its lines (each counted with its newline). */
export interface CutPage {
  readonly lower: string;
  readonly lines: readonly string[];
  readonly rawBytes: number;
}

interface OpenPage {
  readonly lower: string;
  readonly lines: string[];
  rawBytes: number;
  lastPath: string;
}

/**
 * Cuts a run's lines into pages of about targetBytes, never between two
 * lines of one path (a page boundary is a path), the first page keeping the
 * run's lower bound; a small tail joins the page before it. A page closes at
 * the first new path once it holds targetBytes, so it exceeds targetBytes
 * only by its last path's lines (and by a tail under targetBytes / 4).
 */
export class PageCutter {
  private current: OpenPage | undefined;
  private held: OpenPage | undefined;
  private readonly ready: OpenPage[] = [];

  constructor(private readonly lower: string, private readonly targetBytes: number) {}

  push(path: string, line: string): void {
    const bytes = Buffer.byteLength(line, 'utf8') + 1;
    if (this.current && this.current.rawBytes >= this.targetBytes && path !== this.current.lastPath) {
      if (this.held) this.ready.push(this.held);
      this.held = this.current;
      this.current = undefined;
    }
    this.current ??= { lower: this.held ? path : this.lower, lines: [], rawBytes: 0, lastPath: path };
    this.current.lines.push(line);
    this.current.rawBytes += bytes;
    this.current.lastPath = path;
  }

  /** pages complete so far */
  take(): CutPage[] {
    return this.ready.splice(0);
  }

  /** the rest; a run without lines keeps an empty page only for the '' bound (every version has one) */
  finish(): CutPage[] {
    const tail = this.current;
    if (this.held && tail && tail.rawBytes < this.targetBytes / 4) {
      this.held.lines.push(...tail.lines);
      this.held.rawBytes += tail.rawBytes;
      this.ready.push(this.held);
    } else {
      if (this.held) this.ready.push(this.held);
      if (tail) this.ready.push(tail);
    }
    if (!this.held && !tail && this.lower === '') this.ready.push({ lower: '', lines: [], rawBytes: 0, lastPath: '' });
    this.held = undefined;
    this.current = undefined;
    return this.take();
  }
}

/** All pages of one run at once (what a PageCutter yields, taking pages as they complete). */
export function cutPages(lower: string, targetBytes: number, lines: Iterable<{ readonly path: string; readonly line: string }>): CutPage[] {
  const cutter = new PageCutter(lower, targetBytes);
  const pages: CutPage[] = [];
  for (const { path, line } of lines) {
    cutter.push(path, line);
    pages.push(...cutter.take());
  }
  pages.push(...cutter.finish());
  return pages;
}
