// GitHub's activities (workflows/github.ts): handling a delivery, watching a merge request, and mirroring
// its check and decision onto the pull request's head as commit statuses. A status is posted only when
// the newest one GitHub has for that context says something else, so a retry after a crash between the
// post and its answer posts nothing twice.
import { getCandidate } from '../../db/repos/candidates.ts';
import { getChange } from '../../db/repos/changes.ts';
import { getProduct } from '../../db/repos/products.ts';
import { pickComment, statusContexts, statusesOf } from '../../domain/github.ts';
import type { GithubConfig, GithubDelivery, GithubOutcome, PickFollow, PullFollow, SeenChange } from '../../domain/github.ts';
import { isTerminal } from '../../domain/types.ts';
import type { ChangeState } from '../../domain/types.ts';
import type { ActivityDeps } from '../deps.ts';
import { githubClient, ownerRepo, refusal, watchUntil } from './client.ts';
import { handleDelivery } from './deliveries.ts';
import { githubDeploymentActivities } from './deployments.ts';
import { githubReleaseActivities } from './releases.ts';

type CommitStatus = ReturnType<typeof statusesOf>[number];

export function githubActivities(deps: ActivityDeps) {
  /** Posts each status whose context GitHub shows with another state or description now (its newest first). */
  const postCommitStatuses = async (product: string, sha: string, statuses: CommitStatus[]): Promise<{ posted: string[]; refused?: string }> => {
    const github = (await getProduct(deps.db, product))?.config.github as GithubConfig | undefined;
    if (!github) return { posted: [], refused: `${product} is no longer backed by GitHub` };
    const { owner, repo } = ownerRepo(github);
    const posted: string[] = [];
    try {
      const octokit = await githubClient(github);
      const { data: existing } = await octokit.rest.repos.listCommitStatusesForRef({ owner, repo, ref: sha, per_page: 100 });
      for (const s of statuses) {
        const now = existing.find((x) => x.context === s.context);
        if (now && now.state === s.state && now.description === s.description) continue;
        await octokit.rest.repos.createCommitStatus({ owner, repo, sha, state: s.state, context: s.context, description: s.description });
        posted.push(`${s.context}=${s.state}`);
      }
    } catch (err) {
      // A secret this worker does not have, or GitHub's refusal, is said as the outcome (the follower goes on).
      const refused = refusal(err);
      if (refused) return { posted, refused };
      throw err;
    }
    return { posted };
  };

  return {
    ...githubDeploymentActivities(deps),
    ...githubReleaseActivities(deps),
    async handleGithubDelivery(d: GithubDelivery): Promise<GithubOutcome[]> {
      return handleDelivery(deps, d);
    },

    /** The request once its revision is newer than `afterRev`, or as it is after `waitSeconds`. */
    async awaitChange(i: { changeId: string; product: string; release: string; afterRev: number; waitSeconds: number }): Promise<SeenChange> {
      const c = await watchUntil(i.waitSeconds, () => getChange(deps.db, i.product, i.release, i.changeId), (x) => !x || x.rev > i.afterRev);
      if (!c) return { rev: 0, seq: 0, state: 'failed', check: 'none', terminal: true, decidedBy: null, failure: 'the request is gone' };
      return {
        rev: c.rev, seq: c.seq, state: c.state, check: c.checkOutcome, terminal: isTerminal(c.state as ChangeState), decidedBy: c.decidedBy, failure: c.failure,
        resultSha: c.resultSha, conflictPaths: c.conflictPaths ?? [],
      };
    },

    /** Tells the pull request how its pick ended, unless a comment of Culvert's already says so. */
    async commentOnPick(i: { follow: PickFollow; change: SeenChange }): Promise<{ commented: boolean; refused?: string }> {
      const github = (await getProduct(deps.db, i.follow.product))?.config.github;
      if (!github) return { commented: false, refused: `${i.follow.product} is no longer backed by GitHub` };
      const { owner, repo } = ownerRepo(github);
      const { marker, body } = pickComment(i.follow, i.change);
      try {
        const octokit = await githubClient(github);
        const comments = await octokit.paginate(octokit.rest.issues.listComments, { owner, repo, issue_number: i.follow.number, per_page: 100 });
        if (comments.some((c) => (c.body ?? '').includes(marker))) return { commented: false };
        await octokit.rest.issues.createComment({ owner, repo, issue_number: i.follow.number, body });
        return { commented: true };
      } catch (err) {
        const refused = refusal(err);
        if (refused) return { commented: false, refused };
        throw err;
      }
    },

    async postPullStatuses(i: { follow: PullFollow; change: SeenChange }): Promise<{ posted: string[]; refused?: string }> {
      return postCommitStatuses(i.follow.product, i.follow.headSha, statusesOf(i.change));
    },

    /** A build's status on the commit it builds (culvert/build). */
    async postBuildStatus(i: { product: string; sha: string; state: CommitStatus['state']; description: string }): Promise<{ posted: string[]; refused?: string }> {
      return postCommitStatuses(i.product, i.sha, [{ context: statusContexts.build, state: i.state, description: i.description.slice(0, 140) }]);
    },

    /** The candidate's state once it is not `afterState`, or as it is after `waitSeconds`. */
    async awaitCandidate(i: { candidateId: string; afterState: string; waitSeconds: number }): Promise<{ state: string; failure: string | null }> {
      const c = await watchUntil(i.waitSeconds, () => getCandidate(deps.db, i.candidateId), (x) => (x?.state ?? 'building') !== i.afterState);
      return { state: c?.state ?? 'building', failure: c?.failure ?? null };
    },
  };
}
