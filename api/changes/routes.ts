import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { resolveSeqRefs } from './seq-refs.ts';
import type { Db } from '../../db/client.ts';
import { getChange, listChanges } from '../../db/repos/changes.ts';
import { getProduct } from '../../db/repos/products.ts';
import { ReleaseFeed } from '../../db/feed.ts';
import { decide, decideMany, mustBeOpen, refusal } from './decide.ts';
import { appliesOf } from './preview.ts';
import { runsByIds } from '../../db/repos/runs.ts';
import type { ChangeRequest, Release } from '../../db/schema.ts';
import { fileUpdate, retryUpdate } from '../../workflows/release/messages.ts';
import type { FileResult } from '../../workflows/release/messages.ts';
import type { FileRequest } from '../../domain/requests.ts';
import type { Actor, ProductConfig } from '../../domain/types.ts';
import { defaultSeverities } from '../../domain/types.ts';
import { changesByIds } from '../../db/repos/trace.ts';
import { naming, storeWrites, updateIdFor, withRelease } from '../release-workflow.ts';
import { chunkBySize, jsonSize } from '../../domain/records.ts';
import { executeUpdateWithRetry } from '../temporal-update.ts';
import { audited } from '../audit/record.ts';
import { requireOwner, requireRequest, requireView } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import { loadRelease } from '../releases/routes.ts';
import type { Routes } from '../route.ts';
import { doc, param, slugParam } from '../route.ts';
import { assertSafeBranchName } from '../../activities/git/refs.ts';
import { componentTarget } from '../products/component-target.ts';

const branchName = z.string().min(1).max(255).superRefine((b, ctx) => {
  try {
    assertSafeBranchName(b);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const sha = z.string().regex(/^[0-9a-fA-F]{4,40}$/, 'commits are full or abbreviated SHAs: 4 to 40 hex digits');

const componentField = doc(z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'component names are lowercase identifiers'),
  'For a product with components: the component (repository) the request is for (default: the product\'s own)', 'payments').optional();

const changeSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: doc(z.literal('merge'), 'A merge of a branch into the release (pull-request flow)', 'merge'),
    branch: doc(branchName, 'The branch to merge', 'feature-x'),
  }),
  z.strictObject({
    kind: doc(z.literal('pick'), 'A cherry-pick of commits onto the release (cherry-pick and binary flows)', 'pick'),
    commits: doc(z.array(sha).min(1, 'name at least one commit').max(100), 'The commits, full or abbreviated SHAs, of any branch', ['3f2a9c1']),
    reason: doc(z.string().trim().min(1, 'say why the pick is needed').max(4000), 'Why the release needs it', 'crash on start for customers on Android 14'),
    severity: doc(z.string().min(1).max(50).default('normal'), 'One of the product\'s severities', 'hotfix'),
    dependsOn: doc(z.array(z.string().min(1).max(100)).max(50), 'Requests (ids or #seq) that must land first', ['#12']).optional(),
    component: componentField,
  }),
  z.strictObject({
    kind: doc(z.literal('revert'), 'A revert of a merged pick', 'revert'),
    revertOf: doc(z.string().min(1).max(100), 'The merged pick to revert: its id or #seq', '#12'),
    reason: doc(z.string().trim().min(1).max(4000), 'Why it must go', 'broke the config'),
    component: componentField,
  }),
]);

const batchSchema = z.strictObject({
  requests: doc(z.array(changeSchema).min(1).max(1000), 'Up to 1,000 requests, each answered on its own', [{ kind: 'pick', commits: ['3f2a9c1'], reason: 'crash on start', severity: 'normal' }]),
});

/**
 * Whether a stored request is the one `body` asks for: a retry under the same Idempotency-Key sends the
 * same body; another body under a used key is a client's mistake, refused rather than answered with
 * the first request as if it were this one.
 */
function sameRequest(body: z.infer<typeof changeSchema>, x: ChangeRequest): boolean {
  if (body.kind !== x.kind) return false;
  switch (body.kind) {
    case 'merge':
      return body.branch === x.branch;
    case 'pick':
      // Commits may be given abbreviated; the stored ones are full.
      return body.commits.length === x.commits.length && body.commits.every((c, i) => (x.commits[i] ?? '').startsWith(c.toLowerCase())) &&
        body.reason === x.reason && body.severity === x.severity;
    case 'revert':
      return body.revertOf === x.revertOf && body.reason === x.reason;
  }
}

function keyReused(key: string, x: ChangeRequest): ApiError {
  return new ApiError('idempotency_key_reused', `Idempotency-Key ${key.slice(0, 100)} was used for another request (#${x.seq}, a ${x.kind}); send a new key for a new request`, {
    changeId: x.id, seq: x.seq,
  });
}

const states = ['requested', 'checking', 'awaiting-decision', 'approved', 'rejected', 'merged', 'conflict', 'failed', 'already-present', 'withdrawn'] as const;

const listQuery = z.strictObject({
  state: z.string().optional().transform((s, ctx) => {
    if (!s) return undefined;
    const parts = s.split(',');
    for (const p of parts) {
      if (!(states as readonly string[]).includes(p)) {
        ctx.addIssue({ code: 'custom', message: `unknown state ${p}; one of ${states.join(', ')}` });
        return z.NEVER;
      }
    }
    return parts as (typeof states)[number][];
  }),
  severity: z.string().max(50).optional(),
  requester: z.string().max(200).optional(),
  q: z.string().max(200).optional(),
  sort: z.enum(['seq', 'trunk', 'age', 'severity']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
  component: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'component names are lowercase identifiers').optional(),
  /** `true`: each undecided pick says whether it applies on the head now (asking the worker when it has no answer yet). */
  applies: z.enum(['true', 'false']).optional(),
});

const decisionSchema = z.strictObject({
  decision: doc(z.enum(['approve', 'reject']), 'The owner\'s vote', 'approve'),
  comment: doc(z.string().max(4000), 'Why, kept with the vote', 'ok for the train').optional(),
});
const decisionsSchema = z.strictObject({
  decisions: doc(z.array(z.strictObject({ id: doc(z.string().min(1).max(100), 'The request\'s id', '0b6f6f7c-4c1e-5d2a-9a55-3b1f1a2c9e10'), ...decisionSchema.shape })).min(1).max(1000),
    'Up to 1,000 votes, each answered on its own', [{ id: '0b6f6f7c-4c1e-5d2a-9a55-3b1f1a2c9e10', decision: 'approve' }]),
});

export function presentChange(x: ChangeRequest) {
  return {
    id: x.id, seq: x.seq, product: x.product, release: x.release, kind: x.kind, state: x.state, check: x.checkOutcome,
    checkRunId: x.checkRunId, branch: x.branch, sourceSha: x.sourceSha, commits: x.commits, reason: x.reason, severity: x.severity,
    requester: x.requester, resultSha: x.resultSha, conflictPaths: x.conflictPaths, failure: x.failure, decidedBy: x.decidedBy,
    decisionComment: x.decisionComment, votes: x.votes, wantedBy: x.votes.filter((v) => v.decision === 'approve').map((v) => v.by),
    passedBy: x.votes.filter((v) => v.decision === 'reject').map((v) => v.by), dependsOn: x.dependsOn, revertOf: x.revertOf,
    trunkOrder: x.trunkOrder, commitDetails: x.commitDetails, rev: x.rev,
    diff: {
      files: x.commitDetails.reduce((n, c) => n + c.files, 0),
      insertions: x.commitDetails.reduce((n, c) => n + c.insertions, 0),
      deletions: x.commitDetails.reduce((n, c) => n + c.deletions, 0),
    },
    ageSeconds: Math.max(0, Math.round((Date.now() - x.createdAt.getTime()) / 1000)),
    createdAt: x.createdAt, updatedAt: x.updatedAt,
  };
}

/** A client retrying the same POST with the same Idempotency-Key files one change, not two. */
function changeId(product: string, release: string, key: string | undefined): string {
  if (!key) return randomUUID();
  const h = createHash('sha256').update(`${product}\0${release}\0${key}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

const watchQuery = z.strictObject({
  after: doc(z.coerce.number().int().min(0), 'Answer once the change\'s `rev` is greater than this (the `rev` you hold)', '3').optional(),
  wait: doc(z.coerce.number().min(0).max(60), 'Seconds to wait for that before answering with the change as it is (with `after`)', '30').default(30),
});

/**
 * The change once its revision passes `after`, or as it is when `ms` ran out or the client went away.
 * Waits on the release's notifications (db/feed.ts), reading again at least every `feed.recheckMs`.
 */
async function watchChange(db: Db, feed: ReleaseFeed, product: string, release: string, id: string, after: number, ms: number, signal: AbortSignal): Promise<ChangeRequest> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    // Registered before the read: a write committed between the read and the sleep still wakes it.
    const wake = await feed.next(product, release, Math.max(0, Math.min(left, feed.recheckMs)));
    const change = await loadChange(db, product, release, id).catch((err: unknown) => {
      wake.cancel();
      throw err;
    });
    if (change.rev > after || left <= 0 || signal.aborted || feed.isClosed) {
      wake.cancel();
      return change;
    }
    const onAbort = () => wake.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    await wake.woken;
    signal.removeEventListener('abort', onAbort);
  }
}

async function loadChange(db: Db, product: string, release: string, id: string): Promise<ChangeRequest> {
  const change = await getChange(db, product, release, id);
  if (!change) throw new ApiError('change_not_found', `no change ${id} on ${product}/${release}`);
  return change;
}

/**
 * Files requests through the release workflow and stores its answer; one result per request. A large
 * batch goes as several Updates, each well inside Temporal's payload limit (its answer, with commit
 * details, is about twice its size).
 */
async function file(deps: AppDeps, rel: Release, requests: FileRequest[], actor: Actor, prefix: string): Promise<FileResult[]> {
  const results: FileResult[] = [];
  // The answer holds each request about three times (its change, its history entry, its commits' details).
  const chunks = chunkBySize(requests, (q) => 3 * jsonSize(q), 128 * 1024, 250);
  for (const [n, chunk] of chunks.entries()) {
    const named = chunk.flatMap((q) => [q.id, ...(q.kind === 'pick' ? q.dependsOn ?? [] : []), ...(q.kind === 'revert' ? [q.revertOf] : [])]);
    const answer = await withRelease(deps, rel, named, (handle, known) => {
      const input = { requests: chunk, actor, known };
      return executeUpdateWithRetry(handle, fileUpdate, { args: [input], updateId: updateIdFor(chunks.length === 1 ? prefix : `${prefix}-${n}`, input) });
    });
    await storeWrites(deps, rel, answer.results.flatMap((x) => (x.ok && x.write ? [x.write] : [])));
    results.push(...answer.results);
  }
  return results;
}

/** Files one request (ci, owner or admin), once per Idempotency-Key: the API's route and a train's pick into each member. */
export async function fileChange(deps: AppDeps, product: string, release: string, given: z.infer<typeof changeSchema>, actor: Actor, key: string | undefined): Promise<ChangeRequest> {
  requireRequest(actor, product);
  const rel = await loadRelease(deps.db, product, release);
  const [body] = await resolveSeqRefs(deps.db, product, release, [given]) as [typeof given];
  const id = changeId(product, release, key);
  const existing = await getChange(deps.db, product, release, id);
  if (existing && key && !sameRequest(body, existing)) throw keyReused(key, existing);
  if (existing) return existing;
  mustBeOpen(rel);
  await audited(deps.db, actor, 'change.request', { product, release, target: id, details: body }, () => naming({ changeId: id }, async () => {
    const [result] = await file(deps, rel, [{ id, ...body } as FileRequest], actor, `change-${id}`);
    if (result && !result.ok) throw refusal(result);
  }));
  const saved = await loadChange(deps.db, product, release, id);
  // Two calls with one key and different bodies at once: the release filed the first; this one is refused.
  if (key && !sameRequest(body, saved)) throw keyReused(key, saved);
  return saved;
}
export function changeRoutes(r: Routes, deps: AppDeps): void {
  const base = '/v1/products/:product/releases/:release/changes';
  const feed = deps.feed ?? new ReleaseFeed(undefined);


  r.add({
    method: 'post', path: base, tag: 'changes', summary: 'Request a change: a merge of a branch, a pick of trunk commits, or a revert of a pick', body: changeSchema,
    responses: { 201: 'the change request', 409: 'release frozen or closed', 422: 'unknown branch', 503: 'the repository or the release is unavailable; nothing was filed' },
  }, async ({ body, actor, c }) => {
    const { component, ...request } = body as typeof body & { component?: string };
    const product = await componentTarget(deps.db, slugParam(c, 'product'), component);
    const saved = await fileChange(deps, product, slugParam(c, 'release'), request as typeof body, actor, c.req.header('idempotency-key'));
    return c.json({ ...presentChange(saved), ...(component ? { component } : {}) }, saved.state === 'already-present' ? 200 : 201);
  });

  r.add({
    method: 'post', path: `${base}/batch`, tag: 'changes', body: batchSchema,
    summary: 'Request many changes in one call (up to 1,000): one result per request, in order (CI filing picks in bulk)',
    responses: { 200: 'a result per request: the change, or why it was refused', 409: 'release frozen or closed', 503: 'the repository or the release is unavailable; nothing was filed' },
  }, async ({ body, actor, c }) => {
    const product = slugParam(c, 'product');
    const release = slugParam(c, 'release');
    requireRequest(actor, product);
    const aimed = body.requests.findIndex((q) => 'component' in q && q.component !== undefined);
    if (aimed >= 0) {
      throw new ApiError('bad_request', `invalid body: requests.${aimed}.component: a batch files into one repository; send a component's batch to /v1/products/<product>.<component>/releases/...`, {
        issues: [{ path: `requests.${aimed}.component`, message: 'not in a batch' }],
      });
    }
    const rel = await loadRelease(deps.db, product, release);
    mustBeOpen(rel);
    const key = c.req.header('idempotency-key');
    const named = await resolveSeqRefs(deps.db, product, release, body.requests);
    const requests = named.map((q, n) => ({ id: changeId(product, release, key ? `${key}#${n}` : undefined), ...q }) as FileRequest);
    const results = await audited(deps.db, actor, 'change.request', { product, release, details: { requests: body.requests.length } }, () =>
      file(deps, rel, requests, actor, `changes-${createHash('sha256').update(requests.map((q) => q.id).join(',')).digest('hex').slice(0, 32)}`),
    (done) => ({ requests: body.requests.length, filed: done.filter((x) => x.ok).length }));
    const saved = await changesByIds(deps.db, results.flatMap((x) => (x.ok ? [x.id] : [])));
    return c.json({
      results: results.map((x) => {
        if (!x.ok) return { id: x.id, ok: false, code: x.code, message: x.message, ...(x.details ? { details: x.details } : {}) };
        const row = saved.get(x.id);
        return { id: x.id, ok: true, change: row ? presentChange(row) : null };
      }),
    });
  });

  r.add({
    method: 'get', path: base, tag: 'changes', summary: 'Change requests, filtered and paginated', query: listQuery,
    responses: {
      200: 'a page of change requests; with `applies=true`, each pick request awaiting a decision in an open release has `applies`: whether it would apply on the ' +
        'release head `head` now (`applies` with the paths it changes, `conflicts` with the conflicting paths, `already-present` with `presentSha`, ' +
        'the release commit that holds it, `error` with `detail`), or `pending` while the worker works it out (read again)',
    },
  }, async ({ query, actor, c }) => {
    const { component, ...filters } = query;
    const product = await componentTarget(deps.db, slugParam(c, 'product'), component);
    const release = slugParam(c, 'release');
    requireView(actor, product);
    const rel = await loadRelease(deps.db, product, release);
    const severities = ((await getProduct(deps.db, product))?.config as ProductConfig | undefined)?.severities ?? defaultSeverities;
    const page = await listChanges(deps.db, product, release, { ...filters, severities });
    // Asked for, not given by default: working it out is the worker's time, and CI polling a list needs none of it.
    const applies = query.applies === 'true' ? await appliesOf(deps, rel, page.items) : new Map<string, unknown>();
    const items = page.items.map((x) => ({ ...presentChange(x), ...(applies.has(x.id) ? { applies: applies.get(x.id) } : {}) }));
    return c.json({ items, total: page.total, limit: query.limit, offset: query.offset });
  });

  r.add({
    method: 'post', path: `${base}/decisions`, tag: 'changes', summary: 'Approve or reject many change requests at once (owner)',
    body: decisionsSchema, responses: { 200: 'a result per id', 403: 'not an owner', 409: 'release closed' },
  }, async ({ body, actor, c }) => {
    const product = slugParam(c, 'product');
    const release = slugParam(c, 'release');
    return c.json({ results: await decideMany(deps, actor, product, release, body.decisions) });
  });

  r.add({
    method: 'post', path: `${base}/:id/decision`, tag: 'changes', summary: 'Approve or reject one change request (owner)',
    body: decisionSchema, responses: { 200: 'the change request', 403: 'not an owner', 404: 'unknown change', 409: 'not decidable', 422: 'checks failed' },
  }, async ({ body, actor, c }) => {
    const product = slugParam(c, 'product');
    const release = slugParam(c, 'release');
    const id = param(c, 'id');
    requireOwner(actor, product);
    const rel = await loadRelease(deps.db, product, release);
    mustBeOpen(rel);
    await audited(deps.db, actor, `change.${body.decision}`, { product, release, target: id, details: body }, async () => {
      const [result] = await decide(deps, rel, [{ id, ...body }], actor);
      if (result && !result.ok) throw refusal(result);
    });
    return c.json(presentChange(await loadChange(deps.db, product, release, id)));
  });

  r.add({
    method: 'post', path: `${base}/:id/retry`, tag: 'changes',
    summary: 'Retry (owner): a change whose merge or pick failed goes back to the queue; one whose checks failed runs them again',
    responses: { 200: 'the change request', 403: 'not an owner', 404: 'unknown change', 409: 'nothing to retry' },
  }, async ({ actor, c }) => {
    const product = slugParam(c, 'product');
    const release = slugParam(c, 'release');
    const id = param(c, 'id');
    requireOwner(actor, product);
    const rel = await loadRelease(deps.db, product, release);
    mustBeOpen(rel);
    await loadChange(deps.db, product, release, id);
    await audited(deps.db, actor, 'change.retry', { product, release, target: id }, async () => {
      const { write } = await withRelease(deps, rel, [id], (handle, known) => executeUpdateWithRetry(handle, retryUpdate, { args: [{ changeId: id, actor, known }] }));
      await storeWrites(deps, rel, [write]);
    });
    return c.json(presentChange(await loadChange(deps.db, product, release, id)));
  });

  r.add({
    method: 'get', path: `${base}/:id`, tag: 'changes', query: watchQuery,
    summary: 'One change request with its checks and history; with `after` and `wait`, answered once its revision passes `after` (a long poll)',
    responses: { 200: 'the change (on a long poll: newer than `after`, or as it is when `wait` ran out)', 400: 'bad query', 404: 'unknown' },
  }, async ({ actor, query, c }) => {
    const product = slugParam(c, 'product');
    const release = slugParam(c, 'release');
    requireView(actor, product);
    const id = param(c, 'id');
    const change = query.after === undefined
      ? await loadChange(deps.db, product, release, id)
      : await watchChange(deps.db, feed, product, release, id, query.after, query.wait * 1000, c.req.raw.signal);
    const checks = await runsByIds(deps.db, change.checkRunId ? [change.checkRunId] : []);
    return c.json({ ...presentChange(change), checks, history: change.history });
  });
}
