import { condition, log, proxyActivities, setHandler, uuid4, workflowInfo } from '@temporalio/workflow';
import type { CulvertActivities } from '../activities/index.ts';
import type { ProductConfig } from './domain.ts';
import { refuse } from './errors.ts';
import { gatePolicyOf, openGate, tally, voteRefusal, watchGate } from './gate.ts';
import type { Gate } from './gate.ts';
import { voteUpdate } from './messages.ts';
import type { DeployJob } from './release-state.ts';

export interface DeploymentInput {
  product: ProductConfig;
  release: string;
  production: boolean;
  job: DeployJob;
}

const quick = proxyActivities<CulvertActivities>({
  startToCloseTimeout: '2 minutes', heartbeatTimeout: '15 seconds', retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});
const long = proxyActivities<CulvertActivities>({
  startToCloseTimeout: '6 hours', heartbeatTimeout: '20 seconds', retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 5 },
});

/**
 * One deployment: the environment's gate when it has one, then the deploy step, recorded either way.
 * A non-production release never reaches a production environment, whoever started this.
 */
export async function deploymentWorkflow(input: DeploymentInput): Promise<{ state: 'succeeded' | 'failed' | 'refused' }> {
  const { product, job } = input;
  const where = { product: product.name, release: input.release };
  const env = product.environments.find((e) => e.name === job.environment);
  const holder: { gate: Gate | null } = { gate: null };

  setHandler(voteUpdate, async ({ gateId, decision, comment, actor }) => {
    const gate = holder.gate;
    if (!gate || gate.id !== gateId) throw refuse('approval_not_found', `no approval ${gateId} on deployment ${job.deploymentId}`);
    gate.votes.push({ by: actor.name, decision, at: new Date().toISOString(), ...(comment ? { comment } : {}) });
    gate.state = tally(gate);
    await quick.recordGate({ ...where, workflowId: workflowInfo().workflowId, gate });
    return { gateId, state: gate.state, votes: gate.votes.length };
  }, {
    validator: ({ gateId, actor }) => {
      if (!holder.gate || holder.gate.id !== gateId) throw refuse('approval_not_found', `no approval ${gateId} on deployment ${job.deploymentId}`);
      const refusal = voteRefusal(holder.gate, actor);
      if (refusal) throw refuse(refusal.code, refusal.message);
    },
  });

  await quick.recordDeployment({ ...where, job, state: 'pending' });
  if (!env || (env.production && !input.production)) {
    log.warn('deployment refused', { environment: job.environment, production: input.production });
    await quick.recordDeployment({ ...where, job, state: 'failed' });
    return { state: 'refused' };
  }
  if (env.gate) {
    const policy = gatePolicyOf(env.gate);
    holder.gate = openGate(`${product.name}/deploy/${job.deploymentId}`, `deploy ${product.name} ${input.release} to ${env.name}`, policy, job.requestedBy, new Date());
    await quick.recordGate({ ...where, workflowId: workflowInfo().workflowId, gate: holder.gate });
    const gate = holder.gate;
    await Promise.all([watchGate(holder, policy, where), condition(() => gate.state !== 'pending')]);
    if (gate.state !== 'approved') {
      await quick.recordDeployment({ ...where, job, state: 'failed' });
      return { state: 'failed' };
    }
  }
  const res = await long.runDeploy({ product, release: input.release, job, runId: uuid4() });
  return { state: res.state };
}
