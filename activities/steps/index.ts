export {
  runStep,
  resolveStepSpec,
  formatArgv,
  StepSpecError,
  StepSupervisorError,
  DEFAULT_TIMEOUT_SECONDS,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_KILL_GRACE_MS,
} from './runner.ts';
export type { StepSpec, StepState, StepOutcome, RunStepOptions } from './runner.ts';
export { ownerTag, stopRecordedStep } from './procs.ts';
export { startStepSupervisor } from './supervisor.ts';
