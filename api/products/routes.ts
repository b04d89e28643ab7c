import { productUpdatedSignal } from '../../workflows/messages.ts';
import { createProduct, getProduct, listProducts, updateProduct } from '../../db/repos/products.ts';
import type { ProductRecord } from '../../db/repos/products.ts';
import { listReleases } from '../../db/repos/releases.ts';
import type { Db } from '../../db/client.ts';
import { audit } from '../audit.ts';
import { requireAdmin, requireOwner, requireView } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { ApiError, fromZod } from '../errors.ts';
import type { Routes } from '../route.ts';
import { slugParam } from '../route.ts';
import { checkConsistent, createProductSchema, mergePatch, patchProductSchema } from './schema.ts';

const present = (p: ProductRecord) => ({ ...p.config, createdAt: p.createdAt, updatedAt: p.updatedAt });

export async function loadProduct(db: Db, name: string): Promise<ProductRecord> {
  const product = await getProduct(db, name);
  if (!product) throw new ApiError('product_not_found', `no product ${name}`, { product: name });
  return product;
}

export function productRoutes(r: Routes, deps: AppDeps): void {
  r.add({
    method: 'post', path: '/v1/products', tag: 'products', summary: 'Create a product (admin)',
    body: createProductSchema, responses: { 201: 'the product', 409: 'name taken' },
  }, async ({ body, actor, c }) => {
    requireAdmin(actor);
    if (!(await createProduct(deps.db, body))) throw new ApiError('product_exists', `product ${body.name} already exists`);
    await audit(deps.db, actor, 'product.create', { product: body.name });
    return c.json(present(await loadProduct(deps.db, body.name)), 201);
  });

  r.add({ method: 'get', path: '/v1/products', tag: 'products', summary: 'List the products you may see', responses: { 200: 'products' } }, async ({ actor, c }) => {
    const all = await listProducts(deps.db);
    const visible = all.filter((p) => actor.role === 'admin' || actor.products === null || actor.products.includes(p.config.name));
    return c.json({ items: visible.map(present) });
  });

  r.add({ method: 'get', path: '/v1/products/:product', tag: 'products', summary: 'One product and its configuration', responses: { 200: 'the product', 404: 'unknown' } }, async ({ actor, c }) => {
    const name = slugParam(c, 'product');
    requireView(actor, name);
    return c.json(present(await loadProduct(deps.db, name)));
  });

  r.add({
    method: 'patch', path: '/v1/products/:product', tag: 'products', summary: 'Change a product (admin or owner); open releases pick it up',
    body: patchProductSchema, responses: { 200: 'the product', 404: 'unknown' },
  }, async ({ body, actor, c }) => {
    const name = slugParam(c, 'product');
    requireOwner(actor, name);
    const current = await loadProduct(deps.db, name);
    const next = mergePatch(current.config, body);
    const invalid = checkConsistent(next);
    if (invalid) throw fromZod('product', invalid);
    await updateProduct(deps.db, next);
    for (const release of await listReleases(deps.db, name)) {
      if (release.state === 'closed') continue;
      await deps.temporal.client.workflow.getHandle(release.workflowId).signal(productUpdatedSignal, next).catch(() => undefined);
    }
    await audit(deps.db, actor, 'product.update', { product: name, details: body });
    return c.json(present(await loadProduct(deps.db, name)));
  });
}
