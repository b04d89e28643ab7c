// Deciding change requests: one path for the API's decision routes and the web page's bulk triage, so
// both authorize, refuse, audit and store exactly alike.
import { ApplicationFailure } from '@temporalio/common';
import type { Release } from '../../db/schema.ts';
import { chunkBySize, jsonSize } from '../../domain/records.ts';
import { isErrorCode } from '../../domain/errors.ts';
import { nextVersion } from '../../domain/types.ts';
import type { Actor } from '../../domain/types.ts';
import { decideUpdate } from '../../workflows/release/messages.ts';
import type { Decision, DecisionResult } from '../../workflows/release/messages.ts';
import { audited } from '../audit/record.ts';
import { requireOwner } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import { storeWrites, withRelease } from '../release-workflow.ts';
import { loadRelease } from '../releases/routes.ts';
import { executeUpdateWithRetry } from '../temporal-update.ts';

/** A fast, clear refusal from the database; the workflow's validator refuses on its own as well. */
export function mustBeOpen(rel: Release): void {
  const where = `${rel.product}/${rel.name}`;
  if (rel.state === 'closed') throw new ApiError('release_closed', `release ${where} is closed and accepts nothing`, { release: where });
  if (rel.state === 'frozen') {
    const next = rel.flow === 'binary' ? nextVersion([rel.name]) : 'the next release';
    throw new ApiError('release_frozen', `release ${where} is frozen; request the change on ${next}`, { release: where, next });
  }
}

/** The per-decision results a refused decide Update carries, if it is one. */
function refusedResults(err: unknown): DecisionResult[] | undefined {
  const cause = (err as { cause?: unknown }).cause;
  const details = cause instanceof ApplicationFailure ? (cause.details?.[0] as { results?: DecisionResult[] } | undefined) : undefined;
  return Array.isArray(details?.results) ? details.results : undefined;
}

/** A refusal from the workflow's answer for one request or decision, as the API's error. */
export function refusal(r: { code: string; message: string; details?: unknown }): ApiError {
  return new ApiError(isErrorCode(r.code) ? r.code : 'internal', r.message, r.details);
}

/** Decides through the release workflow and stores its answer. */
export async function decide(deps: AppDeps, rel: Release, decisions: Decision[], actor: Actor): Promise<DecisionResult[]> {
  const results: DecisionResult[] = [];
  // Each Update carries the reading of the requests it names (a reason may be 4,000 characters): 250 at a time.
  const chunks = chunkBySize(decisions, (d) => jsonSize(d), 128 * 1024, 250);
  let refusedFirst: unknown;
  for (const chunk of chunks) {
    try {
      const answer = await withRelease(deps, rel, chunk.map((d) => d.id), (handle, known) =>
        executeUpdateWithRetry(handle, decideUpdate, { args: [{ decisions: chunk, actor, known }] }));
      await storeWrites(deps, rel, answer.writes);
      results.push(...answer.results);
    } catch (err) {
      // A part none of whose decisions could apply is refused whole, with a result per decision.
      const each = refusedResults(err);
      if (chunks.length === 1 || !each) throw err;
      refusedFirst ??= err;
      results.push(...each);
    }
  }
  if (refusedFirst && !results.some((x) => x.ok)) throw refusedFirst;
  return results;
}

/** Many decisions by an owner on one release, audited as one action; a result per decision. */
export async function decideMany(deps: AppDeps, actor: Actor, product: string, release: string, decisions: Decision[]): Promise<DecisionResult[]> {
  requireOwner(actor, product);
  const rel = await loadRelease(deps.db, product, release);
  mustBeOpen(rel);
  return audited(deps.db, actor, 'change.decide', { product, release, details: { decisions } }, () =>
    decide(deps, rel, decisions, actor), (done) => ({ decisions, results: done }));
}
