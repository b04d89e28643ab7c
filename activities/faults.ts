// Errors classified where they happen. A permanent fault (bad input, a refusal, a step's own failure)
// is a non-retryable ApplicationFailure: the workflow records it as the outcome. Everything else is
// transient (a remote or database that cannot be reached, a dead worker, a bug that a redeploy fixes):
// retried, and shown as `blocked` with the reason below while it lasts.
import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { isDatabaseUnreachable } from '../db/errors.ts';
import { GitError, InvalidRefError } from './git/index.ts';
import { StepSpecError } from './steps/index.ts';

export function permanent(message: string, details?: Record<string, unknown>): ApplicationFailure {
  return ApplicationFailure.create({ type: 'permanent', message, nonRetryable: true, details: details ? [details] : [] });
}

/**
 * The reason a blocked release shows for a transient fault: what kind of fault, never the raw error
 * (git's and the drivers' messages name host paths and addresses); the worker log has the details.
 */
export function transientReason(err: unknown): string {
  if (isDatabaseUnreachable(err)) return 'the database cannot be reached';
  if (err instanceof GitError) {
    const text = `${err.stderr} ${err.message}`;
    if (/could not read from remote|does not appear to be a git repository|unable to access|connection (refused|reset|timed out)|could not resolve host|repository .* not found|early eof|the remote end hung up/i.test(text)) {
      return 'the git remote cannot be reached';
    }
    return `git ${err.args.find((a) => !a.startsWith('-') && !a.includes('=')) ?? ''} failed (exit ${err.exitCode ?? 'signal'})`.replace('  ', ' ');
  }
  return 'an internal error (see the worker log)';
}

function details(err: unknown): string {
  const message = err instanceof GitError && err.stderr.trim() ? err.stderr.trim() : err instanceof Error ? err.message : String(err);
  return (message.split('\n').find((l) => l.trim() !== '') ?? message).trim().slice(0, 500);
}

/** Runs an activity's body and gives whatever it throws its class. */
export async function classified<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw classify(err);
  }
}

export function classify(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof InvalidRefError || err instanceof StepSpecError) return permanent(err.message);
  const reason = transientReason(err);
  try {
    log.warn(`transient fault: ${reason}`, { details: details(err) });
  } catch {
    // Not in an activity (a unit test): nowhere to log.
  }
  return ApplicationFailure.retryable(reason, isDatabaseUnreachable(err) ? 'database' : err instanceof GitError ? 'git' : 'internal');
}
