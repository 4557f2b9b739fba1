/** What the tests use of the CLI's own code (the command itself runs through bin/deltameta.mjs → main.ts). */
export { alertChecks, alertRulesFile, checkAlerts, statusFigures, type AlertCheck } from './status-alerts.ts';
export { formatPipelineStatus, pipelineStatus, type PipelineStatus } from './status.ts';
export { formatInstanceTable, instancePort, maxInstances, parseInstanceCounts, planInstances, portStride, type PlannedInstance } from './instances.ts';
