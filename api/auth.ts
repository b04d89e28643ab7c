import type { MiddlewareHandler } from 'hono';
import type { Db } from '../db/client.ts';
import { findToken } from '../db/repos/tokens.ts';
import { mayDecide, mayRequest } from '../domain/types.ts';
import type { Actor } from '../domain/types.ts';
import type { AppEnv } from './context.ts';
import { ApiError } from './errors.ts';

export const publicPaths = new Set(['/healthz', '/openapi.json', '/docs']);

export function bearerAuth(db: Db): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (publicPaths.has(c.req.path)) return next();
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) throw new ApiError('unauthorized', 'missing bearer token: send Authorization: Bearer <token>');
    const token = await findToken(db, match[1]);
    if (!token) throw new ApiError('unauthorized', 'unknown or revoked token (or expired)');
    c.set('token', token);
    c.set('actor', { name: token.name, role: token.role, products: token.products ?? null, tokenId: token.id });
    return next();
  };
}

const inScope = (actor: Actor, product: string): boolean => actor.products === null || actor.products.includes(product);

export function requireAdmin(actor: Actor): void {
  if (actor.role !== 'admin') throw new ApiError('forbidden', `${actor.name} (${actor.role}) is not an admin`);
}

export function requireView(actor: Actor, product: string): void {
  if (actor.role !== 'admin' && !inScope(actor, product)) {
    throw new ApiError('forbidden', `${actor.name} may not see product ${product}`);
  }
}

export function requireRequest(actor: Actor, product: string): void {
  if (!mayRequest(actor, product)) throw new ApiError('forbidden', `${actor.name} (${actor.role}) may not request changes or cut releases on ${product}`);
}

export function requireOwner(actor: Actor, product: string): void {
  if (!mayDecide(actor, product)) throw new ApiError('forbidden', `${actor.name} (${actor.role}) is not an owner of ${product}`);
}
