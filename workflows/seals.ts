// Starts and signals from anything without the payload key change nothing (issue 10, finding 10, beyond
// Updates). Whoever reaches Temporal's port could otherwise start a deployment with a configuration of
// their own (steps: code the worker runs), or tell a release that its check passed.
//
// Culvert seals every start, child start, continue-as-new and signal it sends with a trailing argument
// (domain/take-by.ts) that only an encrypted payload keeps (cli/payload-codec.ts). Here:
// - a run whose input carries no seal ends at once with nothing done, unless it is a run that began
//   before seals (its history replays as it ran: see below), a run a workflow made (a continue-as-new or
//   a child: only Culvert's workers run Culvert's workflows, and one made by old code just before an
//   upgrade must live), or a scheduled cut (Temporal Schedules made before seals start it unsealed; it
//   names a product only and reads the configuration from the database);
// - a signal without a seal is dropped, unless it came before seals (the same rule).
// "Before seals" is decided by patched(): called only for what is unsealed, it answers false in the replay
// of a run that took it before the patch existed, and true (recording the patch) for anything new, so the
// replay of a run that dropped a stranger's signal drops it again.
import { ApplicationFailure } from '@temporalio/common';
import { log, patched, workflowInfo } from '@temporalio/workflow';
import type {
  ContinueAsNewInput, Next, SignalInput, SignalWorkflowInput, StartChildWorkflowExecutionInput, WorkflowExecuteInput, WorkflowInboundCallsInterceptor,
  WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import { unseal, withSeal } from '../domain/take-by.ts';

export const sealedStartsPatch = 'culvert-sealed-starts';
export const sealedSignalsPatch = 'culvert-sealed-signals';
/** The refusal's type: a start that Culvert did not send. */
export const startUnsealed = 'start_unsealed';

const unsealedStartsAllowed = new Set(['scheduledCutWorkflow']);

export class SealsIn implements WorkflowInboundCallsInterceptor {
  async execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const { sealed, args } = unseal(input.args);
    const info = workflowInfo();
    const madeByAWorkflow = info.continuedFromExecutionRunId !== undefined || info.parent !== undefined;
    if (!sealed && !madeByAWorkflow && !unsealedStartsAllowed.has(info.workflowType) && patched(sealedStartsPatch)) {
      throw ApplicationFailure.nonRetryable('this run was not started by Culvert (its input carries no seal); nothing was done', startUnsealed);
    }
    return next({ ...input, args });
  }

  async handleSignal(input: SignalInput, next: Next<WorkflowInboundCallsInterceptor, 'handleSignal'>): Promise<void> {
    const { sealed, args } = unseal(input.args);
    if (!sealed && patched(sealedSignalsPatch)) {
      log.warn('dropped a signal not sent by Culvert (it carries no seal)', { signal: input.signalName });
      return;
    }
    return next({ ...input, args });
  }
}

export class SealsOut implements WorkflowOutboundCallsInterceptor {
  startChildWorkflowExecution(input: StartChildWorkflowExecutionInput, next: Next<WorkflowOutboundCallsInterceptor, 'startChildWorkflowExecution'>) {
    return next({ ...input, options: { ...input.options, args: withSeal(input.options.args ?? []) } });
  }

  signalWorkflow(input: SignalWorkflowInput, next: Next<WorkflowOutboundCallsInterceptor, 'signalWorkflow'>): Promise<void> {
    return next({ ...input, args: withSeal(input.args) });
  }

  continueAsNew(input: ContinueAsNewInput, next: Next<WorkflowOutboundCallsInterceptor, 'continueAsNew'>): Promise<never> {
    return next({ ...input, args: withSeal(input.args) });
  }
}
