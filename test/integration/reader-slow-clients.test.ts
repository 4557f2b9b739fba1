/**
 * Slow readers of streamed whole lists (issue 10): several clients reading a
 * few bytes a second must neither pin the reader's answer pool nor hold
 * their stream's connection and snapshot for as long as they like. Cached
 * answers and fresh small answers keep flowing meanwhile, and each slow
 * client is cut off after the send-time bound. Bounds are generous: the
 * machine is shared and noisy.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { generateTable } from '../../shared/delta/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { importTable } from '../../shared/log-store/index.ts';
import { createRegistry, readerMetrics } from '../../shared/metrics/index.ts';
import { refreshFilePages, refreshTable } from '../../shared/materialized/index.ts';
import { loadReaderConfig } from '../../shared/config/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import { Reader } from '../../services/reader/index.ts';
import { eventually } from '../support/wait.ts';
import { describeWithEnv } from '../support/env.ts';
import { TempDirs } from '../support/tables.ts';

const table = 'slow_sales';
const logger = createLogger('reader-slow-test', 'silent');

// A client with a tiny receive window (SO_RCVBUF, which Node cannot set)
// reading 8 bytes every 250 ms; otherwise loopback's autotuned buffers take
// megabytes and the server never sees the client stall. Prints
// "closed <bytes> <status line>" when the server closes (or the bytes the
// kernel still held ran out), "open <bytes> <status line>" at its deadline.
const slowClientPython = `
import socket, sys, time
port, path, until = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", port))
s.sendall(("GET %s HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nAccept-Encoding: identity\\r\\n\\r\\n" % path).encode())
got, head, deadline = 0, b"", time.time() + until
s.settimeout(0.25)
while time.time() < deadline:
    try:
        chunk = s.recv(8)
    except socket.timeout:
        continue
    except OSError:
        print("closed", got, head.split(b"\\r\\n")[0].decode("latin1")); sys.exit(0)
    if not chunk:
        print("closed", got, head.split(b"\\r\\n")[0].decode("latin1")); sys.exit(0)
    got += len(chunk)
    if len(head) < 64: head += chunk
    time.sleep(0.25)
print("open", got, head.split(b"\\r\\n")[0].decode("latin1"))
`;

function slowRead(port: number, path: string, untilMs: number): Promise<{ closedByServer: boolean; bytes: number; statusLine: string }> {
  return new Promise((resolve, reject) => {
    execFile('python3', ['-c', slowClientPython, String(port), path, String(untilMs / 1000)], { timeout: untilMs + 10_000 }, (error, stdout) => {
      if (error) return reject(new Error(`the slow client failed: ${error.message}`));
      const [state = '', bytes = '0', ...status] = stdout.trim().split(' ');
      resolve({ closedByServer: state === 'closed', bytes: Number(bytes), statusLine: status.join(' ') });
    });
  });
}

describeWithEnv('reader: slow clients of streamed lists', (env) => {
  const dirs = new TempDirs();
  let pool: Pool;
  let reader: Reader | undefined;
  const redis = env.redis();

  before(async function () {
    this.timeout(180_000);
    pool = env.pool(4);
    const dir = dirs.make('slow');
    // Big enough (~10 MB as NDJSON) that a stalled client's kernel buffers cannot take it all.
    await generateTable(dir, { files: 20000, commits: 3, partitions: 4, checkpointInterval: 10, seed: 3 });
    await importTable(pool, dir, table, { history: true });
    await refreshTable(pool, table);
    await refreshFilePages(pool, table, { targetBytes: 16 * 1024 });
  });

  after(async function () {
    this.timeout(30_000);
    await reader?.stop();
    redis.disconnect();
    await pool.end();
    dirs.removeAll();
  });

  it('cuts slow stream readers off after the send bound while cached and small answers keep flowing', async function () {
    this.timeout(120_000);
    const sendTimeoutMs = 2000;
    reader = new Reader({
      config: loadReaderConfig({
        DELTAMETA_READER_PORT: '0',
        DELTAMETA_READER_STREAM_ABOVE_BYTES: '1',
        DELTAMETA_READER_STREAM_CONNECTIONS: '2',
        DELTAMETA_READER_STREAM_SEND_TIMEOUT_MS: String(sendTimeoutMs),
        DELTAMETA_READER_PG_POOL_MAX: '2',
      }),
      defaultPostgresUrl: env.readerUrl, redis, redisPrefix: env.keyPrefix, logger, metrics: readerMetrics(createRegistry('reader-slow-test')),
    });
    await reader.start();
    const base = `http://127.0.0.1:${reader.port}`;
    const cachedPath = `/v1/tables/${table}`;
    const warm = await fetch(`${base}${cachedPath}`);
    expect(warm.status, await warm.clone().text()).to.equal(200);

    const slowReaders = Array.from({ length: 4 }, () => slowRead(reader?.port ?? 0, `/v1/tables/${table}/files`, 30_000));
    // The slow readers now hold (or wait for) the stream connections.
    await delay(500);

    for (let round = 0; round < 5; round++) {
      const cached = await fetch(`${base}${cachedPath}`, { signal: AbortSignal.timeout(10_000) });
      expect(cached.status).to.equal(200);
      expect(cached.headers.get('cache-status')).to.equal('deltameta; hit; detail=l1');
      await cached.arrayBuffer();
      // A fresh answer needs a connection from the answer pool: the streams must not have taken it.
      const fresh = await fetch(`${base}/v1/tables/${table}/files?pageSize=5&partition.p=round${round}`, { signal: AbortSignal.timeout(10_000) });
      expect(fresh.status, `round ${round}`).to.equal(200);
      await fresh.arrayBuffer();
      await delay(200);
    }

    // Each slow client is still connected (it trickles what the kernel holds),
    // but the server has cut its stream off: no stream connection is in use,
    // no snapshot is open, while all four were served one after the other
    // through two stream connections.
    const streamPool = reader.streamPool;
    await eventually('the stream connections back in their pool', () => streamPool.totalCount === streamPool.idleCount, 6 * sendTimeoutMs + 15_000);
    await eventually('no reader snapshot open', async () => {
      const { rows } = await pool.query<{ count: number }>(
        `SELECT count(*)::int AS count FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'deltameta-reader%' AND state <> 'idle'`,
        [env.databaseName],
      );
      return rows[0]?.count === 0;
    }, 10_000);
    const outcomes = await Promise.all(slowReaders);
    for (const [index, outcome] of outcomes.entries()) {
      expect(outcome.statusLine, `slow reader ${index} was served`).to.equal('HTTP/1.1 200 OK');
    }
  });
});
