// How a workflow tells a transient fault from a permanent one, and how long it waits before trying again.
//
// Activities classify their errors where they happen (activities/faults.ts): a permanent one arrives as
// a non-retryable ApplicationFailure (its type a refusal code, or `permanent`), and becomes a recorded
// outcome. Everything else is transient: a retryable failure after the activity's own few attempts, a
// timeout (the worker died), a cancelled attempt. Transient faults are retried for as long as it takes,
// with capped backoff, and the release shows what it waits on meanwhile.
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, TimeoutFailure } from '@temporalio/workflow';
import type { Blocked } from '../../domain/records.ts';

export type Outcome<T> = { ok: true; value: T } | { ok: false; permanent: true; code: string; reason: string } | { ok: false; permanent: false; reason: string };

export function classify(err: unknown): { permanent: true; code: string; reason: string } | { permanent: false; reason: string } {
  let cause: unknown = err;
  while (cause instanceof ActivityFailure || cause instanceof ChildWorkflowFailure) cause = cause.cause;
  if (cause instanceof ApplicationFailure && cause.nonRetryable) return { permanent: true, code: cause.type ?? 'permanent', reason: cause.message };
  if (cause instanceof TimeoutFailure) return { permanent: false, reason: 'the worker running it stopped answering (it was restarted or lost)' };
  if (cause instanceof Error) return { permanent: false, reason: cause.message || cause.name };
  return { permanent: false, reason: String(cause) };
}

export async function outcomeOf<T>(work: Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await work };
  } catch (err) {
    const c = classify(err);
    return c.permanent ? { ok: false, permanent: true, code: c.code, reason: c.reason } : { ok: false, permanent: false, reason: c.reason };
  }
}

/**
 * 5 s, 10 s, 20 s, then every 30 s: fast while a fault is short, a few history events a minute while it
 * lasts, and at most 30 s of waiting once it is over.
 */
export function backoffMs(attempts: number): number {
  return Math.min(30_000, 5_000 * 2 ** Math.max(0, attempts - 1));
}

/** The blocked entry after one more failed attempt. */
export function blockedAgain(previous: Blocked | undefined, what: string, reason: string, now: Date): Blocked {
  return { what, reason, since: previous?.since ?? now.toISOString(), attempts: (previous?.attempts ?? 0) + 1 };
}
