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
// So a task upserts a small memo (`culvertTasks`, a count) for each job that brought it a result or a
// signal: one event each, and the task is no longer empty. One per job, not one per task or activation:
// a worker catching up was seen (CI, a worker killed while the next task was in flight, which then timed
// out) to hand one task's jobs over in two activations where the replay makes one; the jobs are the same
// either way, so the memos are too. And each activation's memos go *before* its other commands: put
// after them (patch `culvert-eventful-jobs`), the split "signal | timer" answered [memo] then [activity,
// timer, memo] where the replay's one activation answers [activity, timer, memo, memo], and the release
// did not replay (CI, kill-boundaries: "Activity machine does not handle ... WorkflowPropertiesModified").
// Memos first, both give [memo, memo, activity, timer] whenever the first part of a split commands
// nothing of its own (a signal or result the loop only notes), which is what a split catches up on.
// Runs that started under an earlier rule keep it (memos last; or one memo per task that had nothing
// else to record, patch `culvert-eventful-tasks`); runs before all of them have none.
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
import { SealsIn, SealsOut } from './seals.ts';

/** Runs that started under the first rule (one memo per command-less task) replay as they ran. */
export const eventfulTasksPatch = 'culvert-eventful-tasks';
/** Runs under this patch: one memo per job that brought something, after the activation's commands. */
export const eventfulJobsPatch = 'culvert-eventful-jobs';
/** Runs from this patch on: one memo per job that brought something, before the activation's commands. */
export const eventfulJobsFirstPatch = 'culvert-eventful-jobs-first';
/** The memo key the interceptor upserts. */
export const eventfulTasksMemo = 'culvertTasks';

type Job = coresdk.workflow_activation.IWorkflowActivationJob;
type Command = coresdk.workflow_commands.IWorkflowCommand;

// Module state is the run's own: the SDK gives each workflow run its own instances of the bundle's modules.
let mode: EventfulMode = 'off';

export type EventfulMode = 'off' | 'tasks' | 'jobs' | 'jobs-first';

/** Call first thing in a workflow function: from then on this run's tasks are kept eventful (new runs only). */
export function keepTasksEventful(): void {
  mode = patched(eventfulJobsFirstPatch) ? 'jobs-first' : patched(eventfulJobsPatch) ? 'jobs' : patched(eventfulTasksPatch) ? 'tasks' : 'off';
}

/** Jobs that bring a result or a signal: everything but Updates (a refused one leaves no trace), queries and bookkeeping. */
function brings(job: Job): boolean {
  return !(job.doUpdate || job.queryWorkflow || job.removeFromCache || job.notifyHasPatch || job.updateRandomSeed);
}

/** A refused Update leaves no event: a task whose only commands refuse Updates shows as empty in history. */
function leavesEvent(command: Command): boolean {
  return !command.updateResponse?.rejected;
}

/** Exported for test/eventful-tasks.test.ts; `modeOf` stands in for the run's mode there. */
export class EventfulTasks implements WorkflowInternalsInterceptor {
  constructor(private readonly modeOf: () => EventfulMode = () => mode) {}

  /** Jobs of the current activation that brought a result or a signal. */
  private brought = 0;
  private count = 0;
  /** The history length the current activation was made at: one workflow task's activations share it. */
  private at = -1;
  /** The history length of the last task given a memo (the first rule only). */
  private markedAt = -2;

  activate(input: ActivateInput, next: Next<WorkflowInternalsInterceptor, 'activate'>): void {
    this.brought = (input.activation.jobs ?? []).filter(brings).length;
    this.at = input.activation.historyLength ?? -1;
    next(input);
  }

  concludeActivation(input: ConcludeActivationInput, next: Next<WorkflowInternalsInterceptor, 'concludeActivation'>): ConcludeActivationOutput {
    const out = next(input);
    const mode = this.modeOf();
    if (mode === 'off' || this.brought === 0) return out;
    if (mode === 'jobs-first') return { commands: [...Array.from({ length: this.brought }, () => this.memo()), ...out.commands] };
    if (mode === 'jobs') return { commands: [...out.commands, ...Array.from({ length: this.brought }, () => this.memo())] };
    // The first rule, for the runs that started under it: one memo per task that would leave no event.
    // It is what failed (see above) when a task's jobs came in activations made at two history lengths.
    if (out.commands.some(leavesEvent) || this.at === this.markedAt) return out;
    this.markedAt = this.at;
    return { commands: [...out.commands, this.memo()] };
  }

  private memo(): Command {
    this.count++;
    return { modifyWorkflowProperties: { upsertedMemo: { fields: { [eventfulTasksMemo]: defaultPayloadConverter.toPayload(this.count) } } } };
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

export const interceptors = (): WorkflowInterceptors => ({
  internals: [new EventfulTasks()], inbound: [new TakeBy(), new SealsIn()], outbound: [new SealsOut()],
});
