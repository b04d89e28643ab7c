// Workflow interceptors of every Culvert workflow type (bundled through `workflowInterceptorModules`).
//
// No workflow task that brought the workflow something to react to completes without a command.
//
// Why: sdk-core decides where one workflow task ends and the next begins from the history, and takes a
// task that completed with no command, followed at once by the next task (Completed then Scheduled, as
// when an Update arrives), for a "workflow task heartbeat". A worker that has the run in its cache saw
// the two tasks apart; a worker that lost it (any restart, any eviction under load) and gets the Update's
// task with the whole history merges them, and runs the Update before the activity, timer and child
// results the first task brought; the replay of the finished history keeps them apart again (sdk-core
// #1146, open in the core of TS SDK 1.24). The release's handlers and loop then see another state than
// the history records: seen in CI as a release whose history had `recordRelease` scheduled where the
// replay started a check first ("Child workflow machine does not handle this event"), stuck for good.
// test/task-merge.test.ts reproduces it with a worker restart.
//
// So such a task upserts a small memo (`culvertTasks`, the count of them): one event, nothing else, and
// the task is no longer empty. The rule depends only on the task's jobs and commands, which a replay
// reproduces; runs started before it (their histories have no such events) say so by the patch.
//
// And no Update is taken after the deadline the API gave it (domain/take-by.ts says why), nor one without
// a deadline: that is one not sent by Culvert. Validators run only live, never in a replay, so the check
// changes no history that exists.
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import type { coresdk } from '@temporalio/proto';
import { patched } from '@temporalio/workflow';
import type {
  ActivateInput, ConcludeActivationInput, ConcludeActivationOutput, Next, UpdateInput, WorkflowInboundCallsInterceptor, WorkflowInterceptors,
  WorkflowInternalsInterceptor,
} from '@temporalio/workflow';
import { takeByExpired, takeByOf, takeByUnsealed, withoutTakeBy } from '../domain/take-by.ts';

/** Runs that started before tasks were kept eventful replay as they ran. */
export const eventfulTasksPatch = 'culvert-eventful-tasks';
/** The memo key the interceptor upserts. */
export const eventfulTasksMemo = 'culvertTasks';

type Job = coresdk.workflow_activation.IWorkflowActivationJob;
type Command = coresdk.workflow_commands.IWorkflowCommand;

// Module state is the run's own: the SDK gives each workflow run its own instances of the bundle's modules.
let enabled = false;

/** Call first thing in a workflow function: from then on this run's tasks are kept eventful (new runs only). */
export function keepTasksEventful(): void {
  enabled = patched(eventfulTasksPatch);
}

/** Jobs that bring a result or a signal: everything but Updates (a refused one leaves no trace), queries and bookkeeping. */
function brings(job: Job): boolean {
  return !(job.doUpdate || job.queryWorkflow || job.removeFromCache || job.notifyHasPatch || job.updateRandomSeed);
}

/** A refused Update leaves no event: a task whose only commands refuse Updates shows as empty in history. */
function leavesEvent(command: Command): boolean {
  return !command.updateResponse?.rejected;
}

class EventfulTasks implements WorkflowInternalsInterceptor {
  private brought = false;
  private count = 0;
  /** The history length the current activation was made at: one workflow task's activations share it. */
  private at = -1;
  /** The history length of the last task given a memo. */
  private markedAt = -2;

  activate(input: ActivateInput, next: Next<WorkflowInternalsInterceptor, 'activate'>): void {
    this.brought = (input.activation.jobs ?? []).some(brings);
    this.at = input.activation.historyLength ?? -1;
    next(input);
  }

  concludeActivation(input: ConcludeActivationInput, next: Next<WorkflowInternalsInterceptor, 'concludeActivation'>): ConcludeActivationOutput {
    const out = next(input);
    if (!enabled || !this.brought || out.commands.some(leavesEvent)) return out;
    // One memo per task. Open fault: a worker catching up after a timed-out task was seen (CI, a worker
    // killed before traceRelease) to hand one task's jobs over in two activations made at different
    // history lengths, each then given a memo, where the replay makes one activation and one memo; that
    // history does not replay. Two sub-activations at one length are covered here; that case is not.
    if (this.at === this.markedAt) return out;
    this.markedAt = this.at;
    this.count++;
    const memo: Command = { modifyWorkflowProperties: { upsertedMemo: { fields: { [eventfulTasksMemo]: defaultPayloadConverter.toPayload(this.count) } } } };
    return { commands: [...out.commands, memo] };
  }
}

/**
 * Refuses an Update whose workflow task started after its deadline (`Date.now()` in a workflow is that
 * start); handlers and validators get their arguments without it.
 */
class TakeBy implements WorkflowInboundCallsInterceptor {
  validateUpdate(input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'validateUpdate'>): void {
    const by = takeByOf(input.args[0]);
    // The deadline is the seal too: only a payload encrypted with Culvert's key keeps it (cli/payload-codec.ts).
    if (by === undefined) throw ApplicationFailure.nonRetryable('the Update was not sent by Culvert (it carries no seal); it was not taken', takeByUnsealed);
    if (Date.now() > by) {
      throw ApplicationFailure.nonRetryable(`the Update came ${Date.now() - by} ms after its deadline; it was not taken`, takeByExpired);
    }
    next({ ...input, args: withoutTakeBy(input.args) });
  }

  handleUpdate(input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'handleUpdate'>): Promise<unknown> {
    return next({ ...input, args: withoutTakeBy(input.args) });
  }
}

export const interceptors = (): WorkflowInterceptors => ({ internals: [new EventfulTasks()], inbound: [new TakeBy()] });
