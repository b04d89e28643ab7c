import { WithStartWorkflowOperation } from '@temporalio/client';
import { z } from 'zod';
import type { Db } from '../../db/client.ts';
import { latestChanges } from '../../db/repos/changes.ts';
import { deploymentsOfRelease } from '../../db/repos/deployments.ts';
import { advanceReleaseState, getRelease, listReleases } from '../../db/repos/releases.ts';
import { runsOfRelease } from '../../db/repos/runs.ts';
import type { Release } from '../../db/schema.ts';
import { fillTemplate, nextVersion, releaseWorkflowId } from '../../domain/types.ts';
import type { Actor, ProductConfig } from '../../domain/types.ts';
import { closeUpdate, cutUpdate, freezeUpdate, retryStageUpdate } from '../../workflows/release/messages.ts';
import { releaseWorkflowType } from '../../workflows/release/flows.ts';
import type { ReleaseInput } from '../../workflows/release/state.ts';
import { withRelease } from '../release-workflow.ts';
import { executeUpdateWithRetry } from '../temporal-update.ts';
import { artifactsOfCandidates, candidatesOfRelease } from '../../db/repos/candidates.ts';
import { listApprovals } from '../../db/repos/approvals.ts';
import { waitsOfRelease } from '../../db/repos/dependency-waits.ts';
import { describeDependency } from '../../domain/dependencies.ts';
import { releaseSearchAttributes } from '../../workflows/search-attributes.ts';
import { componentsOfRelease } from '../../db/repos/components.ts';
import type { ComponentOfRelease } from '../../db/repos/components.ts';
import { getProduct } from '../../db/repos/products.ts';
import { audited } from '../audit/record.ts';
import { requireOwner, requireRequest, requireView } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { workflowLink } from '../context.ts';
import { ApiError } from '../errors.ts';
import { loadProduct } from '../products/routes.ts';
import type { Routes } from '../route.ts';
import { doc, slug, slugParam } from '../route.ts';

const cutSchema = z.strictObject({
  name: doc(slug, 'The release\'s name (binary flow: proposed when left out)', '3.11').optional(),
  from: doc(z.string().min(1).max(255).regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, 'from must be a branch, a tag or a commit SHA'),
    'Where to cut: a branch, a tag or a commit (default: the trunk\'s head)', 'v3.10.2').optional(),
  production: doc(z.boolean().default(true), 'Whether it may ever reach a production environment', true),
});

export async function loadRelease(db: Db, product: string, name: string): Promise<Release> {
  const release = await getRelease(db, product, name);
  if (!release) throw new ApiError('release_not_found', `no release ${product}/${name}`, { product, release: name });
  return release;
}

/** Freezes a release (owner): the API's route and the web page's button. */
export async function freezeRelease(deps: AppDeps, actor: Actor, product: string, name: string): Promise<Release> {
  requireOwner(actor, product);
  const release = await loadRelease(deps.db, product, name);
  if (release.state !== 'open') throw new ApiError(release.state === 'closed' ? 'release_closed' : 'release_frozen', `release ${product}/${name} is already ${release.state}`);
  await audited(deps.db, actor, 'release.freeze', { product, release: name }, () =>
    withRelease(deps, release, [], (handle) => executeUpdateWithRetry(handle, freezeUpdate, { args: [{ actor }] })));
  await advanceReleaseState(deps.db, product, name, 'frozen');
  return loadRelease(deps.db, product, name);
}

/** Closes a release (owner): the API's route and the web page's button. */
export async function closeRelease(deps: AppDeps, actor: Actor, product: string, name: string): Promise<Release> {
  requireOwner(actor, product);
  const release = await loadRelease(deps.db, product, name);
  if (release.state === 'closed') throw new ApiError('release_closed', `release ${product}/${name} is already closed`);
  await audited(deps.db, actor, 'release.close', { product, release: name }, () =>
    withRelease(deps, release, [], (handle) => executeUpdateWithRetry(handle, closeUpdate, { args: [{ actor }] })));
  await advanceReleaseState(deps.db, product, name, 'closed');
  return loadRelease(deps.db, product, name);
}

export function presentRelease(deps: AppDeps, r: Release) {
  return {
    product: r.product, name: r.name, flow: r.flow, branch: r.branch, state: r.state, production: r.production,
    headSha: r.headSha, cutFrom: r.cutFrom, createdBy: r.createdBy, createdAt: r.createdAt, updatedAt: r.updatedAt,
    workflowId: r.workflowId, temporalUrl: workflowLink(deps.temporal, r.workflowId), blocked: r.blocked,
  };
}



export function defaultReleaseName(product: ProductConfig, existing: string[], now: Date): string {
  switch (product.flow) {
    case 'pull-request':
      return product.trunk.toLowerCase().replace(/[^a-z0-9._-]/g, '-');
    case 'binary':
      return nextVersion(existing, product.versioning?.initial ?? '1.0');
    case 'cherry-pick':
      return fillTemplate(product.nameTemplate ?? '{gggg}-w{ww}', '', now);
  }
}

/** Cuts a release (ci, owner or admin): the API's route and a train's cut of each member. */
export async function cutRelease(deps: AppDeps, actor: Actor, productName: string, body: z.infer<typeof cutSchema>): Promise<Release> {
  requireRequest(actor, productName);
  const product = (await loadProduct(deps.db, productName)).config;
  const existing = await listReleases(deps.db, productName);
  const name = body.name ?? defaultReleaseName(product, existing.map((x) => x.name), new Date());
  if (product.flow === 'pull-request' && existing.length > 0) {
    throw new ApiError('release_exists', `product ${productName} uses the pull-request flow and already has its release ${existing[0]?.name}`);
  }
  if (await getRelease(deps.db, productName, name)) throw new ApiError('release_exists', `release ${productName}/${name} already exists`);
  const workflowId = releaseWorkflowId(productName, name);
  const input: ReleaseInput = { product, name, from: body.from ?? null, production: body.production, createdBy: actor };
  const start = new WithStartWorkflowOperation(releaseWorkflowType(product.flow), {
    workflowId, taskQueue: deps.temporal.taskQueue, workflowIdConflictPolicy: 'FAIL', args: [input],
    typedSearchAttributes: releaseSearchAttributes({ product: productName, release: name, flow: product.flow, state: 'open' }),
  });
  await audited(deps.db, actor, 'release.cut', { product: productName, release: name, details: body }, () =>
    deps.temporal.client.workflow.executeUpdateWithStart(cutUpdate, { startWorkflowOperation: start }));
  return loadRelease(deps.db, productName, name);
}

/** One component of a release across repositories: its product, branch, the commit it was cut from and its head now. */
function presentComponent(x: ComponentOfRelease) {
  return {
    name: x.component, product: x.componentProduct, repository: x.repository, state: x.state, branch: x.branch, cutFrom: x.cutFrom, head: x.head,
    ...(x.failure ? { failure: x.failure } : {}),
  };
}

export function releaseRoutes(r: Routes, deps: AppDeps): void {

  r.add({
    method: 'post', path: '/v1/products/:product/releases', tag: 'releases', summary: 'Cut a release (ci, owner or admin)',
    body: cutSchema, responses: { 201: 'the release with its workflow id and Temporal link', 409: 'exists', 422: 'unknown ref' },
  }, async ({ body, actor, c }) => {
    const product = slugParam(c, 'product');
    const partOf = (await getProduct(deps.db, product))?.config.partOf;
    if (partOf) throw new ApiError('component_product', `${product} is a component of ${partOf}: its releases are cut with ${partOf}'s`, { partOf });
    return c.json(presentRelease(deps, await cutRelease(deps, actor, product, body)), 201);
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
    const [changes, runs, deployments, candidates, approvals, waits, components] = await Promise.all([
      latestChanges(deps.db, productName, name, 50),
      runsOfRelease(deps.db, productName, name, 50),
      deploymentsOfRelease(deps.db, productName, name),
      candidatesOfRelease(deps.db, productName, name),
      listApprovals(deps.db, { product: productName, release: name }),
      waitsOfRelease(deps.db, productName, name),
      componentsOfRelease(deps.db, productName, name),
    ]);
    const artifacts = await artifactsOfCandidates(deps.db, candidates.map((x) => x.id));
    return c.json({
      ...presentRelease(deps, release),
      ...(components.length > 0 ? { components: components.map(presentComponent) } : {}),
      changes: changes.map((x) => ({ id: x.id, seq: x.seq, kind: x.kind, state: x.state, check: x.checkOutcome, branch: x.branch, resultSha: x.resultSha })),
      runs: runs.map((x) => ({ id: x.id, step: x.step, state: x.state, commitSha: x.commitSha, exitCode: x.exitCode, durationMs: x.durationMs, startedAt: x.startedAt })),
      deployments,
      candidates: candidates.map((x) => ({
        id: x.id, label: x.label, number: x.number, final: x.final, commitSha: x.commitSha, state: x.state, failure: x.failure,
        buildRunId: x.buildRunId, deployedTo: x.deployedTo, createdAt: x.createdAt,
        artifacts: artifacts.filter((a) => a.candidateId === x.id).map((a) => ({ id: a.id, name: a.name, size: a.size, sha256: a.sha256, url: `/v1/artifacts/${encodeURIComponent(a.id)}` })),
      })),
      // "waiting for core 1.4 in production since ...": deployments held by their dependencies, and how those ended.
      waits: waits.map((w) => ({
        deploymentId: w.deploymentId, environment: w.environment, on: describeDependency({ product: w.onProduct, version: w.onVersion, environment: w.onEnvironment }),
        state: w.state, since: w.since, note: w.note, endedAt: w.endedAt, endedBy: w.endedBy, escalatedTo: w.escalatedTo, escalatedAt: w.escalatedAt,
        ...(w.state === 'waiting' ? {
          summary: `waiting for ${describeDependency({ product: w.onProduct, version: w.onVersion, environment: w.onEnvironment })} since ${w.since.toISOString()}${
            w.escalatedTo && w.escalatedAt ? `; escalated to ${w.escalatedTo.join(', ')} at ${w.escalatedAt.toISOString()}` : ''}`,
        } : {}),
      })),
      approvals: approvals.map((a) => ({ id: a.id, subject: a.subject, state: a.state, quorum: a.quorum, group: a.group, votes: a.votes, escalatedTo: a.escalatedTo, reminders: a.reminders })),
    });
  });

  r.add({
    method: 'post', path: '/v1/products/:product/releases/:release/freeze', tag: 'releases',
    summary: 'Freeze a release (owner): no more changes; a binary release goes on to its final build, sign-off and publish',
    responses: { 200: 'the release', 403: 'not an owner', 409: 'not open' },
  }, async ({ actor, c }) => {
    return c.json(presentRelease(deps, await freezeRelease(deps, actor, slugParam(c, 'product'), slugParam(c, 'release'))));
  });

  r.add({
    method: 'post', path: '/v1/products/:product/releases/:release/close', tag: 'releases', summary: 'Close a release (owner): it accepts nothing afterwards',
    responses: { 200: 'the release', 403: 'not an owner', 409: 'already closed' },
  }, async ({ actor, c }) => {
    return c.json(presentRelease(deps, await closeRelease(deps, actor, slugParam(c, 'product'), slugParam(c, 'release'))));
  });

  r.add({
    method: 'post', path: '/v1/products/:product/releases/:release/retry', tag: 'releases',
    summary: 'Retry (owner): a frozen binary release stopped on its way to publishing (a failed final build, a rejected sign-off) builds its final again',
    responses: { 200: 'the release', 403: 'not an owner', 409: 'nothing to retry' },
  }, async ({ actor, c }) => {
    const productName = slugParam(c, 'product');
    const name = slugParam(c, 'release');
    requireOwner(actor, productName);
    const release = await loadRelease(deps.db, productName, name);
    if (release.state === 'closed') throw new ApiError('release_closed', `release ${productName}/${name} is closed`);
    await audited(deps.db, actor, 'release.retry', { product: productName, release: name }, () =>
      withRelease(deps, release, [], (handle) => executeUpdateWithRetry(handle, retryStageUpdate, { args: [{ actor }] })));
    return c.json(presentRelease(deps, await loadRelease(deps.db, productName, name)));
  });
}
