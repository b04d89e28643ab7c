import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { z } from 'zod';
import { currentDeployments } from '../../db/repos/deployments.ts';
import { getProduct } from '../../db/repos/products.ts';
import { getRelease } from '../../db/repos/releases.ts';
import { productsUsing } from '../../db/repos/templates.ts';
import { actionsOf, createTrain, deleteTrain, getTrain, getTrainAction, listTrains, membersOf, outcomesOf, recordTrainAction } from '../../db/repos/trains.ts';
import type { Train, TrainMember } from '../../db/schema.ts';
import { preflight, trainWorkflowId } from '../../domain/trains.ts';
import type { MayAct, MemberFacts, Preflight, TrainAction } from '../../domain/trains.ts';
import { mayDecide, mayRequest } from '../../domain/types.ts';
import type { Actor } from '../../domain/types.ts';
import { trainKey } from '../../workflows/search-attributes.ts';
import { trainActUpdate, trainWorkflow } from '../../workflows/train.ts';
import type { TrainInput } from '../../workflows/train.ts';
import { audited } from '../audit/record.ts';
import { requireView } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { workflowLink } from '../context.ts';
import { ApiError } from '../errors.ts';
import { updateIdFor } from '../release-workflow.ts';
import type { Routes } from '../route.ts';
import { doc, slug, slugParam } from '../route.ts';
import { executeUpdateWithRetry } from '../temporal-update.ts';

// Trains (domain/trains.ts): many products' releases cut and acted on together, each action asked of
// every member first (the pre-flight), then confirmed for the ready ones (or all) and done by the
// train's workflow, which records each member's outcome.

const createSchema = z.strictObject({
  name: doc(slug, 'The train\'s name, unique', 'apps-2026-w49'),
  release: doc(slug, 'The release every member cuts', '2026-w49'),
  plan: doc(slug, 'Every product made from this plan is a member', 'android-apps').optional(),
  products: doc(z.array(slug).min(1).max(500), 'The members, by product name (or give plan)', ['maps', 'mail']).optional(),
  production: doc(z.boolean().default(true), 'Whether the releases may reach production', true),
}).superRefine((t, ctx) => {
  if (!t.plan === !t.products) ctx.addIssue({ code: 'custom', path: ['products'], message: 'give the members: either plan or products' });
  if (t.products && new Set(t.products).size !== t.products.length) ctx.addIssue({ code: 'custom', path: ['products'], message: 'a product is named twice' });
});

const sha = z.string().regex(/^[0-9a-fA-F]{4,40}$/, 'commits are full or abbreviated SHAs: 4 to 40 hex digits');
/** What may be done to every member; the web page's form is checked by it too. */
export const trainActionSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: doc(z.literal('deploy'), 'Deploy every member\'s release head', 'deploy'), environment: doc(slug, 'Where', 'staging') }),
  z.strictObject({ kind: doc(z.literal('freeze'), 'Freeze every member\'s release', 'freeze') }),
  z.strictObject({ kind: doc(z.literal('close'), 'Close every member\'s release, and the train', 'close') }),
  z.strictObject({
    kind: doc(z.literal('pick'), 'File one pick request into every member release (one that has the commit answers already-present)', 'pick'),
    commits: doc(z.array(sha).min(1).max(100), 'The commits', ['3f2a9c1']),
    reason: doc(z.string().trim().min(1, 'say why the pick is needed').max(4000), 'Why', 'crash on start'),
    severity: doc(z.string().min(1).max(50).default('normal'), 'One of the members\' severities', 'hotfix'),
  }),
]);
const actSchema = z.strictObject({
  action: doc(trainActionSchema, 'What to do to every member', { kind: 'deploy', environment: 'staging' }),
  confirm: doc(z.enum(['ready', 'all']), 'Leave out to get the pre-flight only; ready: act on the members it found ready; all: on every member (those that cannot fail with their reason)', 'ready').optional(),
});

export type TrainConfirm = 'ready' | 'all';

/** The API's own rule per member: cutting and picking are requests, the rest are decisions. */
export function mayAct(actor: Actor): MayAct {
  return (product, kind) => (kind === 'cut' || kind === 'pick' ? mayRequest(actor, product) : mayDecide(actor, product));
}

async function loadTrain(deps: AppDeps, name: string): Promise<Train> {
  const train = await getTrain(deps.db, name);
  if (!train) throw new ApiError('train_not_found', `no train ${name}`, { train: name });
  return train;
}

/** A train is seen by whoever may see all its members. */
export async function visibleTrain(deps: AppDeps, actor: Actor, name: string): Promise<{ train: Train; members: TrainMember[] }> {
  const train = await loadTrain(deps, name);
  const members = await membersOf(deps.db, name);
  for (const m of members) requireView(actor, m.product);
  return { train, members };
}

/** The trains whose every member `actor` may see, newest first, with their member counts. */
export async function visibleTrains(deps: AppDeps, actor: Actor): Promise<{ train: Train; members: number }[]> {
  const items = await listTrains(deps.db);
  const listed = await Promise.all(items.map(async (train) => {
    const members = await membersOf(deps.db, train.name);
    const seen = members.every((m) => actor.role === 'admin' || actor.products === null || actor.products.includes(m.product));
    return seen ? { train, members: members.length } : null;
  }));
  return listed.filter((t) => t !== null);
}

/** What the pre-flight needs of each member, read now. */
export async function memberFacts(deps: AppDeps, train: Train, products: string[]): Promise<MemberFacts[]> {
  return Promise.all(products.map(async (product): Promise<MemberFacts> => {
    const [p, rel] = await Promise.all([getProduct(deps.db, product), getRelease(deps.db, product, train.release)]);
    const current = p ? await currentDeployments(deps.db, product, p.config.environments.map((e) => e.name)) : new Map();
    return {
      product, config: p?.config ?? null,
      release: rel ? { name: rel.name, state: rel.state, production: rel.production, headSha: rel.headSha } : null,
      current: Object.fromEntries([...current].map(([env, d]) => [env, d.commitSha])),
    };
  }));
}

function presentTrain(deps: AppDeps, t: Train) {
  return { name: t.name, release: t.release, plan: t.plan, production: t.production, state: t.state, createdBy: t.createdBy, createdAt: t.createdAt, workflowId: t.workflowId, temporalUrl: workflowLink(deps.temporal, t.workflowId) };
}

/** Every environment name among the members' configurations, earliest first (by their lowest order). */
function environmentsOf(facts: MemberFacts[]): string[] {
  const order = new Map<string, number>();
  for (const f of facts) for (const e of f.config?.environments ?? []) order.set(e.name, Math.min(order.get(e.name) ?? Infinity, e.order));
  return [...order].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0])).map(([name]) => name);
}

/** A train as its readers see it (the API's answer and the web page's): members with their facts, recent actions. */
export async function trainView(deps: AppDeps, actor: Actor, name: string) {
  const { train, members } = await visibleTrain(deps, actor, name);
  const facts = await memberFacts(deps, train, members.map((m) => m.product));
  const actions = await actionsOf(deps.db, train.name, 20);
  return {
    ...presentTrain(deps, train),
    environments: environmentsOf(facts),
    members: members.map((m, i) => {
      const f = facts[i] as MemberFacts;
      return { product: m.product, release: m.release, state: f.release?.state ?? null, headSha: f.release?.headSha ?? null, environments: f.current, last: m.last };
    }),
    actions: actions.map((a) => ({ seq: a.seq, action: a.action, requestedBy: a.requestedBy, state: a.state, members: a.members.length, done: a.done, failed: a.failed, createdAt: a.createdAt, finishedAt: a.finishedAt })),
  };
}
export type TrainView = Awaited<ReturnType<typeof trainView>>;

/** Asks every member whether it can take `action` now; does nothing. A closed train takes no action. */
export async function trainPreflight(deps: AppDeps, actor: Actor, name: string, action: TrainAction): Promise<{ train: Train; members: TrainMember[]; report: Preflight }> {
  const { train, members } = await visibleTrain(deps, actor, name);
  if (train.state === 'closed') throw new ApiError('train_closed', `train ${train.name} is closed`, { train: train.name });
  const report = preflight(action, await memberFacts(deps, train, members.map((m) => m.product)), mayAct(actor));
  return { train, members, report };
}

/**
 * Queues `action` on the train for the members the pre-flight found ready (or all of them). Someone who
 * may do it to no member at all (a viewer) is refused outright, rather than queueing an action whose
 * every outcome is a refusal. `key` makes a retried request the same action.
 */
export async function confirmTrainAction(deps: AppDeps, actor: Actor, name: string, action: TrainAction, confirm: TrainConfirm, key?: string): Promise<{ seq: number; preflight: Preflight; members: string[] }> {
  const { train, members, report } = await trainPreflight(deps, actor, name, action);
  const allowed = mayAct(actor);
  if (!members.some((m) => allowed(m.product, action.kind))) {
    throw new ApiError('forbidden', `${actor.name} (${actor.role}) may not ${action.kind} any member of train ${train.name}`, { train: train.name });
  }
  const targets = confirm === 'all' ? members.map((m) => m.product) : report.ready.map((m) => m.product);
  if (targets.length === 0) throw new ApiError('bad_request', `no member of train ${train.name} can ${action.kind} now: ${report.summary}`, { preflight: report });
  const input = { action, members: targets, actor, report: report as unknown as Record<string, unknown> };
  const handle = deps.temporal.client.workflow.getHandle(train.workflowId);
  const { seq } = await audited(deps.db, actor, 'train.act', { target: train.name, details: { action, confirm, members: targets.length } }, () =>
    executeUpdateWithRetry(handle, trainActUpdate, { args: [input], ...(key ? { updateId: updateIdFor(`train-${train.name}-${key}`, input) } : {}) }));
  // Stored now, so the caller sees its action at once; the workflow records it too.
  await recordTrainAction(deps.db, { train: train.name, seq, action: action as unknown as Record<string, unknown>, requestedBy: actor.name, report: input.report, members: targets });
  return { seq, preflight: report, members: targets };
}

export function trainRoutes(r: Routes, deps: AppDeps): void {
  r.add({
    method: 'post', path: '/v1/trains', tag: 'trains', body: createSchema,
    summary: 'Start a train: cut the same release of many products at once (ci, owner or admin of every member)',
    responses: { 202: 'the train, its members being cut', 400: 'bad body', 403: 'not allowed on a member', 404: 'unknown plan or product', 409: 'name taken' },
  }, async ({ body, actor, c }) => {
    let products = body.products ?? [];
    if (body.plan) {
      products = (await productsUsing(deps.db, body.plan)).map((p) => p.name).sort();
      if (products.length === 0) throw new ApiError('template_not_found', `no products are made from plan ${body.plan}`, { plan: body.plan });
    }
    for (const product of products) {
      if (!(await getProduct(deps.db, product))) throw new ApiError('product_not_found', `no product ${product}`, { product });
      if (!mayRequest(actor, product)) throw new ApiError('forbidden', `${actor.name} (${actor.role}) may not cut releases of ${product}`, { product });
    }
    const workflowId = trainWorkflowId(body.name);
    const created = await createTrain(deps.db, { name: body.name, release: body.release, production: body.production, plan: body.plan ?? null, workflowId, createdBy: actor.name, members: products });
    if (!created) throw new ApiError('train_exists', `train ${body.name} already exists`, { train: body.name });
    const input: TrainInput = { train: body.name, release: body.release, production: body.production, members: products, actor };
    await audited(deps.db, actor, 'train.start', { target: body.name, details: { release: body.release, plan: body.plan, members: products.length } }, async () => {
      try {
        await deps.temporal.client.workflow.start(trainWorkflow, {
          workflowId, taskQueue: deps.temporal.taskQueue, args: [input], workflowIdReusePolicy: 'REJECT_DUPLICATE',
          typedSearchAttributes: [{ key: trainKey, value: body.name }],
        });
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) return;
        await deleteTrain(deps.db, body.name).catch(() => undefined);
        throw err;
      }
    });
    return c.json({ ...presentTrain(deps, await loadTrain(deps, body.name)), members: products.map((product) => ({ product, release: null, last: null })) }, 202);
  });

  r.add({ method: 'get', path: '/v1/trains', tag: 'trains', summary: 'Trains whose members you may see, newest first', responses: { 200: 'trains' } }, async ({ actor, c }) =>
    c.json({ items: (await visibleTrains(deps, actor)).map((t) => presentTrain(deps, t.train)) }));

  r.add({
    method: 'get', path: '/v1/trains/:train', tag: 'trains',
    summary: 'A train: per member its release, head, environments, and the last action with its outcome; the recent actions',
    responses: { 200: 'the train', 403: 'a member you may not see', 404: 'unknown' },
  }, async ({ actor, c }) => c.json(await trainView(deps, actor, slugParam(c, 'train'))));

  r.add({
    method: 'post', path: '/v1/trains/:train/actions', tag: 'trains', body: actSchema,
    summary: 'Act on every member: without confirm, the pre-flight only (who can, and why the others cannot); with confirm, the train does it',
    responses: { 200: 'the pre-flight (nothing done)', 202: 'the action, queued on the train', 400: 'bad body', 403: 'a member you may not see, or (confirmed) none you may act on', 404: 'unknown', 409: 'the train is closed or closing' },
  }, async ({ body, actor, c }) => {
    const name = slugParam(c, 'train');
    const action = body.action as TrainAction;
    if (!body.confirm) return c.json({ preflight: (await trainPreflight(deps, actor, name, action)).report });
    const done = await confirmTrainAction(deps, actor, name, action, body.confirm, c.req.header('idempotency-key'));
    return c.json({ ...done, url: `/v1/trains/${name}/actions/${done.seq}` }, 202);
  });

  r.add({
    method: 'get', path: '/v1/trains/:train/actions/:seq', tag: 'trains', summary: 'One action of a train: its pre-flight, and each member\'s outcome',
    responses: { 200: 'the action', 400: 'bad seq', 403: 'a member you may not see', 404: 'unknown' },
  }, async ({ actor, c }) => {
    const { train, members } = await visibleTrain(deps, actor, slugParam(c, 'train'));
    const raw = c.req.param('seq') ?? '';
    const seq = Number(raw);
    if (!Number.isSafeInteger(seq) || seq < 1) throw new ApiError('bad_request', `action numbers are positive integers, not ${raw.slice(0, 40)}`);
    const a = await getTrainAction(deps.db, train.name, seq);
    if (!a) throw new ApiError('not_found', `train ${train.name} has no action ${seq}`);
    const recorded = await outcomesOf(deps.db, train.name, seq);
    const outcomes = members.filter((m) => a.members.includes(m.product)).map((m) => ({ product: m.product, outcome: recorded.get(m.product) ?? null }));
    return c.json({ seq: a.seq, action: a.action, requestedBy: a.requestedBy, state: a.state, done: a.done, failed: a.failed, preflight: a.report, outcomes, createdAt: a.createdAt, finishedAt: a.finishedAt });
  });
}
