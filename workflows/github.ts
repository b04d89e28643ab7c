// GitHub (issue 14). A delivery of a webhook is a workflow of its own (culvert-github/<delivery id>), so
// a redelivery finds it and nothing is done twice; its activity turns the event into Culvert's own
// operations. A pull request Culvert filed a merge request for is followed by a workflow per pull
// request (culvert-github-pull/<product>/<number>) that mirrors the request's check and decision onto
// the pull request's head as commit statuses until the request ends; a new head (a push to the pull
// request) is signalled to it and followed instead. A pick filed from a pull request's label is followed
// likewise (culvert-github-pick/<product>/<release>/<number>) and told on the pull request when it ends.
import { allHandlersFinished, condition, continueAsNew, defineSignal, executeChild, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { CulvertActivities } from '../activities/index.ts';
import type { BuildFollow, DeploymentMirror, GithubDelivery, GithubOutcome, PickFollow, ProtectionAsk, PullFollow } from '../domain/github.ts';
import { gatePolicyOf } from '../domain/gate.ts';
import { gate } from './gate.ts';
import { keepTasksEventful } from './interceptors.ts';

/** Database and GitHub calls: an outage (GitHub's included) is waited out, never an attempt limit. */
const acts = proxyActivities<CulvertActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** Waiting for a request to change: up to a minute, heartbeating. */
const watch = proxyActivities<CulvertActivities>({
  startToCloseTimeout: '3 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export async function githubDeliveryWorkflow(delivery: GithubDelivery): Promise<GithubOutcome[]> {
  keepTasksEventful();
  return acts.handleGithubDelivery(delivery);
}

export const pullHeadSignal = defineSignal<[PullFollow]>('githubPullHead');

/** Rounds of one run before it continues as new (each round is a few events). */
const roundsPerRun = 200;

export async function githubPullWorkflow(start: PullFollow): Promise<void> {
  keepTasksEventful();
  let current = start;
  let next: PullFollow | null = null;
  setHandler(pullHeadSignal, (f) => {
    if (f.changeId !== current.changeId) next = f;
  });
  let rev = -1;
  for (let round = 0; ; round++) {
    const newer = next as PullFollow | null;
    if (newer) {
      current = newer;
      next = null;
      rev = -1;
    }
    const seen = await watch.awaitChange({ changeId: current.changeId, product: current.product, release: current.release, afterRev: rev, waitSeconds: 60 });
    if (seen.rev !== rev) {
      await acts.postPullStatuses({ follow: current, change: seen });
      rev = seen.rev;
    }
    if (seen.terminal) {
      await condition(allHandlersFinished);
      if (next === null) return;
      continue;
    }
    if (round >= roundsPerRun || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof githubPullWorkflow>((next as PullFollow | null) ?? current);
    }
  }
}

/** A pick filed from a label: followed until it ends, then told on the pull request, once. */
export async function githubPickWorkflow(f: PickFollow): Promise<void> {
  keepTasksEventful();
  let rev = -1;
  for (let round = 0; ; round++) {
    const seen = await watch.awaitChange({ changeId: f.changeId, product: f.product, release: f.release, afterRev: rev, waitSeconds: 60 });
    rev = seen.rev;
    if (seen.terminal) {
      await acts.commentOnPick({ follow: f, change: seen });
      return;
    }
    if (round >= roundsPerRun || workflowInfo().continueAsNewSuggested) await continueAsNew<typeof githubPickWorkflow>(f);
  }
}

/**
 * A deployment of a GitHub-backed product as a GitHub Deployment (started by the deployment's workflow,
 * which never waits for it): created once (found by Culvert's id in its payload), then its status
 * follows Culvert's until the deployment ends.
 */
export async function githubDeploymentWorkflow(d: DeploymentMirror): Promise<void> {
  keepTasksEventful();
  const mirrored = await acts.mirrorDeployment(d);
  if (mirrored.githubId === null) return;
  let state = '';
  for (let round = 0; ; round++) {
    const seen = await watch.awaitDeployment({ deploymentId: d.deploymentId, afterState: state, waitSeconds: 60 });
    if (seen.state !== state) {
      await acts.postDeploymentStatus({ mirror: d, githubId: mirrored.githubId, state: seen.state });
      state = seen.state;
    }
    if (seen.state === 'succeeded' && d.trigger === 'release.final') {
      // The binary release is published: on GitHub too, with its notes and the final build's artifacts.
      await acts.publishGithubRelease({ product: d.product, release: d.release, commitSha: d.commitSha });
    }
    if (seen.state === 'succeeded' || seen.state === 'failed' || seen.state === 'gone') return;
    if (round >= roundsPerRun || workflowInfo().continueAsNewSuggested) await continueAsNew<typeof githubDeploymentWorkflow>(d);
  }
}

/** GitHub's deployment to an environment waits on the environment's Culvert gate; GitHub is answered once it is decided. */
export async function githubProtectionWorkflow(ask: ProtectionAsk): Promise<{ state: string }> {
  keepTasksEventful();
  const policy = await acts.gatePolicyOfEnvironment({ product: ask.product, environment: ask.environment });
  if (!policy) {
    await acts.answerProtectionRule({ ask, state: 'rejected', comment: `Culvert: ${ask.environment} has no gate any more` });
    return { state: 'rejected' };
  }
  const decided = await executeChild(gate, {
    workflowId: `culvert-gate/${ask.gateId}`,
    args: [{ id: ask.gateId, subject: ask.subject, policy: gatePolicyOf(policy), requestedBy: ask.requestedBy, product: ask.product, release: ask.release, parent: null }],
  });
  const state = decided.state === 'approved' ? 'approved' : 'rejected';
  await acts.answerProtectionRule({ ask, state, comment: `Culvert: the gate of ${ask.environment} ended ${decided.state}` });
  return { state };
}

/** A candidate build shown on its commit (culvert/build): pending while it builds, then built or failed. */
export async function githubBuildWorkflow(b: BuildFollow): Promise<void> {
  keepTasksEventful();
  await acts.postBuildStatus({ product: b.product, sha: b.commit, state: 'pending', description: `${b.label}: building` });
  for (let round = 0; ; round++) {
    const seen = await watch.awaitCandidate({ candidateId: b.candidateId, afterState: 'building', waitSeconds: 60 });
    if (seen.state !== 'building') {
      const built = seen.state === 'built';
      await acts.postBuildStatus({
        product: b.product, sha: b.commit, state: built ? 'success' : 'failure', description: built ? `${b.label}: built` : `${b.label}: ${seen.failure ?? 'failed'}`,
      });
      return;
    }
    if (round >= roundsPerRun || workflowInfo().continueAsNewSuggested) await continueAsNew<typeof githubBuildWorkflow>(b);
  }
}
