/**
 * `deltameta up`: runs the services against the stack as child processes,
 * each line of their logs prefixed with the instance (`reader#2 | `);
 * `--instances name=N,...` runs several of a service (instances.ts: their
 * ports and identity; docs/scaling.md). Once every instance is ready (or
 * has failed to be) it prints a table of instances and their ports.
 * SIGTERM/SIGINT is passed on (SIGHUP as SIGTERM: the children have their
 * own process group, so a closed terminal reaches only `up`) and `up`
 * exits when they have all stopped.
 */
import { localLoginUrl, type Config } from '../../shared/config/index.ts';
import { createPool, migrate } from '../../shared/db/index.ts';
import { parsePipelineServices, pipelineServiceNames, ServiceProcess, sidecarServiceNames } from '../../shared/service/index.ts';
import { formatStatus, localSuperuser, stackUp } from '../../shared/stack/index.ts';
import { formatInstanceTable, parseInstanceCounts, planInstances } from './instances.ts';

export async function runServices(config: Config, names: readonly string[], instances?: string): Promise<number> {
  const wanted = names.length > 0 ? parsePipelineServices(names) : [...pipelineServiceNames, ...sidecarServiceNames];
  // Refused before anything starts: a bad count or a port clash is exit 2.
  const plan = planInstances(config, parseInstanceCounts(instances, wanted));
  console.error(formatStatus(await stackUp(config)));
  const pool = createPool(config.postgresUrl, { max: 1 });
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
  const width = Math.max(11, ...plan.map((instance) => instance.label.length));
  const prefix = (label: string): string => `${label.padEnd(width)} | `;
  const base = servicesEnvironment(config);
  const services = plan.map((instance) => ({
    instance,
    process: ServiceProcess.spawn(instance.service, {
      env: { ...base, ...instance.env },
      ownProcessGroup: true,
      onLine: (line) => process.stdout.write(`${prefix(instance.label)}${line}\n`),
    }),
  }));
  const forward = (signal: NodeJS.Signals): void => {
    for (const { process: service } of services) service.signal(signal === 'SIGHUP' ? 'SIGTERM' : signal);
  };
  process.on('SIGTERM', forward);
  process.on('SIGINT', forward);
  process.on('SIGHUP', forward);
  void Promise.all(services.map(async ({ instance, process: service }) => {
    const state = await service.waitReady(config.stackStartTimeoutMs).then(() => 'ready', (error: unknown) => (service.running ? 'not ready' : `exited: ${String(error).split('\n')[0]}`));
    return { label: instance.label, adminPort: service.adminPort, apiPort: service.apiPort ?? instance.apiPort, state };
  })).then((rows) => process.stdout.write(`\n${formatInstanceTable(rows)}\n\n`));
  const codes = await Promise.all(services.map(async ({ instance, process: service }) => {
    const { code, signal } = await service.exited;
    process.stdout.write(`${prefix(instance.label)}exited (${code ?? signal})\n`);
    return code ?? 1;
  }));
  process.off('SIGTERM', forward);
  process.off('SIGINT', forward);
  process.off('SIGHUP', forward);
  return codes.some((code) => code !== 0) ? 1 : 0;
}

/**
 * On the local stack the reader connects as the stack's read-only login (it
 * refuses a role that can write); elsewhere DELTAMETA_READER_PG_URL is the operator's to set.
 */
function servicesEnvironment(config: Config): NodeJS.ProcessEnv {
  if (process.env['DELTAMETA_READER_PG_URL'] !== undefined) return process.env;
  const url = new URL(config.postgresUrl);
  const onLocalStack = url.username === localSuperuser.user && url.port === String(config.stack.postgresPort) && ['127.0.0.1', 'localhost'].includes(url.hostname);
  return onLocalStack ? { ...process.env, DELTAMETA_READER_PG_URL: localLoginUrl(config.postgresUrl, 'reader') } : process.env;
}
