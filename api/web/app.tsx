/** @jsxImportSource hono/jsx */
// The release owners' web page, served by the API process under /ui: server-rendered with Hono's JSX,
// one small script (assets.ts). It reads through the same repositories and acts through the same
// functions as the API (decideMany, freezeRelease, findCommit, notesBetween), so authorization, audit and
// Temporal messages are the API's own; only the session differs (a cookie, session.ts).
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { getCookie } from 'hono/cookie';
import { listApprovals } from '../../db/repos/approvals.ts';
import { auditOfProduct } from '../../db/repos/audit.ts';
import { listChanges } from '../../db/repos/changes.ts';
import { currentDeployments, deploymentsStamp, environmentHistory } from '../../db/repos/deployments.ts';
import { listProducts } from '../../db/repos/products.ts';
import { listReleases } from '../../db/repos/releases.ts';
import { getRun } from '../../db/repos/runs.ts';
import { findLiveTokenById, findToken } from '../../db/repos/tokens.ts';
import { mayDecide } from '../../domain/types.ts';
import type { Actor } from '../../domain/types.ts';
import { audit } from '../audit/record.ts';
import { actorOf, requireView } from '../auth.ts';
import { findCommit } from '../commits/routes.ts';
import type { AppDeps } from '../context.ts';
import { ApiError, toApiError } from '../errors.ts';
import { notesMarkdown } from '../notes/notes.ts';
import { notesBetween } from '../notes/routes.ts';
import { loadRelease } from '../releases/routes.ts';
import { openSession, sealSession, sessionSpan } from '../session.ts';
import { css, cssPath, script, scriptPath } from './assets.ts';
import { HomePage } from './pages/home.tsx';
import { AuditPage, CommitPage, ErrorPage, NotesPage, ProductPage, SignInPage } from './pages/misc.tsx';
import { readLog } from '../runs/routes.ts';
import { DeployPage, GatesPage } from './pages/deploy.tsx';
import { deployClick } from '../deployments/routes.ts';
import { voteOnGate } from '../approvals/routes.ts';
import { previewDeployment } from '../notes/preview.ts';
import { awaitTraces } from '../commits/fresh.ts';
import { csrfFor, csrfMatches, sameOrigin, webSessionSeconds, webSetCookie, webCookie } from './session.ts';
import { canSee, ctxOf, localNext, policy, productView, signedIn, slug, slugOf } from './context.ts';
import type { WebEnv } from './context.ts';
import { releaseWebRoutes } from './release-routes.tsx';
import { trainWebRoutes } from './train-routes.tsx';
import { downloadArtifact } from '../artifacts/routes.ts';

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
      c.set('actor', await actorOf(deps.db, token));
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
    const { until, maxAge } = sessionSpan(token, webSessionSeconds);
    c.header('Set-Cookie', webSetCookie(c, sealSession(key, token.id, until, 'web'), maxAge));
    const actor: Actor = { name: token.name, role: token.role, products: token.products ?? null, tokenId: token.id };
    await audit(deps.db, actor, 'web.sign-in', { details: { expiresAt: until.toISOString() } });
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
    const { product, config } = await productView(deps, c);
    const stamp = await deploymentsStamp(deps.db, product);
    const ordered = [...config.environments].sort((a, b) => a.order - b.order);
    const [releases, current, histories] = await Promise.all([
      listReleases(deps.db, product),
      currentDeployments(deps.db, product, ordered.map((e) => e.name)),
      Promise.all(ordered.map((e) => environmentHistory(deps.db, product, e.name, 5))),
    ]);
    const envs = ordered.map((env, i) => ({ env, current: current.get(env.name), history: histories[i] ?? [] }));
    const deployed = c.req.query('deployed');
    const notice = deployed ? `Deployment ${deployed.slice(0, 80)} started: the board shows it once it finishes.` : undefined;
    return c.html(<ProductPage ctx={ctxOf(c)} product={product} releases={releases} envs={envs} stamp={stamp} {...(notice ? { notice } : {})} />);
  });

  releaseWebRoutes(web, deps);
  trainWebRoutes(web, deps);

  web.get('/runs/:id/log', async (c) => {
    const actor = signedIn(c);
    const run = await getRun(deps.db, c.req.param('id').slice(0, 100));
    if (!run) throw new ApiError('run_not_found', 'no such run');
    requireView(actor, run.product);
    // The last megabyte: what a reader of a failed check wants, without streaming gigabytes into a tab.
    const log = await readLog(run, 1024 * 1024);
    return log.body ? c.body(log.body, 200, log.headers) : c.body(null, 200, log.headers);
  });

  web.get('/artifacts/:id{.+}', (c) => downloadArtifact(deps, signedIn(c), c.req.param('id').slice(0, 500)));

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
      return c.html(<NotesPage ctx={ctxOf(c)} product={product} releases={releases} from={from} to={to} markdown={md} set={notes.set} />);
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

  // The board's live refresh (the queue's is in release-routes.tsx).
  web.get('/p/:product/stamp', async (c) => {
    const { product } = await productView(deps, c);
    return c.json({ stamp: await deploymentsStamp(deps.db, product) });
  });

  web.get('/p/:product/deploy', async (c) => {
    const { actor, product, config } = await productView(deps, c);
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

