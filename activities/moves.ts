import { getCut, lastMove } from '../db/repos/trace.ts';
import type { ActivityDeps } from './deps.ts';
import type { Mirror } from './git/index.ts';
import { traceMove } from './trace/index.ts';

/**
 * Records a move of a release's branch: the new head and every commit the move brought in, with the
 * origin of picked commits (Culvert's and git's `(cherry picked from commit X)` trailer, else the patch
 * id of a trunk commit) and the change request that brought them (`Culvert-Change:`). Brings the trunk
 * index up to date first, and numbers the move, so deployments of any head can be traced.
 */
export async function recordMove(deps: ActivityDeps, m: Mirror, product: string, release: string, from: string, to: string): Promise<void> {
  await traceMove(deps, m, product, release, from, to);
}

/**
 * Records the moves of a release's branch up to `to` from the last one recorded (the cut when none is):
 * what units of work that wrote their outcome first brought in. Idempotent, and one call covers every
 * unit that landed since the last; the release's head moves to `to` only if nothing moved it since
 * that last recorded head (a unit's outcome sets it itself; a push by someone else is adopted here).
 */
export async function traceUpTo(deps: ActivityDeps, m: Mirror, product: string, release: string, to: string): Promise<void> {
  const from = (await lastMove(deps.db, product, release))?.toSha ?? (await getCut(deps.db, product, release))?.cutSha;
  // A release cut before Culvert traced commits has nothing to trace from.
  if (!from || from === to) return;
  await traceMove(deps, m, product, release, from, to, { sha: to, ifAt: from });
}
