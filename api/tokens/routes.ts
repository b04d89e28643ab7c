import { z } from 'zod';
import { TokenNameTakenError, issueToken, listTokens, revokeToken } from '../../db/repos/tokens.ts';
import type { ApiToken } from '../../db/schema.ts';
import { audit } from '../audit/record.ts';
import { requireAdmin } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import type { Routes } from '../route.ts';
import { doc, param, slug } from '../route.ts';

const tokenSchema = z.strictObject({
  name: doc(z.string().min(1).max(200).regex(/^[A-Za-z0-9._@-]+$/, 'token names are user or bot names: letters, digits, ".", "_", "@", "-"'),
    'The principal (person or bot) the token is for: one name, one role', 'olivia'),
  role: doc(z.enum(['admin', 'owner', 'ci', 'viewer']), 'admin: everything; owner: decide, freeze, close, deploy; ci: cut and file; viewer: read', 'owner'),
  products: doc(z.array(slug).max(1000), 'The products it acts on (required for every role but admin)', ['backend']).optional(),
  /** The token stops working this many days after it is issued (default: never). */
  expiresInDays: doc(z.number().int().min(1).max(3650), 'It stops working this many days after it is issued (default: never)', 90).optional(),
});

/** A token as the API shows it: never its secret (only a hash is stored). */
const shown = (t: ApiToken) => ({
  id: t.id, name: t.name, role: t.role, products: t.products, createdAt: t.createdAt, expiresAt: t.expiresAt, lastUsedAt: t.lastUsedAt, revokedAt: t.revokedAt,
});

export function tokenRoutes(r: Routes, deps: AppDeps): void {
  r.add({
    method: 'post', path: '/v1/tokens', tag: 'tokens', summary: 'Issue a token (admin); the secret is shown once', body: tokenSchema,
    responses: { 201: 'the token with its secret', 409: 'the name holds tokens of another role' },
  }, async ({ body, actor, c }) => {
    requireAdmin(actor);
    const expiresAt = body.expiresInDays ? new Date(Date.now() + body.expiresInDays * 86_400_000) : null;
    const { token, secret } = await issueToken(deps.db, { name: body.name, role: body.role, products: body.products ?? null, expiresAt }).catch((err: unknown) => {
      if (err instanceof TokenNameTakenError) throw new ApiError('token_name_taken', err.message, { name: err.tokenName, role: err.role });
      throw err;
    });
    await audit(deps.db, actor, 'token.issue', { target: token.id, details: { name: body.name, role: body.role, products: body.products } });
    return c.json({ ...shown(token), secret }, 201);
  });

  r.add({ method: 'get', path: '/v1/tokens', tag: 'tokens', summary: 'Every token (admin): who, role, products, expiry, last use, revocation; never a secret', responses: { 200: 'tokens' } }, async ({ actor, c }) => {
    requireAdmin(actor);
    return c.json({ items: (await listTokens(deps.db)).map(shown) });
  });

  r.add({
    method: 'delete', path: '/v1/tokens/:id', tag: 'tokens', summary: 'Revoke a token (admin): it stops working at once',
    responses: { 200: 'the revoked token', 404: 'unknown token' },
  }, async ({ actor, c }) => {
    requireAdmin(actor);
    const id = param(c, 'id');
    const token = await revokeToken(deps.db, id);
    if (!token) throw new ApiError('not_found', `no token ${id}`, { id });
    await audit(deps.db, actor, 'token.revoke', { target: id, details: { name: token.name, role: token.role } });
    return c.json(shown(token));
  });
}
