/**
 * A reader stops even when a client holds a connection open without a
 * complete request (slowloris, or a keep-alive connection whose client
 * aborted): Fastify's close alone waited for such a connection forever.
 */
import { expect } from 'chai';
import net from 'node:net';
import { loadReaderConfig } from '../../shared/config/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createRegistry, readerMetrics } from '../../shared/metrics/index.ts';
import { Reader } from '../../services/reader/index.ts';
import { describeWithEnv } from '../support/env.ts';

describeWithEnv('reader: shutdown with a stalled client', (env) => {
  it('stops within its close grace while a client sends half a request', async function () {
    this.timeout(30_000);
    const redis = env.redis();
    const reader = new Reader({
      config: loadReaderConfig({ DELTAMETA_READER_PORT: '0' }),
      defaultPostgresUrl: env.readerUrl, redis, redisPrefix: env.keyPrefix,
      logger: createLogger('reader-shutdown-test', 'silent'), metrics: readerMetrics(createRegistry('reader-shutdown-test')),
    });
    await reader.start();
    const socket = net.connect({ port: reader.port, host: '127.0.0.1' });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    // Headers never finished: the request is never dispatched, the connection is never idle.
    socket.write('GET /v1/tables HTTP/1.1\r\nHost: reader.test\r\n');
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    const startedAt = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const stopped = await Promise.race([
      reader.stop(1_000).then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), 15_000);
      }),
    ]);
    clearTimeout(timer);
    redis.disconnect();
    expect(stopped, 'reader.stop() returned').to.equal(true);
    expect(Date.now() - startedAt).to.be.below(10_000);
    await closed;
    expect(socket.destroyed).to.equal(true);
  });
});
