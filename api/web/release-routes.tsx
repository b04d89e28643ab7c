/** @jsxImportSource hono/jsx */
// The web page's release routes: the release, freeze and close, its triage queue with bulk decisions, a
// change, and the stamp the live refresh polls.
import type { Hono } from 'hono';
import { listApprovals } from '../../db/repos/approvals.ts';
import { candidatesOfRelease, artifactsOfCandidates } from '../../db/repos/candidates.ts';
import { changesStamp, getChange, listChanges, latestChanges } from '../../db/repos/changes.ts';
import { deploymentsOfRelease } from '../../db/repos/deployments.ts';
import { waitsOfRelease } from '../../db/repos/dependency-waits.ts';
import { componentsOfRelease } from '../../db/repos/components.ts';
import { getProduct } from '../../db/repos/products.ts';
import { getRelease } from '../../db/repos/releases.ts';
import { runsByIds, runsOfRelease } from '../../db/repos/runs.ts';
import { changesByIds } from '../../db/repos/trace.ts';
import { previewsStamp } from '../../db/repos/pick-previews.ts';
import { defaultSeverities, mayDecide } from '../../domain/types.ts';
import type { ProductConfig } from '../../domain/types.ts';
import { requireView } from '../auth.ts';
import { decideMany } from '../changes/decide.ts';
import type { AppDeps } from '../context.ts';
import { workflowLink } from '../context.ts';
import { ApiError } from '../errors.ts';
import { closeRelease, freezeRelease, loadRelease } from '../releases/routes.ts';
import { ChangePage } from './pages/misc.tsx';
import { QueuePage, queueStates } from './pages/queue.tsx';
import type { Applies, QueueFilter } from './pages/queue.tsx';
import { ReleasePage } from './pages/release.tsx';
import { appliesOf } from '../changes/preview.ts';
import { ctxOf, signedIn, slugOf } from './context.ts';
import type { WebContext, WebEnv } from './context.ts';

function queueFilter(c: WebContext): QueueFilter {
  const q = c.req.query();
  const state = q.state === undefined ? ['awaiting-decision'] : q.state.split(',').filter((s) => (queueStates as readonly string[]).includes(s));
  const sort = q.sort === 'trunk' || q.sort === 'age' || q.sort === 'severity' ? q.sort : 'seq';
  const offset = Math.max(0, Math.min(1_000_000, Number.parseInt(q.offset ?? '0', 10) || 0));
  const text = (v: string | undefined) => (v && v.trim() ? v.trim().slice(0, 200) : undefined);
  return { state, severity: text(q.severity), requester: text(q.requester), q: text(q.q), sort, offset, limit: 1000 };
}


export function releaseWebRoutes(web: Hono<WebEnv>, deps: AppDeps): void {
  /** The release named in the path, if the actor may see it, with the live-refresh stamp read before it. */
  const opened = async (c: WebContext) => {
    const actor = signedIn(c);
    const product = slugOf(c, 'product');
    const name = slugOf(c, 'release');
    requireView(actor, product);
    const stamp = await stampOf(product, name);
    return { actor, product, name, stamp, release: await loadRelease(deps.db, product, name) };
  };

  const releasePage = async (c: WebContext, notice?: string) => {
    const { actor, product, name, stamp, release } = await opened(c);
    const [changes, runs, deployments, candidates, approvals, awaiting, waits, components] = await Promise.all([
      latestChanges(deps.db, product, name, 50),
      runsOfRelease(deps.db, product, name, 30),
      deploymentsOfRelease(deps.db, product, name),
      candidatesOfRelease(deps.db, product, name),
      listApprovals(deps.db, { product, release: name }),
      listChanges(deps.db, product, name, { state: ['awaiting-decision'], limit: 1, offset: 0 }),
      waitsOfRelease(deps.db, product, name),
      componentsOfRelease(deps.db, product, name),
    ]);
    const artifacts = await artifactsOfCandidates(deps.db, candidates.map((x) => x.id));
    return c.html(<ReleasePage ctx={ctxOf(c)} v={{
      release, stamp, temporalUrl: workflowLink(deps.temporal, release.workflowId), mayDecide: mayDecide(actor, product),
      changes, runs, deployments, candidates, artifacts, approvals, waits, components, awaiting: awaiting.total, ...(notice ? { notice } : {}),
    }} />);
  };
  web.get('/p/:product/r/:release', (c) => releasePage(c));

  web.post('/p/:product/r/:release/freeze', async (c) => {
    const form = await c.req.parseBody();
    if (form.confirm !== 'yes') throw new ApiError('bad_request', 'tick the confirmation to freeze the release');
    await freezeRelease(deps, signedIn(c), slugOf(c, 'product'), slugOf(c, 'release'));
    return releasePage(c, 'Frozen: the release accepts no more changes.');
  });
  web.post('/p/:product/r/:release/close', async (c) => {
    const form = await c.req.parseBody();
    if (form.confirm !== 'yes') throw new ApiError('bad_request', 'tick the confirmation to close the release');
    await closeRelease(deps, signedIn(c), slugOf(c, 'product'), slugOf(c, 'release'));
    return releasePage(c, 'Closed: open requests were withdrawn.');
  });

  /** What the live refresh compares: read before a page's data, so a change made while it renders is seen. */
  const stampOf = async (product: string, name: string): Promise<string> => {
    const [release, changes, previews] = await Promise.all([getRelease(deps.db, product, name), changesStamp(deps.db, product, name), previewsStamp(deps.db, product, name)]);
    return `${release?.state}:${release?.headSha}:${release?.updatedAt?.toISOString()}:${changes}:${previews}`;
  };

  web.get('/p/:product/r/:release/stamp', async (c) => {
    const actor = signedIn(c);
    const product = slugOf(c, 'product');
    const name = slugOf(c, 'release');
    requireView(actor, product);
    return c.json({ stamp: await stampOf(product, name) });
  });

  const queuePage = async (c: WebContext, decided?: { results: Awaited<ReturnType<typeof decideMany>>; comment?: string }) => {
    const { actor, product, name, stamp, release } = await opened(c);
    const filter = queueFilter(c);
    const record = await getProduct(deps.db, product);
    const severities = (record?.config as ProductConfig | undefined)?.severities ?? defaultSeverities;
    const page = await listChanges(deps.db, product, name, { ...filter, state: filter.state as never, severities });
    const named = [...new Set(page.items.flatMap((x) => [...x.dependsOn, ...(x.revertOf ? [x.revertOf] : [])]))];
    const [others, applies] = await Promise.all([
      changesByIds(deps.db, [...named, ...(decided?.results.map((r) => r.id) ?? [])]),
      appliesOf(deps, release, page.items),
    ]);
    const seqOf = new Map<string, number>([...page.items, ...others.values()].map((x) => [x.id, x.seq]));
    return c.html(<QueuePage ctx={ctxOf(c)} v={{
      release, stamp, items: page.items, total: page.total, filter, mayDecide: mayDecide(actor, product), severities, seqOf,
      applies: applies as Map<string, Applies>,
      ...(decided ? { results: decided.results.map((result) => ({ result, seq: seqOf.get(result.id) ?? null })), ...(decided.comment ? { comment: decided.comment } : {}) } : {}),
    }} />);
  };
  web.get('/p/:product/r/:release/queue', (c) => queuePage(c));

  web.post('/p/:product/r/:release/queue', async (c) => {
    const actor = signedIn(c);
    const form = await c.req.parseBody({ all: true });
    const ids = ([] as unknown[]).concat(form.ids ?? []).filter((x): x is string => typeof x === 'string' && x.length > 0 && x.length <= 100);
    const decision = form.decision === 'approve' || form.decision === 'reject' ? form.decision : null;
    const comment = typeof form.comment === 'string' && form.comment.trim() ? form.comment.trim().slice(0, 4000) : undefined;
    if (!decision) throw new ApiError('bad_request', 'choose approve or reject');
    if (ids.length === 0) throw new ApiError('bad_request', 'select at least one request');
    if (ids.length > 1000) throw new ApiError('bad_request', 'at most 1,000 requests at once');
    const results = await decideMany(deps, actor, slugOf(c, 'product'), slugOf(c, 'release'), ids.map((id) => ({ id, decision, ...(comment ? { comment } : {}) })));
    return queuePage(c, { results, ...(comment ? { comment } : {}) });
  });

  web.get('/p/:product/r/:release/changes/:id', async (c) => {
    const actor = signedIn(c);
    const product = slugOf(c, 'product');
    const name = slugOf(c, 'release');
    requireView(actor, product);
    const x = await getChange(deps.db, product, name, c.req.param('id').slice(0, 100));
    if (!x) throw new ApiError('change_not_found', `no change ${c.req.param('id').slice(0, 100)} on ${product}/${name}`);
    return c.html(<ChangePage ctx={ctxOf(c)} x={x} runs={await runsByIds(deps.db, x.checkRunId ? [x.checkRunId] : [])} />);
  });
}
