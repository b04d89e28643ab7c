import { z } from 'zod';
import { auditOfProduct } from '../../db/repos/audit.ts';
import type { AuditEntry } from '../../db/schema.ts';
import { requireView } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { loadProduct } from '../products/routes.ts';
import type { Routes } from '../route.ts';
import { slugParam } from '../route.ts';

const querySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  /** Entries older than this id: the next page is `before=<last id of this one>`. */
  before: z.coerce.number().int().min(1).optional(),
});

const present = (e: AuditEntry) => ({
  id: e.id, at: e.at, actor: e.actor, tokenId: e.tokenId, action: e.action, release: e.release, target: e.target,
  details: e.details, outcome: e.outcome, refusal: e.refusal,
});

export function auditRoutes(r: Routes, deps: AppDeps): void {
  r.add({
    method: 'get', path: '/v1/products/:product/audit', tag: 'audit', query: querySchema,
    summary: "Who did what to a product, when, with which token: newest first, refused attempts included",
    responses: { 200: 'a page of entries', 404: 'unknown product' },
  }, async ({ query, actor, c }) => {
    const product = slugParam(c, 'product');
    requireView(actor, product);
    await loadProduct(deps.db, product);
    const items = (await auditOfProduct(deps.db, product, query.limit, query.before)).map(present);
    return c.json({ items, next: items.length === query.limit ? items.at(-1)?.id ?? null : null });
  });
}
