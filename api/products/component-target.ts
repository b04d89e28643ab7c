import type { Db } from '../../db/client.ts';
import { componentProductName } from '../../domain/components.ts';
import { ApiError } from '../errors.ts';
import { loadProduct } from './routes.ts';

/** The product that keeps a request's releases: the product's own, or its named component's. */
export async function componentTarget(db: Db, product: string, component: string | undefined): Promise<string> {
  if (component === undefined) return product;
  const config = (await loadProduct(db, product)).config;
  const names = (config.components ?? []).map((c) => c.name);
  if (!names.includes(component)) {
    throw new ApiError('component_not_found', names.length > 0
      ? `product ${product} has no component ${component}; its components are ${names.join(', ')}`
      : `product ${product} has no components`, { product, component, components: names });
  }
  return componentProductName(product, component);
}
