/**
 * Page writing: new pages inserted with valid_from, replaced ones closed
 * with valid_to (sql/000005_file_pages.sql keeps both for time travel).
 * Each page is written twice over in one row: its gzip segment and its
 * Arrow record batch in the layout of the version (sql/000009_arrow_pages.sql).
 */
import { encodeAddLines, type AddActionsLayout } from '../arrow/index.ts';
import type { PoolClient } from '../db/index.ts';
import { closePagesSql, insertPagesSql } from './file-pages-sql.ts';
import type { CutPage } from './page-cutter.ts';
import { compressPage, type PageBody } from './page-format.ts';

interface CompressedPage {
  readonly page: CutPage;
  readonly body: PageBody;
  readonly arrow: Buffer | null;
}

/** Pages compressed at once, on libuv's pool. */
const compressAhead = 8;
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

  /** `layout`: the Arrow columns at `version`; undefined writes no Arrow batches (a table without metaData) */
  constructor(private readonly client: PoolClient, private readonly tableId: number, private readonly version: number, private readonly layout?: AddActionsLayout) {}

  async add(page: CutPage): Promise<void> {
    const raw = Buffer.from(page.lines.length === 0 ? '' : `${page.lines.join('\n')}\n`, 'utf8');
    const compressed = compressPage(raw);
    // Encoded here while zlib compresses on the pool (the batch is the page's lines parsed, ~80 rows).
    const arrow = this.layout ? encodeAddLines(this.layout, page.lines) : null;
    this.compressing.push(compressed.then((body) => ({ page, body, arrow })));
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
    await this.client.query(insertPagesSql, [
      this.tableId, this.version,
      batch.map((entry) => entry.page.lines.length),
      batch.map((entry) => entry.body.rawBytes),
      batch.map((entry) => entry.body.crc32 | 0),
      batch.map((entry) => entry.page.lower),
      batch.map((entry) => entry.body.body),
      this.layout?.fingerprint ?? null,
      batch.map((entry) => entry.arrow),
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
