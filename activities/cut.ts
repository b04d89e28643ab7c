// Cutting a release in three bounded steps, each safe to retry: where to cut (checked against git once,
// so a bad repository or `from` is answered at once), the branch and the release row, and, when the cut
// cannot finish, removing what it left so its name is free again.
import { SecondPullRequestReleaseError, forgetRelease, upsertRelease } from '../db/repos/releases.ts';
import { refuse } from '../domain/errors.ts';
import { releaseBranch } from '../domain/types.ts';
import type { ProductConfig } from '../domain/types.ts';
import type { ActivityDeps } from './deps.ts';
import { mirrorFor } from './deps.ts';
import { classified } from './faults.ts';
import { git, isShaLike } from './git/index.ts';
import type { Mirror } from './git/index.ts';
import { withHeartbeat } from './heartbeat.ts';
import { safeBranch } from './release-git.ts';
import { recordCut } from './trace/index.ts';

/** Deletes `branch` on the remote if it still points at `sha` (another writer's branch is left alone). */
async function deleteBranch(m: Mirror, branch: string, sha: string): Promise<void> {
  safeBranch(branch);
  const ref = `refs/heads/${branch}`;
  await git(['-c', 'core.hooksPath=/dev/null', 'push', '--porcelain', `--force-with-lease=${ref}:${sha}`, '--end-of-options', 'origin', `:${ref}`], {
    cwd: m.gitDir, env: { GIT_DIR: m.gitDir }, okExitCodes: [1],
  });
}

/**
 * The commit a cut's `from` names: `refs/heads/<b>` or `refs/tags/<t>` as written; otherwise a commit
 * (full or abbreviated SHA), then a branch, then a tag of that name (`3.18.0`, `v4.0.0`), as git would.
 */
export async function resolveFrom(m: Mirror, from: string): Promise<string | null> {
  const qualified = /^refs\/(heads|tags)\/(.+)$/.exec(from);
  if (qualified) {
    const name = qualified[2] as string;
    safeBranch(name);
    return qualified[1] === 'heads' ? m.resolveBranch(name) : m.resolveTag(name);
  }
  if (isShaLike(from)) {
    const sha = await m.resolveCommit(from);
    if (sha) return sha;
  }
  safeBranch(from);
  return (await m.resolveBranch(from)) ?? m.resolveTag(from);
}

export function cutActivities(deps: ActivityDeps) {
  return {
    /** The release branch and the commit to cut it from (the trunk's head unless `from` names one). */
    /**
     * Where a release is cut. `trunkOnly` (a production release cut by a ci token): only from trunk's
     * history, never from a commit that is only on an unreviewed branch; other cuts need an owner.
     */
    async resolveCut(i: { product: ProductConfig; name: string; from: string | null; at: string; trunkOnly?: boolean }): Promise<{ branch: string; sha: string }> {
      return classified(() => withHeartbeat(async () => {
        const branch = releaseBranch(i.product, i.name, new Date(i.at));
        safeBranch(branch);
        const from = i.from ?? i.product.trunk;
        const m = await mirrorFor(deps, i.product.repository);
        await m.fetch();
        const sha = await resolveFrom(m, from);
        if (!sha) throw refuse('unknown_commit', `${from} is not a branch, tag or commit of ${i.product.repository}`, { ref: from });
        if (i.trunkOnly && i.from !== null) {
          const trunk = await m.resolveBranch(i.product.trunk);
          if (!trunk || !(await m.isAncestor(sha, trunk))) {
            throw refuse('forbidden', `a ci token cuts production releases only from ${i.product.trunk}'s history, and ${from} is not on it; an owner may cut from it`, { from, trunk: i.product.trunk });
          }
        }
        return { branch, sha };
      }));
    },

    /**
     * Creates the release branch at exactly `sha` (pull-request releases live on trunk and create none)
     * and the release row. A retry finds its own branch; a branch at another commit is someone else's.
     */
    async createRelease(i: {
      product: ProductConfig; name: string; branch: string; sha: string; production: boolean; createdBy: string; workflowId: string; at: string;
    }): Promise<void> {
      await classified(() => withHeartbeat(async () => {
        const m = await mirrorFor(deps, i.product.repository);
        if (i.product.flow !== 'pull-request') {
          await m.fetch();
          let existing = await m.resolveBranch(i.branch);
          if (existing === null) {
            const pushed = await m.push({ sha: i.sha, branch: i.branch, expectedOld: null });
            existing = pushed.ok ? i.sha : pushed.actual;
          }
          if (existing !== i.sha) {
            throw refuse('release_exists', `branch ${i.branch} already exists at another commit`, { branch: i.branch, sha: existing });
          }
        }
        try {
          await upsertRelease(deps.db, {
            product: i.product.name, name: i.name, flow: i.product.flow, branch: i.branch, production: i.production, cutFrom: i.sha,
            headSha: i.sha, workflowId: i.workflowId, createdBy: i.createdBy, state: 'open', epoch: 1, engine: 2,
          });
        } catch (err) {
          if (err instanceof SecondPullRequestReleaseError) throw refuse('release_exists', err.message, { product: i.product.name });
          throw err;
        }
        await recordCut(deps, m, i.product, i.name, i.sha, new Date(i.at));
      }));
    },

    /** Undoes a cut that could not finish: the release row and its trace; the branch if still where the cut put it. */
    async abandonCut(i: { product: ProductConfig; name: string; branch: string; sha: string }): Promise<void> {
      await classified(() => withHeartbeat(async () => {
        await forgetRelease(deps.db, i.product.name, i.name);
        if (i.product.flow === 'pull-request') return;
        const m = await mirrorFor(deps, i.product.repository);
        await deleteBranch(m, i.branch, i.sha);
      }));
    },
  };
}
