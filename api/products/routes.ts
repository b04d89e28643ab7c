import type { Db } from '../../db/client.ts';
import { BranchesTakenError } from '../../db/repos/branch-claims.ts';
import { createProduct, getProduct, listProducts, updateProduct } from '../../db/repos/products.ts';
import type { ProductRecord } from '../../db/repos/products.ts';
import { listReleases } from '../../db/repos/releases.ts';
import { getTemplate } from '../../db/repos/templates.ts';
import { defaultBranchTemplate, localRepositoryProblem } from '../../domain/repositories.ts';
import { overridesOf } from '../../domain/plans.ts';
import type { Actor, ProductConfig } from '../../domain/types.ts';
import { productUpdatedSignal } from '../../workflows/messages.ts';
import { audit } from '../audit/record.ts';
import { requireAdmin, requireOwner, requireView } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { defaultRepositoryPlaces } from '../context.ts';
import { ApiError } from '../errors.ts';
import type { Routes } from '../route.ts';
import { slugParam } from '../route.ts';
import { componentConfigs, writeComponents } from './components.ts';
import { createProductSchema, effectiveConfig, patchProductSchema } from './schema.ts';
import type { ProductInput } from './schema.ts';

/**
 * What an owner may change on their product: naming and severities, the day-to-day. Everything that
 * decides what code runs, where, and with whose approval (repository, trunk, owners, steps, triggers,
 * environments and their production flag, gates, approval and sign-off policies, artifacts, branch
 * names, the template) is an admin's.
 */
export const ownerFields = new Set(['severities', 'nameTemplate', 'versioning']);

type EnvLike = Record<string, string | { secret: string }>;

/** Step environment values, as anyone but an admin sees them: the names, never the values (a secret is a name anyway). */
export function maskSteps<T extends { steps?: Record<string, { env?: EnvLike }> }>(config: T): T {
  if (!config.steps) return config;
  const steps = Object.fromEntries(Object.entries(config.steps).map(([name, step]) => [
    name, step.env ? { ...step, env: Object.fromEntries(Object.entries(step.env).map(([k, v]) => [k, typeof v === 'string' ? '***' : v])) } : step,
  ]));
  return { ...config, steps };
}

const present = (p: ProductRecord, actor: Actor, plan?: Record<string, unknown> | null) => {
  const config = actor.role === 'admin' ? p.config : maskSteps(p.config);
  // Made from a plan: the plan, the values of its parameters, and which of its settings this product overrides.
  const member = p.config.template
    ? { plan: p.config.template, parameters: p.own.parameters ?? {}, ...(plan ? { overrides: overridesOf(p.own, plan) } : {}) }
    : {};
  return { ...config, ...member, createdAt: p.createdAt, updatedAt: p.updatedAt };
};

export async function loadProduct(db: Db, name: string): Promise<ProductRecord> {
  const product = await getProduct(db, name);
  if (!product) throw new ApiError('product_not_found', `no product ${name}`, { product: name });
  return product;
}

export async function templateConfig(db: Db, name: string | undefined): Promise<Record<string, unknown> | null> {
  if (!name) return null;
  const template = await getTemplate(db, name);
  if (!template) throw new ApiError('template_not_found', `no plan ${name}`, { plan: name, template: name });
  return template.config as Record<string, unknown>;
}

/** A product whose branches another product moves is a 409 naming that product (domain/repositories.ts). */
export async function refusingTakenBranches<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (!(err instanceof BranchesTakenError)) throw err;
    throw new ApiError('branches_taken', err.message, { product: err.product, takenBy: err.other, branches: err.branches });
  }
}

/** Stores a product's new effective configuration and tells its open releases. */
export async function applyProductConfig(deps: AppDeps, config: ProductConfig, own: Record<string, unknown>): Promise<void> {
  await refusingTakenBranches(() => updateProduct(deps.db, config, own));
  for (const release of await listReleases(deps.db, config.name)) {
    if (release.state === 'closed') continue;
    await deps.temporal.client.workflow.getHandle(release.workflowId).signal(productUpdatedSignal, config).catch(() => undefined);
  }
}

/** A local repository must be under a configured root and outside the data dir (domain/repositories.ts). */
export function repositoryAllowed(deps: AppDeps, repository: string): void {
  const problem = localRepositoryProblem(repository, deps.repositories ?? defaultRepositoryPlaces);
  if (problem) throw new ApiError('bad_request', `invalid product: repository ${problem}`, { issues: [{ path: 'repository', message: `repository ${problem}` }] });
}

export function productRoutes(r: Routes, deps: AppDeps): void {
  r.add({
    method: 'post', path: '/v1/products', tag: 'products', summary: 'Create a product (admin), optionally on a shared template',
    body: createProductSchema, responses: { 201: 'the product', 404: 'unknown template', 409: 'name taken, or its branches are another product\'s' },
  }, async ({ body, actor, c }) => {
    requireAdmin(actor);
    const template = await templateConfig(deps.db, body.template);
    // New products name themselves in their release branches unless told otherwise.
    const own = template?.branchTemplate === undefined && body.branchTemplate === undefined ? { ...body, branchTemplate: defaultBranchTemplate } : body;
    const config = effectiveConfig(own, template);
    repositoryAllowed(deps, config.repository);
    if (await getProduct(deps.db, body.name)) throw new ApiError('product_exists', `product ${body.name} already exists`);
    const components = await componentConfigs(deps, config);
    if (!(await refusingTakenBranches(() => createProduct(deps.db, config, own)))) throw new ApiError('product_exists', `product ${body.name} already exists`);
    await refusingTakenBranches(() => writeComponents(deps, components));
    await audit(deps.db, actor, 'product.create', { product: body.name });
    return c.json(present(await loadProduct(deps.db, body.name), actor, template), 201);
  });

  r.add({ method: 'get', path: '/v1/products', tag: 'products', summary: 'List the products you may see', responses: { 200: 'products' } }, async ({ actor, c }) => {
    const all = await listProducts(deps.db);
    const visible = all.filter((p) => actor.role === 'admin' || actor.products === null || actor.products.includes(p.config.name));
    return c.json({ items: visible.map((p) => present(p, actor)) });
  });

  r.add({ method: 'get', path: '/v1/products/:product', tag: 'products', summary: 'One product and its effective configuration', responses: { 200: 'the product', 404: 'unknown' } }, async ({ actor, c }) => {
    const name = slugParam(c, 'product');
    requireView(actor, name);
    const product = await loadProduct(deps.db, name);
    return c.json(present(product, actor, await templateConfig(deps.db, product.config.template).catch(() => null)));
  });

  r.add({
    method: 'patch', path: '/v1/products/:product', tag: 'products',
    summary: 'Change a product; open releases pick it up. Owners may change severities, nameTemplate and versioning only; the rest is for admins',
    body: patchProductSchema, responses: { 200: 'the product', 403: 'a field only an admin may change', 404: 'unknown' },
  }, async ({ body, actor, c }) => {
    const name = slugParam(c, 'product');
    requireOwner(actor, name);
    const adminOnly = Object.keys(body).filter((k) => !ownerFields.has(k));
    if (actor.role !== 'admin' && adminOnly.length > 0) {
      throw new ApiError('admin_only', `only an admin may change ${adminOnly.join(', ')} of product ${name}: what runs, where and with whose approval is not an owner's to change`, {
        fields: adminOnly, ownerMayChange: [...ownerFields],
      });
    }
    const current = await loadProduct(deps.db, name);
    if (current.config.partOf) {
      throw new ApiError('component_product', `${name} is a component of ${current.config.partOf}, derived from it: change ${current.config.partOf}'s components instead`, { partOf: current.config.partOf });
    }
    const own = { ...current.own, ...body } as ProductInput;
    const plan = await templateConfig(deps.db, current.config.template);
    const config = effectiveConfig(own, plan);
    if (body.repository !== undefined) repositoryAllowed(deps, config.repository);
    const components = await componentConfigs(deps, config);
    await applyProductConfig(deps, config, own);
    await refusingTakenBranches(() => writeComponents(deps, components));
    // Audit rows keep what changed, never a step's environment values.
    await audit(deps.db, actor, 'product.update', { product: name, details: maskSteps(body as { steps?: Record<string, { env?: EnvLike }> }) });
    return c.json(present(await loadProduct(deps.db, name), actor, plan));
  });
}
