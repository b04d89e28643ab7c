import { ApplicationFailure } from '@temporalio/common';
import { SecondPullRequestReleaseError, upsertRelease } from '../db/repos/releases.ts';
import { releaseBranch } from '../domain/types.ts';
import type { ProductConfig } from '../domain/types.ts';
import { refuse } from '../domain/errors.ts';
import type { ActivityDeps } from './deps.ts';
import { culvertIdentity, mirrorFor } from './deps.ts';
import { InvalidRefError, assertSafeBranchName, isShaLike } from './git/index.ts';
import { withHeartbeat } from './heartbeat.ts';
import { recordMove as recordMoveNow } from './moves.ts';
import { recordCut } from './trace/index.ts';
import { permanent } from './faults.ts';

export type MergeResult =
  | { kind: 'merged'; sha: string }
  | { kind: 'already-present' }
  | { kind: 'conflict'; paths: string[] }
  | { kind: 'stale'; actual: string };

export function safeBranch(branch: string): void {
  try {
    assertSafeBranchName(branch);
  } catch (err) {
    if (err instanceof InvalidRefError) throw refuse('invalid_ref', err.message, { ref: branch });
    throw err;
  }
}

export interface MergeInput {
  product: ProductConfig; release: string; branch: string; expectedHead: string;
  change: { id: string; seq: number; branch: string; sourceSha: string; decidedBy: string };
}

/**
 * Merges one approved change onto the release branch without a working tree. Idempotent: a retry
 * after a crash finds its own merge commit on the remote (by trailer) instead of merging twice.
 * `landed` runs once the merge is on the remote and (unless `traceLater`) its move traced.
 */
export async function mergeOnto(deps: ActivityDeps, i: MergeInput, landed?: (sha: string) => Promise<void>, traceLater = false): Promise<MergeResult> {
  // Units of runs that trace in an activity of their own (after the outcome) leave the trace to it.
  const recordMove = traceLater ? async () => undefined : recordMoveNow;
  const identity = deps.identity ?? culvertIdentity;
  const m = await mirrorFor(deps, i.product.repository);
  await m.fetch();
  const remote = await m.resolveBranch(i.branch);
  if (!remote) throw permanent(`release branch ${i.branch} is gone from ${i.product.repository}`);
  const trailer = `Culvert-Change: ${i.change.id}`;
  if (remote !== i.expectedHead) {
    const info = await m.commitInfo(remote);
    if (info.parents[0] === i.expectedHead && info.message.includes(trailer)) {
      await recordMove(deps, m, i.product.name, i.release, i.expectedHead, remote);
      await landed?.(remote);
      return { kind: 'merged', sha: remote };
    }
    if (await m.isAncestor(i.expectedHead, remote)) {
      await recordMove(deps, m, i.product.name, i.release, i.expectedHead, remote);
    }
    return { kind: 'stale', actual: remote };
  }
  if (await m.isAncestor(i.change.sourceSha, i.expectedHead)) return { kind: 'already-present' };
  const merged = await m.mergeTrees(i.expectedHead, i.change.sourceSha);
  if (!merged.clean) return { kind: 'conflict', paths: merged.conflicts };
  const message = [
    `Merge branch '${i.change.branch}' into ${i.branch}`,
    '',
    `Culvert merged request #${i.change.seq}, approved by ${i.change.decidedBy}.`,
    '',
    trailer,
  ].join('\n');
  const sha = await m.commitTree({ tree: merged.tree, parents: [i.expectedHead, i.change.sourceSha], message, author: identity });
  await deps.faults?.beforePush?.(i.change.id);
  const pushed = await m.push({ sha, branch: i.branch, expectedOld: i.expectedHead });
  if (!pushed.ok) {
    if (pushed.actual) return { kind: 'stale', actual: pushed.actual };
    throw permanent(`release branch ${i.branch} vanished during the merge`);
  }
  await deps.faults?.afterPush?.(i.change.id);
  // Inline, the move (the release's head and the commits it brought in) goes before the outcome, so that
  // whoever reads the request merged finds `culvert where` and the notes agreeing; with `traceLater`, the
  // outcome goes first and the API waits for the trace that follows (api/commits/fresh.ts).
  await recordMove(deps, m, i.product.name, i.release, i.expectedHead, sha);
  await landed?.(sha);
  return { kind: 'merged', sha };
}

export function releaseGitActivities(deps: ActivityDeps) {
  return {
    async cutRelease(i: {
      product: ProductConfig; name: string; from: string | null; production: boolean; createdBy: string; workflowId: string; at: string;
    }): Promise<{ branch: string; headSha: string; cutFrom: string }> {
      return withHeartbeat(async () => {
        const m = await mirrorFor(deps, i.product.repository);
        await m.fetch();
        const branch = releaseBranch(i.product, i.name, new Date(i.at));
        safeBranch(branch);
        let headSha: string | null;
        const from = i.from ?? i.product.trunk;
        if (isShaLike(from)) {
          headSha = await m.resolveCommit(from);
        } else {
          safeBranch(from);
          headSha = await m.resolveBranch(from);
        }
        if (!headSha) throw refuse('unknown_commit', `${from} is not a branch or commit of ${i.product.repository}`, { ref: from });
        if (i.product.flow !== 'pull-request') {
          const existing = await m.resolveBranch(branch);
          if (existing === null) {
            const pushed = await m.push({ sha: headSha, branch, expectedOld: null });
            if (!pushed.ok) throw ApplicationFailure.retryable(`branch ${branch} appeared while cutting`);
          } else if (existing !== headSha) {
            throw refuse('release_exists', `branch ${branch} already exists at another commit`, { branch, sha: existing });
          }
        }
        try {
          await upsertRelease(deps.db, {
            product: i.product.name, name: i.name, flow: i.product.flow, branch, production: i.production,
            cutFrom: headSha, headSha, workflowId: i.workflowId, createdBy: i.createdBy, state: 'open',
          });
        } catch (err) {
          if (err instanceof SecondPullRequestReleaseError) throw refuse('release_exists', err.message, { product: i.product.name });
          throw err;
        }
        await recordCut(deps, m, i.product, i.name, headSha, new Date(i.at));
        return { branch, headSha, cutFrom: headSha };
      });
    },

    async resolveMergeSource(i: { product: ProductConfig; branch: string }): Promise<{ sha: string }> {
      safeBranch(i.branch);
      return withHeartbeat(async () => {
        const m = await mirrorFor(deps, i.product.repository);
        await m.fetch();
        const sha = await m.resolveBranch(i.branch);
        if (!sha) throw refuse('unknown_branch', `branch ${i.branch} does not exist in ${i.product.repository}`, { branch: i.branch });
        return { sha };
      });
    },

    /**
     * Merges one approved change onto the release branch without a working tree. Idempotent: a retry
     * after a crash finds its own merge commit on the remote (by trailer) instead of merging twice.
     */
    /** The merge of the release workflow of 2026-11 (releaseWorkflow); mergeApproved is today's. */
    async mergeChange(i: MergeInput): Promise<MergeResult> {
      return withHeartbeat(() => mergeOnto(deps, i));
    },
  };
}
