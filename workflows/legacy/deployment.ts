import { condition, log, uuid4, workflowInfo } from '@temporalio/workflow';
import { long, quick } from './proxies.ts';
import type { ProductConfig } from '../../domain/types.ts';
import { gatePolicyOf, handleGateVotes, openGate, watchGate } from './gate.ts';
import type { Gate } from './gate.ts';
import type { DeployJob } from './release-state.ts';

export interface DeploymentInput {
  product: ProductConfig;
  release: string;
  production: boolean;
  job: DeployJob;
}


/**
 * One deployment: the environment's gate when it has one, then the deploy step, recorded either way.
 * A non-production release never reaches a production environment, whoever started this.
 */
export async function deploymentWorkflow(input: DeploymentInput): Promise<{ state: 'succeeded' | 'failed' | 'refused' }> {
  const { product, job } = input;
  const where = { product: product.name, release: input.release };
  const env = product.environments.find((e) => e.name === job.environment);
  const holder: { gate: Gate | null } = { gate: null };

  handleGateVotes(holder, () => where);

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
