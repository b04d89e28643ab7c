import { z } from 'zod';
import { TokenNameTakenError, issueToken } from '../../db/repos/tokens.ts';
import { audit } from '../audit/record.ts';
import { requireAdmin } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import type { Routes } from '../route.ts';
import { slug } from '../route.ts';

const tokenSchema = z.strictObject({
  name: z.string().min(1).max(200).regex(/^[A-Za-z0-9._@-]+$/, 'token names are user or bot names: letters, digits, ".", "_", "@", "-"'),
  role: z.enum(['admin', 'owner', 'ci', 'viewer']),
  products: z.array(slug).max(1000).optional(),
});

export function tokenRoutes(r: Routes, deps: AppDeps): void {
  r.add({
    method: 'post', path: '/v1/tokens', tag: 'tokens', summary: 'Issue a token (admin); the secret is shown once', body: tokenSchema,
    responses: { 201: 'the token with its secret', 409: 'the name holds tokens of another role' },
  }, async ({ body, actor, c }) => {
    requireAdmin(actor);
    const { token, secret } = await issueToken(deps.db, { name: body.name, role: body.role, products: body.products ?? null }).catch((err: unknown) => {
      if (err instanceof TokenNameTakenError) throw new ApiError('token_name_taken', err.message, { name: err.tokenName, role: err.role });
      throw err;
    });
    await audit(deps.db, actor, 'token.issue', { target: token.id, details: { name: body.name, role: body.role, products: body.products } });
    return c.json({ id: token.id, name: token.name, role: token.role, products: token.products, secret }, 201);
  });
}
