import { WorkflowUpdateFailedError, isGrpcServiceError } from '@temporalio/client';
import { ApplicationFailure, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import { z } from 'zod';
import { errorStatus, isErrorCode } from '../domain/errors.ts';
import type { ErrorCode } from '../domain/errors.ts';

export interface ErrorBody { code: string; message: string; details?: unknown }

/** The one error the API throws; `onError` turns it (and Temporal's and zod's) into one body shape. */
export class ApiError extends Error {
  readonly status: number;
  constructor(readonly code: ErrorCode, message: string, readonly details?: unknown, options?: { cause?: unknown }) {
    super(message, options);
    this.status = errorStatus[code];
  }
}

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
      return new ApiError('unavailable', message, undefined, { cause: err });
    }
  }
  return undefined;
}

/** Maps whatever a handler threw onto an ApiError. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
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
