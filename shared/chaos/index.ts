// The chaos run of issue 15: services, workload, readers, faults and the checker (run.ts ties them).
export { defaultInstances, formatChaosReport, runChaos, type ChaosOptions, type ChaosReport } from './run.ts';
export { faultKinds, type FaultKind } from './faults.ts';
export { eventViolations } from './events.ts';
export { backwardViolations } from './checker.ts';
export { digestLines, type Answer } from './readers.ts';
export type { InstanceCounts } from './fleet.ts';
