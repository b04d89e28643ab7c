import type { Connection } from '@temporalio/client';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { bearerAuth } from './auth.ts';
import { approvalRoutes } from './approvals/routes.ts';
import { artifactRoutes } from './artifacts/routes.ts';
import { auditRoutes } from './audit/routes.ts';
import { changeRoutes } from './changes/routes.ts';
import { webApp } from './web/app.tsx';
import { codecRoutes } from './codec/routes.ts';
import { commitRoutes } from './commits/routes.ts';
import type { AppDeps, AppEnv } from './context.ts';
import { deploymentRoutes } from './deployments/routes.ts';
import { environmentRoutes } from './environments/routes.ts';
import { ApiError, databaseRetryAfterSeconds, defaultRetryAfterSeconds, temporalRetryAfterSeconds, toApiError } from './errors.ts';
import type { ErrorBody } from './errors.ts';
import { notesRoutes } from './notes/routes.ts';
import { docsPage, openApiDocument } from './openapi.ts';
import { productRoutes } from './products/routes.ts';
import { githubRoutes } from './github/routes.ts';
import { releaseManifestRoute } from './releases/manifest.ts';
import { releaseRoutes } from './releases/routes.ts';
import { Routes } from './route.ts';
import { runRoutes } from './runs/routes.ts';
import { scheduleRoutes } from './schedules/routes.ts';
import { planRoutes } from './plans/routes.ts';
import { tokenRoutes } from './tokens/routes.ts';
import { trainRoutes } from './trains/routes.ts';

export type { AppDeps } from './context.ts';

const readOnlyMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const limit = deps.bodyLimit ?? 1024 * 1024;

  app.onError((err, c) => {
    // A read, or a request that failed before its handler ran (auth reads the database), changed nothing.
    const mayHaveChanged = !readOnlyMethods.has(c.req.method) && c.get('actor') !== undefined;
    const apiError = toApiError(err, { mayHaveChanged });
    // An outage (503) is expected and already explained to the caller: one line, not a stack per request.
    if (apiError.status === 503) console.error(`culvert api: ${c.req.method} ${c.req.path}: 503 ${apiError.message}`);
    else if (apiError.status >= 500) console.error('culvert api:', err);
    const retryAfter = apiError.retryAfterSeconds ?? (apiError.status === 503 ? defaultRetryAfterSeconds : undefined);
    if (retryAfter !== undefined) c.header('Retry-After', String(retryAfter));
    const body: ErrorBody = { code: apiError.code, message: apiError.message, ...(apiError.details !== undefined ? { details: apiError.details } : {}) };
    return c.json(body, apiError.status as 500);
  });
  app.notFound((c) => c.json({ code: 'not_found', message: `no route ${c.req.method} ${c.req.path}` }, 404));

  app.use('*', bodyLimit({
    maxSize: limit,
    onError: () => {
      throw new ApiError('payload_too_large', `request body is larger than ${limit} bytes`);
    },
  }));
  // Before auth: a preflight carries no credentials. Only the Temporal UI's origin may call the codec with
  // the browser's cookie; the answers of other origins' calls stay unreadable to them.
  const codecOrigins = new Set(deps.codecOrigins ?? (deps.temporal.uiUrl ? [new URL(deps.temporal.uiUrl).origin] : []));
  app.use('/v1/codec/decode', cors({
    origin: (origin) => (codecOrigins.has(origin) ? origin : null),
    credentials: true, allowMethods: ['POST'], allowHeaders: ['content-type', 'x-namespace', 'authorization'], maxAge: 600,
  }));
  // The web page answers before bearer auth: it has its own cookie session and CSRF checks (api/web).
  app.route('/ui', webApp(deps) as unknown as Hono<AppEnv>);
  app.use('*', bearerAuth(deps.db, deps.sessionKey));

  const routes = new Routes(app);
  routes.add({ method: 'get', path: '/healthz', tag: 'meta', auth: false, summary: 'Health of Temporal and the database', responses: { 200: 'all up', 503: 'something is down' } }, async ({ c }) => {
    const [database, temporal] = await Promise.all([
      deps.db.execute('select 1').then(() => 'up' as const, () => 'down' as const),
      (deps.temporal.client.connection as Connection).healthService.check({}).then(() => 'up' as const, () => 'down' as const),
    ]);
    const ok = database === 'up' && temporal === 'up';
    if (!ok) c.header('Retry-After', String(database === 'down' ? databaseRetryAfterSeconds : temporalRetryAfterSeconds));
    return c.json({ ok, database, temporal, namespace: deps.temporal.namespace, temporalUi: deps.temporal.uiUrl }, ok ? 200 : 503);
  });
  tokenRoutes(routes, deps);
  planRoutes(routes, deps);
  trainRoutes(routes, deps);
  productRoutes(routes, deps);
  releaseRoutes(routes, deps);
  releaseManifestRoute(routes, deps);
  githubRoutes(routes, deps);
  changeRoutes(routes, deps);
  deploymentRoutes(routes, deps);
  environmentRoutes(routes, deps);
  commitRoutes(routes, deps);
  notesRoutes(routes, deps);
  scheduleRoutes(routes, deps);
  runRoutes(routes, deps);
  approvalRoutes(routes, deps);
  artifactRoutes(routes, deps);
  auditRoutes(routes, deps);
  codecRoutes(routes, deps);

  const document = openApiDocument(routes.documented);
  routes.add({ method: 'get', path: '/openapi.json', tag: 'meta', auth: false, summary: 'This document', responses: { 200: 'OpenAPI 3.1' } }, ({ c }) => c.json(document));
  routes.add({ method: 'get', path: '/docs', tag: 'meta', auth: false, summary: 'A page to read the API', responses: { 200: 'HTML' } }, ({ c }) => c.html(docsPage(routes.documented)));
  return app;
}
