/**
 * services/committer: the HTTP commit API for writers (docs/committer.md),
 * with /metrics, /healthz and /readyz on its admin port.
 */
import { loadConfig } from '../../shared/config/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createRegistry } from '../../shared/metrics/index.ts';
import { runUntilSignal, startAdminServer, withInstance } from '../../shared/service/index.ts';
import { committerMetrics, loadCommitterConfig, startCommitter } from './index.ts';

const config = loadConfig();
const committerConfig = loadCommitterConfig(config.postgresUrl);
const logger = withInstance(createLogger('committer', config.logLevel));
const registry = createRegistry('committer');
const committer = await startCommitter({ config: committerConfig, logger, metrics: committerMetrics(registry) });
const admin = await startAdminServer({ port: config.adminPorts.committer, registry, readiness: () => committer.readiness() });
logger.info({ port: committer.port, adminPort: admin.port, auth: committer.access.enabled, maxBodyBytes: committerConfig.maxBodyBytes }, 'committer running');

await runUntilSignal(logger, {
  async stop() {
    await committer.stop();
    await admin.close();
  },
}, { shutdownGraceMs: config.shutdownGraceMs });
