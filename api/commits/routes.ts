import { z } from 'zod';
import { listProducts } from '../../db/repos/products.ts';
import { matchCommits } from '../../db/repos/trace.ts';
import { requireView } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import { loadProduct } from '../products/routes.ts';
import type { Routes } from '../route.ts';
import { param, slug } from '../route.ts';
import { awaitTraces } from './fresh.ts';
import { refreshTrunks } from './refresh.ts';
import { traceCommit } from './trace.ts';
import type { CommitAnswer } from './trace.ts';
import type { Actor } from '../../domain/types.ts';

const shaPattern = /^[0-9a-fA-F]{4,40}$/;
const querySchema = z.strictObject({ product: slug.optional() });

export function commitRoutes(r: Routes, deps: AppDeps): void {
  r.add({
    method: 'get', path: '/v1/commits/:sha', tag: 'tracing', query: querySchema,
    summary: 'Where a commit is: releases holding it (directly or as a pick), what each environment runs, inProduction',
    responses: { 200: 'the answer', 400: 'not a SHA, or an abbreviation several commits share', 404: 'no trunk or release has that commit (trunks are refreshed first)' },
  }, async ({ query, actor, c }) => c.json(await findCommit(deps, actor, param(c, 'sha'), query.product ?? null)));
}

/** "Where is commit X?" for a full or abbreviated SHA, as `actor` may see it: the API's route and the web page. */
export async function findCommit(deps: AppDeps, actor: Actor, given: string, product: string | null): Promise<CommitAnswer> {
  if (!shaPattern.test(given)) {
    throw new ApiError('bad_request', `"${given.slice(0, 80)}" is not a commit SHA: give 4 to 40 hexadecimal digits`, { sha: given.slice(0, 80) });
  }
  const prefix = given.toLowerCase();
  if (product) {
    requireView(actor, product);
    await loadProduct(deps.db, product);
  }
  const scoped = actor.role !== 'admin' && actor.products !== null;
  const canSee = (p: string): boolean => !scoped || (actor.products ?? []).includes(p);
  // A token limited to some products never learns of commits elsewhere, not even by an ambiguity.
  const searchIn: (string | null)[] = product ? [product] : scoped ? (actor.products ?? []) : [null];
  await awaitTraces(deps.db, product ? [product] : scoped ? (actor.products ?? []) : null);
  const lookup = async (): Promise<CommitAnswer | null> => {
    if (prefix.length === 40 && !product && !scoped) return traceCommit(deps.db, prefix, null, canSee);
    const found = new Set<string>();
    for (const p of searchIn) for (const sha of await matchCommits(deps.db, prefix, p, 10)) found.add(sha);
    const candidates = [...found].sort();
    if (candidates.length > 1) {
      throw new ApiError('ambiguous_commit', `commit ${given} is ambiguous: it could be ${candidates.slice(0, 5).join(', ')}${candidates.length > 5 ? ', ...' : ''}; give more digits`, { sha: given, candidates });
    }
    return candidates[0] ? traceCommit(deps.db, candidates[0], product, canSee) : null;
  };
  const first = await lookup();
  if (first) return withComponents(deps, first);
  // Unknown so far: it may have reached a trunk since Culvert last looked.
  const trunks = (await listProducts(deps.db)).filter((p) => canSee(p.config.name) && (!product || p.config.name === product));
  const fresh = await refreshTrunks(deps.temporal, trunks);
  const answer = await lookup();
  if (answer) return withComponents(deps, answer);
  const where = product ? ` in ${product}` : '';
  throw new ApiError('commit_not_found', fresh
    ? `no commit ${given}${where}: it is on no product's trunk and in no release`
    : `no traced commit ${given}${where}, and the trunk index could not be refreshed just now: it may be a new commit, ask again later`,
  { sha: given, indexFresh: fresh });
}

/**
 * A commit of a component (domain/components.ts) is in the component's releases and environments:
 * each of those says which product and component it belongs to, so the answer reads as the product's.
 */
async function withComponents(deps: AppDeps, answer: CommitAnswer): Promise<CommitAnswer> {
  const named = new Set([...answer.releases.map((x) => x.product), ...answer.environments.map((x) => x.product)]);
  if (![...named].some((n) => n.includes('.'))) return answer;
  const parts = new Map<string, string>();
  for (const p of await listProducts(deps.db)) {
    if (p.config.partOf && named.has(p.config.name)) parts.set(p.config.name, p.config.partOf);
  }
  if (parts.size === 0) return answer;
  const mark = <T extends { product: string }>(x: T): T => {
    const partOf = parts.get(x.product);
    return partOf ? { ...x, partOf, component: x.product.slice(partOf.length + 1) } : x;
  };
  return { ...answer, releases: answer.releases.map(mark), environments: answer.environments.map(mark) };
}
