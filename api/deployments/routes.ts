import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { deploymentsOfProduct } from '../../db/repos/deployments.ts';
import type { Deployment } from '../../db/schema.ts';
import { deployUpdate } from '../../workflows/messages.ts';
import { audit } from '../audit.ts';
import { requireOwner, requireView } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import { loadProduct } from '../products/routes.ts';
import { loadRelease } from '../releases/routes.ts';
import type { Routes } from '../route.ts';
import { slug, slugParam } from '../route.ts';

const deploySchema = z.strictObject({ environment: slug });

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
    if (rel.state === 'closed') throw new ApiError('release_closed', `release ${product}/${release} is closed`);
    const env = config.environments.find((e) => e.name === body.environment);
    if (!env) throw new ApiError('unknown_environment', `product ${product} has no environment ${body.environment}`);
    if (env.production && !rel.production) {
      throw new ApiError('release_not_production', `release ${product}/${release} is not a production release and can never reach ${env.name}`);
    }
    const deploymentId = c.req.header('idempotency-key') ? `dep-${c.req.header('idempotency-key')}`.slice(0, 100) : randomUUID();
    const accepted = await deps.temporal.client.workflow.getHandle(rel.workflowId).executeUpdate(deployUpdate, {
      args: [{ deploymentId, environment: body.environment, actor }], updateId: `deploy-${deploymentId}`,
    });
    await audit(deps.db, actor, 'deploy.click', { product, release, target: deploymentId, details: body });
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
      const current: Deployment | undefined = mine.find((d) => d.state === 'succeeded');
      return {
        ...env,
        current: current ? { release: current.release, commitSha: current.commitSha, deploymentId: current.id, since: current.finishedAt } : null,
        history: mine,
      };
    });
    return c.json({ items: environments });
  });
}
