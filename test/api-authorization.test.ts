// Who may do what, on every route of /openapi.json (issue 10): every operation × every role (admin;
// owner, ci and viewer of the product the request names; owner, ci and viewer of another product) is
// sent a well-formed request. A role the table below does not allow gets exactly 403 in the one error
// shape and changes nothing; a role it allows is let through (its exact answers are api-routes' to
// check). An operation without an entry here fails the test: a new route says who may call it.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordGate } from '../db/repos/approvals.ts';
import { upsertArtifacts } from '../db/repos/candidates.ts';
import { startRun } from '../db/repos/runs.ts';
import { issueToken } from '../db/repos/tokens.ts';
import { openGate } from '../domain/gate.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';
import { refsOf, rowsDigest } from './helpers/snapshot.ts';
import { waitFor } from './helpers/wait.ts';

/** Who may call an operation on product A: from the narrowest to anyone signed in. */
type Who = 'admin' | 'owner' | 'request' | 'voter' | 'view' | 'signed-in' | 'signature';
type Role = 'admin' | 'ownerA' | 'ciA' | 'viewerA' | 'ownerB' | 'ciB' | 'viewerB';
const roles: Role[] = ['admin', 'ownerA', 'ciA', 'viewerA', 'ownerB', 'ciB', 'viewerB'];
const allowed: Record<Who, Role[]> = {
  admin: ['admin'],
  owner: ['admin', 'ownerA'],
  request: ['admin', 'ownerA', 'ciA'],
  // Anyone who sees the product and is not a viewer (group membership is the gate's own rule).
  voter: ['admin', 'ownerA', 'ciA'],
  view: ['admin', 'ownerA', 'ciA', 'viewerA'],
  'signed-in': roles,
  // No token reaches it: GitHub's signature is the only way in (test/github.test.ts sends good and bad ones).
  signature: [],
};

interface Fixture { product: string; release: string; closing: string; change: string; sha: string; run: string; artifact: string; gate: string; token: string; template: string; train: string }
interface Entry { who: Who; body?: (f: Fixture, n: number) => unknown; query?: (f: Fixture) => string }

const pick = (f: Fixture) => ({ kind: 'pick', commits: [f.sha], reason: 'authz', severity: 'normal' });
const table: Record<string, Entry> = {
  'POST /v1/tokens': { who: 'admin', body: (f, n) => ({ name: `authz-issued-${n}`, role: 'viewer', products: [f.product] }) },
  'GET /v1/tokens': { who: 'admin' },
  'DELETE /v1/tokens/:id': { who: 'admin' },
  'POST /v1/products': { who: 'admin', body: (f, n) => ({ name: `${f.product}-new${n}`, repository: '/srv/none', flow: 'pull-request', trunk: 'main' }) },
  'GET /v1/products': { who: 'signed-in' },
  'GET /v1/products/:product': { who: 'view' },
  'PATCH /v1/products/:product': { who: 'owner', body: () => ({ severities: ['normal', 'hotfix'] }) },
  'POST /v1/products/:product/releases': { who: 'request', body: (_, n) => ({ name: `cut${n}` }) },
  'GET /v1/products/:product/releases': { who: 'view' },
  'GET /v1/products/:product/releases/:release': { who: 'view' },
  'GET /v1/products/:product/releases/:release/manifest': { who: 'view' },
  'POST /v1/products/:product/releases/:release/close': { who: 'owner' },
  'POST /v1/products/:product/releases/:release/freeze': { who: 'owner' },
  'POST /v1/products/:product/releases/:release/retry': { who: 'owner' },
  'POST /v1/products/:product/releases/:release/changes': { who: 'request', body: pick },
  'GET /v1/products/:product/releases/:release/changes': { who: 'view' },
  'POST /v1/products/:product/releases/:release/changes/batch': { who: 'request', body: (f) => ({ requests: [pick(f)] }) },
  'GET /v1/products/:product/releases/:release/changes/:id': { who: 'view' },
  'POST /v1/products/:product/releases/:release/changes/decisions': { who: 'owner', body: (f) => ({ decisions: [{ id: f.change, decision: 'reject' }] }) },
  'POST /v1/products/:product/releases/:release/changes/:id/decision': { who: 'owner', body: () => ({ decision: 'reject' }) },
  'POST /v1/products/:product/releases/:release/changes/:id/retry': { who: 'owner' },
  'POST /v1/products/:product/releases/:release/deployments': { who: 'owner', body: () => ({ environment: 'staging' }) },
  'POST /v1/products/:product/releases/:release/deployments/:id/go-ahead': { who: 'owner' },
  'GET /v1/products/:product/environments': { who: 'view' },
  'GET /v1/products/:product/environments/:environment/preview': { who: 'view', query: (f) => `release=${f.release}` },
  'GET /v1/runs/:id': { who: 'view' },
  'GET /v1/runs/:id/log': { who: 'view' },
  'GET /v1/plans': { who: 'admin' },
  'POST /v1/plans': { who: 'admin', body: (_, n) => ({ name: `authz-plan-${n}`, flow: 'pull-request' }) },
  'GET /v1/plans/:plan': { who: 'admin' },
  'PATCH /v1/plans/:plan': { who: 'admin', body: () => ({ severities: ['normal'] }) },
  'POST /v1/trains': { who: 'request', body: (f, n) => ({ name: `authz-train-${n}`, release: `t${n}`, products: [f.product] }) },
  'GET /v1/trains': { who: 'signed-in' },
  'GET /v1/trains/:train': { who: 'view' },
  // Without confirm: the pre-flight, which anyone who sees the members may ask for.
  'POST /v1/trains/:train/actions': { who: 'view', body: () => ({ action: { kind: 'freeze' } }) },
  'GET /v1/trains/:train/actions/:seq': { who: 'view' },
  // The old name of plans.
  'GET /v1/templates': { who: 'admin' },
  'POST /v1/templates': { who: 'admin', body: (_, n) => ({ name: `authz-template-${n}`, flow: 'pull-request' }) },
  'GET /v1/templates/:plan': { who: 'admin' },
  'PATCH /v1/templates/:plan': { who: 'admin', body: () => ({ severities: ['normal'] }) },
  'GET /v1/products/:product/schedules': { who: 'view' },
  'POST /v1/products/:product/schedules': { who: 'owner', body: () => ({ every: '7d', paused: true }) },
  'POST /v1/products/:product/schedules/:action': { who: 'owner' },
  'GET /v1/approvals': { who: 'signed-in' },
  'POST /v1/approvals/:id': { who: 'voter', body: () => ({ decision: 'approve' }) },
  'GET /v1/artifacts/:id': { who: 'view' },
  'GET /v1/commits/:sha': { who: 'view', query: (f) => `product=${f.product}` },
  'GET /v1/products/:product/notes': { who: 'view', query: (f) => `from=${f.release}&to=${f.release}` },
  'GET /v1/products/:product/audit': { who: 'view' },
  'POST /v1/codec/decode': { who: 'admin', body: () => ({ payloads: [] }) },
  'POST /v1/codec/session': { who: 'admin' },
  // Public: a static sign-in page, and a sign-out that only clears the browser's cookie.
  'GET /v1/codec/sign-in': { who: 'signed-in' },
  'POST /v1/codec/sign-out': { who: 'signed-in' },
  'POST /v1/github/webhooks': { who: 'signature' },
};

describe('who may do what, on every route', () => {
  let stack: Stack;
  let repo: GitFixture;
  let f: Fixture;
  const tokens = {} as Record<Role, string>;
  let operations: string[] = [];

  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
    const base = await repo.commit({ 'app.txt': 'v1\n' }, 'v1');
    const sha = await repo.commit({ 'fix.txt': 'fix\n' }, 'a fix');
    await repo.push();
    const product = unique('authz');
    const other = unique('authz-other');
    for (const name of [product, other]) {
      const body = {
        name, repository: repo.remote, flow: 'cherry-pick', trunk: 'main', owners: [`${name}-owner`],
        steps: { deploy: { argv: ['sh', '-c', 'true'] } }, triggers: [{ on: 'deploy.clicked', run: 'deploy' }],
        environments: [{ name: 'staging', order: 1, production: false }],
      };
      expect((await stack.call('POST', '/v1/products', { body })).status).toBe(201);
    }
    tokens.admin = stack.adminToken;
    for (const [role, name, kind] of [['ownerA', product, 'owner'], ['ciA', product, 'ci'], ['viewerA', product, 'viewer'], ['ownerB', other, 'owner'], ['ciB', other, 'ci'], ['viewerB', other, 'viewer']] as const) {
      tokens[role] = await stack.token(`${role}-${product}`, kind, [name]);
    }
    for (const name of ['r1', 'closing']) expect((await stack.call('POST', `/v1/products/${product}/releases`, { body: { name, from: base } })).status).toBe(201);
    const filed = await stack.call('POST', `/v1/products/${product}/releases/r1/changes`, { body: pick({ sha } as Fixture) });
    expect(filed.status, filed.text).toBe(201);
    const run = randomUUID();
    await startRun(stack.database.db, { id: run, product, release: 'r1', changeId: null, deploymentId: null, step: 'deploy', argv: ['true'], commitSha: sha, state: 'running', logPath: '/nonexistent/log' });
    const artifact = `${product}/r1/c1/app`;
    await upsertArtifacts(stack.database.db, [{ id: artifact, runId: run, candidateId: null, name: 'app', size: 0, sha256: '0'.repeat(64), location: '/nonexistent/app' }]);
    const gate = openGate(`${product}/r1/signoff`, `sign-off of ${product} r1`, { group: ['admin', `ownerA-${product}`, `ciA-${product}`], quorum: 3 }, 'someone-else', new Date());
    await recordGate(stack.database.db, { product, release: null, workflowId: `culvert-gate/${gate.id}`, gate });
    const throwaway = await issueToken(stack.database.db, { name: `throwaway-${product}`, role: 'viewer', products: [product] });
    const template = `authz-${randomUUID().slice(0, 8)}`;
    expect((await stack.call('POST', '/v1/templates', { body: { name: template, flow: 'pull-request' } })).status).toBe(201);
    const train = `authz-${randomUUID().slice(0, 8)}`;
    expect((await stack.call('POST', '/v1/trains', { body: { name: train, release: 'train-r', products: [product] } })).status).toBe(202);
    await waitFor('the train\'s cut', async () => (await stack.call('GET', `/v1/trains/${train}/actions/1`)).body?.state === 'done');
    f = { product, release: 'r1', closing: 'closing', change: filed.body.id, sha, run, artifact, gate: gate.id, token: throwaway.token.id, template, train };
    const doc = (await stack.call('GET', '/openapi.json', { token: '' })).body as { paths: Record<string, Record<string, unknown>> };
    operations = Object.entries(doc.paths).filter(([p]) => p.startsWith('/v1/'))
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`));
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
    await repo?.cleanup();
  });

  const pathOf = (op: string): string => {
    const template = op.slice(op.indexOf(' ') + 1);
    const id = op.includes('/tokens/') ? f.token : op.includes('/runs/') ? f.run : op.includes('/artifacts/') ? encodeURIComponent(f.artifact)
      : op.includes('/approvals/') ? encodeURIComponent(f.gate) : f.change;
    const release = op.endsWith('/close') ? f.closing : f.release;
    return template.replace(':product', f.product).replace(':release', release).replace(':id', id).replace(':sha', f.sha)
      .replace(':plan', f.template).replace(':train', f.train).replace(':seq', '1').replace(':action', 'pause').replace(':environment', 'staging');
  };

  const refs = (): Promise<string> => refsOf(repo.remote);
  const everything = (): Promise<string> => rowsDigest(stack.database.db);

  it('has an entry for every operation of /openapi.json, and none for an operation it does not have', () => {
    expect(Object.keys(table).sort()).toEqual([...operations].sort());
  });

  it('refuses every role it does not allow with exactly 403, changing nothing, and lets the others through', async () => {
    const wrong: string[] = [];
    let n = 0;
    let refused = 0;
    const calls = operations.flatMap((op) => {
      const entry = table[op];
      if (!entry || entry.who === 'signature') return [];
      const method = op.slice(0, op.indexOf(' '));
      const path = `${pathOf(op)}${entry.query ? `?${entry.query(f)}` : ''}`;
      return roles.map((role) => ({ op, role, method, path, entry, may: allowed[entry.who].includes(role) }));
    });
    // The refused first, each on a quiet system (the set-up's releases have recorded all they will), so
    // that a change seen is the refused request's own; then the allowed, whose work goes on behind them.
    let last = '';
    await waitFor('the set-up to settle', async () => {
      const now = await everything();
      const quiet = now === last;
      last = now;
      return quiet;
    }, 60_000);
    const refsBefore = await refs();
    for (const c of calls.filter((x) => !x.may)) {
      const body = c.entry.body?.(f, n++);
      const before = await everything();
      const r = await stack.call(c.method, c.path, { token: tokens[c.role], ...(body !== undefined ? { body } : {}) });
      refused++;
      if (r.status !== 403 || typeof r.body?.code !== 'string' || typeof r.body?.message !== 'string') wrong.push(`${c.op} as ${c.role}: expected 403, got ${r.status} ${r.text.slice(0, 160)}`);
      else if (await everything() !== before) wrong.push(`${c.op} as ${c.role}: refused, but something changed`);
    }
    expect(await refs(), 'no ref of the remote moved while only refused calls were made').toBe(refsBefore);
    for (const c of calls.filter((x) => x.may)) {
      const body = c.entry.body?.(f, n++);
      const r = await stack.call(c.method, c.path, { token: tokens[c.role], ...(body !== undefined ? { body } : {}) });
      if (r.status === 401 || r.status === 403 || r.status >= 500) wrong.push(`${c.op} as ${c.role}: expected to be let through, got ${r.status} ${r.text.slice(0, 160)}`);
    }
    expect(wrong).toEqual([]);
    console.log(`authorization: ${operations.length} operations × ${roles.length} roles, ${refused} refused with 403 and nothing changed`);
  }, 300_000);
});
