import { z } from 'zod';
import { currentDeployments, environmentHistory } from '../../db/repos/deployments.ts';
import { requireView } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import { awaitTraces } from '../commits/fresh.ts';
import { previewDeployment } from '../notes/preview.ts';
import { loadProduct } from '../products/routes.ts';
import { loadRelease } from '../releases/routes.ts';
import type { Routes } from '../route.ts';
import { slug, slugParam } from '../route.ts';

const environmentsQuery = z.strictObject({
  /** How many of each environment's latest deployments to list, newest first. */
  historyLimit: z.coerce.number().int().min(1).max(500).default(20),
});
const previewQuery = z.strictObject({ release: slug, limit: z.coerce.number().int().min(1).max(100_000).default(1000) });

export function environmentRoutes(r: Routes, deps: AppDeps): void {
  r.add({
    method: 'get', path: '/v1/products/:product/environments', tag: 'deployments', query: environmentsQuery,
    summary: 'What each environment runs now, since when, and its deployment history', responses: { 200: 'environments' },
  }, async ({ query, actor, c }) => {
    const product = slugParam(c, 'product');
    requireView(actor, product);
    const config = (await loadProduct(deps.db, product)).config;
    const ordered = [...config.environments].sort((a, b) => a.order - b.order);
    const [current, histories] = await Promise.all([
      currentDeployments(deps.db, product, ordered.map((env) => env.name)),
      Promise.all(ordered.map((env) => environmentHistory(deps.db, product, env.name, query.historyLimit))),
    ]);
    const environments = ordered.map((env, i) => {
      const now = current.get(env.name);
      return {
        ...env,
        current: now ? { release: now.release, commitSha: now.commitSha, deploymentId: now.id, since: now.finishedAt } : null,
        history: histories[i] ?? [],
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
    await awaitTraces(deps.db, [product]);
    return c.json(await previewDeployment(deps.db, product, env, rel, query.limit));
  });
}
