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
import { componentTarget } from '../products/component-target.ts';
import { componentProductName } from '../../domain/components.ts';

const releaseRef = z.string().min(1).max(201)
  .regex(/^(?:[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/, 'must be a release name, or product/release');
const querySchema = z.strictObject({
  from: releaseRef, to: releaseRef, format: z.enum(['json', 'md']).default('json'),
  /** `exclude` leaves out merge commits that are not a merged request ("Merge tag ..."); the default is exactly git's from..to. */
  merges: z.enum(['include', 'exclude']).default('include'),
  /** A product with components: the notes of this component alone (default: the product's own and every component's). */
  component: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'component names are lowercase identifiers').optional(),
});

/** `name` or `product/name` of `product`, as the bare name (a component's releases are its product's). */
const bareName = (product: string, given: string): string => (given.startsWith(`${product}/`) ? given.slice(product.length + 1) : given);

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
    const parent = slugParam(c, 'product');
    const product = await componentTarget(deps.db, parent, query.component);
    const fromName = query.component ? bareName(parent, query.from) : query.from;
    const toName = query.component ? bareName(parent, query.to) : query.to;
    const { from, to, set } = await notesBetween(deps, actor, product, fromName, toName, query.merges);
    // The whole release across repositories: each component's notes between its releases of the same names.
    const components = query.component ? [] : (await loadProduct(deps.db, product)).config.components ?? [];
    const parts = await Promise.all(components.map(async (comp) => {
      const name = componentProductName(product, comp.name);
      try {
        return { name: comp.name, product: name, ...await notesBetween(deps, actor, name, bareName(product, fromName), bareName(product, toName), query.merges) };
      } catch (err) {
        if (err instanceof ApiError && err.code === 'release_not_found') return { name: comp.name, product: name, missing: err.message };
        throw err;
      }
    }));
    if (query.format === 'md') {
      const sections = [notesMarkdown(`${product} ${to.release.name} (since ${from.release.name})`, set, from.release.name)];
      for (const part of parts) {
        sections.push('to' in part
          ? notesMarkdown(`${part.product} ${part.to.release.name} (since ${part.from.release.name})`, part.set, part.from.release.name)
          : `# ${part.product}\n\n${part.missing}\n`);
      }
      return c.body(sections.join('\n'), 200, { 'content-type': 'text/markdown; charset=utf-8' });
    }
    const side = (x: Release) => ({ release: x.name, headSha: x.headSha, cutFrom: x.cutFrom, state: x.state });
    return c.json({
      product, ...(query.component ? { component: query.component } : {}), from: side(from.release), to: side(to.release), ...set,
      ...(parts.length > 0 ? {
        components: parts.map((part) => ('to' in part
          ? { name: part.name, product: part.product, from: side(part.from.release), to: side(part.to.release), ...part.set }
          : { name: part.name, product: part.product, missing: part.missing })),
      } : {}),
    });
  });
}
