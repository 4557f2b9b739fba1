export { startAdminServer, type AdminServer, type ReadinessCheck } from './admin.ts';
export { runUntilSignal, withBackoff, type RunningService } from './lifecycle.ts';
export { startServiceProcesses, type ServiceProcesses } from './service-processes.ts';
