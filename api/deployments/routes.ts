import { createHash, randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { candidatesOfRelease } from '../../db/repos/candidates.ts';
import { deploymentWorkflowId } from '../../domain/types.ts';
import { deploymentWorkflow } from '../../workflows/deployment.ts';
import type { DeployJob } from '../../domain/deploy.ts';
import { z } from 'zod';
import { deploymentsOfProduct } from '../../db/repos/deployments.ts';
import { currentOf } from '../../db/repos/trace.ts';
import type { Deployment } from '../../db/schema.ts';
import { deployUpdate } from '../../workflows/messages.ts';
import { audited } from '../audit/record.ts';
import { requireOwner, requireView } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import { previewDeployment } from '../notes/preview.ts';
import { loadProduct } from '../products/routes.ts';
import { loadRelease } from '../releases/routes.ts';
import type { Routes } from '../route.ts';
import { slug, slugParam } from '../route.ts';

const deploySchema = z.strictObject({
  environment: slug,
  /** A rollback to an earlier candidate of this release, by label ("3.11 RC1"); default the release head. */
  candidate: z.string().min(1).max(100).optional(),
});
const previewQuery = z.strictObject({ release: slug, limit: z.coerce.number().int().min(1).max(100_000).default(1000) });

export function deploymentRoutes(r: Routes, deps: AppDeps): void {
  r.add({
    method: 'post', path: '/v1/products/:product/releases/:release/deployments', tag: 'deployments',
    summary: 'Deploy click (owner): deploys the release head to an environment', body: deploySchema,
    responses: { 202: 'the deployment, pending', 409: 'non-production release to a production environment', 422: 'unknown environment' },
  }, async ({ body, actor, c }) => {
    const product = slugParam(c, 'product');
    const release = slugParam(c, 'release');
    requireOwner(actor, product);
    const config = (await loadProduct(deps.db, product)).config;
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
    const key = c.req.header('idempotency-key');
    const deploymentId = key ? `dep-${createHash('sha256').update(`${product}\0${release}\0${key}`).digest('hex').slice(0, 32)}` : randomUUID();
    if (rel.state === 'closed') {
      // A closed release's workflow has finished; a rollback to it is a deployment workflow of its own.
      const job: DeployJob = {
        deploymentId, environment: env.name, commitSha: target?.commitSha ?? rel.headSha, trigger: 'deploy.clicked', requestedBy: actor.name,
        ...(target?.candidateId ? { candidateId: target.candidateId } : {}),
      };
      await audited(deps.db, actor, 'deploy.click', { product, release, target: deploymentId, details: body }, () =>
        deps.temporal.client.workflow.start(deploymentWorkflow, {
          workflowId: deploymentWorkflowId(deploymentId), taskQueue: deps.temporal.taskQueue,
          args: [{ product: config, release, production: rel.production, job }],
        }).catch((err: unknown) => {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        }));
      return c.json({ deploymentId, environment: env.name, commitSha: job.commitSha, state: 'pending', product, release }, 202);
    }
    const accepted = await audited(deps.db, actor, 'deploy.click', { product, release, target: deploymentId, details: body }, () =>
      deps.temporal.client.workflow.getHandle(rel.workflowId).executeUpdate(deployUpdate, {
        args: [{ deploymentId, environment: body.environment, ...target, actor }], updateId: `deploy-${deploymentId}`,
      }));
    return c.json({ ...accepted, product, release }, 202);
  });

  r.add({
    method: 'get', path: '/v1/products/:product/environments', tag: 'deployments',
    summary: 'What each environment runs now, since when, and its deployment history', responses: { 200: 'environments' },
  }, async ({ actor, c }) => {
    const product = slugParam(c, 'product');
    requireView(actor, product);
    const config = (await loadProduct(deps.db, product)).config;
    const history = await deploymentsOfProduct(deps.db, product);
    const environments = [...config.environments].sort((a, b) => a.order - b.order).map((env) => {
      const mine = history.filter((d) => d.environment === env.name);
      const current: Deployment | undefined = currentOf(mine);
      return {
        ...env,
        current: current ? { release: current.release, commitSha: current.commitSha, deploymentId: current.id, since: current.finishedAt } : null,
        history: mine,
      };
    });
    return c.json({ items: environments });
  });

  r.add({
    method: 'get', path: '/v1/products/:product/environments/:environment/preview', tag: 'deployments', query: previewQuery,
    summary: 'Deployment changes: what deploying a release head to the environment would add and remove, before the click',
    responses: { 200: 'added and removed commits, grouped like release notes', 404: 'unknown product or release', 422: 'unknown environment' },
  }, async ({ query, actor, c }) => {
    const product = slugParam(c, 'product');
    const envName = slugParam(c, 'environment');
    requireView(actor, product);
    const config = (await loadProduct(deps.db, product)).config;
    const env = config.environments.find((e) => e.name === envName);
    if (!env) throw new ApiError('unknown_environment', `product ${product} has no environment ${envName}`);
    const rel = await loadRelease(deps.db, product, query.release);
    return c.json(await previewDeployment(deps.db, product, env, rel, query.limit));
  });
}
