import { open, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import { aliasOf, createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';
import type { Stack } from './helpers/stack.ts';
import { runLogPath } from '../activities/deps.ts';
import { testCodec } from './helpers/codec.ts';
import { toWire } from '../api/codec/routes.ts';
import type { Payload } from '@temporalio/common';

// Every route of DESIGN.md section 6 as it stands: its 2xx, its 400, its 401/403 and its 404/409,
// through app.request() on a full in-process Culvert (real dev server, real git remote).

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const sha = /^[0-9a-f]{40}$/;

describe('api routes', () => {
  let stack: Stack;
  let repo: GitFixture;
  /** a: the main product (master cut in beforeAll); b: another team's (release "main"); cut/close: fresh, for those tests. */
  const p = { a: unique('p'), b: unique('p'), cut: unique('p'), close: unique('p') };
  const mine = [p.a, p.cut, p.close];
  const t = { ownerA: '', ownerB: '', ci: '', ciB: '', viewer: '', viewerB: '' };
  const featureSha: Record<string, string> = {};

  // p.a has the remote; the other pull-request products reach the same remote by a path of their own
  // (a repository's trunk belongs to one pull-request product).
  const aliases = new Map<string, { path: string; cleanup(): Promise<void> }>();
  const productBody = (name: string, extra: Record<string, unknown> = {}) => ({
    name, repository: aliases.get(name)?.path ?? repo.remote, flow: 'pull-request', trunk: 'main', ...extra,
  });

  const remoteMain = async (): Promise<string> => (await git(['rev-parse', 'refs/heads/main'], { cwd: repo.remote })).stdout.trim();

  function expectError(res: { status: number; body: { code?: string; message?: string }; text: string }, status: number, code: string, message?: RegExp): void {
    expect(res.status, res.text).toBe(status);
    expect(res.body.code, res.text).toBe(code);
    expect(typeof res.body.message).toBe('string');
    if (message) expect(res.body.message).toMatch(message);
  }

  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
    await repo.commit({ 'README.md': 'routes\n' }, 'initial');
    await repo.push();
    for (const f of ['feature-a', 'feature-b', 'feature-c', 'feature-d', 'feature-e']) {
      await repo.branch(f);
      featureSha[f] = await repo.commit({ [`${f}.txt`]: `${f}\n` }, f, f);
      await repo.push(f);
    }
    t.ownerA = await stack.token('olivia', 'owner', mine);
    t.ownerB = await stack.token('oscar', 'owner', [p.b]);
    t.ci = await stack.token('ci-bot', 'ci', mine);
    t.ciB = await stack.token('ci-b', 'ci', [p.b]);
    t.viewer = await stack.token('vera', 'viewer');
    t.viewerB = await stack.token('vic', 'viewer', [p.b]);

    const a = await stack.call('POST', '/v1/products', {
      body: productBody(p.a, {
        owners: ['olivia'],
        steps: { deploy: { argv: ['sh', '-c', 'echo "deploying $CULVERT_ENVIRONMENT"'] } },
        triggers: [{ on: 'deploy.clicked', run: 'deploy' }],
        environments: [{ name: 'production', order: 3, production: true }, { name: 'staging', order: 1, production: false }],
      }),
    });
    expect(a.status, a.text).toBe(201);
    for (const name of [p.b, p.cut, p.close]) {
      aliases.set(name, await aliasOf(repo.remote, name));
      const res = await stack.call('POST', '/v1/products', { body: productBody(name) });
      expect(res.status, res.text).toBe(201);
    }
    const cutA = await stack.call('POST', `/v1/products/${p.a}/releases`, { token: t.ci, body: { name: 'master' } });
    expect(cutA.status, cutA.text).toBe(201);
    const cutB = await stack.call('POST', `/v1/products/${p.b}/releases`, { token: t.ciB, body: {} });
    expect(cutB.status, cutB.text).toBe(201);
  });
  afterAll(async () => {
    await stack?.stop();
    await repo?.cleanup();
    for (const alias of aliases.values()) await alias.cleanup();
  });

  describe('meta', () => {
    it('GET /healthz answers without a token with the state of Temporal and the database', async () => {
      const res = await stack.call('GET', '/healthz', { token: '' });
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({ ok: true, database: 'up', temporal: 'up', temporalUi: 'http://127.0.0.1:8233' });
      expect(typeof res.body.namespace).toBe('string');
    });

    it('GET /openapi.json is an OpenAPI 3.1 document with every /v1 route', async () => {
      const res = await stack.call('GET', '/openapi.json', { token: '' });
      expect(res.status).toBe(200);
      const doc = res.body as {
        openapi: string; info: { title: string; version: string };
        components: { securitySchemes: Record<string, { type: string; scheme: string }>; schemas: Record<string, { required: string[] }> };
        paths: Record<string, Record<string, { security: unknown[]; parameters: { name: string; in: string }[]; responses: Record<string, unknown>; requestBody?: unknown }>>;
      };
      expect(doc.openapi).toBe('3.1.0');
      expect(doc.info).toMatchObject({ title: 'Culvert', version: '1' });
      expect(doc.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
      expect(doc.components.schemas.Error?.required).toEqual(['code', 'message']);

      const rel = '/v1/products/{product}/releases/{release}';
      const expected: Record<string, string[]> = {
        '/v1/tokens': ['get', 'post'],
        '/v1/tokens/{id}': ['delete'],
        '/v1/products': ['get', 'post'],
        '/v1/products/{product}': ['get', 'patch'],
        '/v1/products/{product}/releases': ['get', 'post'],
        [rel]: ['get'],
        [`${rel}/manifest`]: ['get'],
        [`${rel}/close`]: ['post'],
        [`${rel}/changes`]: ['get', 'post'],
        [`${rel}/changes/batch`]: ['post'],
        [`${rel}/changes/{id}`]: ['get'],
        [`${rel}/changes/{id}/retry`]: ['post'],
        [`${rel}/retry`]: ['post'],
        [`${rel}/changes/decisions`]: ['post'],
        [`${rel}/changes/{id}/decision`]: ['post'],
        [`${rel}/deployments`]: ['post'],
        [`${rel}/deployments/{id}/go-ahead`]: ['post'],
        '/v1/products/{product}/environments': ['get'],
        '/v1/runs/{id}': ['get'],
        '/v1/runs/{id}/log': ['get'],
        '/v1/plans': ['get', 'post'],
        '/v1/plans/{plan}': ['get', 'patch'],
        '/v1/trains': ['get', 'post'],
        '/v1/trains/{train}': ['get'],
        '/v1/trains/{train}/actions': ['post'],
        '/v1/trains/{train}/actions/{seq}': ['get'],
        '/v1/templates': ['get', 'post'],
        '/v1/templates/{plan}': ['get', 'patch'],
        '/v1/products/{product}/schedules': ['get', 'post'],
        '/v1/products/{product}/schedules/{action}': ['post'],
        [`${rel}/freeze`]: ['post'],
        '/v1/approvals': ['get'],
        '/v1/approvals/{id}': ['post'],
        '/v1/artifacts/{id}': ['get'],
        '/v1/commits/{sha}': ['get'],
        '/v1/products/{product}/notes': ['get'],
        '/v1/products/{product}/environments/{environment}/preview': ['get'],
        '/v1/products/{product}/audit': ['get'],
        '/v1/codec/decode': ['post'],
        '/v1/codec/session': ['post'],
        '/v1/codec/sign-in': ['get'],
        '/v1/codec/sign-out': ['post'],
        '/v1/github/webhooks': ['post'],
      };
      for (const [path, methods] of Object.entries(expected)) {
        expect(Object.keys(doc.paths[path] ?? {}).sort(), path).toEqual(methods);
      }
      expect(Object.keys(doc.paths).filter((x) => x.startsWith('/v1/')).sort()).toEqual(Object.keys(expected).sort());

      for (const [path, ops] of Object.entries(doc.paths)) {
        const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        for (const [method, op] of Object.entries(ops)) {
          const where = `${method} ${path}`;
          expect(op.parameters.filter((x) => x.in === 'path').map((x) => x.name), where).toEqual(names);
          expect(Object.keys(op.responses).some((s) => s.startsWith('2')), where).toBe(true);
          // The browser session's sign-in page and sign-out, and GitHub's signed webhooks, are the only /v1 operations without a token.
          if (path.startsWith('/v1/') && !['/v1/codec/sign-in', '/v1/codec/sign-out', '/v1/github/webhooks'].includes(path)) {
            expect(op.security, where).toEqual([{ bearer: [] }]);
            expect(op.responses['401'], where).toBeDefined();
          } else {
            expect(op.security, where).toEqual([]);
          }
          if (method === 'post' && !/\/(close|freeze|retry|go-ahead|\{action\}|session|sign-out|webhooks)$/.test(path)) expect(op.requestBody, where).toBeDefined();
        }
      }
      // Every field of every request body says what it is and shows an example (issue 11), nested ones too.
      const undocumented: string[] = [];
      const walk = (schema: Record<string, unknown> | undefined, at: string): void => {
        if (!schema || typeof schema !== 'object') return;
        for (const key of ['anyOf', 'oneOf', 'allOf']) for (const x of (schema[key] as Record<string, unknown>[] | undefined) ?? []) walk(x, at);
        if (schema.items) walk(schema.items as Record<string, unknown>, `${at}[]`);
        if (schema.additionalProperties && typeof schema.additionalProperties === 'object') walk(schema.additionalProperties as Record<string, unknown>, `${at}{}`);
        for (const [name, field] of Object.entries((schema.properties as Record<string, Record<string, unknown>> | undefined) ?? {})) {
          if (typeof field.description !== 'string' || !Array.isArray(field.examples) || field.examples.length === 0) undocumented.push(`${at}.${name}`);
          walk(field, `${at}.${name}`);
        }
      };
      let fields = 0;
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(ops as Record<string, { requestBody?: { content: Record<string, { schema: Record<string, unknown> }> } }>)) {
          const body = op.requestBody?.content['application/json']?.schema;
          if (body) {
            fields += JSON.stringify(body).split('"description"').length - 1;
            walk(body, `${method} ${path}`);
          }
        }
      }
      expect(undocumented).toEqual([]);
      expect(fields).toBeGreaterThan(200);
      expect(doc.paths['/v1/products/{product}/releases/{release}/changes']?.get?.parameters.map((x) => x.name)).toEqual(
        expect.arrayContaining(['state', 'severity', 'requester', 'limit', 'offset']),
      );
    });

    it('GET /docs is an HTML page listing the routes', async () => {
      const res = await stack.app.request('/docs');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await res.text();
      expect(html).toMatch(/^<!doctype html>/);
      expect(html).toContain('<title>Culvert API</title>');
      expect(html).toContain('/v1/products/:product/releases/:release/changes/decisions');
      expect(html).toContain('href="/openapi.json"');
    });

    it('an unknown route is a 404 not_found in the one error shape', async () => {
      const res = await stack.call('GET', '/v1/nothing-here');
      expectError(res, 404, 'not_found', /GET \/v1\/nothing-here/);
      expect(Object.keys(res.body).sort()).toEqual(['code', 'message']);
    });
  });

  describe('authentication', () => {
    const rel = () => `/v1/products/${p.a}/releases/master`;
    const routes: [string, string][] = [
      ['POST', '/v1/tokens'],
      ['GET', '/v1/tokens'],
      ['DELETE', '/v1/tokens/:id'],
      ['POST', '/v1/products'],
      ['GET', '/v1/products'],
      ['GET', '/v1/products/:product'],
      ['PATCH', '/v1/products/:product'],
      ['POST', '/v1/products/:product/releases'],
      ['GET', '/v1/products/:product/releases'],
      ['GET', '/v1/products/:product/releases/:release'],
      ['GET', '/v1/products/:product/releases/:release/manifest'],
      ['POST', '/v1/products/:product/releases/:release/close'],
      ['POST', '/v1/products/:product/releases/:release/changes'],
      ['GET', '/v1/products/:product/releases/:release/changes'],
      ['GET', '/v1/products/:product/releases/:release/changes/:id'],
      ['POST', '/v1/products/:product/releases/:release/changes/decisions'],
      ['POST', '/v1/products/:product/releases/:release/changes/:id/decision'],
      ['POST', '/v1/products/:product/releases/:release/changes/batch'],
      ['POST', '/v1/products/:product/releases/:release/changes/:id/retry'],
      ['POST', '/v1/products/:product/releases/:release/retry'],
      ['POST', '/v1/products/:product/releases/:release/deployments'],
      ['POST', '/v1/products/:product/releases/:release/deployments/:id/go-ahead'],
      ['GET', '/v1/products/:product/environments'],
      ['GET', '/v1/runs/:id'],
      ['GET', '/v1/runs/:id/log'],
      ['GET', '/v1/templates'],
      ['POST', '/v1/templates'],
      ['PATCH', '/v1/templates/:plan'],
      ['GET', '/v1/templates/:plan'],
      ['POST', '/v1/trains'],
      ['GET', '/v1/trains'],
      ['GET', '/v1/trains/:train'],
      ['POST', '/v1/trains/:train/actions'],
      ['GET', '/v1/trains/:train/actions/:seq'],
      ['GET', '/v1/plans'],
      ['POST', '/v1/plans'],
      ['GET', '/v1/plans/:plan'],
      ['PATCH', '/v1/plans/:plan'],
      ['GET', '/v1/products/:product/schedules'],
      ['POST', '/v1/products/:product/schedules'],
      ['POST', '/v1/products/:product/schedules/:action'],
      ['POST', '/v1/products/:product/releases/:release/freeze'],
      ['GET', '/v1/approvals'],
      ['POST', '/v1/approvals/:id'],
      ['GET', '/v1/artifacts/:id'],
      ['GET', '/v1/commits/:sha'],
      ['GET', '/v1/products/:product/notes'],
      ['GET', '/v1/products/:product/environments/:environment/preview'],
      ['GET', '/v1/products/:product/audit'],
      ['POST', '/v1/codec/decode'],
      ['POST', '/v1/codec/session'],
    ];
    /** The browser session's own pages: a sign-in form and a sign-out that only clears a cookie. */
    const publicOps = ['GET /v1/codec/sign-in', 'POST /v1/codec/sign-out'];
    /** Signed by GitHub instead of a token: without a good signature it is 401 (its other answers are test/github.test.ts'). */
    const signedOps = ['POST /v1/github/webhooks'];
    const resolve = (template: string): string => template.replace(':product', p.a).replace(':release', 'master').replace(':id', 'some-id')
      .replace(':plan', 'some-plan').replace(':train', 'some-train').replace(':seq', '1').replace(':action', 'pause')
      .replace(':sha', 'abcdef1').replace(':environment', 'staging');

    it('the table below covers every /v1 operation in the OpenAPI document', async () => {
      const doc = (await stack.call('GET', '/openapi.json', { token: '' })).body as { paths: Record<string, Record<string, unknown>> };
      const documented = Object.entries(doc.paths).filter(([path]) => path.startsWith('/v1/'))
        .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`));
      expect(documented.filter((op) => !publicOps.includes(op) && !signedOps.includes(op)).sort()).toEqual(routes.map(([m, path]) => `${m} ${path}`).sort());
      for (const op of signedOps) {
        const [method, path] = op.split(' ') as [string, string];
        expectError(await stack.call(method, path, { token: '', raw: '{}', headers: { 'x-github-event': 'push', 'x-github-delivery': 'd1', 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` } }), 401, 'unauthorized');
      }
      for (const op of publicOps) {
        const [method, path] = op.split(' ') as [string, string];
        expect((await stack.call(method, path, { token: '' })).status, op).toBeLessThan(300);
      }
    });

    it.each(routes)('%s %s needs a valid bearer token', async (method, template) => {
      const path = (): string => resolve(template);
      const before = (await stack.call('GET', rel())).body.state;
      const body = method === 'GET' ? undefined : { name: 'x' };
      const none = await stack.call(method, path(), { token: '', body });
      expectError(none, 401, 'unauthorized', /missing bearer token/);
      const unknown = await stack.call(method, path(), { token: 'cvt_not-a-real-token', body });
      expectError(unknown, 401, 'unauthorized', /unknown or revoked token/);
      const basic = await stack.call(method, path(), { token: '', body, headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
      expectError(basic, 401, 'unauthorized');
      expect((await stack.call('GET', rel())).body.state).toBe(before);
    });
  });

  describe('tokens', () => {
    it('an admin issues a token whose secret works once shown, scoped as asked', async () => {
      const res = await stack.call('POST', '/v1/tokens', { body: { name: 'val@example.com', role: 'viewer', products: [p.b] } });
      expect(res.status, res.text).toBe(201);
      expect(res.body).toMatchObject({ name: 'val@example.com', role: 'viewer', products: [p.b] });
      expect(res.body.id).toMatch(uuid);
      expect(res.body.secret).toMatch(/^cvt_/);
      const list = await stack.call('GET', '/v1/products', { token: res.body.secret });
      expect(list.status).toBe(200);
      expect(list.body.items.map((x: { name: string }) => x.name)).toEqual([p.b]);
      const forbidden = await stack.call('GET', `/v1/products/${p.a}`, { token: res.body.secret });
      expectError(forbidden, 403, 'forbidden');

      const unscoped = await stack.call('POST', '/v1/tokens', { body: { name: 'ci-all', role: 'ci' } });
      expect(unscoped.status, unscoped.text).toBe(201);
      expect(unscoped.body.products).toBeNull();
    });

    it('a bad token request is a 400', async () => {
      const role = await stack.call('POST', '/v1/tokens', { body: { name: 'root', role: 'root' } });
      expectError(role, 400, 'bad_request');
      expect(role.body.details.issues[0].path).toBe('role');
      const name = await stack.call('POST', '/v1/tokens', { body: { name: 'has space', role: 'ci' } });
      expectError(name, 400, 'bad_request');
      expect(name.body.details.issues[0].path).toBe('name');
    });

    it.each(['ownerA', 'ci', 'viewer'] as const)('token %s may not issue tokens (403)', async (who) => {
      const res = await stack.call('POST', '/v1/tokens', { token: t[who], body: { name: 'sneaky', role: 'admin' } });
      expectError(res, 403, 'forbidden', /is not an admin/);
      expect(res.body.secret).toBeUndefined();
    });
  });

  describe('products', () => {
    it('an admin creates a product (201) with defaults filled in', async () => {
      const name = unique('p');
      const res = await stack.call('POST', '/v1/products', { body: { name, repository: repo.remote, flow: 'cherry-pick' } });
      expect(res.status, res.text).toBe(201);
      expect(res.body).toMatchObject({ name, repository: repo.remote, flow: 'cherry-pick', trunk: 'main', owners: [], steps: {}, triggers: [], environments: [] });
      expect(Date.parse(res.body.createdAt)).not.toBeNaN();
      const again = await stack.call('GET', `/v1/products/${name}`, { token: t.viewer });
      expect(again.status).toBe(200);
      expect(again.body).toEqual(res.body);
    });

    it('a bad product is a 400 with the field in details', async () => {
      const res = await stack.call('POST', '/v1/products', { body: { name: unique('p'), flow: 'waterfall' } });
      expectError(res, 400, 'bad_request', /invalid body/);
      const paths = res.body.details.issues.map((i: { path: string }) => i.path);
      expect(paths).toEqual(expect.arrayContaining(['repository', 'flow']));
    });

    it('a second product with a taken name is a 409 product_exists', async () => {
      const res = await stack.call('POST', '/v1/products', { body: productBody(p.b) });
      expectError(res, 409, 'product_exists', new RegExp(p.b));
    });

    it.each(['ownerA', 'ci', 'viewer'] as const)('token %s may not create products (403) and nothing is created', async (who) => {
      const name = unique('p');
      const res = await stack.call('POST', '/v1/products', { token: t[who], body: productBody(name) });
      expectError(res, 403, 'forbidden', /is not an admin/);
      expectError(await stack.call('GET', `/v1/products/${name}`), 404, 'product_not_found');
    });

    it('GET /v1/products lists what the token may see', async () => {
      const names = async (token: string) => {
        const res = await stack.call('GET', '/v1/products', { token });
        expect(res.status, res.text).toBe(200);
        return (res.body.items as { name: string }[]).map((x) => x.name);
      };
      const all = await names(stack.adminToken);
      expect(all).toEqual(expect.arrayContaining([p.a, p.b, p.cut, p.close]));
      expect(await names(t.viewer)).toEqual(all);
      expect((await names(t.ownerA)).sort()).toEqual([...mine].sort());
      expect(await names(t.viewerB)).toEqual([p.b]);
    });

    it('GET /v1/products/:product: 200, 403 out of scope, 404 unknown', async () => {
      const res = await stack.call('GET', `/v1/products/${p.a}`, { token: t.ci });
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({
        name: p.a, flow: 'pull-request', trunk: 'main', owners: ['olivia'],
        steps: { deploy: { argv: ['sh', '-c', 'echo "deploying $CULVERT_ENVIRONMENT"'] } },
        triggers: [{ on: 'deploy.clicked', run: 'deploy' }],
      });
      expectError(await stack.call('GET', `/v1/products/${p.b}`, { token: t.ownerA }), 403, 'forbidden', new RegExp(`may not see product ${p.b}`));
      expectError(await stack.call('GET', `/v1/products/${p.a}`, { token: t.viewerB }), 403, 'forbidden');
      const missing = unique('p');
      expectError(await stack.call('GET', `/v1/products/${missing}`), 404, 'product_not_found', new RegExp(missing));
    });

    it('PATCH /v1/products/:product changes only the given fields (an owner: naming and severities; an admin: the rest)', async () => {
      const before = await stack.call('GET', `/v1/products/${p.cut}`);
      const res = await stack.call('PATCH', `/v1/products/${p.cut}`, {
        token: t.ownerA, body: { severities: ['hotfix', 'normal'], nameTemplate: 'r{n}' },
      });
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({ ...before.body, severities: ['hotfix', 'normal'], nameTemplate: 'r{n}', updatedAt: expect.any(String) });
      const byAdmin = await stack.call('PATCH', `/v1/products/${p.cut}`, {
        body: { owners: ['olivia', 'otto'], environments: [{ name: 'qa', order: 1, production: false }] },
      });
      expect(byAdmin.status, byAdmin.text).toBe(200);
      expect(byAdmin.body).toMatchObject({ ...res.body, owners: ['olivia', 'otto'], environments: [{ name: 'qa', order: 1, production: false }], updatedAt: expect.any(String) });
      expect((await stack.call('GET', `/v1/products/${p.cut}`)).body).toEqual(byAdmin.body);
    });

    it('PATCH: 400 bad body, 403 for ci, viewer and other owners, 404 unknown', async () => {
      const before = await stack.call('GET', `/v1/products/${p.a}`);
      const bad = await stack.call('PATCH', `/v1/products/${p.a}`, { token: t.ownerA, body: { trunk: '-x' } });
      expectError(bad, 400, 'bad_request');
      expect(bad.body.details.issues[0].path).toBe('trunk');
      for (const who of ['ci', 'viewer', 'ownerB'] as const) {
        const res = await stack.call('PATCH', `/v1/products/${p.a}`, { token: t[who], body: { owners: [who] } });
        expectError(res, 403, 'forbidden', /is not an owner/);
      }
      expectError(await stack.call('PATCH', `/v1/products/${p.b}`, { token: t.ownerA, body: { owners: ['olivia'] } }), 403, 'forbidden');
      expectError(await stack.call('PATCH', `/v1/products/${unique('p')}`, { body: { owners: [] } }), 404, 'product_not_found');
      expect((await stack.call('GET', `/v1/products/${p.a}`)).body).toEqual(before.body);
    });
  });

  describe('releases', () => {
    it('ci cuts a release: 201 with the release, its workflow id and a Temporal link', async () => {
      const head = await remoteMain();
      const res = await stack.call('POST', `/v1/products/${p.cut}/releases`, { token: t.ci, body: { name: 'master' } });
      expect(res.status, res.text).toBe(201);
      expect(res.body).toMatchObject({
        product: p.cut, name: 'master', flow: 'pull-request', branch: 'main', state: 'open', production: true,
        headSha: head, cutFrom: head, createdBy: 'ci-bot', workflowId: `culvert/${p.cut}/master`,
      });
      expect(res.body.temporalUrl).toBe(`http://127.0.0.1:8233/namespaces/${encodeURIComponent(inNamespace())}/workflows/${encodeURIComponent(`culvert/${p.cut}/master`)}`);
      const handle = stack.client.workflow.getHandle(`culvert/${p.cut}/master`);
      expect((await handle.describe()).status.name).toBe('RUNNING');
    });

    function inNamespace(): string {
      return stack.client.options.namespace;
    }

    it('a pull-request product cut without a name gets its trunk as the name', async () => {
      const res = await stack.call('GET', `/v1/products/${p.b}/releases/main`, { token: t.viewerB });
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({ product: p.b, name: 'main', branch: 'main', createdBy: 'ci-b' });
    });

    it('cut: 400 bad body, 403 viewer and out-of-scope ci, 404 unknown product, 409 exists', async () => {
      const bad = await stack.call('POST', `/v1/products/${p.cut}/releases`, { token: t.ci, body: { name: 'x', production: 'yes' } });
      expectError(bad, 400, 'bad_request');
      expect(bad.body.details.issues[0].path).toBe('production');
      expectError(await stack.call('POST', `/v1/products/${p.close}/releases`, { token: t.viewer, body: { name: 'master' } }), 403, 'forbidden', /may not request changes or cut releases/);
      expectError(await stack.call('POST', `/v1/products/${p.close}/releases`, { token: t.ciB, body: { name: 'master' } }), 403, 'forbidden');
      expectError(await stack.call('POST', `/v1/products/${p.close}/releases`, { token: t.ownerB, body: { name: 'master' } }), 403, 'forbidden');
      expect((await stack.call('GET', `/v1/products/${p.close}/releases`)).body.items).toEqual([]);
      expectError(await stack.call('POST', `/v1/products/${unique('p')}/releases`, { body: { name: 'master' } }), 404, 'product_not_found');
      expectError(await stack.call('POST', `/v1/products/${p.a}/releases`, { token: t.ci, body: { name: 'master' } }), 409, 'release_exists', /already/);
    });

    it('GET releases and one release: 200, 403 out of scope, 404 unknown', async () => {
      const list = await stack.call('GET', `/v1/products/${p.a}/releases`, { token: t.viewer });
      expect(list.status, list.text).toBe(200);
      expect(list.body.items).toHaveLength(1);
      expect(list.body.items[0]).toMatchObject({ product: p.a, name: 'master', state: 'open', workflowId: `culvert/${p.a}/master` });

      const one = await stack.call('GET', `/v1/products/${p.a}/releases/master`, { token: t.ci });
      expect(one.status, one.text).toBe(200);
      expect(one.body).toMatchObject({ ...list.body.items[0], changes: expect.any(Array), runs: expect.any(Array), deployments: expect.any(Array) });
      expect(one.body.headSha).toMatch(sha);

      expectError(await stack.call('GET', `/v1/products/${p.a}/releases`, { token: t.ownerB }), 403, 'forbidden');
      expectError(await stack.call('GET', `/v1/products/${p.a}/releases/master`, { token: t.viewerB }), 403, 'forbidden');
      expectError(await stack.call('GET', `/v1/products/${unique('p')}/releases`), 404, 'product_not_found');
      expectError(await stack.call('GET', `/v1/products/${p.a}/releases/nope`), 404, 'release_not_found', new RegExp(`${p.a}/nope`));
    });

    it('GET a release\'s manifest: 200 with its repository, 400 bad name, 403 out of scope, 404 unknown', async () => {
      const manifest = await stack.call('GET', `/v1/products/${p.a}/releases/master/manifest`, { token: t.viewer });
      expect(manifest.status, manifest.text).toBe(200);
      expect(manifest.body).toMatchObject({ product: p.a, release: 'master', components: [{ name: p.a, product: p.a, state: 'cut', head: expect.stringMatching(sha) }] });
      expectError(await stack.call('GET', `/v1/products/${p.a}/releases/NOT_A_SLUG/manifest`), 400, 'bad_request');
      expectError(await stack.call('GET', `/v1/products/${p.a}/releases/master/manifest`, { token: t.viewerB }), 403, 'forbidden');
      expectError(await stack.call('GET', `/v1/products/${unique('p')}/releases/master/manifest`), 404, 'product_not_found');
      expectError(await stack.call('GET', `/v1/products/${p.a}/releases/nope/manifest`), 404, 'release_not_found');
    });

    it('close: 403 ci, viewer and other owners; 404 unknown; 200 by the owner; 409 when already closed', async () => {
      const cut = await stack.call('POST', `/v1/products/${p.close}/releases`, { token: t.ci, body: { name: 'master' } });
      expect(cut.status, cut.text).toBe(201);
      const path = `/v1/products/${p.close}/releases/master/close`;
      for (const who of ['ci', 'viewer', 'ownerB'] as const) {
        expectError(await stack.call('POST', path, { token: t[who] }), 403, 'forbidden', /is not an owner/);
      }
      expectError(await stack.call('POST', `/v1/products/${p.b}/releases/main/close`, { token: t.ownerA }), 403, 'forbidden');
      expect((await stack.call('GET', `/v1/products/${p.b}/releases/main`)).body.state).toBe('open');
      expect((await stack.call('GET', `/v1/products/${p.close}/releases/master`)).body.state).toBe('open');
      expectError(await stack.call('POST', `/v1/products/${p.close}/releases/nope/close`, { token: t.ownerA }), 404, 'release_not_found');

      const closed = await stack.call('POST', path, { token: t.ownerA });
      expect(closed.status, closed.text).toBe(200);
      expect(closed.body).toMatchObject({ product: p.close, name: 'master', state: 'closed' });
      expect((await stack.call('GET', `/v1/products/${p.close}/releases/master`)).body.state).toBe('closed');
      expectError(await stack.call('POST', path, { token: t.ownerA }), 409, 'release_closed', /already closed/);
    });

    it('retry a stopped release: 403 ci and other owners, 404 unknown, 409 when nothing is stopped', async () => {
      const path = `/v1/products/${p.a}/releases/master/retry`;
      expectError(await stack.call('POST', path, { token: t.ci }), 403, 'forbidden', /is not an owner/);
      expectError(await stack.call('POST', path, { token: t.ownerB }), 403, 'forbidden');
      expectError(await stack.call('POST', `/v1/products/${p.a}/releases/nope/retry`, { token: t.ownerA }), 404, 'release_not_found');
      expectError(await stack.call('POST', path, { token: t.ownerA }), 409, 'change_not_decidable', /nothing to retry/);
      expect((await stack.call('GET', `/v1/products/${p.a}/releases/master`)).body.state).toBe('open');
    });
  });

  describe('changes', () => {
    const base = () => `/v1/products/${p.a}/releases/master/changes`;
    let first: { id: string };

    it('ci files a merge request: 201, straight to awaiting-decision without a change.requested trigger', async () => {
      const res = await stack.call('POST', base(), { token: t.ci, body: { kind: 'merge', branch: 'feature-a' } });
      expect(res.status, res.text).toBe(201);
      expect(res.body).toMatchObject({
        product: p.a, release: 'master', kind: 'merge', state: 'awaiting-decision', check: 'none', branch: 'feature-a',
        sourceSha: featureSha['feature-a'], requester: 'ci-bot', seq: 1, decidedBy: null,
      });
      expect(res.body.id).toMatch(uuid);
      first = res.body;
    });

    it('the same Idempotency-Key files one change, not two', async () => {
      const key = unique('key');
      const one = await stack.call('POST', base(), { token: t.ownerA, body: { kind: 'merge', branch: 'feature-b' }, headers: { 'idempotency-key': key } });
      const two = await stack.call('POST', base(), { token: t.ownerA, body: { kind: 'merge', branch: 'feature-b' }, headers: { 'idempotency-key': key } });
      expect(one.status, one.text).toBe(201);
      expect(two.status, two.text).toBe(201);
      expect(two.body.id).toBe(one.body.id);
      expect(one.body.requester).toBe('olivia');
      const list = await stack.call('GET', `${base()}?requester=olivia`);
      expect(list.body.items.map((x: { id: string }) => x.id)).toEqual([one.body.id]);
      // The same key with another body is the client's mistake: 422, and nothing filed.
      const other = await stack.call('POST', base(), { token: t.ownerA, body: { kind: 'merge', branch: 'feature-a' }, headers: { 'idempotency-key': key } });
      expectError(other, 422, 'idempotency_key_reused', /was used for another request/);
      expect(other.body.details).toMatchObject({ changeId: one.body.id });
      expect((await stack.call('GET', `${base()}?requester=olivia`)).body.total).toBe(1);
    });

    it('file: 400 bad body, 403 viewer and out-of-scope ci, 404 unknown release', async () => {
      const before = (await stack.call('GET', base())).body.total;
      expectError(await stack.call('POST', base(), { token: t.ci, body: { kind: 'merge' } }), 400, 'bad_request', /branch/);
      expectError(await stack.call('POST', base(), { token: t.viewer, body: { kind: 'merge', branch: 'feature-c' } }), 403, 'forbidden', /may not request changes/);
      expectError(await stack.call('POST', base(), { token: t.ciB, body: { kind: 'merge', branch: 'feature-c' } }), 403, 'forbidden');
      expectError(await stack.call('POST', `/v1/products/${p.b}/releases/main/changes`, { token: t.ci, body: { kind: 'merge', branch: 'feature-c' } }), 403, 'forbidden');
      expectError(await stack.call('POST', `/v1/products/${p.a}/releases/nope/changes`, { token: t.ci, body: { kind: 'merge', branch: 'feature-c' } }), 404, 'release_not_found');
      expect((await stack.call('GET', base())).body.total).toBe(before);
      expect((await stack.call('GET', `/v1/products/${p.b}/releases/main/changes`)).body.total).toBe(0);
    });

    it('retry a change: 403 ci, 404 unknown, 409 when it neither failed nor failed its checks', async () => {
      const path = `${base()}/${first.id}/retry`;
      expectError(await stack.call('POST', path, { token: t.ci }), 403, 'forbidden', /is not an owner/);
      expectError(await stack.call('POST', `${base()}/no-such-change/retry`, { token: t.ownerA }), 404, 'change_not_found');
      expectError(await stack.call('POST', path, { token: t.ownerA }), 409, 'change_not_decidable', /can be retried/);
    });

    it('list: 200 filtered and paginated, 400 bad filter, 403 out of scope, 404 unknown release', async () => {
      const all = await stack.call('GET', base(), { token: t.viewer });
      expect(all.status, all.text).toBe(200);
      expect(all.body).toMatchObject({ total: 2, limit: 100, offset: 0 });
      expect(all.body.items.map((x: { branch: string }) => x.branch).sort()).toEqual(['feature-a', 'feature-b']);

      const page = await stack.call('GET', `${base()}?limit=1&offset=1&sort=seq`);
      expect(page.status, page.text).toBe(200);
      expect(page.body).toMatchObject({ total: 2, limit: 1, offset: 1 });
      expect(page.body.items).toHaveLength(1);

      const waiting = await stack.call('GET', `${base()}?state=awaiting-decision&requester=ci-bot`);
      expect(waiting.body.items.map((x: { id: string }) => x.id)).toEqual([first.id]);
      expect((await stack.call('GET', `${base()}?state=merged`)).body).toMatchObject({ items: [], total: 0 });

      expectError(await stack.call('GET', `${base()}?state=lost`), 400, 'bad_request', /unknown state lost/);
      expectError(await stack.call('GET', `${base()}?limit=0`), 400, 'bad_request', /limit/);
      expectError(await stack.call('GET', `${base()}?colour=red`), 400, 'bad_request');
      expectError(await stack.call('GET', base(), { token: t.ownerB }), 403, 'forbidden');
      expectError(await stack.call('GET', `/v1/products/${p.a}/releases/nope/changes`), 404, 'release_not_found');
    });

    it('GET one change: 200 with its checks and history, 403 out of scope, 404 unknown', async () => {
      const res = await stack.call('GET', `${base()}/${first.id}`, { token: t.viewer });
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({ id: first.id, state: 'awaiting-decision', checks: [] });
      expect(res.body.history).toEqual([expect.objectContaining({ state: 'awaiting-decision', by: 'ci-bot' })]);
      expectError(await stack.call('GET', `${base()}/${first.id}`, { token: t.viewerB }), 403, 'forbidden');
      expectError(await stack.call('GET', `${base()}/no-such-change`), 404, 'change_not_found', /no-such-change/);
    });

    it('one decision: 403 ci, viewer and other owners; 400 bad body; 404 unknown; 200 by the owner, then merged; 409 again', async () => {
      const path = `${base()}/${first.id}/decision`;
      for (const who of ['ci', 'viewer', 'ownerB'] as const) {
        expectError(await stack.call('POST', path, { token: t[who], body: { decision: 'approve' } }), 403, 'forbidden', /is not an owner/);
      }
      expectError(await stack.call('POST', path, { token: t.ownerA, body: { decision: 'yes' } }), 400, 'bad_request');
      expect((await stack.call('GET', `${base()}/${first.id}`)).body.state).toBe('awaiting-decision');
      expectError(await stack.call('POST', `${base()}/no-such-change/decision`, { token: t.ownerA, body: { decision: 'approve' } }), 404, 'change_not_found');
      expectError(await stack.call('POST', `/v1/products/${p.a}/releases/nope/changes/${first.id}/decision`, { token: t.ownerA, body: { decision: 'approve' } }), 404, 'release_not_found');

      const before = await remoteMain();
      const approved = await stack.call('POST', path, { token: t.ownerA, body: { decision: 'approve', comment: 'ship it' } });
      expect(approved.status, approved.text).toBe(200);
      expect(approved.body).toMatchObject({ id: first.id, decidedBy: 'olivia', decisionComment: 'ship it' });
      expect(['approved', 'merged']).toContain(approved.body.state);

      const merged = await waitFor('the merge', async () => {
        const r = await stack.call('GET', `${base()}/${first.id}`);
        return r.body.state === 'merged' ? r.body : undefined;
      });
      const after = await remoteMain();
      expect(after).not.toBe(before);
      expect(merged.resultSha).toBe(after);
      expect((await stack.call('GET', `/v1/products/${p.a}/releases/master`)).body.headSha).toBe(after);

      expectError(await stack.call('POST', path, { token: t.ownerA, body: { decision: 'reject' } }), 409, 'change_not_decidable', /already merged/);
    });

    it('bulk decisions: 403 ci and other owners; 404 unknown release; 200 with a result per id', async () => {
      const c = await stack.call('POST', base(), { token: t.ci, body: { kind: 'merge', branch: 'feature-c' } });
      const d = await stack.call('POST', base(), { token: t.ci, body: { kind: 'merge', branch: 'feature-d' } });
      expect(c.status, c.text).toBe(201);
      expect(d.status, d.text).toBe(201);
      const body = { decisions: [{ id: c.body.id, decision: 'reject', comment: 'no' }, { id: d.body.id, decision: 'reject' }] };
      const path = `${base()}/decisions`;

      expectError(await stack.call('POST', path, { token: t.ci, body }), 403, 'forbidden', /is not an owner/);
      expectError(await stack.call('POST', path, { token: t.ownerB, body }), 403, 'forbidden');
      expectError(await stack.call('POST', `/v1/products/${p.a}/releases/nope/changes/decisions`, { token: t.ownerA, body }), 404, 'release_not_found');
      expectError(await stack.call('POST', path, { token: t.ownerA, body: { decisions: 'all' } }), 400, 'bad_request');
      const waiting = await stack.call('GET', `${base()}?state=awaiting-decision`);
      expect(waiting.body.items.map((x: { id: string }) => x.id)).toEqual(expect.arrayContaining([c.body.id, d.body.id]));

      const res = await stack.call('POST', path, { token: t.ownerA, body });
      expect(res.status, res.text).toBe(200);
      expect(res.body.results).toEqual([
        { id: c.body.id, ok: true, state: 'rejected' },
        { id: d.body.id, ok: true, state: 'rejected' },
      ]);
      const rejected = await stack.call('GET', `${base()}?state=rejected`);
      expect(rejected.body.items.map((x: { id: string }) => x.id).sort()).toEqual([c.body.id, d.body.id].sort());
      expect(rejected.body.items.find((x: { id: string }) => x.id === c.body.id)).toMatchObject({ decidedBy: 'olivia', decisionComment: 'no' });
    });

    it('batch: 200 with a result per request (a refused one among them), 400 bad body, 403 viewer, 404 unknown release', async () => {
      const path = `${base()}/batch`;
      const before = (await stack.call('GET', base())).body.total;
      expectError(await stack.call('POST', path, { token: t.ci, body: { requests: [] } }), 400, 'bad_request', /requests/);
      expectError(await stack.call('POST', path, { token: t.ci, body: { requests: [{ kind: 'merge' }] } }), 400, 'bad_request');
      expectError(await stack.call('POST', path, { token: t.viewer, body: { requests: [{ kind: 'merge', branch: 'feature-c' }] } }), 403, 'forbidden');
      expectError(await stack.call('POST', `/v1/products/${p.a}/releases/nope/changes/batch`, { token: t.ci, body: { requests: [{ kind: 'merge', branch: 'feature-c' }] } }), 404, 'release_not_found');
      expect((await stack.call('GET', base())).body.total).toBe(before);
      const key = unique('batch');
      const body = { requests: [{ kind: 'merge', branch: 'feature-e' }, { kind: 'merge', branch: 'no-such-branch' }] };
      const res = await stack.call('POST', path, { token: t.ci, body, headers: { 'idempotency-key': key } });
      expect(res.status, res.text).toBe(200);
      expect(res.body.results[0]).toMatchObject({ ok: true, change: { kind: 'merge', branch: 'feature-e', state: 'awaiting-decision', requester: 'ci-bot' } });
      expect(res.body.results[1]).toMatchObject({ ok: false, code: 'unknown_branch' });
      const again = await stack.call('POST', path, { token: t.ci, body, headers: { 'idempotency-key': key } });
      expect(again.body.results[0].change.id).toBe(res.body.results[0].change.id);
      expect((await stack.call('GET', base())).body.total).toBe(before + 1);
    });
  });

  describe('deployments, environments and runs', () => {
    const path = () => `/v1/products/${p.a}/releases/master/deployments`;
    let deployment: { deploymentId: string; commitSha: string };
    let runId: string;

    it('deploy: 400 bad body, 403 ci, viewer and other owners, 404 unknown release; nothing recorded', async () => {
      expectError(await stack.call('POST', path(), { token: t.ownerA, body: {} }), 400, 'bad_request', /environment/);
      for (const who of ['ci', 'viewer', 'ownerB'] as const) {
        expectError(await stack.call('POST', path(), { token: t[who], body: { environment: 'staging' } }), 403, 'forbidden', /is not an owner/);
      }
      expectError(await stack.call('POST', `/v1/products/${p.b}/releases/main/deployments`, { token: t.ownerA, body: { environment: 'staging' } }), 403, 'forbidden');
      expectError(await stack.call('POST', `/v1/products/${p.a}/releases/nope/deployments`, { token: t.ownerA, body: { environment: 'staging' } }), 404, 'release_not_found');
      expectError(await stack.call('POST', `/v1/products/${unique('p')}/releases/master/deployments`, { body: { environment: 'staging' } }), 404, 'product_not_found');
      const envs = await stack.call('GET', `/v1/products/${p.a}/environments`);
      expect(envs.body.items.flatMap((e: { history: unknown[] }) => e.history)).toEqual([]);
    });

    it('deploy click by the owner: 202 with a pending deployment that then succeeds', async () => {
      const head = (await stack.call('GET', `/v1/products/${p.a}/releases/master`)).body.headSha as string;
      const res = await stack.call('POST', path(), { token: t.ownerA, body: { environment: 'staging' } });
      expect(res.status, res.text).toBe(202);
      expect(res.body).toMatchObject({ product: p.a, release: 'master', environment: 'staging', commitSha: head, state: 'pending' });
      expect(res.body.deploymentId).toMatch(uuid);
      deployment = res.body;

      const staging = await waitFor('the staging deployment', async () => {
        const r = await stack.call('GET', `/v1/products/${p.a}/environments`, { token: t.viewer });
        const env = r.body.items.find((e: { name: string }) => e.name === 'staging');
        return env?.current?.deploymentId === deployment.deploymentId ? env : undefined;
      });
      expect(staging.current).toMatchObject({ release: 'master', commitSha: head });
      expect(staging.history).toEqual([expect.objectContaining({ id: deployment.deploymentId, state: 'succeeded', requestedBy: 'olivia', trigger: 'deploy.clicked' })]);
      runId = staging.history[0].runId;
      expect(runId).toMatch(uuid);
    });

    it('GET environments: 200 in order with what runs where, 403 out of scope, 404 unknown product', async () => {
      const res = await stack.call('GET', `/v1/products/${p.a}/environments`, { token: t.ci });
      expect(res.status, res.text).toBe(200);
      expect(res.body.items.map((e: { name: string; order: number; production: boolean }) => [e.name, e.order, e.production])).toEqual([
        ['staging', 1, false], ['production', 3, true],
      ]);
      expect(res.body.items[1]).toMatchObject({ current: null, history: [] });
      expectError(await stack.call('GET', `/v1/products/${p.a}/environments`, { token: t.ownerB }), 403, 'forbidden');
      expectError(await stack.call('GET', `/v1/products/${unique('p')}/environments`), 404, 'product_not_found');
    });

    it('GET /v1/runs/:id and its log: 200, 403 out of scope, 404 unknown', async () => {
      const run = await stack.call('GET', `/v1/runs/${runId}`, { token: t.viewer });
      expect(run.status, run.text).toBe(200);
      expect(run.body).toMatchObject({
        id: runId, product: p.a, release: 'master', step: 'deploy', state: 'succeeded', exitCode: 0,
        commitSha: deployment.commitSha, deploymentId: deployment.deploymentId,
      });
      const log = await stack.call('GET', `/v1/runs/${runId}/log`, { token: t.ci });
      expect(log.status).toBe(200);
      expect(log.text).toContain('deploying staging');

      expectError(await stack.call('GET', `/v1/runs/${runId}`, { token: t.ownerB }), 403, 'forbidden');
      expectError(await stack.call('GET', `/v1/runs/${runId}/log`, { token: t.viewerB }), 403, 'forbidden');
      expectError(await stack.call('GET', '/v1/runs/no-such-run'), 404, 'run_not_found', /no-such-run/);
      expectError(await stack.call('GET', '/v1/runs/no-such-run/log'), 404, 'run_not_found');

      // The answer never shows where the log lives on the host.
      expect(run.body).not.toHaveProperty('logPath');
      expect(run.text).not.toContain(stack.dataDir);
      // A run whose log is not on this host (another API replica, cleaned disk) is a 404, not a 500.
      await rm(runLogPath(stack.dataDir, runId));
      expectError(await stack.call('GET', `/v1/runs/${runId}/log`), 404, 'not_found', /not on this host/);
    });

    it('GET /v1/runs/:id/log streams a 600 MB log (never read whole) and serves its tail; bad tail 400', async () => {
      // A sparse file: 600 MB long, a few blocks on disk. Read whole into a string it is past V8's
      // longest string (a 500), and into memory it is 600 MB of the API's heap.
      const size = 600 * 1024 * 1024;
      const end = 'the last line\n';
      const file = await open(runLogPath(stack.dataDir, runId), 'w');
      await file.truncate(size - end.length);
      await file.write(end, size - end.length);
      await file.close();

      const tail = await stack.call('GET', `/v1/runs/${runId}/log?tail=${end.length}`, { token: t.viewer });
      expect(tail.status, tail.text).toBe(200);
      expect(tail.text).toBe(end);
      const sized = await stack.app.request(`/v1/runs/${runId}/log?tail=1`, { headers: { authorization: `Bearer ${t.viewer}` } });
      expect([sized.headers.get('culvert-log-size'), await sized.text()]).toEqual([String(size), '\n']);

      const before = process.memoryUsage().rss;
      let peak = before;
      const res = await stack.app.request(`/v1/runs/${runId}/log`, { headers: { authorization: `Bearer ${t.viewer}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-length')).toBe(String(size));
      const reader = res.body!.getReader();
      let bytes = 0;
      let last = new Uint8Array();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes += value.length;
        last = value;
        peak = Math.max(peak, process.memoryUsage().rss);
      }
      expect(bytes).toBe(size);
      expect(new TextDecoder().decode(last.subarray(last.length - end.length))).toBe(end);
      // Streamed: the process never held more than a small part of it.
      expect(peak - before).toBeLessThan(150 * 1024 * 1024);

      for (const bad of ['0', '-1', 'x', String(65 * 1024 * 1024)]) {
        expectError(await stack.call('GET', `/v1/runs/${runId}/log?tail=${bad}`), 400, 'bad_request');
      }
      expectError(await stack.call('GET', `/v1/runs/${runId}/log?tail=5`, { token: t.viewerB }), 403, 'forbidden');
      await rm(runLogPath(stack.dataDir, runId));
    });
  });

  describe('codec', () => {
    it('POST codec/decode: 200 for an admin, payloads in clear; 400 bad body, 403 anyone else', async () => {
      const [sealed] = await testCodec().encode([{ metadata: { encoding: new TextEncoder().encode('json/plain') }, data: new TextEncoder().encode('{"x":1}') }]);
      const wire = toWire(sealed as Payload);
      const ok = await stack.call('POST', '/v1/codec/decode', { body: { payloads: [wire] } });
      expect(ok.status, ok.text).toBe(200);
      expect(Buffer.from(ok.body.payloads[0].data, 'base64').toString()).toBe('{"x":1}');
      expectError(await stack.call('POST', '/v1/codec/decode', { body: { payloads: 'all of them' } }), 400, 'bad_request');
      expectError(await stack.call('POST', '/v1/codec/decode', { body: { payloads: [wire] }, token: t.ownerA }), 403, 'forbidden');
      expectError(await stack.call('POST', '/v1/codec/decode', { body: { payloads: [wire] }, token: t.viewer }), 403, 'forbidden');
    });

    it('POST codec/session: 200 and a session cookie for an admin; 401 without a token, 403 anyone else; sign-in and sign-out pages', async () => {
      const ok = await stack.app.request('/v1/codec/session', { method: 'POST', headers: { authorization: `Bearer ${stack.adminToken}` } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('set-cookie')).toMatch(/^culvert_codec_session=.+; Path=\/v1\/codec; HttpOnly; SameSite=Strict/);
      expectError(await stack.call('POST', '/v1/codec/session', { token: '' }), 401, 'unauthorized');
      for (const token of [t.ownerA, t.viewer]) expectError(await stack.call('POST', '/v1/codec/session', { token }), 403, 'forbidden');
      const page = await stack.call('GET', '/v1/codec/sign-in', { token: '' });
      expect([page.status, page.text.includes('<form id="sign-in">')]).toEqual([200, true]);
      expect((await stack.call('POST', '/v1/codec/sign-out', { token: '' })).status).toBe(204);
    });
  });

  describe('audit', () => {
    it('GET audit: 200 newest first with refused attempts, paged; 400 bad query, 403 out of scope, 404 unknown product', async () => {
      // Refused by the release workflow itself: on record as refused, with the caller's answer.
      expectError(await stack.call('POST', `/v1/products/${p.a}/releases/master/freeze`, { token: t.ownerA }), 422, 'flow_mismatch');
      const res = await stack.call('GET', `/v1/products/${p.a}/audit?limit=1000`, { token: t.viewer });
      expect(res.status, res.text).toBe(200);
      const items = res.body.items as { id: number; action: string; actor: string; tokenId: string | null; outcome: string; refusal: unknown; release: string | null }[];
      expect(items.map((e) => e.id)).toEqual([...items.map((e) => e.id)].sort((x, y) => y - x));
      expect(items[0]).toMatchObject({ action: 'release.freeze', actor: 'olivia', outcome: 'refused', refusal: { code: 'flow_mismatch', message: expect.stringContaining('pull-request flow') } });
      expect(items[0]?.tokenId).toEqual(expect.any(String));
      expect(items.find((e) => e.action === 'release.cut')).toMatchObject({ actor: 'ci-bot', outcome: 'done', release: 'master' });
      expect(items.some((e) => e.outcome === 'pending')).toBe(false);

      const first = await stack.call('GET', `/v1/products/${p.a}/audit?limit=1`, { token: t.ownerA });
      expect(first.body.items).toHaveLength(1);
      expect(first.body.next).toBe(items[0]?.id);
      const second = await stack.call('GET', `/v1/products/${p.a}/audit?limit=1&before=${first.body.next}`, { token: t.ownerA });
      expect(second.body.items[0]?.id).toBe(items[1]?.id);

      expectError(await stack.call('GET', `/v1/products/${p.a}/audit?limit=0`), 400, 'bad_request');
      expectError(await stack.call('GET', `/v1/products/${p.a}/audit?since=yesterday`), 400, 'bad_request');
      expectError(await stack.call('GET', `/v1/products/${p.a}/audit`, { token: t.ownerB }), 403, 'forbidden');
      expectError(await stack.call('GET', `/v1/products/${p.a}/audit`, { token: '' }), 401, 'unauthorized');
      expectError(await stack.call('GET', `/v1/products/${unique('p')}/audit`), 404, 'product_not_found');
    });
  });
});
