import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Db } from '../../db/client.ts';
import { getChange, listChanges } from '../../db/repos/changes.ts';
import { runsByIds } from '../../db/repos/runs.ts';
import type { ChangeRequest, Release } from '../../db/schema.ts';
import { nextVersion } from '../../domain/types.ts';
import { decideUpdate, requestChangeUpdate } from '../../workflows/messages.ts';
import type { DecisionResult } from '../../workflows/messages.ts';
import { audited } from '../audit/record.ts';
import { requireOwner, requireRequest, requireView } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import { loadRelease } from '../releases/routes.ts';
import type { Routes } from '../route.ts';
import { param, slugParam } from '../route.ts';
import { isErrorCode } from '../../domain/errors.ts';
import { assertSafeBranchName } from '../../activities/git/refs.ts';

const branchName = z.string().min(1).max(255).superRefine((b, ctx) => {
  try {
    assertSafeBranchName(b);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const sha = z.string().regex(/^[0-9a-fA-F]{4,40}$/, 'commits are full or abbreviated SHAs: 4 to 40 hex digits');

const changeSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('merge'), branch: branchName }),
  z.strictObject({
    kind: z.literal('pick'),
    commits: z.array(sha).min(1, 'name at least one commit').max(100),
    reason: z.string().trim().min(1, 'say why the pick is needed').max(4000),
    severity: z.string().min(1).max(50).default('normal'),
    dependsOn: z.array(z.string().min(1).max(100)).max(50).optional(),
  }),
  z.strictObject({ kind: z.literal('revert'), revertOf: z.string().min(1).max(100), reason: z.string().trim().min(1).max(4000) }),
]);

const states = ['requested', 'checking', 'awaiting-decision', 'approved', 'rejected', 'merged', 'conflict', 'failed', 'already-present'] as const;

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
  sort: z.enum(['seq', 'trunk', 'age']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

const decisionSchema = z.strictObject({ decision: z.enum(['approve', 'reject']), comment: z.string().max(4000).optional() });
const decisionsSchema = z.strictObject({
  decisions: z.array(z.strictObject({ id: z.string().min(1).max(100), ...decisionSchema.shape })).min(1).max(1000),
});

export function presentChange(x: ChangeRequest) {
  return {
    id: x.id, seq: x.seq, product: x.product, release: x.release, kind: x.kind, state: x.state, check: x.checkOutcome,
    checkRunId: x.checkRunId, branch: x.branch, sourceSha: x.sourceSha, commits: x.commits, reason: x.reason, severity: x.severity,
    requester: x.requester, resultSha: x.resultSha, conflictPaths: x.conflictPaths, decidedBy: x.decidedBy,
    decisionComment: x.decisionComment, votes: x.votes, wantedBy: x.votes.filter((v) => v.decision === 'approve').map((v) => v.by),
    passedBy: x.votes.filter((v) => v.decision === 'reject').map((v) => v.by), dependsOn: x.dependsOn, revertOf: x.revertOf,
    trunkOrder: x.trunkOrder, commitDetails: x.commitDetails,
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

/** A fast, clear refusal from the database; the workflow's validator refuses on its own as well. */
function mustBeOpen(rel: Release): void {
  const where = `${rel.product}/${rel.name}`;
  if (rel.state === 'closed') throw new ApiError('release_closed', `release ${where} is closed and accepts nothing`, { release: where });
  if (rel.state === 'frozen') {
    const next = rel.flow === 'binary' ? nextVersion([rel.name]) : 'the next release';
    throw new ApiError('release_frozen', `release ${where} is frozen; request the change on ${next}`, { release: where, next });
  }
}

async function loadChange(db: Db, product: string, release: string, id: string): Promise<ChangeRequest> {
  const change = await getChange(db, product, release, id);
  if (!change) throw new ApiError('change_not_found', `no change ${id} on ${product}/${release}`);
  return change;
}

export function changeRoutes(r: Routes, deps: AppDeps): void {
  const { client } = deps.temporal;
  const base = '/v1/products/:product/releases/:release/changes';

  r.add({
    method: 'post', path: base, tag: 'changes', summary: 'Request a change: a merge of a branch, a pick of trunk commits, or a revert of a pick', body: changeSchema,
    responses: { 201: 'the change request', 409: 'release frozen or closed', 422: 'unknown branch' },
  }, async ({ body, actor, c }) => {
    const product = slugParam(c, 'product');
    const release = slugParam(c, 'release');
    requireRequest(actor, product);
    const rel = await loadRelease(deps.db, product, release);
    const id = changeId(product, release, c.req.header('idempotency-key'));
    mustBeOpen(rel);
    const view = await audited(deps.db, actor, 'change.request', { product, release, target: id, details: body }, () =>
      client.workflow.getHandle(rel.workflowId).executeUpdate(requestChangeUpdate, { args: [{ id, ...body, actor }], updateId: `change-${id}` }));
    const saved = await loadChange(deps.db, product, release, view.id);
    return c.json(presentChange(saved), saved.state === 'already-present' ? 200 : 201);
  });

  r.add({
    method: 'get', path: base, tag: 'changes', summary: 'Change requests, filtered and paginated', query: listQuery,
    responses: { 200: 'a page of change requests' },
  }, async ({ query, actor, c }) => {
    const product = slugParam(c, 'product');
    const release = slugParam(c, 'release');
    requireView(actor, product);
    await loadRelease(deps.db, product, release);
    const page = await listChanges(deps.db, product, release, query);
    return c.json({ items: page.items.map(presentChange), total: page.total, limit: query.limit, offset: query.offset });
  });

  r.add({
    method: 'post', path: `${base}/decisions`, tag: 'changes', summary: 'Approve or reject many change requests at once (owner)',
    body: decisionsSchema, responses: { 200: 'a result per id', 403: 'not an owner', 409: 'release closed' },
  }, async ({ body, actor, c }) => {
    const product = slugParam(c, 'product');
    const release = slugParam(c, 'release');
    requireOwner(actor, product);
    const rel = await loadRelease(deps.db, product, release);
    mustBeOpen(rel);
    const { results } = await audited(deps.db, actor, 'change.decide', { product, release, details: { decisions: body.decisions } }, () =>
      client.workflow.getHandle(rel.workflowId).executeUpdate(decideUpdate, { args: [{ decisions: body.decisions, actor }] }),
    (done) => ({ decisions: body.decisions, results: done.results }));
    return c.json({ results });
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
      const { results } = await client.workflow.getHandle(rel.workflowId).executeUpdate(decideUpdate, { args: [{ decisions: [{ id, ...body }], actor }] });
      const result: DecisionResult | undefined = results[0];
      if (result && !result.ok) throw new ApiError(isErrorCode(result.code) ? result.code : 'internal', result.message);
    });
    return c.json(presentChange(await loadChange(deps.db, product, release, id)));
  });

  r.add({
    method: 'get', path: `${base}/:id`, tag: 'changes', summary: 'One change request with its checks and history', responses: { 200: 'the change', 404: 'unknown' },
  }, async ({ actor, c }) => {
    const product = slugParam(c, 'product');
    const release = slugParam(c, 'release');
    requireView(actor, product);
    const change = await loadChange(deps.db, product, release, param(c, 'id'));
    const checks = await runsByIds(deps.db, change.checkRunId ? [change.checkRunId] : []);
    return c.json({ ...presentChange(change), checks, history: change.history });
  });
}
