import { moveReleaseHead } from '../db/repos/releases.ts';
import type { CommitEntry } from '../db/repos/releases.ts';
import type { ActivityDeps } from './deps.ts';
import type { Mirror } from './git/index.ts';

const pickedFrom = /\(cherry picked from commit ([0-9a-f]{7,40})\)/;
const culvertChange = /^Culvert-Change: (\S+)$/m;

/**
 * Records a move of a release's branch: the new head and every commit the move brought in, with the
 * origin of picked commits and the change request that brought them (from Culvert's trailers).
 */
export async function recordMove(deps: ActivityDeps, m: Mirror, product: string, release: string, from: string, to: string): Promise<void> {
  const commits = await m.messages(`${from}..${to}`);
  const entries: CommitEntry[] = commits.map((c) => ({
    sha: c.sha, originSha: pickedFrom.exec(c.message)?.[1] ?? null, changeId: culvertChange.exec(c.message)?.[1] ?? null,
  }));
  await moveReleaseHead(deps.db, product, release, to, entries);
}
