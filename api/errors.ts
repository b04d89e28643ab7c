import { WorkflowUpdateFailedError, isGrpcServiceError } from '@temporalio/client';
import { ApplicationFailure, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import { z } from 'zod';
import { databaseFailure } from '../db/errors.ts';
import { errorStatus, isErrorCode } from '../domain/errors.ts';

export { databaseFailure, isDatabaseUnreachable } from '../db/errors.ts';
export type { DatabaseFailure } from '../db/errors.ts';
import type { ErrorCode } from '../domain/errors.ts';

export interface ErrorBody { code: string; message: string; details?: unknown }

/** The one error the API throws; `onError` turns it (and Temporal's and zod's) into one body shape. */
export class ApiError extends Error {
  readonly status: number;
  /** Seconds a client should wait before trying again; sent as Retry-After (every 503 has one). */
  readonly retryAfterSeconds?: number;
  constructor(readonly code: ErrorCode, message: string, readonly details?: unknown, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = errorStatus[code];
    if (options?.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** Retry-After of a 503 that names no other: a short outage of something Culvert talks to. */
export const defaultRetryAfterSeconds = 2;
export const databaseRetryAfterSeconds = 5;
export const temporalRetryAfterSeconds = 2;

export function fromZod(where: string, err: z.ZodError): ApiError {
  const issues = err.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message }));
  const first = issues[0];
  const summary = first ? `${first.path}: ${first.message}` : 'invalid';
  return new ApiError('bad_request', `invalid ${where}: ${summary}`, { issues });
}

function fromFailure(failure: ApplicationFailure, cause: unknown): ApiError {
  const code = isErrorCode(failure.type) ? failure.type : 'internal';
  const details = failure.details?.[0];
  return new ApiError(code, failure.message, details, { cause });
}

function refusalIn(err: unknown): ApplicationFailure | undefined {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (e instanceof ApplicationFailure && isErrorCode(e.type)) return e;
  }
  return undefined;
}

// gRPC status codes of a Temporal that cannot be reached or did not answer in time.
const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;

function temporalUnreachable(err: unknown): ApiError | undefined {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (isGrpcServiceError(e) && (e.code === UNAVAILABLE || e.code === DEADLINE_EXCEEDED)) {
      const message = e.code === UNAVAILABLE
        ? 'Temporal is not reachable right now, so nothing was done: try again shortly'
        : 'Temporal did not answer in time: the request may still take effect, so look before trying again';
      return new ApiError('unavailable', message, undefined, { cause: err, retryAfterSeconds: temporalRetryAfterSeconds });
    }
  }
  return undefined;
}

// gRPC statuses of a Temporal that refused an operation: too many at once; workflow not in a state to take it.
const RESOURCE_EXHAUSTED = 8;
const FAILED_PRECONDITION = 9;

/** Why Temporal turned an Update away without running it; re-sending it (same update id) is safe. */
export type UpdateNotTaken = 'unprocessed' | 'aborted' | 'workflow_task_failed' | 'too_many_in_flight';

/**
 * Recognises an Update that Temporal refused before it ran, so that it did not happen:
 * - `WorkflowUpdateFailedError` whose `cause` is an `ApplicationFailure` with `type === 'UnprocessedUpdate'`
 *   (the server rejected it because no worker processed it, e.g. under concurrent Updates);
 * - a gRPC UNAVAILABLE (14) whose `details` is "workflow update was aborted" (the server dropped it from
 *   its update registry before it was accepted);
 * - a gRPC FAILED_PRECONDITION (9) whose `details` says the "Workflow Task in failed state" or failed
 *   with an "unexpected workflow task failure" (the server would not admit it);
 * - a gRPC RESOURCE_EXHAUSTED (8) whose `details` says the "limit on number of concurrent in-flight
 *   updates has been reached" (history.maxInFlightUpdates per workflow, 10 by default: not admitted).
 * The gRPC errors arrive wrapped by the client (`ServiceError` with the gRPC error as `cause`).
 */
export function updateNotTaken(err: unknown): UpdateNotTaken | undefined {
  if (err instanceof WorkflowUpdateFailedError) {
    const failure = err.cause;
    return failure instanceof ApplicationFailure && failure.type === 'UnprocessedUpdate' ? 'unprocessed' : undefined;
  }
  for (let e = err; e instanceof Error; e = e.cause) {
    if (!isGrpcServiceError(e)) continue;
    const details = e.details ?? '';
    if (e.code === UNAVAILABLE && /workflow update was aborted/i.test(details)) return 'aborted';
    if (e.code === FAILED_PRECONDITION && /workflow task in failed state|unexpected workflow task failure/i.test(details)) return 'workflow_task_failed';
    if (e.code === RESOURCE_EXHAUSTED && /concurrent in-flight updates/i.test(details)) return 'too_many_in_flight';
    return undefined;
  }
  return undefined;
}

export const releaseBusyMessage = 'the release is busy and did not take the request; nothing was changed; try again';

function updateNotTakenError(err: unknown): ApiError | undefined {
  const reason = updateNotTaken(err);
  if (!reason) return undefined;
  return new ApiError('unavailable', releaseBusyMessage, undefined, { cause: err, retryAfterSeconds: temporalRetryAfterSeconds });
}


export interface ErrorContext {
  /**
   * Whether the request may have written something before it failed: false for reads and for requests
   * that failed before their handler ran. Unknown (undefined) counts as true.
   */
  mayHaveChanged?: boolean;
}

function databaseUnreachable(err: unknown, context: ErrorContext): ApiError | undefined {
  const failure = databaseFailure(err);
  if (!failure) return undefined;
  // Even a statement that never reached the server may follow writes of the same request that did.
  const message = context.mayHaveChanged === false
    ? 'the database cannot be reached, so nothing was changed: try again shortly'
    : failure === 'not_reached'
      ? 'the database cannot be reached: the request may not have been done, or only in part; look before trying again'
      : 'the connection to the database broke during the request: it may not have been done, or only in part; look before trying again';
  return new ApiError('unavailable', message, undefined, { cause: err, retryAfterSeconds: databaseRetryAfterSeconds });
}

/** Maps whatever a handler threw onto an ApiError. */
export function toApiError(err: unknown, context: ErrorContext = {}): ApiError {
  if (err instanceof ApiError) return err;
  const database = databaseUnreachable(err, context);
  if (database) return database;
  const notTaken = updateNotTakenError(err);
  if (notTaken) return notTaken;
  const unreachable = temporalUnreachable(err);
  if (unreachable) return unreachable;
  if (err instanceof z.ZodError) return fromZod('input', err);
  if (err instanceof WorkflowUpdateFailedError) {
    if (err.cause instanceof ApplicationFailure) return fromFailure(err.cause, err);
    // A refusal raised in an activity (unknown_branch, invalid_ref) arrives wrapped in an ActivityFailure.
    const refusal = refusalIn(err.cause);
    if (refusal) return fromFailure(refusal, err);
    return new ApiError('internal', err.cause?.message ?? err.message, undefined, { cause: err });
  }
  if (err instanceof ApplicationFailure) return fromFailure(err, err);
  if (err instanceof WorkflowExecutionAlreadyStartedError) return new ApiError('release_exists', 'the release already exists', undefined, { cause: err });
  if (err instanceof WorkflowNotFoundError) return new ApiError('release_not_found', 'the release workflow is not running', undefined, { cause: err });
  return new ApiError('internal', 'internal error', undefined, { cause: err });
}
