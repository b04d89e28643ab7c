// The Temporal UI reads Culvert's encrypted payloads through the API's codec server (issue 10): an admin
// signs a browser in once (a session cookie that names the token, signed, short-lived, and good for the
// decode call only), and only the UI's origin may make that call with it (CORS with credentials).
import type { Payload } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toWire } from '../api/codec/routes.ts';
import { openSession, sealSession, sessionCookie } from '../api/session.ts';
import { issueToken } from '../db/repos/tokens.ts';
import { auditLog } from '../db/schema.ts';
import { testCodec } from './helpers/codec.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, uiUrl, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';

describe('the codec server for the Temporal UI', () => {
  let stack: Stack;
  let repo: GitFixture;
  let product: string;
  let payloads: ReturnType<typeof toWire>[];
  const uiOrigin = new URL(uiUrl).origin;

  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
    await repo.commit({ 'a.txt': 'a\n' }, 'a');
    await repo.push();
    product = unique('codec-ui');
    expect((await stack.call('POST', '/v1/products', { body: { name: product, repository: repo.remote, flow: 'cherry-pick', trunk: 'main' } })).status).toBe(201);
    const cut = await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: 'r1' } });
    expect(cut.status, cut.text).toBe(201);
    const history = await stack.client.workflow.getHandle(cut.body.workflowId).fetchHistory();
    payloads = (history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? []).map((x) => toWire(x as Payload));
    // What Temporal holds is sealed: the product's name is not in it.
    expect(JSON.stringify(payloads)).not.toContain(Buffer.from(product).toString('base64').slice(0, 12));
  });
  afterAll(async () => {
    await stack?.stop();
    await repo?.cleanup();
  });

  /** A request as a browser sends it: cookies and headers only, no bearer token unless given. */
  const send = async (method: string, path: string, o: { cookie?: string; token?: string; headers?: Record<string, string>; body?: unknown } = {}) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (o.cookie) headers.cookie = o.cookie;
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    if (o.body !== undefined) headers['content-type'] ??= 'application/json';
    const res = await stack.app.request(path, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, body: (() => { try { return JSON.parse(text); } catch { return undefined; } })() };
  };
  const signIn = async (token: string, headers: Record<string, string> = {}) => {
    const res = await send('POST', '/v1/codec/session', { token, headers });
    const setCookie = res.headers.get('set-cookie') ?? '';
    return { ...res, setCookie, cookie: setCookie.split(';')[0] ?? '' };
  };
  const decode = (cookie: string, headers: Record<string, string> = {}) => send('POST', '/v1/codec/decode', { cookie, headers: { origin: uiOrigin, 'x-namespace': 'default', ...headers }, body: { payloads } });
  const clear = (res: { body: { payloads: { data: string }[] } }): string => Buffer.from(res.body.payloads[0]?.data ?? '', 'base64').toString();

  it('serves a sign-in page that runs only its own script and sends the token nowhere else', async () => {
    const page = await send('GET', '/v1/codec/sign-in');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const policy = page.headers.get('content-security-policy') ?? '';
    expect(policy).toMatch(/default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(policy).toContain("connect-src 'self'");
    expect(page.text).toContain('http://localhost/v1/codec');
    expect(page.text).toContain('type="password"');
  });

  it('signs an admin in with a cookie only the decode call accepts, and decodes for the UI', async () => {
    const s = await signIn(stack.adminToken);
    expect(s.status, s.text).toBe(200);
    expect(s.body.name).toBe('admin');
    expect(Date.parse(s.body.expiresAt) - Date.now()).toBeGreaterThan(7 * 3600_000);
    expect(s.setCookie).toMatch(new RegExp(`^${sessionCookie}=[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+; `));
    for (const attribute of ['Path=/v1/codec', 'HttpOnly', 'SameSite=Strict', 'Max-Age=28800']) expect(s.setCookie).toContain(attribute);
    expect(s.setCookie).not.toContain('Secure');
    // The cookie names the token by id, never its secret.
    expect(s.setCookie).not.toContain(stack.adminToken);
    expect((await signIn(stack.adminToken, { 'x-forwarded-proto': 'https' })).setCookie).toContain('; Secure');

    const decoded = await decode(s.cookie);
    expect(decoded.status, decoded.text).toBe(200);
    expect(clear(decoded)).toContain(product);
    expect(decoded.headers.get('access-control-allow-origin')).toBe(uiOrigin);
    expect(decoded.headers.get('access-control-allow-credentials')).toBe('true');
    const audited = await stack.database.db.select().from(auditLog);
    expect(audited.filter((a) => a.action === 'codec.sign-in').length).toBeGreaterThan(0);

    // Anything else with the cookie alone is as if unsigned: it never authorizes a change or a read.
    expect((await send('GET', '/v1/products', { cookie: s.cookie })).status).toBe(401);
    expect((await send('POST', '/v1/tokens', { cookie: s.cookie, body: { name: unique('x'), role: 'admin' } })).status).toBe(401);
    expect((await send('POST', `/v1/products/${product}/releases/r1/freeze`, { cookie: s.cookie, body: {} })).status).toBe(401);
    // Nor the decode call unless it is JSON (a form post from another page needs no preflight).
    const form = await stack.app.request('/v1/codec/decode', { method: 'POST', headers: { cookie: s.cookie, 'content-type': 'text/plain' }, body: JSON.stringify({ payloads }) });
    expect(form.status).toBe(401);
  });

  it('lets only the Temporal UI\'s origin call it with credentials', async () => {
    const preflight = (origin: string) => stack.app.request('/v1/codec/decode', {
      method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' },
    });
    const ok = await preflight(uiOrigin);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(uiOrigin);
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    expect(ok.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('x-namespace');
    for (const origin of ['http://evil.example', 'http://127.0.0.1:9999', 'null']) {
      const other = await preflight(origin);
      expect(other.headers.get('access-control-allow-origin'), origin).toBeNull();
    }
    const s = await signIn(stack.adminToken);
    const fromElsewhere = await decode(s.cookie, { origin: 'http://evil.example' });
    expect(fromElsewhere.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses non-admins, tampered or expired sessions, and ends with the token or a sign-out', async () => {
    const owner = await stack.token(unique('olga'), 'owner', [product]);
    const refused = await signIn(owner);
    expect([refused.status, refused.body.code]).toEqual([403, 'forbidden']);
    expect(refused.setCookie).toBe('');
    expect((await send('POST', '/v1/codec/session')).status).toBe(401);

    const key = testCodec().sessionKey();
    const admin2 = await stack.call('POST', '/v1/tokens', { body: { name: unique('ada'), role: 'admin' } });
    expect(admin2.status, admin2.text).toBe(201);
    const s = await signIn(admin2.body.secret);
    expect((await decode(s.cookie)).status).toBe(200);
    const value = s.cookie.slice(sessionCookie.length + 1);
    const tokenId = openSession(key, value);
    expect(tokenId).toBe(admin2.body.id);

    // Tampered: another token's id under the same signature, a flipped signature, garbage.
    const [, mac] = value.split('.');
    const forged = `${Buffer.from(JSON.stringify({ t: '00000000-0000-4000-8000-000000000000', e: 4102444800 })).toString('base64url')}.${mac}`;
    const flipped = `${value.slice(0, -2)}${value.at(-2) === 'A' ? 'B' : 'A'}${value.slice(-1)}`; // a signature character changed
    for (const bad of [forged, flipped, 'x', '', `${value}.x`]) {
      const res = await decode(`${sessionCookie}=${bad}`);
      expect(res.status, bad).toBe(401);
      expect(res.text).not.toContain(product);
    }
    // Signed with another key (another installation), or expired.
    expect((await decode(`${sessionCookie}=${sealSession(Buffer.alloc(32, 7), admin2.body.id, new Date(Date.now() + 60_000))}`)).status).toBe(401);
    expect((await decode(`${sessionCookie}=${sealSession(key, admin2.body.id, new Date(Date.now() - 1_000))}`)).status).toBe(401);
    expect(openSession(key, value, new Date(Date.now() + 9 * 3600_000))).toBeUndefined();

    // A session of a token that is no longer an admin's, or revoked, ends at once.
    expect((await decode(`${sessionCookie}=${sealSession(key, (await stack.call('GET', '/v1/tokens')).body.items.find((t: { name: string; role: string }) => t.role === 'owner').id, new Date(Date.now() + 60_000))}`)).status).toBe(403);
    expect((await stack.call('DELETE', `/v1/tokens/${admin2.body.id}`)).status).toBe(200);
    const revoked = await decode(s.cookie);
    expect([revoked.status, revoked.body.code]).toEqual([401, 'unauthorized']);
    expect(revoked.body.message).toMatch(/sign in again/);

    // Sign-out clears the cookie.
    const out = await send('POST', '/v1/codec/sign-out');
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(new RegExp(`^${sessionCookie}=; Path=/v1/codec; HttpOnly; SameSite=Strict; Max-Age=0`));
  });

  it('caps a session at its token\'s own expiry', async () => {
    const expiresAt = new Date(Date.now() + 3600_000).toISOString();
    const { secret } = await issueToken(stack.database.db, { name: unique('brief'), role: 'admin', products: null, expiresAt: new Date(expiresAt) });
    const s = await signIn(secret);
    expect(s.status).toBe(200);
    expect(Math.abs(Date.parse(s.body.expiresAt) - Date.parse(expiresAt))).toBeLessThan(2_000);
    expect(Number(/Max-Age=(\d+)/.exec(s.setCookie)?.[1])).toBeLessThanOrEqual(3600);
  });
});
