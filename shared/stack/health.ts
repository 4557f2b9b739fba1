/** Health probes for the stack's readiness checks (polled by shared/service's `waitUntil`). */
import net from 'node:net';

/** Whether something accepts TCP connections on host:port. */
export function tcpAnswers(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
