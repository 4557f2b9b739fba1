/** The worker of replayDigestInWorker (replay-digest.ts): one replay, one message, then it is terminated. */
import { parentPort, workerData } from 'node:worker_threads';
import { replayDigest } from './replay-digest.ts';

const { tableDir, version } = workerData as { tableDir: string; version: number };
try {
  parentPort?.postMessage({ digest: await replayDigest(tableDir, version) });
} catch (error) {
  parentPort?.postMessage({ error: error instanceof Error ? error.message : String(error) });
}
