// What every route of the web page shares: its Hono environment, the page context, who is signed in,
// path parameters and what a token may see.
import type { Context } from 'hono';
import { z } from 'zod';
import { getProduct } from '../../db/repos/products.ts';
import type { ApiToken } from '../../db/schema.ts';
import type { Actor, ProductConfig } from '../../domain/types.ts';
import { requireView } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import type { PageContext } from './layout.tsx';

export interface WebEnv {
  Variables: { actor: Actor | null; token: ApiToken | null; csrf: string };
}
export type WebContext = Context<WebEnv>;

export const policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
export const slug = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,99}$/);

export const ctxOf = (c: WebContext): PageContext => ({ actor: c.get('actor'), csrf: c.get('csrf') });
export const signedIn = (c: WebContext): Actor => {
  const actor = c.get('actor');
  if (!actor) throw new ApiError('unauthorized', 'sign in first');
  return actor;
};
export const slugOf = (c: WebContext, name: string): string => {
  const v = c.req.param(name) ?? '';
  if (!slug.safeParse(v).success) throw new ApiError('bad_request', `"${v.slice(0, 80)}" is not a valid ${name} name`);
  return v;
};
export const canSee = (actor: Actor, product: string): boolean => actor.role === 'admin' || actor.products === null || actor.products.includes(product);

/** A safe place to go after signing in: a path of this page, never another site. */
export const localNext = (next: unknown): string => (typeof next === 'string' && /^\/ui(\/[^\s\\]*)?$/.test(next) && !next.startsWith('//') ? next : '/ui');

/** The signed-in actor, the product named in the path and its configuration, if the actor may see it. */
export async function productView(deps: AppDeps, c: WebContext): Promise<{ actor: Actor; product: string; config: ProductConfig }> {
  const actor = signedIn(c);
  const product = slugOf(c, 'product');
  requireView(actor, product);
  const record = await getProduct(deps.db, product);
  if (!record) throw new ApiError('product_not_found', `no product ${product}`);
  return { actor, product, config: record.config as ProductConfig };
}
