/** Writing CLI output: NDJSON with backpressure. */
import { once } from 'node:events';

/** Writes lines to stdout, waiting when the pipe is full; stops quietly if the reader went away (head, less). */
export async function writeLines(lines: AsyncIterable<string> | Iterable<string>): Promise<number> {
  let count = 0;
  let buffered = '';
  let closed = false;
  const onError = (error: NodeJS.ErrnoException): void => {
    if (error.code === 'EPIPE') closed = true;
    else throw error;
  };
  process.stdout.on('error', onError);
  try {
    for await (const line of lines) {
      if (closed) break;
      buffered += `${line}\n`;
      count++;
      if (buffered.length >= 1 << 16) {
        if (!process.stdout.write(buffered)) await once(process.stdout, 'drain');
        buffered = '';
      }
    }
    if (buffered.length > 0 && !closed && !process.stdout.write(buffered)) await once(process.stdout, 'drain');
  } finally {
    process.stdout.off('error', onError);
  }
  return count;
}
