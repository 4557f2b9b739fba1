export { startAdminServer, type AdminServer, type ReadinessCheck } from './admin.ts';
export { runUntilSignal, withBackoff, type RunningService } from './lifecycle.ts';
export { createRedis, unlinkMatching } from './redis.ts';
