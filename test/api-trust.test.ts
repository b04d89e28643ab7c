// Least privilege at the API (issue 10, first part): what decides which code runs where is an admin's to
// change, step environment values are never shown to anyone but an admin (nor kept in audit rows),
// templates are an admin's, viewers never vote, and a name is one principal with one role. Each refusal
// is a 4xx that changes nothing.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordGate } from '../db/repos/approvals.ts';
import { issueToken } from '../db/repos/tokens.ts';
import { openGate } from '../domain/gate.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';

describe('least privilege at the API', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ worker: false });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const productBody = (name: string) => ({
    name, repository: `https://git.example.com/${name}.git`, flow: 'pull-request', trunk: 'main', owners: ['olivia'],
    steps: { deploy: { argv: ['./deploy.sh'], env: { DEPLOY_TOKEN: 'sekret-value-42', REGION: 'eu' } } },
    triggers: [{ on: 'deploy.clicked', run: 'deploy' }],
    environments: [{ name: 'staging', order: 1, production: false }, { name: 'production', order: 2, production: true }],
  });

  it('lets an owner change only naming and severities; steps, environments, repository and policies are an admin\'s', async () => {
    const p = unique('trust');
    expect((await stack.call('POST', '/v1/products', { body: productBody(p) })).status).toBe(201);
    const owner = await stack.token('olivia', 'owner', [p]);
    const before = (await stack.call('GET', `/v1/products/${p}`)).body;
    const attempts: Record<string, unknown>[] = [
      { steps: { deploy: { argv: ['sh', '-c', 'cat ../../admin-token; id'] } } },
      { environments: [{ name: 'staging', order: 1, production: false }, { name: 'production', order: 2, production: false }] },
      { repository: '/etc' },
      { triggers: [] },
      { approval: { rule: 'any-owner' } },
      { signoff: { group: ['olivia'], quorum: 1 } },
      { owners: ['olivia', 'mallory'] },
      { severities: ['normal'], steps: {} },
    ];
    for (const body of attempts) {
      const r = await stack.call('PATCH', `/v1/products/${p}`, { token: owner, body });
      expect(r.status, `${JSON.stringify(body)}: ${r.text}`).toBe(403);
      expect(r.body.code).toBe('admin_only');
      expect(r.body.details.fields).toEqual(Object.keys(body).filter((k) => k !== 'severities'));
    }
    expect((await stack.call('GET', `/v1/products/${p}`)).body, 'nothing changed').toEqual(before);
    const allowed = await stack.call('PATCH', `/v1/products/${p}`, { token: owner, body: { severities: ['normal', 'hotfix'] } });
    expect(allowed.status, allowed.text).toBe(200);
    expect(allowed.body.severities).toEqual(['normal', 'hotfix']);
    const byAdmin = await stack.call('PATCH', `/v1/products/${p}`, { body: { steps: { deploy: { argv: ['./deploy.sh', '--v2'], env: { DEPLOY_TOKEN: 'rotated-value-43' } } } } });
    expect(byAdmin.status, byAdmin.text).toBe(200);
  });

  it('never shows step environment values to anyone but an admin, nor keeps them in audit rows', async () => {
    const p = unique('masked');
    expect((await stack.call('POST', '/v1/products', { body: productBody(p) })).status).toBe(201);
    const viewer = await stack.token('vera', 'viewer', [p]);
    const ci = await stack.token('ci-bot', 'ci', [p]);
    const owner = await stack.token('olivia', 'owner', [p]);
    for (const token of [viewer, ci, owner]) {
      const one = await stack.call('GET', `/v1/products/${p}`, { token });
      expect(one.body.steps.deploy.env).toEqual({ DEPLOY_TOKEN: '***', REGION: '***' });
      const list = await stack.call('GET', '/v1/products', { token });
      expect(list.text).not.toContain('sekret-value-42');
    }
    expect((await stack.call('GET', `/v1/products/${p}`)).body.steps.deploy.env.DEPLOY_TOKEN, 'an admin sees the value').toBe('sekret-value-42');
    expect((await stack.call('PATCH', `/v1/products/${p}`, { body: { steps: { deploy: { argv: ['./deploy.sh'], env: { DEPLOY_TOKEN: 'rotated-value-43' } } } } })).status).toBe(200);
    const audit = await stack.call('GET', `/v1/products/${p}/audit`);
    expect(audit.status, audit.text).toBe(200);
    expect(audit.text).toContain('product.update');
    expect(audit.text).not.toContain('rotated-value-43');
  });

  it('keeps templates an admin\'s, reading included', async () => {
    const owner = await stack.token('olivia', 'owner', [unique('any')]);
    const viewer = await stack.token('vera', 'viewer', [unique('any')]);
    for (const token of [owner, viewer]) {
      const r = await stack.call('GET', '/v1/templates', { token });
      expect(r.status).toBe(403);
      expect(r.body.code).toBe('forbidden');
    }
    expect((await stack.call('GET', '/v1/templates')).status).toBe(200);
  });

  it('refuses a viewer\'s vote on a gate, even one whose group names them', async () => {
    const p = unique('gated');
    expect((await stack.call('POST', '/v1/products', { body: productBody(p) })).status).toBe(201);
    const gate = openGate(`${p}/r1/signoff`, `sign-off of ${p} r1`, { group: ['vera'], quorum: 1 }, 'olivia', new Date());
    // No workflow behind it: a refusal must come before anything reaches Temporal.
    await recordGate(stack.database.db, { product: p, release: null, workflowId: `culvert-gate/${gate.id}`, gate });
    const viewer = await stack.token('vera', 'viewer', [p]);
    const r = await stack.call('POST', `/v1/approvals/${encodeURIComponent(gate.id)}`, { token: viewer, body: { decision: 'approve' } });
    expect(r.status, r.text).toBe(403);
    expect(r.body.code).toBe('forbidden');
    const after = await stack.call('GET', `/v1/approvals?product=${p}`);
    expect(after.body.items[0].votes).toEqual([]);
  });

  it('refuses repository addresses that run commands, pass options or read what they should not', async () => {
    const refused = [
      'ext::sh -c touch% /tmp/pwned', 'fd::17', 'file:///etc', 'ssh://-oProxyCommand=touch%20/tmp/pwned/x', 'ssh://user@-oProxyCommand=x/r.git',
      '-uhelp', 'relative/path', '/srv/../etc', 'https://169.254.169.254/latest/meta-data', 'git@-oProxyCommand=x:r.git', 'https://a b/r.git',
      'ftp://example.com/r.git', '/srv/r.git\u0000x',
    ];
    for (const repository of refused) {
      const name = unique('repo');
      const r = await stack.call('POST', '/v1/products', { body: { ...productBody(name), repository } });
      expect(r.status, `${JSON.stringify(repository)}: ${r.text}`).toBe(400);
      expect(r.body.code).toBe('bad_request');
      expect((await stack.call('GET', `/v1/products/${name}`)).status, 'nothing was created').toBe(404);
    }
    for (const repository of ['https://github.com/acme/app.git', 'ssh://git@github.com/acme/app.git', 'git@github.com:acme/app.git', 'git://example.com/app.git', join(tmpdir(), 'app.git')]) {
      const r = await stack.call('POST', '/v1/products', { body: { ...productBody(unique('repo')), repository } });
      expect(r.status, `${repository}: ${r.text}`).toBe(201);
    }
  });

  it('answers NUL bytes and built-in property names with a 4xx that changes nothing', async () => {
    const p = unique('small');
    expect((await stack.call('POST', '/v1/products', { body: productBody(p) })).status).toBe(201);
    const before = (await stack.call('GET', `/v1/products/${p}`)).body;
    const cases: [string, string, { raw?: string; body?: unknown }, number][] = [
      ['PATCH', `/v1/products/${p}`, { raw: '{"severities":["nor\\u0000mal"]}' }, 400],
      ['PATCH', `/v1/products/${p}`, { body: { steps: { constructor: { argv: ['true'] } } } }, 400],
      ['PATCH', `/v1/products/${p}`, { raw: '{"steps":{"__proto__":{"argv":["id"]}}}' }, 400],
      ['PATCH', `/v1/products/${p}`, { body: { triggers: [{ on: 'deploy.clicked', run: 'constructor' }] } }, 400],
      ['GET', `/v1/products/${p}%00x`, {}, 400],
      ['GET', `/v1/commits/abcdef1?product=${p}%00`, {}, 400],
      ['POST', `/v1/products/${p}/schedules/constructor`, {}, 404],
      ['POST', `/v1/products/${p}/schedules/toString`, {}, 404],
    ];
    for (const [method, path, opts, status] of cases) {
      const r = await stack.call(method, path, opts);
      expect(r.status, `${method} ${path} ${JSON.stringify(opts)}: ${r.text}`).toBe(status);
      expect(r.body).toMatchObject({ code: expect.any(String), message: expect.any(String) });
    }
    expect((await stack.call('GET', `/v1/products/${p}`)).body).toEqual(before);
  });

  it('lists tokens without secrets, revokes one at once, and lets one expire', async () => {
    const issued = await stack.call('POST', '/v1/tokens', { body: { name: unique('temp'), role: 'viewer', products: ['a'], expiresInDays: 1 } });
    expect(issued.status, issued.text).toBe(201);
    expect(Date.parse(issued.body.expiresAt) - Date.now()).toBeGreaterThan(86_000_000);
    const secret = issued.body.secret as string;
    expect((await stack.call('GET', '/v1/products', { token: secret })).status).toBe(200);
    const list = await stack.call('GET', '/v1/tokens');
    expect(list.status).toBe(200);
    const mine = list.body.items.find((t: { id: string }) => t.id === issued.body.id);
    expect(mine).toMatchObject({ role: 'viewer', revokedAt: null, lastUsedAt: expect.any(String) });
    expect(list.text).not.toContain(secret);
    expect(list.text).not.toMatch(/secretHash|secret_hash/);
    const owner = await stack.token('olivia', 'owner', ['a']);
    expect((await stack.call('GET', '/v1/tokens', { token: owner })).status, 'admins only').toBe(403);
    expect((await stack.call('DELETE', `/v1/tokens/${issued.body.id}`, { token: owner })).status).toBe(403);
    expect((await stack.call('GET', '/v1/products', { token: secret })).status, 'still valid: nothing changed').toBe(200);
    const revoked = await stack.call('DELETE', `/v1/tokens/${issued.body.id}`);
    expect(revoked.status, revoked.text).toBe(200);
    expect(revoked.body.revokedAt).toEqual(expect.any(String));
    const after = await stack.call('GET', '/v1/products', { token: secret });
    expect(after.status).toBe(401);
    expect(after.body.code).toBe('unauthorized');
    expect((await stack.call('DELETE', '/v1/tokens/no-such-token')).status).toBe(404);
    // Expiry: a token past its time no longer authenticates.
    const { secret: old } = await issueToken(stack.database.db, { name: unique('old'), role: 'viewer', products: null, expiresAt: new Date(Date.now() - 1000) });
    expect((await stack.call('GET', '/v1/products', { token: old })).status).toBe(401);
  });

  it('issues no token under a name that holds tokens of another role', async () => {
    const name = unique('owen');
    const first = await stack.call('POST', '/v1/tokens', { body: { name, role: 'owner', products: ['a'] } });
    expect(first.status, first.text).toBe(201);
    const again = await stack.call('POST', '/v1/tokens', { body: { name, role: 'owner', products: ['b'] } });
    expect(again.status, 'the same principal, another token').toBe(201);
    const other = await stack.call('POST', '/v1/tokens', { body: { name, role: 'viewer', products: ['a'] } });
    expect(other.status, other.text).toBe(409);
    expect(other.body).toMatchObject({ code: 'token_name_taken', details: { name, role: 'owner' } });
  });
});
