import { WithStartWorkflowOperation } from '@temporalio/client';
import { z } from 'zod';
import type { Db } from '../../db/client.ts';
import { latestChanges } from '../../db/repos/changes.ts';
import { deploymentsOfRelease } from '../../db/repos/deployments.ts';
import { getRelease, listReleases } from '../../db/repos/releases.ts';
import { runsOfRelease } from '../../db/repos/runs.ts';
import type { Release } from '../../db/schema.ts';
import { fillTemplate, releaseWorkflowId } from '../../workflows/domain.ts';
import type { ProductConfig } from '../../workflows/domain.ts';
import { closeUpdate, cutUpdate } from '../../workflows/messages.ts';
import { releaseWorkflow } from '../../workflows/release.ts';
import { flowKey, productKey, releaseKey, releaseStateKey } from '../../workflows/search-attributes.ts';
import { audit } from '../audit.ts';
import { requireOwner, requireRequest, requireView } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { workflowLink } from '../context.ts';
import { ApiError } from '../errors.ts';
import { loadProduct } from '../products/routes.ts';
import type { Routes } from '../route.ts';
import { slug, slugParam } from '../route.ts';

const cutSchema = z.strictObject({
  name: slug.optional(),
  from: z.string().min(4).max(255).regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, 'from must be a branch name or a commit SHA').optional(),
  production: z.boolean().default(true),
});

export async function loadRelease(db: Db, product: string, name: string): Promise<Release> {
  const release = await getRelease(db, product, name);
  if (!release) throw new ApiError('release_not_found', `no release ${product}/${name}`, { product, release: name });
  return release;
}

export function presentRelease(deps: AppDeps, r: Release) {
  return {
    product: r.product, name: r.name, flow: r.flow, branch: r.branch, state: r.state, production: r.production,
    headSha: r.headSha, cutFrom: r.cutFrom, createdBy: r.createdBy, createdAt: r.createdAt, updatedAt: r.updatedAt,
    workflowId: r.workflowId, temporalUrl: workflowLink(deps.temporal, r.workflowId),
  };
}

export function defaultReleaseName(product: ProductConfig, now: Date): string {
  if (product.flow === 'pull-request') return product.trunk.toLowerCase().replace(/[^a-z0-9._-]/g, '-');
  return fillTemplate(product.nameTemplate ?? '{gggg}-w{ww}', '', now);
}

export function releaseRoutes(r: Routes, deps: AppDeps): void {
  const { client } = deps.temporal;

  r.add({
    method: 'post', path: '/v1/products/:product/releases', tag: 'releases', summary: 'Cut a release (ci, owner or admin)',
    body: cutSchema, responses: { 201: 'the release with its workflow id and Temporal link', 409: 'exists', 422: 'unknown ref' },
  }, async ({ body, actor, c }) => {
    const productName = slugParam(c, 'product');
    requireRequest(actor, productName);
    const product = (await loadProduct(deps.db, productName)).config;
    const name = body.name ?? defaultReleaseName(product, new Date());
    if (product.flow === 'pull-request') {
      const existing = await listReleases(deps.db, productName);
      if (existing.length > 0) throw new ApiError('release_exists', `product ${productName} uses the pull-request flow and already has its release ${existing[0]?.name}`);
    }
    if (await getRelease(deps.db, productName, name)) throw new ApiError('release_exists', `release ${productName}/${name} already exists`);
    const workflowId = releaseWorkflowId(productName, name);
    const start = new WithStartWorkflowOperation(releaseWorkflow, {
      workflowId, taskQueue: deps.temporal.taskQueue, workflowIdConflictPolicy: 'FAIL',
      args: [{ product, name, from: body.from ?? null, production: body.production, createdBy: actor }],
      typedSearchAttributes: [
        { key: productKey, value: productName }, { key: releaseKey, value: name },
        { key: flowKey, value: product.flow }, { key: releaseStateKey, value: 'open' },
      ],
    });
    await client.workflow.executeUpdateWithStart(cutUpdate, { startWorkflowOperation: start });
    await audit(deps.db, actor, 'release.cut', { product: productName, release: name, details: body });
    return c.json(presentRelease(deps, await loadRelease(deps.db, productName, name)), 201);
  });

  r.add({ method: 'get', path: '/v1/products/:product/releases', tag: 'releases', summary: 'Releases of a product', responses: { 200: 'releases' } }, async ({ actor, c }) => {
    const productName = slugParam(c, 'product');
    requireView(actor, productName);
    await loadProduct(deps.db, productName);
    const items = await listReleases(deps.db, productName);
    return c.json({ items: items.map((x) => presentRelease(deps, x)) });
  });

  r.add({
    method: 'get', path: '/v1/products/:product/releases/:release', tag: 'releases',
    summary: 'A release: state, head, recent changes, runs and deployments', responses: { 200: 'the release', 404: 'unknown' },
  }, async ({ actor, c }) => {
    const productName = slugParam(c, 'product');
    const name = slugParam(c, 'release');
    requireView(actor, productName);
    const release = await loadRelease(deps.db, productName, name);
    const [changes, runs, deployments] = await Promise.all([
      latestChanges(deps.db, productName, name, 50),
      runsOfRelease(deps.db, productName, name, 50),
      deploymentsOfRelease(deps.db, productName, name),
    ]);
    return c.json({
      ...presentRelease(deps, release),
      changes: changes.map((x) => ({ id: x.id, seq: x.seq, kind: x.kind, state: x.state, check: x.checkOutcome, branch: x.branch, resultSha: x.resultSha })),
      runs: runs.map((x) => ({ id: x.id, step: x.step, state: x.state, commitSha: x.commitSha, exitCode: x.exitCode, durationMs: x.durationMs, startedAt: x.startedAt })),
      deployments,
    });
  });

  r.add({
    method: 'post', path: '/v1/products/:product/releases/:release/close', tag: 'releases', summary: 'Close a release (owner): it accepts nothing afterwards',
    responses: { 200: 'the release', 403: 'not an owner', 409: 'already closed' },
  }, async ({ actor, c }) => {
    const productName = slugParam(c, 'product');
    const name = slugParam(c, 'release');
    requireOwner(actor, productName);
    const release = await loadRelease(deps.db, productName, name);
    await client.workflow.getHandle(release.workflowId).executeUpdate(closeUpdate, { args: [{ actor }] });
    await audit(deps.db, actor, 'release.close', { product: productName, release: name });
    return c.json(presentRelease(deps, await loadRelease(deps.db, productName, name)));
  });
}
