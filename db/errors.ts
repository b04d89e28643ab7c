// Database errors that mean "not reachable right now" rather than "this query is wrong", for both
// drivers (postgres.js and PGlite) and through drizzle's wrapping (err.cause).
import { isGrpcServiceError } from '@temporalio/client';

/**
 * How a database failed, walking `err.cause` (drizzle wraps driver errors in a DrizzleQueryError):
 * - `not_reached`: the statement never got to a server (nothing listens, the connection was refused or
 *   timed out, the pool is ended, the server refuses new connections), so this statement did nothing;
 * - `lost`: the connection went away while it was in use, so the statement may or may not have run.
 */
export type DatabaseFailure = 'not_reached' | 'lost';

// postgres (postgres.js) connection errors and Node socket errors, by `code`.
const notReachedCodes = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN',
  'CONNECT_TIMEOUT', 'CONNECTION_ENDED',
]);
const lostCodes = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'CONNECTION_CLOSED', 'CONNECTION_DESTROYED']);
// SQLSTATEs (PostgresError.code): 57P03 cannot_connect_now, 53300 too_many_connections, 08001 unable to
// establish a connection, 08004 connection rejected; the rest of class 08 (08000, 08003, 08006, 08007, ...),
// 57P01 admin_shutdown and 57P02 crash_shutdown end a connection that may have been running a statement.
const notReachedSqlStates = new Set(['57P03', '53300', '08001', '08004']);
const lostSqlStates = new Set(['57P01', '57P02']);
const sqlState = /^[0-9A-Z]{5}$/;

function failureOf(e: Error): DatabaseFailure | undefined {
  const code = (e as { code?: unknown }).code;
  if (typeof code !== 'string') return undefined;
  if (notReachedCodes.has(code)) return 'not_reached';
  if (lostCodes.has(code)) return 'lost';
  // A PostgresError carries the server's SQLSTATE as code (and a severity); Node's codes are E-prefixed words.
  if (!sqlState.test(code) || !('severity' in e || e.name === 'PostgresError')) return undefined;
  if (notReachedSqlStates.has(code)) return 'not_reached';
  if (lostSqlStates.has(code) || code.startsWith('08')) return 'lost';
  return undefined;
}

/** An HTTP client's failure (fetch, octokit): its socket errors are not the database's. */
function isHttpClientError(e: Error): boolean {
  return (e instanceof TypeError && e.message === 'fetch failed') || 'request' in e || 'response' in e;
}

export function databaseFailure(err: unknown): DatabaseFailure | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if (isHttpClientError(e) || isGrpcServiceError(e)) return undefined;
    // PGlite closed under a query (a worker shutting down).
    if (/PGlite is closed/i.test(e.message)) return 'not_reached';
    const failure = failureOf(e);
    if (failure) return failure;
    // A connection to a host with several addresses fails with all of them at once.
    if (e instanceof AggregateError) {
      const inner = e.errors.map((x) => databaseFailure(x)).filter((x) => x !== undefined);
      if (inner.length > 0) return inner.includes('lost') ? 'lost' : 'not_reached';
    }
  }
  return undefined;
}

/** True when `err` (or what it wraps) says the database cannot be reached or the connection to it broke. */
export function isDatabaseUnreachable(err: unknown): boolean {
  return databaseFailure(err) !== undefined;
}

/** Whether a unique constraint named `constraint` refused the write (postgres and PGlite, wrapped by drizzle or not). */
export function violates(err: unknown, constraint: string): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const { code, constraint: c, constraint_name: name } = e as { code?: string; constraint?: string; constraint_name?: string };
    if (code === '23505' && (c === constraint || name === constraint || e.message.includes(constraint))) return true;
  }
  return false;
}
