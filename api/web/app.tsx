/** @jsxImportSource hono/jsx */
// The release owners' web page, served by the API process under /ui: server-rendered with Hono's JSX,
// one small script (assets.ts). It reads through the same repositories and acts through the same
// functions as the API (decideMany, freezeRelease, findCommit, notesBetween), so authorization, audit and
// Temporal messages are the API's own; only the session differs (a cookie, session.ts).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';
import { z } from 'zod';
import { listApprovals } from '../../db/repos/approvals.ts';
import { auditOfProduct } from '../../db/repos/audit.ts';
import { candidatesOfRelease, artifactsOfCandidates } from '../../db/repos/candidates.ts';
import { changesStamp, getChange, listChanges, latestChanges } from '../../db/repos/changes.ts';
import { currentDeployments, deploymentsOfRelease, environmentHistory } from '../../db/repos/deployments.ts';
import { getProduct, listProducts } from '../../db/repos/products.ts';
import { getRelease, listReleases } from '../../db/repos/releases.ts';
import { getRun, runsByIds, runsOfRelease } from '../../db/repos/runs.ts';
import { changesByIds } from '../../db/repos/trace.ts';
import { previewsStamp } from '../../db/repos/pick-previews.ts';
import { findLiveTokenById, findToken } from '../../db/repos/tokens.ts';
import type { ApiToken } from '../../db/schema.ts';
import { mayDecide } from '../../domain/types.ts';
import type { Actor, ProductConfig } from '../../domain/types.ts';
import { audit } from '../audit/record.ts';
import { requireView } from '../auth.ts';
import { decideMany } from '../changes/decide.ts';
import { findCommit } from '../commits/routes.ts';
import type { AppDeps } from '../context.ts';
import { workflowLink } from '../context.ts';
import { ApiError, toApiError } from '../errors.ts';
import { notesMarkdown } from '../notes/notes.ts';
import { notesBetween } from '../notes/routes.ts';
import { closeRelease, freezeRelease, loadRelease } from '../releases/routes.ts';
import { openSession, sealSession } from '../session.ts';
import { css, cssPath, script, scriptPath } from './assets.ts';
import type { PageContext } from './layout.tsx';
import { releaseUrl } from './layout.tsx';
import { HomePage } from './pages/home.tsx';
import { AuditPage, ChangePage, CommitPage, ErrorPage, NotesPage, ProductPage, SignInPage } from './pages/misc.tsx';
import { QueuePage, queueStates } from './pages/queue.tsx';
import type { Applies, QueueFilter } from './pages/queue.tsx';
import { ReleasePage } from './pages/release.tsx';
import { DeployPage, GatesPage } from './pages/deploy.tsx';
import { deployClick } from '../deployments/routes.ts';
import { voteOnGate } from '../approvals/routes.ts';
import { previewDeployment } from '../notes/preview.ts';
import { awaitTraces } from '../commits/fresh.ts';
import { csrfFor, csrfMatches, sameOrigin, webSessionSeconds, webSetCookie, webCookie } from './session.ts';
import { appliesOf } from '../changes/preview.ts';

interface WebEnv {
  Variables: { actor: Actor | null; token: ApiToken | null; csrf: string };
}
type WebContext = Context<WebEnv>;

const policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const slug = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,99}$/);

const ctxOf = (c: WebContext): PageContext => ({ actor: c.get('actor'), csrf: c.get('csrf') });
const signedIn = (c: WebContext): Actor => {
  const actor = c.get('actor');
  if (!actor) throw new ApiError('unauthorized', 'sign in first');
  return actor;
};
const slugOf = (c: WebContext, name: string): string => {
  const v = c.req.param(name) ?? '';
  if (!slug.safeParse(v).success) throw new ApiError('bad_request', `"${v.slice(0, 80)}" is not a valid ${name} name`);
  return v;
};
const canSee = (actor: Actor, product: string): boolean => actor.role === 'admin' || actor.products === null || actor.products.includes(product);

/** A safe place to go after signing in: a path of this page, never another site. */
const localNext = (next: unknown): string => (typeof next === 'string' && /^\/ui(\/[^\s\\]*)?$/.test(next) && !next.startsWith('//') ? next : '/ui');

function queueFilter(c: WebContext): QueueFilter {
  const q = c.req.query();
  const state = q.state === undefined ? ['awaiting-decision'] : q.state.split(',').filter((s) => (queueStates as readonly string[]).includes(s));
  const sort = q.sort === 'trunk' || q.sort === 'age' ? q.sort : 'seq';
  const offset = Math.max(0, Math.min(1_000_000, Number.parseInt(q.offset ?? '0', 10) || 0));
  const text = (v: string | undefined) => (v && v.trim() ? v.trim().slice(0, 200) : undefined);
  return { state, severity: text(q.severity), requester: text(q.requester), q: text(q.q), sort, offset, limit: 1000 };
}

export function webApp(deps: AppDeps): Hono<WebEnv> {
  const web = new Hono<WebEnv>();

  web.onError((err, c) => {
    const e = toApiError(err);
    if (e.status >= 500 && e.status !== 503) console.error('culvert web:', err);
    c.header('Cache-Control', 'no-store');
    return c.html(<ErrorPage ctx={ctxOf(c)} status={e.status} code={e.code} message={e.message} />, e.status as 400);
  });

  web.get('/assets/:file', (c) => {
    const path = c.req.path;
    c.header('Cache-Control', 'public, max-age=31536000, immutable');
    c.header('X-Content-Type-Options', 'nosniff');
    if (path === cssPath) return c.body(css, 200, { 'content-type': 'text/css; charset=utf-8' });
    if (path === scriptPath) return c.body(script, 200, { 'content-type': 'text/javascript; charset=utf-8' });
    return c.text('not found', 404);
  });

  // Session, CSRF and headers for every page.
  web.use('*', async (c, next) => {
    c.header('Content-Security-Policy', policy);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'same-origin');
    c.header('Cache-Control', 'no-store');
    c.set('actor', null);
    c.set('token', null);
    c.set('csrf', '');
    const key = deps.sessionKey;
    if (!key) throw new ApiError('unavailable', 'this server has no session key configured, so the web page cannot sign anyone in');
    const value = getCookie(c, webCookie);
    const tokenId = value ? openSession(key, value, new Date(), 'web') : undefined;
    const token = tokenId ? await findLiveTokenById(deps.db, tokenId) : undefined;
    if (value && token) {
      c.set('token', token);
      c.set('actor', { name: token.name, role: token.role, products: token.products ?? null, tokenId: token.id });
      c.set('csrf', csrfFor(key, value));
    }
    const isSignIn = c.req.path === '/ui/sign-in';
    if (c.req.method === 'POST') {
      // Another site's page never changes anything here: its posts are refused before anything is read.
      if (!sameOrigin(c)) throw new ApiError('forbidden', 'this form was not sent from Culvert\'s own page');
      if (!isSignIn) {
        if (!value || !token) throw new ApiError('unauthorized', 'your session has ended: sign in again');
        const form = await c.req.parseBody();
        if (!csrfMatches(key, value, typeof form._csrf === 'string' ? form._csrf : undefined)) {
          throw new ApiError('forbidden', 'this form carries no valid CSRF token: reload the page and try again');
        }
      }
    } else if (!token && !isSignIn) {
      return c.redirect(`/ui/sign-in?next=${encodeURIComponent(c.req.path)}`, 303);
    }
    return next();
  });

  web.get('/sign-in', (c) => c.html(<SignInPage ctx={ctxOf(c)} next={localNext(c.req.query('next'))} />));

  web.post('/sign-in', async (c) => {
    const key = deps.sessionKey as Uint8Array;
    const form = await c.req.parseBody();
    const secret = typeof form.token === 'string' ? form.token.trim() : '';
    const token = secret && secret.length <= 200 ? await findToken(deps.db, secret) : undefined;
    if (!token) {
      return c.html(<SignInPage ctx={ctxOf(c)} message="That token is unknown, revoked or expired." next={localNext(form.next)} />, 401);
    }
    const now = Date.now();
    const until = Math.min(now + webSessionSeconds * 1000, token.expiresAt?.getTime() ?? Infinity);
    c.header('Set-Cookie', webSetCookie(c, sealSession(key, token.id, new Date(until), 'web'), Math.max(1, Math.floor((until - now) / 1000))));
    const actor: Actor = { name: token.name, role: token.role, products: token.products ?? null, tokenId: token.id };
    await audit(deps.db, actor, 'web.sign-in', { details: { expiresAt: new Date(until).toISOString() } });
    return c.redirect(localNext(form.next), 303);
  });

  web.post('/sign-out', (c) => {
    c.header('Set-Cookie', webSetCookie(c, null));
    return c.redirect('/ui/sign-in', 303);
  });

  web.get('/', async (c) => {
    const actor = signedIn(c);
    const products = (await listProducts(deps.db)).filter((p) => canSee(actor, p.config.name));
    const rows = await Promise.all(products.map(async (p) => {
      const releases = (await listReleases(deps.db, p.config.name)).filter((r) => r.state !== 'closed');
      const decide = mayDecide(actor, p.config.name);
      return {
        name: p.config.name, flow: p.config.flow, mayDecide: decide,
        releases: await Promise.all(releases.map(async (release) => ({
          release, awaiting: (await listChanges(deps.db, release.product, release.name, { state: ['awaiting-decision'], limit: 1, offset: 0 })).total,
        }))),
      };
    }));
    const gates = (await listApprovals(deps.db, { state: 'pending' }))
      .filter((g) => canSee(actor, g.product) && (actor.role === 'admin' || g.group.includes(actor.name)) && !g.votes.some((v) => v.by === actor.name));
    return c.html(<HomePage ctx={ctxOf(c)} products={rows} gates={gates} />);
  });

  web.get('/p/:product', async (c) => {
    const actor = signedIn(c);
    const product = slugOf(c, 'product');
    requireView(actor, product);
    const record = await getProduct(deps.db, product);
    if (!record) throw new ApiError('product_not_found', `no product ${product}`);
    const config = record.config as ProductConfig;
    const ordered = [...config.environments].sort((a, b) => a.order - b.order);
    const [releases, current, histories] = await Promise.all([
      listReleases(deps.db, product),
      currentDeployments(deps.db, product, ordered.map((e) => e.name)),
      Promise.all(ordered.map((e) => environmentHistory(deps.db, product, e.name, 5))),
    ]);
    const envs = ordered.map((env, i) => ({ env, current: current.get(env.name), history: histories[i] ?? [] }));
    const deployed = c.req.query('deployed');
    const notice = deployed ? `Deployment ${deployed.slice(0, 80)} started: the board shows it once it finishes.` : undefined;
    return c.html(<ProductPage ctx={ctxOf(c)} product={product} releases={releases} envs={envs} {...(notice ? { notice } : {})} />);
  });

  const releasePage = async (c: WebContext, notice?: string) => {
    const actor = signedIn(c);
    const product = slugOf(c, 'product');
    const name = slugOf(c, 'release');
    requireView(actor, product);
    const stamp = await stampOf(product, name);
    const release = await loadRelease(deps.db, product, name);
    const [changes, runs, deployments, candidates, approvals, awaiting] = await Promise.all([
      latestChanges(deps.db, product, name, 50),
      runsOfRelease(deps.db, product, name, 30),
      deploymentsOfRelease(deps.db, product, name),
      candidatesOfRelease(deps.db, product, name),
      listApprovals(deps.db, { product, release: name }),
      listChanges(deps.db, product, name, { state: ['awaiting-decision'], limit: 1, offset: 0 }),
    ]);
    const artifacts = await artifactsOfCandidates(deps.db, candidates.map((x) => x.id));
    return c.html(<ReleasePage ctx={ctxOf(c)} v={{
      release, stamp, temporalUrl: workflowLink(deps.temporal, release.workflowId), mayDecide: mayDecide(actor, product),
      changes, runs, deployments, candidates, artifacts, approvals, awaiting: awaiting.total, ...(notice ? { notice } : {}),
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
    const actor = signedIn(c);
    const product = slugOf(c, 'product');
    const name = slugOf(c, 'release');
    requireView(actor, product);
    const stamp = await stampOf(product, name);
    const release = await loadRelease(deps.db, product, name);
    const filter = queueFilter(c);
    const record = await getProduct(deps.db, product);
    const page = await listChanges(deps.db, product, name, { ...filter, state: filter.state as never });
    const named = [...new Set(page.items.flatMap((x) => [...x.dependsOn, ...(x.revertOf ? [x.revertOf] : [])]))];
    const [others, applies] = await Promise.all([
      changesByIds(deps.db, [...named, ...(decided?.results.map((r) => r.id) ?? [])]),
      appliesOf(deps, release, page.items),
    ]);
    const seqOf = new Map<string, number>([...page.items, ...others.values()].map((x) => [x.id, x.seq]));
    const severities = Object.keys((record?.config as ProductConfig | undefined)?.severities ?? {}).length > 0
      ? Object.keys((record?.config as ProductConfig).severities ?? {}) : ['normal', 'hotfix', 'security'];
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

  web.get('/runs/:id/log', async (c) => {
    const actor = signedIn(c);
    const run = await getRun(deps.db, c.req.param('id').slice(0, 100));
    if (!run) throw new ApiError('run_not_found', 'no such run');
    requireView(actor, run.product);
    let size: number;
    try {
      size = (await stat(run.logPath)).size;
    } catch (err) {
      throw new ApiError('not_found', `the log of run ${run.id} is not on this host`, undefined, { cause: err });
    }
    // The last megabyte: what a reader of a failed check wants, without streaming gigabytes into a tab.
    const start = Math.max(0, size - 1024 * 1024);
    if (size === start) return c.body('', 200, { 'content-type': 'text/plain; charset=utf-8' });
    const file = createReadStream(run.logPath, { start, end: size - 1 });
    return c.body(Readable.toWeb(file) as ReadableStream<Uint8Array>, 200, { 'content-type': 'text/plain; charset=utf-8' });
  });

  web.get('/commits', async (c) => {
    const actor = signedIn(c);
    const sha = (c.req.query('sha') ?? '').trim().slice(0, 80);
    if (!sha) return c.html(<CommitPage ctx={ctxOf(c)} sha="" answer={null} />);
    try {
      return c.html(<CommitPage ctx={ctxOf(c)} sha={sha} answer={await findCommit(deps, actor, sha, null)} />);
    } catch (err) {
      const e = toApiError(err);
      if (e.status >= 500) throw err;
      return c.html(<CommitPage ctx={ctxOf(c)} sha={sha} answer={null} message={e.message} />, e.status as 400);
    }
  });

  web.get('/p/:product/notes', async (c) => {
    const actor = signedIn(c);
    const product = slugOf(c, 'product');
    requireView(actor, product);
    const releases = (await listReleases(deps.db, product)).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
    const from = c.req.query('from') ?? releases.at(-2)?.name ?? '';
    const to = c.req.query('to') ?? releases.at(-1)?.name ?? '';
    if (!from || !to || !c.req.query('from')) return c.html(<NotesPage ctx={ctxOf(c)} product={product} releases={releases} from={from} to={to} markdown={null} />);
    try {
      const notes = await notesBetween(deps, actor, product, from.slice(0, 201), to.slice(0, 201), c.req.query('merges') === 'exclude' ? 'exclude' : 'include');
      const md = notesMarkdown(`${product} ${notes.to.release.name} (since ${notes.from.release.name})`, notes.set, notes.from.release.name);
      return c.html(<NotesPage ctx={ctxOf(c)} product={product} releases={releases} from={from} to={to} markdown={md} />);
    } catch (err) {
      const e = toApiError(err);
      if (e.status >= 500) throw err;
      return c.html(<NotesPage ctx={ctxOf(c)} product={product} releases={releases} from={from} to={to} markdown={null} message={e.message} />, e.status as 400);
    }
  });

  web.get('/p/:product/audit', async (c) => {
    const actor = signedIn(c);
    const product = slugOf(c, 'product');
    requireView(actor, product);
    const before = Number.parseInt(c.req.query('before') ?? '', 10);
    const entries = await auditOfProduct(deps.db, product, 100, Number.isFinite(before) && before > 0 ? before : undefined);
    const last = entries.at(-1);
    return c.html(<AuditPage ctx={ctxOf(c)} product={product} entries={entries} next={entries.length === 100 && last ? last.id : null} />);
  });

  web.get('/p/:product/deploy', async (c) => {
    const actor = signedIn(c);
    const product = slugOf(c, 'product');
    requireView(actor, product);
    const record = await getProduct(deps.db, product);
    if (!record) throw new ApiError('product_not_found', `no product ${product}`);
    const config = record.config as ProductConfig;
    const env = config.environments.find((e) => e.name === c.req.query('environment'));
    if (!env) throw new ApiError('unknown_environment', `product ${product} has no environment ${(c.req.query('environment') ?? '').slice(0, 80)}`);
    const releases = (await listReleases(deps.db, product)).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    const name = c.req.query('release') ?? releases.find((r) => r.state !== 'closed')?.name ?? releases[0]?.name;
    if (!name) throw new ApiError('release_not_found', `${product} has no release to deploy`);
    const rel = await loadRelease(deps.db, product, name.slice(0, 100));
    await awaitTraces(deps.db, [product]);
    const preview = await previewDeployment(deps.db, product, env, rel, 500);
    return c.html(<DeployPage ctx={ctxOf(c)} product={product} preview={preview} releases={releases} nonce={randomUUID()} mayDeploy={mayDecide(actor, product)} />);
  });

  web.post('/p/:product/deploy', async (c) => {
    const actor = signedIn(c);
    const product = slugOf(c, 'product');
    const form = await c.req.parseBody();
    if (form.confirm !== 'yes') throw new ApiError('bad_request', 'tick that you read the changes to deploy');
    const environment = typeof form.environment === 'string' ? form.environment : '';
    const release = typeof form.release === 'string' ? form.release : '';
    if (!slug.safeParse(environment).success || !slug.safeParse(release).success) throw new ApiError('bad_request', 'choose an environment and a release');
    const key = typeof form.key === 'string' && /^[0-9a-f-]{36}$/.test(form.key) ? `web-${form.key}` : undefined;
    const done = await deployClick(deps, actor, product, release, { environment }, key);
    return c.redirect(`/ui/p/${encodeURIComponent(product)}?deployed=${encodeURIComponent(done.deploymentId)}`, 303);
  });

  web.get('/gates', async (c) => {
    const actor = signedIn(c);
    const gates = (await listApprovals(deps.db, { state: 'pending' })).filter((g) => canSee(actor, g.product));
    const mayVote = (g: (typeof gates)[number]) => actor.role !== 'viewer' && (actor.role === 'admin' || g.group.includes(actor.name)) && g.excluded !== actor.name && !g.votes.some((v) => v.by === actor.name);
    return c.html(<GatesPage ctx={ctxOf(c)} gates={gates} mayVote={mayVote} />);
  });

  web.post('/gates/:id', async (c) => {
    const actor = signedIn(c);
    const form = await c.req.parseBody();
    const decision = form.decision === 'approve' || form.decision === 'reject' ? form.decision : null;
    if (!decision) throw new ApiError('bad_request', 'approve or reject');
    const comment = typeof form.comment === 'string' && form.comment.trim() ? form.comment.trim().slice(0, 4000) : undefined;
    await voteOnGate(deps, actor, c.req.param('id').slice(0, 200), { decision, ...(comment ? { comment } : {}) });
    return c.redirect('/ui/gates', 303);
  });

  return web;
}

export { releaseUrl };
