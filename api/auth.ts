import type { Context, MiddlewareHandler } from 'hono';
import type { Db } from '../db/client.ts';
import { componentProductsOf } from '../db/repos/products.ts';
import { findLiveTokenById, findToken } from '../db/repos/tokens.ts';
import type { ApiToken } from '../db/schema.ts';
import { mayDecide, mayRequest } from '../domain/types.ts';
import type { Actor } from '../domain/types.ts';
import type { AppEnv } from './context.ts';
import { ApiError } from './errors.ts';
import { getCookie } from 'hono/cookie';
import { openSession, sessionCookie } from './session.ts';

// GitHub's webhooks carry no token: their signature is checked against the server's secret (api/github).
export const publicPaths = new Set(['/healthz', '/openapi.json', '/docs', '/v1/codec/sign-in', '/v1/codec/sign-out', '/v1/github/webhooks']);

/**
 * The one request a browser session may make: the Temporal UI's decode call. Anything else needs a bearer
 * token, so the cookie never authorizes a change (and no page can be tricked into one). JSON only: a
 * cross-origin JSON POST needs a CORS preflight, which only the UI's origin passes.
 */
function sessionMayCall(c: Context): boolean {
  return c.req.method === 'POST' && c.req.path === '/v1/codec/decode' && (c.req.header('content-type') ?? '').toLowerCase().startsWith('application/json');
}

/**
 * Who a token acts as. A token limited to some products also reaches their components' products
 * (domain/components.ts): a pick into a component of the product is the product's business.
 */
export async function actorOf(db: Db, token: ApiToken): Promise<Actor> {
  const products = token.products ? [...token.products, ...await componentProductsOf(db, token.products)] : null;
  return { name: token.name, role: token.role, products, tokenId: token.id };
}

export function bearerAuth(db: Db, sessionKey?: Uint8Array): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (publicPaths.has(c.req.path)) return next();
    const header = c.req.header('authorization') ?? '';
    const session = !header && sessionKey && sessionMayCall(c) ? getCookie(c, sessionCookie) : undefined;
    if (session !== undefined && sessionKey) {
      const tokenId = openSession(sessionKey, session);
      const token = tokenId ? await findLiveTokenById(db, tokenId) : undefined;
      if (!token) throw new ApiError('unauthorized', 'the session has ended (signed out, expired, or its token revoked): sign in again at /v1/codec/sign-in');
      c.set('token', token);
      c.set('actor', await actorOf(db, token));
      return next();
    }
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) throw new ApiError('unauthorized', 'missing bearer token: send Authorization: Bearer <token>');
    const token = await findToken(db, match[1]);
    if (!token) throw new ApiError('unauthorized', 'unknown or revoked token (or expired)');
    c.set('token', token);
    c.set('actor', await actorOf(db, token));
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
