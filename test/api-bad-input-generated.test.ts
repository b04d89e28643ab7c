// Bad input on every route, generated from /openapi.json (issue 10): every path parameter, query
// parameter and body of every operation is sent the kinds of bad input seen in the wild (NUL bytes,
// traversal, prototype names, overlong and odd names, wrong types, malformed and oversized JSON). Each
// case is a 4xx in the one error shape, with no stack trace or host path, and changes nothing: no row in
// any table but the audit log (which records refused attempts) and no ref in the remote. A route added
// later is covered the day it is added.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';
import { refsOf, rowsDigest } from './helpers/snapshot.ts';

interface Operation { method: string; template: string; params: string[]; query: string[]; body: boolean }
/** `mayPass`: bad for some parameters only (a text filter may match nothing): never a 5xx, and nothing changes. */
interface Case { name: string; method: string; path: string; raw?: string; headers?: Record<string, string>; mayPass?: boolean }

const badSegments = ['%00', 'a%00b', '..', '%2e%2e', '__proto__', 'constructor', 'x'.repeat(300), 'A%20B', '%C3%BC', '-rf', 'a..b', 'x.lock'];
const badQueryValues = ['%00', 'x'.repeat(5000)];
/** Bad for a number, a state or a slug, and a filter like any other for free text. */
const oddQueryValues = ['-1', '1e309', '%5B%5D', 'constructor'];
const badBodies: { name: string; raw: string; headers?: Record<string, string> }[] = [
  { name: 'malformed JSON', raw: '{"a":' },
  { name: 'an array', raw: '[]' },
  { name: 'a string', raw: '"x"' },
  { name: 'null', raw: 'null' },
  { name: 'a NUL byte in a string', raw: '{"name":"a\\u0000b"}' },
  { name: 'a prototype key', raw: '{"__proto__":{"admin":true}}' },
  { name: 'a constructor key', raw: '{"constructor":{"prototype":{"x":1}}}' },
  { name: 'deep nesting', raw: `${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}` },
  { name: 'an unknown field', raw: '{"surprise":1}' },
  { name: 'not JSON', raw: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
  { name: 'over 1 MiB', raw: `{"x":"${'y'.repeat(1_100_000)}"}` },
];

describe('bad input on every route, generated from /openapi.json', () => {
  let stack: Stack;
  let repo: GitFixture;
  const product = unique('gen');
  let operations: Operation[] = [];

  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
    await repo.commit({ 'app.txt': 'v1\n' }, 'v1');
    await repo.push();
    const body = {
      name: product, repository: repo.remote, flow: 'cherry-pick', trunk: 'main',
      steps: { deploy: { argv: ['sh', '-c', 'true'] } }, triggers: [{ on: 'deploy.clicked', run: 'deploy' }],
      environments: [{ name: 'staging', order: 1, production: false }],
    };
    expect((await stack.call('POST', '/v1/products', { body })).status).toBe(201);
    const cut = await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: 'r1' } });
    expect(cut.status, cut.text).toBe(201);
    const doc = (await stack.call('GET', '/openapi.json', { token: '' })).body as {
      paths: Record<string, Record<string, { parameters: { name: string; in: string }[]; requestBody?: unknown }>>;
    };
    operations = Object.entries(doc.paths).filter(([p]) => p.startsWith('/v1/')).flatMap(([p, ops]) => Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase(), template: p,
      params: op.parameters.filter((x) => x.in === 'path').map((x) => x.name),
      query: op.parameters.filter((x) => x.in === 'query').map((x) => x.name),
      body: op.requestBody !== undefined,
    })));
  });
  afterAll(async () => {
    await stack?.stop();
    await repo?.cleanup();
  });

  /** A path to the real product and release, with `bad` in place of one parameter. */
  const pathOf = (op: Operation, bad?: { param: string; value: string }): string => op.template.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (bad?.param === name) return bad.value;
    return ({ product, release: 'r1', environment: 'staging', action: 'pause', template: 'none', sha: 'abcdef1', id: 'some-id' } as Record<string, string>)[name] ?? 'x';
  });

  function casesOf(op: Operation): Case[] {
    const out: Case[] = [];
    const body = op.body ? { raw: '{}' } : {};
    for (const param of op.params) {
      for (const value of badSegments) out.push({ name: `${op.method} ${op.template} with ${param}=${value.slice(0, 20)}`, method: op.method, path: pathOf(op, { param, value }), ...body });
    }
    for (const q of op.query) {
      for (const value of badQueryValues) out.push({ name: `${op.method} ${op.template}?${q}=${value.slice(0, 20)}`, method: op.method, path: `${pathOf(op)}?${q}=${value}` });
      for (const value of oddQueryValues) out.push({ name: `${op.method} ${op.template}?${q}=${value}`, method: op.method, path: `${pathOf(op)}?${q}=${value}`, mayPass: true });
    }
    if (op.body) {
      for (const b of badBodies) out.push({ name: `${op.method} ${op.template} with ${b.name}`, method: op.method, path: pathOf(op), raw: b.raw, ...(b.headers ? { headers: b.headers } : {}) });
    }
    return out;
  }

  const everything = async (): Promise<string> => `${await rowsDigest(stack.database.db)}\n${await refsOf(repo.remote)}`;

  it('answers every case with a clear 4xx and changes nothing', async () => {
    const cases = operations.flatMap(casesOf);
    expect(cases.filter((c) => !c.mayPass).length, 'at least 300 cases of input bad for any route').toBeGreaterThanOrEqual(300);
    // Each operation of the document has cases (a route with no parameter and no body has none to get wrong).
    for (const op of operations.filter((o) => o.params.length + o.query.length > 0 || o.body)) {
      expect(cases.some((c) => c.name.startsWith(`${op.method} ${op.template}`)), `${op.method} ${op.template}`).toBe(true);
    }
    const before = await everything();
    const wrong: string[] = [];
    for (const c of cases) {
      const r = await stack.call(c.method, c.path, { ...(c.raw !== undefined ? { raw: c.raw } : {}), ...(c.headers ? { headers: c.headers } : {}) });
      const shape = r.body && typeof r.body.code === 'string' && typeof r.body.message === 'string';
      const leaks = /\n\s+at |\/tmp\/|\/work\/|node_modules/.test(r.text);
      const passed = c.mayPass && r.status >= 200 && r.status < 300;
      if (!passed && (r.status < 400 || r.status >= 500 || !shape)) wrong.push(`${c.name} -> ${r.status} ${r.text.slice(0, 200)}`);
      else if (leaks) wrong.push(`${c.name} -> ${r.status} ${r.text.slice(0, 200)}`);
    }
    expect(wrong, `${wrong.length} of ${cases.length} cases`).toEqual([]);
    expect(await everything(), 'no row and no ref changed').toBe(before);
    console.log(`bad input: ${cases.length} cases over ${operations.length} operations (${cases.filter((c) => !c.mayPass).length} bad for any route: all 4xx; the rest never 5xx), nothing changed`);
  });
});
