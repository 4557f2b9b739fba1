// The entry of the Arrow encoding worker (encode-pool.ts): worker threads do
// not inherit the parent's tsx loader, so this registers it and imports
// workerData.module (a file: URL). Kept .mjs: it must load before tsx.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.module);
