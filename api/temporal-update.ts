import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, WorkflowUpdateStage } from '@temporalio/client';
import type { WorkflowHandle, WorkflowUpdateHandle, WorkflowUpdateOptions } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { UpdateDefinition } from '@temporalio/common';
import proto from '@temporalio/proto';
import { takeByExpired, withTakeBy } from '../domain/take-by.ts';
import { ApiError, releaseBusyMessage, temporalRetryAfterSeconds, updateNotTaken } from './errors.ts';
import type { UpdateNotTaken } from './errors.ts';

/** One retry of an Update that Temporal turned away without running it. */
export interface UpdateRetry {
  /** The attempt that failed (1 for the first). */
  attempt: number;
  updateId: string;
  reason: UpdateNotTaken;
  /** How long it waits before the next attempt. */
  delayMs: number;
  error: unknown;
}

export interface UpdateRetryOptions {
  /**
   * How long the Update may wait to be taken, from the first attempt (15 s unless told): it carries that
   * deadline, and a workflow task that starts later refuses it (domain/take-by.ts). 15 s: a busy release
   * on a loaded host was seen to take more than 10 s to start the task that takes an Update (CI).
   */
  maxElapsedMs?: number;
  /**
   * The workflow task timeout of the workflow (Temporal's default, 10 s, unless told): a task that started
   * before the deadline may still take the Update until it times out, so the API waits that long more
   * before it says the Update was not taken.
   */
  taskTimeoutMs?: number;
  /** Called before each retry (for logs and tests). */
  onRetry?: (retry: UpdateRetry) => void;
}

const defaultMaxElapsedMs = 15_000;
const defaultTaskTimeoutMs = 10_000;
/** How far Temporal's clock may be behind the API's and the answer still be true. */
const clockSkewMs = 2_000;
const firstDelayMs = 50;
const maxDelayMs = 1_000;

export const updateNotTakenInTimeMessage =
  'the release did not take the request in time, and will not take it later; nothing was done, try again';
export const updateTakenNoAnswerMessage =
  'the release took the request but its outcome could not be read; it may have taken effect, so look before trying again';

/**
 * The Update was accepted, so it is durable and its handler runs, but its outcome could not be read by the
 * deadline. A caller whose handler's outcome follows from its input (a synchronous handler that only
 * queues) may answer from the input instead of a 503.
 */
export class UpdateAcceptedUnread extends ApiError {
  constructor(updateId: string, cause: unknown) {
    super('unavailable', updateTakenNoAnswerMessage, { updateId }, { cause, retryAfterSeconds: temporalRetryAfterSeconds });
  }
}

/** How long the last look at an Update that no running task can take waits for it. */
const lastLookMs = 1_000;
const { PendingWorkflowTaskState } = proto.temporal.api.enums.v1;

/**
 * Whether no workflow task that started by `after` is running: any task that starts from now on refuses
 * an Update whose deadline is earlier (its workflow time is when it started).
 */
async function noTaskCanTakeIt(handle: WorkflowHandle, after: number): Promise<boolean> {
  try {
    const task = (await handle.describe()).raw.pendingWorkflowTask;
    if (!task || task.state !== PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED) return true;
    const started = task.startedTime ? Number(task.startedTime.seconds ?? 0) * 1000 + Math.floor((task.startedTime.nanos ?? 0) / 1e6) : 0;
    return started > after;
  } catch {
    // Not known: wait the whole while.
    return false;
  }
}

const millis = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  (t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : 0);

/**
 * Whether a run of the workflow accepted this Update although the API's attempts did not see it: an
 * attempt's task took it just after the attempt's call timed out, the run then continued as new, and the
 * next attempt, sent to the workflow id, reached the new run, which knows nothing of it (a new Update
 * there, refused as too late). Seen in CI: a deploy click answered "nothing was done" whose deployment
 * ran. The runs that were current at or after the first attempt are read, newest first (only when
 * giving up, so the cost of reading histories is paid only then); an unreadable one counts as not.
 */
async function acceptedByAnyRun(handle: WorkflowHandle, updateId: string, since: number): Promise<boolean> {
  try {
    let runId: string | undefined = (await handle.describe()).runId;
    for (let hops = 0; runId && hops < 8; hops++) {
      const history: proto.temporal.api.history.v1.IHistory = await handle.client.getHandle(handle.workflowId, runId).fetchHistory();
      const events = history.events ?? [];
      if (events.some((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.protocolInstanceId === updateId)) return true;
      const first = events[0];
      // This run was current when the first attempt was sent: no earlier one saw it.
      if (!first || millis(first.eventTime) < since - clockSkewMs) return false;
      runId = first.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
    }
  } catch {
    return false;
  }
  return false;
}

/** Whether the workflow refused the Update because it came after its deadline. */
function cameTooLate(err: unknown): boolean {
  return err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && err.cause.type === takeByExpired;
}

/**
 * `handle.executeUpdate(def, { args, updateId })`, re-sent while Temporal turns the Update away without
 * running it (see `updateNotTaken`: UnprocessedUpdate, "workflow update was aborted", Workflow Task in
 * failed state). Every attempt carries the same update id (the caller's, or one made here once), and
 * Temporal dedupes Updates by id, so a re-send can never apply it twice.
 *
 * The Update carries a deadline, `maxElapsedMs` after the first attempt; once accepted it is durable
 * and its result is awaited for as long as its handler runs. Gives up with ApiError `unavailable`:
 * "nothing was changed" when every attempt was turned away, "nothing was done" when it was not taken by
 * its deadline (the workflow refuses it, or no worker took it and none will: a task starting later
 * refuses it), "may have taken effect" when one had been accepted but its outcome could not be read.
 * Anything else (a validator's refusal, a workflow that is not running) is rethrown at once, unchanged.
 */
export async function executeUpdateWithRetry<Ret, Args extends [unknown, ...unknown[]], Name extends string = string>(
  handle: WorkflowHandle,
  def: UpdateDefinition<Ret, Args, Name> | string,
  options: WorkflowUpdateOptions & { args: Args } & UpdateRetryOptions,
): Promise<Ret>;
export async function executeUpdateWithRetry<Ret, Args extends [], Name extends string = string>(
  handle: WorkflowHandle,
  def: UpdateDefinition<Ret, Args, Name> | string,
  options?: WorkflowUpdateOptions & { args?: Args } & UpdateRetryOptions,
): Promise<Ret>;
export async function executeUpdateWithRetry<Ret>(
  handle: WorkflowHandle,
  def: UpdateDefinition<Ret, unknown[]> | string,
  options: WorkflowUpdateOptions & { args?: unknown[] } & UpdateRetryOptions = {},
): Promise<Ret> {
  const { maxElapsedMs = defaultMaxElapsedMs, taskTimeoutMs = defaultTaskTimeoutMs, onRetry, ...updateOptions } = options;
  const updateId = updateOptions.updateId ?? randomUUID();
  const takeBy = Date.now() + maxElapsedMs;
  // Past this, no task that started by the deadline can still be running: the Update will never be taken.
  const settled = takeBy + taskTimeoutMs + clockSkewMs;
  const args = withTakeBy(updateOptions.args ?? [], takeBy);
  const connection = handle.client.connection;
  // The overloads above type the call; the SDK's own overloads cannot see through a generic Args.
  const startUpdate = handle.startUpdate.bind(handle) as unknown as (
    d: typeof def, o: WorkflowUpdateOptions & { args?: unknown[]; waitForStage: typeof WorkflowUpdateStage.ACCEPTED },
  ) => Promise<WorkflowUpdateHandle<Ret>>;
  let delayMs = firstDelayMs;
  /** Once an attempt was accepted the Update is durable: giving up must not say that nothing changed. */
  let everAccepted = false;
  const firstAttemptAt = Date.now();
  // "Nothing was done" only if no run took it: one that took it and continued as new is not asked again.
  const notTakenInTime = async (err: unknown): Promise<ApiError> => (await acceptedByAnyRun(handle, updateId, firstAttemptAt)
    ? new UpdateAcceptedUnread(updateId, err)
    : new ApiError('unavailable', updateNotTakenInTimeMessage, { updateId }, { cause: err, retryAfterSeconds: temporalRetryAfterSeconds }));
  // Waiting for acceptance: until the deadline (and the clock margin); then, if no task that started by
  // the deadline is running, one look more (a task that took it may have just ended) and the answer;
  // otherwise until such a task would have timed out.
  let waitUntil = takeBy + clockSkewMs;
  let lastLook = false;
  for (let attempt = 1; ; attempt++) {
    let accepted = false;
    try {
      const update = await connection.withDeadline(waitUntil, () =>
        startUpdate(def, { ...updateOptions, args, updateId, waitForStage: WorkflowUpdateStage.ACCEPTED }));
      accepted = everAccepted = true;
      return await update.result();
    } catch (err) {
      // A refusal comes back through the handle as an outcome, so `accepted` is set: this one was not.
      if (cameTooLate(err)) {
        // Before our deadline, the refusal was of an earlier call's Update under this id (it carried an
        // earlier deadline): that one is gone, so this one is sent again. After it, this one was refused.
        if (Date.now() <= takeBy) {
          await sleep(firstDelayMs);
          continue;
        }
        throw await notTakenInTime(err);
      }
      if (!accepted && err instanceof WorkflowUpdateRPCTimeoutOrCancelledError && Date.now() >= waitUntil) {
        if (lastLook || waitUntil >= settled) throw await notTakenInTime(err);
        if (await noTaskCanTakeIt(handle, takeBy + clockSkewMs)) {
          lastLook = true;
          waitUntil = Date.now() + lastLookMs;
        } else {
          waitUntil = settled;
        }
        continue;
      }
      const reason = updateNotTaken(err);
      if (!reason) throw err;
      // Jittered, so that callers turned away together do not all come back together.
      const wait = Math.round(delayMs * (0.5 + Math.random() / 2));
      if (Date.now() + wait >= takeBy) {
        if (everAccepted) throw new UpdateAcceptedUnread(updateId, err);
        throw new ApiError('unavailable', releaseBusyMessage, undefined, { cause: err, retryAfterSeconds: temporalRetryAfterSeconds });
      }
      onRetry?.({ attempt, updateId, reason, delayMs: wait, error: err });
      await sleep(wait);
      delayMs = Math.min(delayMs * 2, maxDelayMs);
    }
  }
}
