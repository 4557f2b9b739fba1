export { startAdminServer, type AdminServer, type ReadinessCheck } from './admin.ts';
export { instanceClientName, instanceId, withInstance } from './instance.ts';
export { runUntilSignal, withBackoff, type RunningService } from './lifecycle.ts';
export { dropRunReplication, isolatedEnvironment, runPipelineNames, type IsolatedPipelineNames } from './isolated-run.ts';
export {
  parsePipelineServices, pipelineServiceNames, ServiceProcess, sidecarServiceNames,
  type PipelineServiceName, type ServiceExit, type SpawnServiceOptions,
} from './service-process.ts';
export { startServiceProcesses, terminateAll, type ServiceProcesses } from './service-processes.ts';
export { waitUntil, WaitTimeoutError, type ProbeResult, type WaitOptions } from './wait.ts';
export { closeHttpServer, postgresUnavailableReason, retryAfterSeconds } from './http-service.ts';
