// One deployment as a workflow of its own (workflow id culvert-deploy/<id>, never reused): the
// environment's gate when it has one, then the deploy step, its outcome recorded once and reported to
// the release that queued it. A non-production release never reaches a production environment.
import { ParentClosePolicy, allHandlersFinished, condition, executeChild, patched, startChild, workflowInfo } from '@temporalio/workflow';
import { githubDeploymentWorkflow } from './github.ts';
import { dependenciesFor } from '../domain/dependencies.ts';
import { awaitDependencies } from './dependency-wait.ts';
import type { DeployJob, DeploymentFacts } from '../domain/deploy.ts';
import { gatePolicyOf } from '../domain/gate.ts';
import type { ProductConfig } from '../domain/types.ts';
import { gate } from './gate.ts';
import { reportDone, untilOutcome } from './jobs.ts';
import { records, steps } from './release/acts.ts';
import { keepTasksEventful } from './interceptors.ts';

export interface DeploymentInput {
  product: ProductConfig;
  release: string;
  production: boolean;
  job: DeployJob;
  /** The release workflow to tell when it ends; none for a rollback to a closed release. */
  parent?: string;
}

export async function deployment(input: DeploymentInput): Promise<{ state: 'succeeded' | 'failed' | 'refused' }> {
  keepTasksEventful();
  const { product, job } = input;
  const where = { product: product.name, release: input.release };
  const parent = input.parent ?? null;
  // Deployments since issue 13 wait for the versions they depend on, and tell those waiting for theirs.
  const withDependencies = patched('culvert-dependency-waits');
  const finish = async (state: 'succeeded' | 'failed' | 'refused', failure?: string) => {
    if (state !== 'succeeded') {
      await untilOutcome(parent, `recording deployment ${job.deploymentId}`, () => records.recordDeployment({ ...where, job, state: 'failed', ...(failure ? { failure } : {}) }));
    }
    if (withDependencies && state !== 'refused') {
      const event = { product: product.name, version: input.release, environment: job.environment, state, at: new Date(Date.now()).toISOString() };
      await untilOutcome(parent, `telling who waits for ${product.name} ${input.release}`, () => records.notifyDependents(event));
    }
    if (parent) await reportDone(parent, { kind: 'deployment', deploymentId: job.deploymentId, state });
    await condition(allHandlersFinished);
    return { state };
  };

  // Decided from the input (the configuration as the click was accepted), and recorded as such.
  const env = product.environments.find((e) => e.name === job.environment);
  const facts: DeploymentFacts = { environmentProduction: env?.production ?? false, releaseProduction: input.production, gate: env?.gate ?? null };
  await untilOutcome(parent, `recording deployment ${job.deploymentId}`, () => records.recordDeployment({ ...where, job, state: 'pending', facts }));
  if (product.github && patched('culvert-github-deployments')) {
    // GitHub's environments view agrees with Culvert's: a mirror of its own, which this never waits for.
    await startChild(githubDeploymentWorkflow, {
      workflowId: `culvert-github-deploy/${job.deploymentId}`, parentClosePolicy: ParentClosePolicy.ABANDON,
      args: [{ product: product.name, release: input.release, deploymentId: job.deploymentId, environment: job.environment, commitSha: job.commitSha, production: env?.production ?? false, trigger: job.trigger }],
    });
  }
  if (!env && job.trigger !== 'release.final') return finish('refused', `product ${product.name} has no environment ${job.environment}`);
  if (env?.production && !input.production) return finish('refused', `release ${where.release} is not a production release`);
  const declared = withDependencies ? dependenciesFor(product.dependencies, job.environment) : [];
  let needs = declared.flatMap((d) => (d.version !== undefined ? [{ ...d, version: d.version }] : []));
  if (declared.some((d) => d.version === undefined)) {
    // The versions the commit names, read by the product's own step.
    const read = await untilOutcome(parent, `reading the versions deployment ${job.deploymentId} needs`, (runId) =>
      steps.readDependencyVersions({ product, release: input.release, job, runId, needs: declared }));
    if (!read.ok) return finish('failed', read.reason);
    needs = read.value;
  }
  if (needs.length > 0) {
    const waited = await awaitDependencies({
      deploymentId: job.deploymentId, workflowId: workflowInfo().workflowId, product: product.name, release: input.release, environment: job.environment, needs, parent,
    });
    if (!waited.ok) return finish('failed', waited.reason);
  }
  if (env?.gate) {
    const id = `${product.name}/deploy/${job.deploymentId}`;
    const decided = await executeChild(gate, {
      workflowId: `culvert-gate/${id}`,
      args: [{
        id, subject: `deploy ${product.name} ${input.release} to ${env.name}`, policy: gatePolicyOf(env.gate), requestedBy: job.requestedBy,
        product: product.name, release: input.release, parent: null,
      }],
    });
    if (decided.state !== 'approved') return finish('failed', `the gate of ${env.name} ended ${decided.state}`);
  }
  const o = await untilOutcome(parent, `deployment of ${input.release} to ${job.environment}`, (runId) => steps.runDeploy({ product, release: input.release, job, runId }));
  if (!o.ok) return finish('failed', o.reason);
  return finish(o.value.state);
}
