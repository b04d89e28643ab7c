// Culvert's deployments as GitHub Deployments (workflows/github.ts githubDeploymentWorkflow), so that
// GitHub's environments view agrees with Culvert's. The GitHub deployment carries Culvert's id in its
// payload and is looked for before one is created; a status is posted only when GitHub's newest differs.
import { getDeployment } from '../../db/repos/deployments.ts';
import { getProduct } from '../../db/repos/products.ts';
import { callbackOnApi, githubDeploymentState } from '../../domain/github.ts';
import type { DeploymentMirror, ProtectionAsk } from '../../domain/github.ts';
import type { GatePolicyConfig } from '../../domain/types.ts';
import type { ActivityDeps } from '../deps.ts';
import { githubClient, ownerRepo, refusal, watchUntil } from './client.ts';

export function githubDeploymentActivities(deps: ActivityDeps) {
  const backing = async (product: string) => (await getProduct(deps.db, product))?.config.github;
  return {
    async mirrorDeployment(d: DeploymentMirror): Promise<{ githubId: number | null; refused?: string }> {
      const github = await backing(d.product);
      if (!github) return { githubId: null, refused: `${d.product} is no longer backed by GitHub` };
      const { owner, repo } = ownerRepo(github);
      try {
        const octokit = await githubClient(github);
        const existing = await octokit.paginate(octokit.rest.repos.listDeployments, { owner, repo, sha: d.commitSha, environment: d.environment, per_page: 100 });
        const ours = existing.find((x) => (x.payload as { culvert?: string } | string | null) !== null && typeof x.payload === 'object' && (x.payload as { culvert?: string }).culvert === d.deploymentId);
        if (ours) return { githubId: ours.id };
        const { data } = await octokit.rest.repos.createDeployment({
          owner, repo, ref: d.commitSha, environment: d.environment, auto_merge: false, required_contexts: [], production_environment: d.production,
          description: `Culvert: ${d.product} ${d.release} to ${d.environment}`, payload: { culvert: d.deploymentId, release: d.release },
        });
        if (!('id' in data)) return { githubId: null, refused: `GitHub did not create the deployment: ${JSON.stringify(data).slice(0, 200)}` };
        return { githubId: data.id };
      } catch (err) {
        const refused = refusal(err);
        if (refused) return { githubId: null, refused };
        throw err;
      }
    },

    /** The gate an environment has now (read when GitHub asks, so a gate changed since counts). */
    async gatePolicyOfEnvironment(i: { product: string; environment: string }): Promise<GatePolicyConfig | null> {
      return (await getProduct(deps.db, i.product))?.config.environments.find((e) => e.name === i.environment)?.gate ?? null;
    },

    /** Answers GitHub's custom deployment protection rule at the callback it gave (only on the product's API). */
    async answerProtectionRule(i: { ask: ProtectionAsk; state: 'approved' | 'rejected'; comment: string }): Promise<{ answered: boolean; refused?: string }> {
      const github = await backing(i.ask.product);
      if (!github || !callbackOnApi(i.ask.callbackUrl, github.baseUrl)) return { answered: false, refused: 'the callback is not on the product\'s GitHub API' };
      try {
        const octokit = await githubClient(github);
        await octokit.request({ method: 'POST', url: i.ask.callbackUrl, environment_name: i.ask.environment, state: i.state, comment: i.comment });
        return { answered: true };
      } catch (err) {
        // GitHub refuses a second answer: the first one stands.
        const refused = refusal(err);
        if (refused) return { answered: false, refused };
        throw err;
      }
    },

    /** The deployment's state once it is not `afterState`, or as it is after `waitSeconds`. */
    async awaitDeployment(i: { deploymentId: string; afterState: string; waitSeconds: number }): Promise<{ state: string }> {
      const state = await watchUntil(i.waitSeconds, async () => (await getDeployment(deps.db, i.deploymentId))?.state ?? 'gone', (x) => x !== i.afterState);
      return { state };
    },

    async postDeploymentStatus(i: { mirror: DeploymentMirror; githubId: number; state: string }): Promise<{ posted: boolean; refused?: string }> {
      const github = await backing(i.mirror.product);
      const state = githubDeploymentState(i.state);
      if (!github || !state) return { posted: false };
      const { owner, repo } = ownerRepo(github);
      try {
        const octokit = await githubClient(github);
        const { data: statuses } = await octokit.rest.repos.listDeploymentStatuses({ owner, repo, deployment_id: i.githubId, per_page: 100 });
        // GitHub lists the newest first.
        if (statuses[0]?.state === state) return { posted: false };
        await octokit.rest.repos.createDeploymentStatus({
          owner, repo, deployment_id: i.githubId, state, environment: i.mirror.environment, description: `Culvert: deployment ${i.state}`.slice(0, 140),
        });
        return { posted: true };
      } catch (err) {
        const refused = refusal(err);
        if (refused) return { posted: false, refused };
        throw err;
      }
    },
  };
}
