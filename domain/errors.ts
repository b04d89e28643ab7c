import { ApplicationFailure } from '@temporalio/common';

/**
 * Every refusal Culvert can give, with its HTTP status. Workflows throw them (type = code) and the
 * API maps them back, so a code and its meaning live in one place.
 */
export const errorStatus = {
  bad_request: 400,
  invalid_ref: 400,
  unauthorized: 401,
  forbidden: 403,
  admin_only: 403,
  not_found: 404,
  product_not_found: 404,
  release_not_found: 404,
  change_not_found: 404,
  run_not_found: 404,
  unknown_branch: 422,
  unknown_commit: 422,
  ambiguous_commit: 400,
  commit_not_on_trunk: 422,
  commit_not_on_a_branch: 422,
  own_vote_excluded: 422,
  dependency_unknown: 422,
  unknown_severity: 400,
  schedule_not_found: 404,
  approval_not_found: 404,
  artifact_not_found: 404,
  gate_closed: 409,
  already_voted: 409,
  not_in_group: 403,
  template_not_found: 404,
  template_exists: 409,
  train_not_found: 404,
  train_exists: 409,
  train_closed: 409,
  deployment_not_waiting: 409,
  unknown_environment: 422,
  product_exists: 409,
  /** A component's product is derived from its product and changed through it. */
  component_product: 409,
  component_not_found: 404,
  branches_taken: 409,
  token_name_taken: 409,
  release_exists: 409,
  release_not_ready: 409,
  release_frozen: 409,
  release_closed: 409,
  release_not_production: 409,
  change_not_decidable: 409,
  checks_failed: 422,
  idempotency_key_reused: 422,
  flow_mismatch: 422,
  payload_too_large: 413,
  commit_not_found: 404,
  product_mismatch: 400,
  release_untraced: 409,
  /** The API read the database in an earlier run of the release than the one answering; it reads again. */
  stale_snapshot: 409,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(errorStatus, value);
}

export function refuse(code: ErrorCode, message: string, details?: Record<string, unknown>): ApplicationFailure {
  return ApplicationFailure.create({ type: code, message, nonRetryable: true, details: details ? [details] : [] });
}
