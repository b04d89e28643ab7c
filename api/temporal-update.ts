import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowUpdateRPCTimeoutOrCancelledError, WorkflowUpdateStage } from '@temporalio/client';
import type { WorkflowHandle, WorkflowUpdateHandle, WorkflowUpdateOptions } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
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
  /** How long to keep trying to get the Update accepted, in all; 15 s unless told. */
  maxElapsedMs?: number;
  /** Called before each retry (for logs and tests). */
  onRetry?: (retry: UpdateRetry) => void;
}

const defaultMaxElapsedMs = 15_000;
const firstDelayMs = 50;
const maxDelayMs = 1_000;

export const updateNotAcceptedInTimeMessage =
  'the release did not take the request in time; it may still take effect, so look before trying again';
export const updateTakenNoAnswerMessage =
  'the release took the request but its outcome could not be read; it may have taken effect, so look before trying again';

/**
 * `handle.executeUpdate(def, { args, updateId })`, re-sent while Temporal turns the Update away without
 * running it (see `updateNotTaken`: UnprocessedUpdate, "workflow update was aborted", Workflow Task in
 * failed state). Every attempt carries the same update id (the caller's, or one made here once), and
 * Temporal dedupes Updates by id, so a re-send can never apply it twice.
 *
 * Waiting for the Update to be accepted is bounded by `maxElapsedMs` in all; once accepted it is durable
 * and its result is awaited for as long as its handler runs. Gives up with ApiError `unavailable`:
 * "nothing was changed" when every attempt was turned away, "may still take effect" when the last one
 * was still waiting to be accepted (no worker took it: it stays admitted and may run later) or one had
 * been accepted (its outcome could not be read). Anything
 * else (a validator's refusal, a workflow that is not running) is rethrown at once, unchanged.
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
  const { maxElapsedMs = defaultMaxElapsedMs, onRetry, ...updateOptions } = options;
  const updateId = updateOptions.updateId ?? randomUUID();
  const deadline = Date.now() + maxElapsedMs;
  const connection = handle.client.connection;
  // The overloads above type the call; the SDK's own overloads cannot see through a generic Args.
  const startUpdate = handle.startUpdate.bind(handle) as unknown as (
    d: typeof def, o: WorkflowUpdateOptions & { args?: unknown[]; waitForStage: typeof WorkflowUpdateStage.ACCEPTED },
  ) => Promise<WorkflowUpdateHandle<Ret>>;
  let delayMs = firstDelayMs;
  /** Once an attempt was accepted the Update is durable: giving up must not say that nothing changed. */
  let everAccepted = false;
  for (let attempt = 1; ; attempt++) {
    let accepted = false;
    try {
      const update = await connection.withDeadline(deadline, () =>
        startUpdate(def, { ...updateOptions, updateId, waitForStage: WorkflowUpdateStage.ACCEPTED }));
      accepted = everAccepted = true;
      return await update.result();
    } catch (err) {
      const reason = updateNotTaken(err);
      if (!reason) {
        if (!accepted && err instanceof WorkflowUpdateRPCTimeoutOrCancelledError && Date.now() >= deadline) {
          throw new ApiError('unavailable', updateNotAcceptedInTimeMessage, { updateId }, { cause: err, retryAfterSeconds: temporalRetryAfterSeconds });
        }
        throw err;
      }
      // Jittered, so that callers turned away together do not all come back together.
      const wait = Math.round(delayMs * (0.5 + Math.random() / 2));
      if (Date.now() + wait >= deadline) {
        if (everAccepted) throw new ApiError('unavailable', updateTakenNoAnswerMessage, { updateId }, { cause: err, retryAfterSeconds: temporalRetryAfterSeconds });
        throw new ApiError('unavailable', releaseBusyMessage, undefined, { cause: err, retryAfterSeconds: temporalRetryAfterSeconds });
      }
      onRetry?.({ attempt, updateId, reason, delayMs: wait, error: err });
      await sleep(wait);
      delayMs = Math.min(delayMs * 2, maxDelayMs);
    }
  }
}
