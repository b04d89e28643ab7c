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
