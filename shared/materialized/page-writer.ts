/**
 * Page writing: new pages inserted with valid_from, replaced ones closed
 * with valid_to (sql/000005_file_pages.sql keeps both for time travel).
 * Each page is written twice over in one row: its gzip segment and its
 * Arrow record batch in the layout of the version (sql/000009_arrow_pages.sql).
 */
import { encodeAddLines, encodeAddLinesInWorker, type VersionLayout } from '../arrow/index.ts';
import type { PoolClient } from '../db/index.ts';
import { closePagesSql, insertPagesSql } from './file-pages-sql.ts';
import type { CutPage } from './page-cutter.ts';
import { compressPage, type PageBody } from './page-format.ts';

interface CompressedPage {
  readonly page: CutPage;
  readonly body: PageBody;
  readonly arrow: Buffer | null;
}

/** Pages compressed at once, on libuv's pool (and encoded at once on the Arrow worker). */
const compressAhead = 16;
/** A writer's first pages get their Arrow batches on this thread: a commit's pass never waits for the worker to start. */
const inlinePages = 16;
// 2 MB of bodies per INSERT: their hex text and the message stay small (8 MB batches: 470 MB peak RSS on a 1M-file build, 2 MB: 300 MB).
const insertBatchBytes = 2 * 1024 * 1024;

/** Compresses several pages at once and inserts them in batches of ~2 MB, in order, all valid from `version`. */
export class PageWriter {
  private readonly compressing: Promise<CompressedPage>[] = [];
  private batch: CompressedPage[] = [];
  private batchBytes = 0;
  written = 0;
  rawBytes = 0;
  bodyBytes = 0;

  private added = 0;

  /** `arrow`: the Arrow columns at `version`; undefined writes no Arrow batches (a table without metaData) */
  constructor(private readonly client: PoolClient, private readonly tableId: number, private readonly version: number, private readonly arrow?: VersionLayout) {}

  private get layout(): VersionLayout['layout'] | undefined {
    return this.arrow?.layout;
  }

  async add(page: CutPage): Promise<void> {
    const raw = Buffer.from(page.lines.length === 0 ? '' : `${page.lines.join('\n')}\n`, 'utf8');
    const compressed = compressPage(raw);
    // A commit's few pages are encoded here; a build's many on the worker, beside this thread's reads and inserts.
    const arrow = !this.arrow ? Promise.resolve(null)
      : this.added++ < inlinePages ? Promise.resolve(encodeAddLines(this.arrow.layout, page.lines, 'none'))
        : encodeAddLinesInWorker(this.arrow.metadata, page.lines);
    this.compressing.push(Promise.all([compressed, arrow]).then(([body, batch]) => ({ page, body, arrow: batch })));
    if (this.compressing.length >= compressAhead) await this.collect(this.compressing.shift() as Promise<CompressedPage>);
  }

  private async collect(pending: Promise<CompressedPage>): Promise<void> {
    const done = await pending;
    this.batch.push(done);
    this.batchBytes += done.body.body.length + (done.arrow?.length ?? 0);
    if (this.batchBytes >= insertBatchBytes) await this.insert();
  }

  private async insert(): Promise<void> {
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    // 1-based starts of each body in the concatenated parameters (insertPagesSql)
    const starts = (sizes: readonly number[]): number[] => {
      let next = 1;
      return sizes.map((size) => {
        const start = next;
        next += size;
        return start;
      });
    };
    const bodySizes = batch.map((entry) => entry.body.body.length);
    const arrowSizes = batch.map((entry) => entry.arrow?.length ?? 0);
    await this.client.query(insertPagesSql, [
      this.tableId, this.version,
      batch.map((entry) => entry.page.lines.length),
      batch.map((entry) => entry.body.rawBytes),
      batch.map((entry) => entry.body.crc32 | 0),
      batch.map((entry) => entry.page.lower),
      Buffer.concat(batch.map((entry) => entry.body.body)),
      this.layout?.fingerprint ?? null,
      Buffer.concat(batch.map((entry) => entry.arrow ?? Buffer.alloc(0))),
      starts(bodySizes), bodySizes,
      starts(arrowSizes), batch.map((entry) => (entry.arrow === null ? null : entry.arrow.length)),
      batch.map((entry) => uniformPartitionValues(entry.page.lines)),
    ]);
    for (const entry of batch) {
      this.written++;
      this.rawBytes += entry.body.rawBytes;
      this.bodyBytes += entry.body.body.length;
    }
  }

  async flush(): Promise<void> {
    while (this.compressing.length > 0) await this.collect(this.compressing.shift() as Promise<CompressedPage>);
    await this.insert();
  }
}

/**
 * The `"partitionValues":{…}` object of an add line as written by addLine
 * (shared/delta: the key follows "path", values are strings or null, so the
 * object holds no brace outside a string), or undefined if absent.
 */
export function partitionValuesText(line: string): string | undefined {
  const start = line.indexOf('"partitionValues":{');
  if (start < 0) return undefined;
  const open = start + '"partitionValues":'.length;
  let inString = false;
  for (let i = open + 1; i < line.length; i++) {
    const char = line.charCodeAt(i);
    if (inString) {
      if (char === 0x5c) i++; // a backslash escapes the next character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) {
      inString = true;
    } else if (char === 0x7d) {
      return line.slice(open, i + 1);
    }
  }
  return undefined;
}

/** The partition values every line of a page shares (JSON text), or null when they differ, one lacks them, or the page is empty. */
export function uniformPartitionValues(lines: readonly string[]): string | null {
  const first = lines[0] === undefined ? undefined : partitionValuesText(lines[0]);
  if (first === undefined) return null;
  for (let i = 1; i < lines.length; i++) if (partitionValuesText(lines[i] as string) !== first) return null;
  return first;
}

export interface ClosedPages {
  readonly pages: number;
  readonly rawBytes: number;
  readonly bodyBytes: number;
}

/** Ends the current pages at these lower bounds at `version` (valid_to); what they held comes off the totals. */
export async function closePages(client: PoolClient, tableId: number, version: number, lowerPaths: string[]): Promise<ClosedPages> {
  const { rows } = await client.query<{ pages: number; raw_bytes: string | null; body_bytes: string | null }>(
    closePagesSql, [tableId, version, lowerPaths],
  );
  return { pages: rows[0]?.pages ?? 0, rawBytes: Number(rows[0]?.raw_bytes ?? 0), bodyBytes: Number(rows[0]?.body_bytes ?? 0) };
}
