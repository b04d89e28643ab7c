import { createHash, randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { candidatesOfRelease } from '../../db/repos/candidates.ts';
import { deploymentWorkflowId, mayDecide } from '../../domain/types.ts';
import { deployment } from '../../workflows/deploy.ts';
import { getDeployment, upsertDeployment } from '../../db/repos/deployments.ts';
import { waitsOfDeployment } from '../../db/repos/dependency-waits.ts';
import { dependencyOverrideSignal } from '../../workflows/dependency-wait.ts';
import { describeDependency } from '../../domain/dependencies.ts';
import { naming, updateIdFor, withRelease } from '../release-workflow.ts';
import { executeUpdateWithRetry, UpdateAcceptedUnread } from '../temporal-update.ts';
import type { DeployJob } from '../../domain/deploy.ts';
import { z } from 'zod';
import { deployUpdate } from '../../workflows/release/messages.ts';
import { audited } from '../audit/record.ts';
import { requireOwner, requireView } from '../auth.ts';
import type { Actor } from '../../domain/types.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import { loadProduct } from '../products/routes.ts';
import { loadRelease } from '../releases/routes.ts';
import type { Routes } from '../route.ts';
import { doc, slug, slugParam } from '../route.ts';

const deploySchema = z.strictObject({
  environment: doc(slug, 'Where to deploy', 'staging'),
  /** A rollback to an earlier candidate of this release, by label ("3.11 RC1"); default the release head. */
  candidate: doc(z.string().min(1).max(100), 'An earlier built candidate of this release to deploy instead of its head (a rollback)', '3.11 RC1').optional(),
});

export function deploymentRoutes(r: Routes, deps: AppDeps): void {
  r.add({
    method: 'post', path: '/v1/products/:product/releases/:release/deployments', tag: 'deployments',
    summary: 'Deploy click (owner): deploys the release head to an environment', body: deploySchema,
    responses: { 202: 'the deployment, pending', 409: 'non-production release to a production environment', 422: 'unknown environment' },
  }, async ({ body, actor, c }) => {
    const { status, ...answer } = await deployClick(deps, actor, slugParam(c, 'product'), slugParam(c, 'release'), body, c.req.header('idempotency-key'));
    return c.json(answer, status);
  });

  r.add({
    method: 'post', path: '/v1/products/:product/releases/:release/deployments/:id/go-ahead', tag: 'deployments',
    summary: 'Let a deployment that waits for its dependencies go ahead without them (owner, or whom its timed-out wait was escalated to; audited)',
    responses: { 202: 'the deployment goes ahead', 403: 'neither an owner nor named by its escalation', 404: 'unknown deployment', 409: 'it waits for nothing' },
  }, async ({ actor, c }) => {
    const product = slugParam(c, 'product');
    const release = slugParam(c, 'release');
    const id = c.req.param('id') ?? '';
    // An owner; or, once every dependency it waits for was escalated at its timeout, a principal each
    // escalation names (as a gate's escalateTo: a token that sees the product and is not a viewer's).
    const owner = mayDecide(actor, product);
    if (!owner) {
      requireView(actor, product);
      if (actor.role === 'viewer') throw new ApiError('forbidden', `${actor.name} holds a viewer token: viewers cannot let a deployment go ahead`, { role: actor.role });
    }
    const d = await getDeployment(deps.db, id);
    const found = d !== undefined && d.product === product && d.release === release;
    const waiting = found ? (await waitsOfDeployment(deps.db, id)).filter((w) => w.state === 'waiting') : [];
    // Someone who is not an owner learns nothing of deployments not escalated to them, not even that they exist.
    if (!owner && (waiting.length === 0 || waiting.some((w) => !w.escalatedTo?.includes(actor.name)))) {
      throw new ApiError('forbidden', `${actor.name} (${actor.role}) is not an owner of ${product}, and deployment ${id.slice(0, 100)} has no wait escalated to them`);
    }
    if (!found) throw new ApiError('not_found', `release ${product}/${release} has no deployment ${id.slice(0, 100)}`);
    if (waiting.length === 0) throw new ApiError('deployment_not_waiting', `deployment ${id} waits for no dependency`);
    const skipped = waiting.map((w) => describeDependency({ product: w.onProduct, version: w.onVersion, environment: w.onEnvironment }));
    await audited(deps.db, actor, 'deploy.go-ahead', { product, release, target: id, details: { skipped } }, () =>
      deps.temporal.client.workflow.getHandle(deploymentWorkflowId(id)).signal(dependencyOverrideSignal, { by: actor.name, at: new Date().toISOString() }));
    return c.json({ deploymentId: id, skipped }, 202);
  });
}

/** The deploy click (owner), with an optional idempotency key: the API's route and the web page's button. */
export async function deployClick(deps: AppDeps, actor: Actor, product: string, release: string, body: z.infer<typeof deploySchema>, key: string | undefined) {
  requireOwner(actor, product);
  const config = (await loadProduct(deps.db, product)).config;
  if (config.partOf) throw new ApiError('component_product', `${product} is a component of ${config.partOf}: it is deployed with ${config.partOf}'s releases`, { partOf: config.partOf });
  const rel = await loadRelease(deps.db, product, release);
  const env = config.environments.find((e) => e.name === body.environment);
  if (!env) throw new ApiError('unknown_environment', `product ${product} has no environment ${body.environment}`);
  if (env.production && !rel.production) {
    throw new ApiError('release_not_production', `release ${product}/${release} is not a production release and can never reach ${env.name}`);
  }
  let target: { commitSha: string; candidateId?: string } | undefined;
  if (body.candidate) {
    const found = (await candidatesOfRelease(deps.db, product, release)).find((x) => x.label === body.candidate && x.state === 'built');
    if (!found) throw new ApiError('not_found', `release ${product}/${release} has no built candidate "${body.candidate}"`);
    target = { commitSha: found.commitSha, candidateId: found.id };
  }
  const deploymentId = key ? `dep-${createHash('sha256').update(`${product}\0${release}\0${key}`).digest('hex').slice(0, 32)}` : randomUUID();
  if (rel.state === 'closed') {
    // A closed release's workflow has finished; a rollback to it is a deployment workflow of its own.
    const job: DeployJob = {
      deploymentId, environment: env.name, commitSha: target?.commitSha ?? rel.headSha, trigger: 'deploy.clicked', requestedBy: actor.name,
      ...(target?.candidateId ? { candidateId: target.candidateId } : {}),
    };
    await audited(deps.db, actor, 'deploy.click', { product, release, target: deploymentId, details: body }, () =>
      deps.temporal.client.workflow.start(deployment, {
        workflowId: deploymentWorkflowId(deploymentId), taskQueue: deps.temporal.taskQueue, workflowIdReusePolicy: 'REJECT_DUPLICATE',
        args: [{ product: config, release, production: rel.production, job }],
      }).catch((err: unknown) => {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }));
    return { deploymentId, environment: env.name, commitSha: job.commitSha, state: 'pending', product, release, status: 202 as const };
  }
  // A click sent again (same Idempotency-Key) is answered with the deployment it started.
  const earlier = await getDeployment(deps.db, deploymentId);
  if (earlier && earlier.product === product && earlier.release === release) {
    return { deploymentId, environment: earlier.environment, commitSha: earlier.commitSha, state: earlier.state as string, product, release, status: 202 as const };
  }
  const { job } = await audited(deps.db, actor, 'deploy.click', { product, release, target: deploymentId, details: body }, () => naming({ deploymentId }, async () => {
    // The head the API shows (a merge records it before its workflow hears back), unless a candidate is named.
    const input = { deploymentId, environment: body.environment, commitSha: rel.headSha, ...target, actor };
    const accepted = await withRelease(deps, rel, [], (handle) => executeUpdateWithRetry(handle, deployUpdate, {
      args: [input], updateId: updateIdFor(`deploy-${deploymentId}`, input),
    }).catch((err: unknown) => {
      // Accepted means queued: the handler is synchronous and, for a click without a key (a new id), its
      // job is the click's input, so the deployment is certain and is answered as such rather than as
      // "look before trying again" (a client that cannot see it yet would click again: two deployments).
      // A keyed click may share its id with a copy that queued another head; its client retries safely.
      if (key || !(err instanceof UpdateAcceptedUnread)) throw err;
      const job: DeployJob = {
        deploymentId, environment: env.name, commitSha: input.commitSha, trigger: 'deploy.clicked', requestedBy: actor.name,
        ...(target?.candidateId ? { candidateId: target.candidateId } : {}),
      };
      return { job };
    }));
    // Stored now so the caller sees its deployment at once; the release records it as well.
    await upsertDeployment(deps.db, {
      id: accepted.job.deploymentId, product, release, environment: accepted.job.environment, commitSha: accepted.job.commitSha,
      trigger: accepted.job.trigger, requestedBy: accepted.job.requestedBy, state: 'pending', runId: null,
    });
    return accepted;
  }));
  return { deploymentId: job.deploymentId, environment: job.environment, commitSha: job.commitSha, state: 'pending', product, release, status: 202 as const };
}
