/**
 * A client that sends its request slowly (slowloris: a header line now and
 * then, never the end of the headers) holds a connection and a socket of the
 * reader. It is answered 408 and cut off once the request has taken the
 * receive bound (10 s), checked about every second — not at Node's default
 * 30 s check interval, nor its 60 s headers timeout, which let a few hundred
 * such clients hold a reader's sockets for a minute each.
 */
import { expect } from 'chai';
import { connect, type Socket } from 'node:net';
import { describeWithEnv } from '../support/env.ts';
import { startTestReader, type RunningReader } from '../support/reader.ts';

/** Sends the request line, then a header every `everyMs`; resolves with what the server answered and when, or 'open' at `giveUpMs`. */
function trickle(port: number, everyMs: number, giveUpMs: number): Promise<{ closedAfterMs: number; answer: string } | 'open'> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket: Socket = connect(port, '127.0.0.1');
    let answer = '';
    let timer: NodeJS.Timeout | undefined;
    const finish = (result: { closedAfterMs: number; answer: string } | 'open'): void => {
      clearInterval(timer);
      socket.destroy();
      resolve(result);
    };
    socket.on('connect', () => {
      socket.write('GET /v1/tables HTTP/1.1\r\nHost: reader\r\n');
      timer = setInterval(() => {
        if (Date.now() - started > giveUpMs) finish('open');
        else socket.write('X-Slow: a\r\n');
      }, everyMs);
    });
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
    });
    socket.on('close', () => finish({ closedAfterMs: Date.now() - started, answer }));
    socket.on('error', () => finish({ closedAfterMs: Date.now() - started, answer }));
  });
}

describeWithEnv('reader: slow request senders', (env) => {
  let reader: RunningReader;

  before(async () => {
    reader = await startTestReader(env, {}, 'slow-senders');
  });

  after(async () => {
    await reader.stop();
  });

  it('answers 408 and closes a request still trickling in after the receive bound, within about a second of it', async function () {
    this.timeout(60_000);
    const result = await trickle(reader.reader.port, 500, 30_000);
    expect(result, 'the connection was cut off').to.not.equal('open');
    if (result === 'open') return;
    expect(result.answer).to.match(/^HTTP\/1\.1 408 /);
    expect(result.closedAfterMs).to.be.within(9_500, 13_000);
  });
});
