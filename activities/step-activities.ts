import { ApplicationFailure } from '@temporalio/common';
import { upsertDeployment } from '../db/repos/deployments.ts';
import { markCandidateDeployed } from '../db/repos/candidates.ts';
import type { ProductConfig, TriggerEvent } from '../domain/types.ts';
import type { DeployJob } from '../domain/deploy.ts';
import type { ActivityDeps } from './deps.ts';
import { culvertIdentity, mirrorFor } from './deps.ts';
import { executeStep } from './step-exec.ts';
import type { StepJob } from './step-exec.ts';
import type { Mirror } from './git/index.ts';
import { withHeartbeat } from './heartbeat.ts';

export function stepsTriggeredBy(product: ProductConfig, event: TriggerEvent): string[] {
  return product.triggers.filter((t) => t.on === event).map((t) => t.run);
}

export function stepActivities(deps: ActivityDeps) {
  const identity = deps.identity ?? culvertIdentity;

  /** The commit a check tests: the merge or the picks on top of the release head, made without a working tree. */
  async function candidate(m: Mirror, base: string, source: { kind: 'merge'; sha: string } | { kind: 'pick'; commits: string[] }, changeId: string): Promise<string | { conflicts: string[] }> {
    const author = { ...identity, date: '1700000000 +0000' };
    const message = `Culvert check of change ${changeId}`;
    if (source.kind === 'merge') {
      const merged = await m.mergeTrees(base, source.sha);
      if (!merged.clean) return { conflicts: merged.conflicts };
      return m.commitTree({ tree: merged.tree, parents: [base, source.sha], message, author });
    }
    let tip = base;
    for (const sha of source.commits) {
      const picked = await m.pickTree(tip, sha);
      if (picked.kind === 'conflict') return { conflicts: picked.conflicts };
      if (picked.kind === 'clean') tip = await m.commitTree({ tree: picked.tree, parents: [tip], message, author });
    }
    return tip;
  }

  const execute = (job: StepJob) => executeStep(deps, job);

  return {
    /** Runs the change.requested steps on the merge result, computed without a working tree. */
    async runCheck(i: {
      product: ProductConfig; release: string; changeId: string; runId: string; baseSha: string;
      source: { kind: 'merge'; sha: string } | { kind: 'pick'; commits: string[] };
    }): Promise<{ outcome: 'passed' | 'failed' | 'conflict'; conflicts?: string[]; runId: string | null }> {
      const mirror = await withHeartbeat(async () => {
        const m = await mirrorFor(deps, i.product.repository);
        await m.fetch();
        return m;
      });
      const commit = await candidate(mirror, i.baseSha, i.source, i.changeId);
      if (typeof commit !== 'string') return { outcome: 'conflict', conflicts: commit.conflicts, runId: null };
      const names = stepsTriggeredBy(i.product, 'change.requested');
      for (const [n, stepName] of names.entries()) {
        const runId = n === 0 ? i.runId : `${i.runId}-${n}`;
        const outcome = await execute({
          mirror, product: i.product, release: i.release, runId, stepName, commit, changeId: i.changeId,
          env: { CULVERT_CHANGE_ID: i.changeId },
        });
        if (outcome.state !== 'succeeded') return { outcome: 'failed', runId };
      }
      return { outcome: 'passed', runId: names.length > 0 ? i.runId : null };
    },

    /** Runs the deploy step for one deployment and records its outcome. */
    async runDeploy(i: { product: ProductConfig; release: string; job: DeployJob; runId: string }): Promise<{ state: 'succeeded' | 'failed'; runId: string }> {
      const { job } = i;
      const record = (state: 'running' | 'succeeded' | 'failed') => upsertDeployment(deps.db, {
        id: job.deploymentId, product: i.product.name, release: i.release, environment: job.environment,
        commitSha: job.commitSha, trigger: job.trigger, requestedBy: job.requestedBy, state, runId: i.runId,
      });
      await record('running');
      const trigger = i.product.triggers.find((t) => t.on === job.trigger && (t.environment === undefined || t.environment === job.environment));
      const stepName = trigger?.run ?? 'deploy';
      const mirror = await withHeartbeat(async () => {
        const m = await mirrorFor(deps, i.product.repository);
        await m.fetch();
        return m;
      });
      let state: 'succeeded' | 'failed';
      try {
        const outcome = await execute({
          mirror, product: i.product, release: i.release, runId: i.runId, stepName, commit: job.commitSha,
          deploymentId: job.deploymentId, env: { CULVERT_ENVIRONMENT: job.environment, CULVERT_DEPLOYMENT_ID: job.deploymentId },
        });
        state = outcome.state === 'succeeded' ? 'succeeded' : 'failed';
      } catch (err) {
        if (err instanceof ApplicationFailure && err.nonRetryable) state = 'failed';
        else throw err;
      }
      await record(state);
      if (state === 'succeeded' && job.candidateId) await markCandidateDeployed(deps.db, job.candidateId, job.environment);
      return { state, runId: i.runId };
    },
  };
}
