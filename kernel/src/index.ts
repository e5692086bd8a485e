/**
 * Public entry of @quire/kernel: what every Quire package shares. The error classes, team
 * scopes, document and job statuses, boxes, the job / progress / result protocol with its
 * schemas, and every bus subject with its payload. Imports no driver and no other package
 * of Quire.
 */
export * from './errors.ts';
export type * from './scope.ts';
export * from './protocol.ts';
export { PipelineError, PipelineErrorCode } from './pipeline-error.ts';
export type { FailedStage } from './pipeline-error.ts';
export * from './subjects.ts';
export * from './collab-events.ts';
