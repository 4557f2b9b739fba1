/**
 * services/follower: keeps every followed table (kind = 'followed', its
 * _delta_log the authority) imported as its writers add versions
 * (follower.ts; docs/follower.md). From PostgreSQL the commits flow through
 * the CDC → Kafka → refresher pipeline like any other. This file builds the
 * clients, runs the Follower until a signal, and closes them after it stops.
 */
import { loadConfig } from '../../shared/config/index.ts';
import { createPool } from '../../shared/db/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createRegistry } from '../../shared/metrics/index.ts';
import { runUntilSignal, startAdminServer, withInstance } from '../../shared/service/index.ts';
import { Follower, followerMetrics, loadFollowerConfig } from './index.ts';

const config = loadConfig();
const settings = loadFollowerConfig(config);
const logger = withInstance(createLogger('follower', config.logLevel));
const registry = createRegistry('follower');
// Imports: one connection per table importing at once (the rest wait their turn). Leases apart: never queued behind an import.
const pool = createPool(settings.postgresUrl, { max: 4, applicationName: 'deltameta-follower' });
const leasePool = createPool(settings.postgresUrl, { max: 2, applicationName: 'deltameta-follower-lease', statementTimeoutMs: 10_000 });
for (const each of [pool, leasePool]) each.on('error', (error) => logger.warn({ err: error.message }, 'idle PostgreSQL connection failed'));
const follower = new Follower({ pool, leasePool, logger, metrics: followerMetrics(registry), config: settings });

await follower.start();
const admin = await startAdminServer({ port: config.adminPorts.follower, registry, readiness: () => follower.readiness() });
logger.info(
  { adminPort: admin.port, instanceId: settings.instanceId, inotify: settings.inotify, pollMs: settings.pollMs, leaseTtlMs: settings.leaseTtlMs, tables: follower.heldTables() },
  'follower running',
);

await runUntilSignal(logger, {
  async stop() {
    await follower.stop();
    await admin.close();
    await pool.end();
    await leasePool.end();
  },
}, { shutdownGraceMs: config.shutdownGraceMs });
