/**
 * Mocha global setup: the stack must be up (`npm test` starts it; this makes
 * a bare `npx mocha` work too) and the migrated template must exist.
 * Global teardown: a process that does not exit soon after the last file is
 * held open by a leaked handle; it is named and the run fails instead of
 * hanging CI.
 */
import { loadConfig } from '../../shared/config/index.ts';
import { stackUp } from '../../shared/stack/index.ts';
import { prepareTemplate } from './template.ts';

export async function mochaGlobalSetup(): Promise<void> {
  await stackUp(loadConfig());
  process.env['DELTAMETA_TEST_TEMPLATE'] = await prepareTemplate();
}

export function mochaGlobalTeardown(): void {
  // unref: this timer fires only if something else still keeps the process alive.
  setTimeout(() => {
    console.error(`\nthe test process is held open by leaked handles: ${process.getActiveResourcesInfo().join(', ')}`);
    process.exit(1);
  }, 10_000).unref();
}
