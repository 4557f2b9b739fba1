/**
 * `deltameta up`: runs the services against the stack as child processes,
 * each line of their logs prefixed with the service's name; SIGTERM/SIGINT
 * is passed on (SIGHUP as SIGTERM: the children have their own process
 * group, so a closed terminal reaches only `up`) and `up` exits when they
 * have all stopped.
 */
import { localLoginUrl, type Config } from '../../shared/config/index.ts';
import { createPool, migrate } from '../../shared/db/index.ts';
import { parsePipelineServices, pipelineServiceNames, ServiceProcess, sidecarServiceNames } from '../../shared/service/index.ts';
import { formatStatus, localSuperuser, stackUp } from '../../shared/stack/index.ts';

export async function runServices(config: Config, names: readonly string[]): Promise<number> {
  const wanted = names.length > 0 ? parsePipelineServices(names) : [...pipelineServiceNames, ...sidecarServiceNames];
  console.error(formatStatus(await stackUp(config)));
  const pool = createPool(config.postgresUrl, { max: 1 });
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
  const prefix = (name: string): string => `${name.padEnd(11)} | `;
  const services = wanted.map((name) => ServiceProcess.spawn(name, {
    env: servicesEnvironment(config),
    ownProcessGroup: true,
    onLine: (line) => process.stdout.write(`${prefix(name)}${line}\n`),
  }));
  const forward = (signal: NodeJS.Signals): void => {
    for (const service of services) service.signal(signal === 'SIGHUP' ? 'SIGTERM' : signal);
  };
  process.on('SIGTERM', forward);
  process.on('SIGINT', forward);
  process.on('SIGHUP', forward);
  const codes = await Promise.all(services.map(async (service) => {
    const { code, signal } = await service.exited;
    process.stdout.write(`${prefix(service.name)}exited (${code ?? signal})\n`);
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
