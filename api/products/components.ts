// A product's components are products of their own, derived from it (domain/components.ts): written
// with it, checked with it before anything is written, and never changed on their own.
import { createProduct, getProduct, listProducts } from '../../db/repos/products.ts';
import { componentProductConfig } from '../../domain/components.ts';
import { branchConflict } from '../../domain/repositories.ts';
import type { ProductConfig } from '../../domain/types.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import { applyProductConfig, repositoryAllowed } from './routes.ts';

/** The component products `parent` needs, checked: repositories allowed, names and branches free. */
export async function componentConfigs(deps: AppDeps, parent: ProductConfig): Promise<ProductConfig[]> {
  const configs = (parent.components ?? []).map((c) => componentProductConfig(parent, c));
  if (configs.length === 0) return [];
  configs.forEach((config, i) => {
    try {
      repositoryAllowed(deps, config.repository);
    } catch (err) {
      if (err instanceof ApiError) throw new ApiError('bad_request', `invalid product: component ${parent.components?.[i]?.name}: ${err.message.replace(/^invalid product: /, '')}`, { issues: [{ path: `components.${i}.repository`, message: err.message }] });
      throw err;
    }
  });
  const all = await listProducts(deps.db);
  for (const config of configs) {
    const existing = all.find((p) => p.config.name === config.name);
    if (existing && existing.config.partOf !== parent.name) {
      throw new ApiError('product_exists', `a component's releases are kept as product ${config.name}, and a product of that name exists already: rename the component`, { product: config.name });
    }
  }
  const conflict = branchConflict(all.map((p) => p.config), [parent, ...configs]);
  if (conflict) {
    throw new ApiError('branches_taken', `${conflict.product} would move branches ${conflict.branches} that ${conflict.other} moves on the same repository`, {
      product: conflict.product, takenBy: conflict.other, branches: conflict.branches,
    });
  }
  return configs;
}

/** Writes the component products (after their product) and tells their open releases of the change. */
export async function writeComponents(deps: AppDeps, configs: ProductConfig[]): Promise<void> {
  for (const config of configs) {
    if (await getProduct(deps.db, config.name)) await applyProductConfig(deps, config, config as unknown as Record<string, unknown>);
    else await createProduct(deps.db, config);
  }
}
