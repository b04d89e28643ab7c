import type { ChangeRecord } from '../db/repos/changes.ts';
import { upsertChanges } from '../db/repos/changes.ts';
import { upsertDeployment } from '../db/repos/deployments.ts';
import { setReleaseState } from '../db/repos/releases.ts';
import type { ReleaseState } from '../domain/types.ts';
import type { DeployJob, DeploymentFacts } from '../domain/deploy.ts';
import type { ActivityDeps } from './deps.ts';
import { classified } from './faults.ts';

export function recordActivities(deps: ActivityDeps) {
  const { db } = deps;
  return {
    async recordChanges(i: { product: string; release: string; changes: ChangeRecord[] }): Promise<void> {
      await upsertChanges(db, i.product, i.release, i.changes);
    },

    async recordDeployment(i: {
      product: string; release: string; job: DeployJob; state: 'pending' | 'failed'; runId?: string; failure?: string; facts?: DeploymentFacts;
    }): Promise<void> {
      await classified(() => upsertDeployment(db, {
        id: i.job.deploymentId, product: i.product, release: i.release, environment: i.job.environment,
        commitSha: i.job.commitSha, trigger: i.job.trigger, requestedBy: i.job.requestedBy, state: i.state, runId: i.runId ?? null,
        failure: i.failure ?? null, facts: i.facts ?? null,
      }));
    },

    async recordReleaseState(i: { product: string; release: string; state: ReleaseState }): Promise<void> {
      await setReleaseState(db, i.product, i.release, i.state);
    },
  };
}
