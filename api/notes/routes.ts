import { z } from 'zod';
import { snapshotOf } from '../../db/repos/trace.ts';
import type { Snapshot } from '../../db/repos/trace.ts';
import type { Release } from '../../db/schema.ts';
import type { Actor } from '../../domain/types.ts';
import { requireView } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import { loadProduct } from '../products/routes.ts';
import { loadRelease } from '../releases/routes.ts';
import { awaitTraces } from '../commits/fresh.ts';
import type { Routes } from '../route.ts';
import { slugParam } from '../route.ts';
import { changesBetween, notesMarkdown } from './notes.ts';

const releaseRef = z.string().min(1).max(201)
  .regex(/^(?:[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/, 'must be a release name, or product/release');
const querySchema = z.strictObject({
  from: releaseRef, to: releaseRef, format: z.enum(['json', 'md']).default('json'),
  /** `exclude` leaves out merge commits that are not a merged request ("Merge tag ..."); the default is exactly git's from..to. */
  merges: z.enum(['include', 'exclude']).default('include'),
});

/** A release of `product` named by `name` or `product/name`; another product's release is refused. */
async function resolveRelease(deps: AppDeps, product: string, given: string, which: 'from' | 'to'): Promise<{ release: Release; snapshot: Snapshot }> {
  const slash = given.indexOf('/');
  const owner = slash >= 0 ? given.slice(0, slash) : product;
  const name = slash >= 0 ? given.slice(slash + 1) : given;
  if (owner !== product) {
    throw new ApiError('product_mismatch', `release notes compare two releases of one product: ${which}=${given} is a release of ${owner}, not of ${product}`, { [which]: given, product });
  }
  const release = await loadRelease(deps.db, product, name);
  const snapshot = await snapshotOf(deps.db, product, name, null);
  if (!snapshot) throw new ApiError('release_untraced', `release ${product}/${name} was cut before Culvert traced commits; it has no notes`, { release: name });
  return { release, snapshot };
}

/** The notes between two releases of a product (viewer): the API's route and the web page. */
export async function notesBetween(deps: AppDeps, actor: Actor, product: string, fromName: string, toName: string, merges: 'include' | 'exclude') {
  requireView(actor, product);
  await loadProduct(deps.db, product);
  await awaitTraces(deps.db, [product]);
  const from = await resolveRelease(deps, product, fromName, 'from');
  const to = await resolveRelease(deps, product, toName, 'to');
  return { from, to, set: await changesBetween(deps.db, from.snapshot, to.snapshot, Infinity, { merges }) };
}

export function notesRoutes(r: Routes, deps: AppDeps): void {
  r.add({
    method: 'get', path: '/v1/products/:product/notes', tag: 'tracing', query: querySchema,
    summary: 'Release notes between two releases (exactly git from..to): merged requests, picks with reasons, other commits; JSON or Markdown',
    responses: { 200: 'the notes', 400: 'bad query, or releases of another product', 404: 'unknown product or release' },
  }, async ({ query, actor, c }) => {
    const product = slugParam(c, 'product');
    const { from, to, set } = await notesBetween(deps, actor, product, query.from, query.to, query.merges);
    if (query.format === 'md') {
      const md = notesMarkdown(`${product} ${to.release.name} (since ${from.release.name})`, set, from.release.name);
      return c.body(md, 200, { 'content-type': 'text/markdown; charset=utf-8' });
    }
    const side = (x: Release) => ({ release: x.name, headSha: x.headSha, cutFrom: x.cutFrom, state: x.state });
    return c.json({ product, from: side(from.release), to: side(to.release), ...set });
  });
}
