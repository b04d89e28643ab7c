import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import { createApp } from '../api/app.ts';
import { releaseWorkflowId } from '../domain/types.ts';
import { aliasOf, createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';
import type { Stack } from './helpers/stack.ts';

// DESIGN.md section 5: bad input gets a clear 4xx error and changes nothing. Every test below
// asserts the refusal (status, code, message or details) and then that nothing moved: products,
// releases, change requests, deployments, and the refs of the real git remote.

interface Issue { path: string; message: string }

describe('bad input', () => {
  let stack: Stack;
  let repo: GitFixture;
  let owner: string;
  let ci: string;
  /** Products whose names the scoped tokens above cover. */
  const names = { pr: unique('p'), closed: unique('p'), deploy: unique('p'), decide: unique('p'), cut: unique('p'), patch: unique('p') };

  const productBody = (name: string, extra: Record<string, unknown> = {}) => ({
    name, repository: repo.remote, flow: 'pull-request', trunk: 'main', owners: ['olga'], ...extra,
  });

  // Each product reaches the one remote by a path of its own: a repository's trunk belongs to one pull-request product.
  const aliases: { cleanup(): Promise<void> }[] = [];
  async function createProduct(name: string, extra: Record<string, unknown> = {}): Promise<void> {
    const alias = await aliasOf(repo.remote, name);
    aliases.push(alias);
    const res = await stack.call('POST', '/v1/products', { body: productBody(name, { repository: alias.path, ...extra }) });
    expect(res.status, res.text).toBe(201);
  }

  async function cut(product: string, body: Record<string, unknown> = { name: 'master' }): Promise<{ headSha: string }> {
    const res = await stack.call('POST', `/v1/products/${product}/releases`, { token: ci, body });
    expect(res.status, res.text).toBe(201);
    return res.body as { headSha: string };
  }

  async function refs(): Promise<string> {
    return (await git(['for-each-ref', '--format=%(refname) %(objectname)'], { cwd: repo.remote })).stdout;
  }

  async function productNames(): Promise<string[]> {
    const res = await stack.call('GET', '/v1/products');
    expect(res.status).toBe(200);
    return (res.body.items as { name: string }[]).map((p) => p.name).sort();
  }

  async function changeIds(product: string, release = 'master'): Promise<string[]> {
    const res = await stack.call('GET', `/v1/products/${product}/releases/${release}/changes`);
    expect(res.status, res.text).toBe(200);
    return (res.body.items as { id: string }[]).map((c) => c.id);
  }

  async function releaseHead(product: string, release = 'master'): Promise<string> {
    const res = await stack.call('GET', `/v1/products/${product}/releases/${release}`);
    expect(res.status, res.text).toBe(200);
    return res.body.headSha as string;
  }

  function expectIssueNaming(body: { details?: { issues?: Issue[] } }, field: string): void {
    const issues = body.details?.issues ?? [];
    expect(issues.some((i) => i.path.split('.').includes(field) || i.message.includes(`"${field}"`)), JSON.stringify(issues)).toBe(true);
  }

  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
    await repo.commit({ 'README.md': 'bad input\n' }, 'initial');
    await repo.push();
    await repo.branch('feature');
    await repo.commit({ 'feature.txt': 'feature\n' }, 'a feature', 'feature');
    await repo.push('feature');
    const all = Object.values(names);
    owner = await stack.token('olga', 'owner', all);
    ci = await stack.token('ci-bot', 'ci', all);

    await createProduct(names.pr);
    await createProduct(names.closed);
    await createProduct(names.decide);
    await createProduct(names.cut);
    await createProduct(names.patch, { steps: { test: { argv: ['sh', '-c', 'true'] } } });
    await createProduct(names.deploy, {
      steps: { deploy: { argv: ['sh', '-c', 'echo deploying "$CULVERT_ENVIRONMENT"'] } },
      triggers: [{ on: 'deploy.clicked', run: 'deploy' }],
      environments: [{ name: 'staging', order: 1, production: false }, { name: 'production', order: 2, production: true }],
    });
    await cut(names.pr);
    await cut(names.closed);
    await cut(names.decide);
    await cut(names.deploy, { name: 'master', production: false });
    const closed = await stack.call('POST', `/v1/products/${names.closed}/releases/master/close`, { token: owner });
    expect(closed.status, closed.text).toBe(200);
  });
  afterAll(async () => {
    await stack?.stop();
    await repo?.cleanup();
    for (const alias of aliases) await alias.cleanup();
  });

  describe('request bodies', () => {
    it('malformed JSON is a 400 that says JSON, and creates nothing', async () => {
      const before = await productNames();
      const name = unique('p');
      const res = await stack.call('POST', '/v1/products', { raw: `{"name": "${name}", "repository": ` });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('bad_request');
      expect(res.body.message).toMatch(/JSON/);
      expect(await productNames()).toEqual(before);
    });

    it('a body that is not application/json is a 400 naming the content type', async () => {
      const before = await productNames();
      const res = await stack.call('POST', '/v1/products', {
        raw: JSON.stringify(productBody(unique('p'))), headers: { 'content-type': 'text/plain' },
      });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('bad_request');
      expect(res.body.message).toMatch(/Content-Type: application\/json/);
      expect(await productNames()).toEqual(before);
    });

    it('a missing body where one is required is a 400', async () => {
      const before = await productNames();
      const res = await stack.call('POST', '/v1/products', { headers: { 'content-type': 'application/json' } });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('bad_request');
      expect(await productNames()).toEqual(before);
    });

    it('unknown fields are refused, and the issue names the field', async () => {
      const before = await productNames();
      const name = unique('p');
      const product = await stack.call('POST', '/v1/products', { body: { ...productBody(name), colour: 'blue' } });
      expect(product.status).toBe(400);
      expect(product.body.code).toBe('bad_request');
      expectIssueNaming(product.body, 'colour');

      const nested = await stack.call('POST', '/v1/products', {
        body: productBody(name, { steps: { test: { argv: ['true'], shell: 'bash' } } }),
      });
      expect(nested.status).toBe(400);
      expectIssueNaming(nested.body, 'shell');
      expect(await productNames()).toEqual(before);

      const releases = await stack.call('POST', `/v1/products/${names.cut}/releases`, { token: ci, body: { name: 'r1', branch: 'main' } });
      expect(releases.status).toBe(400);
      expectIssueNaming(releases.body, 'branch');
      const listed = await stack.call('GET', `/v1/products/${names.cut}/releases`);
      expect(listed.body.items).toEqual([]);

      const change = await stack.call('POST', `/v1/products/${names.pr}/releases/master/changes`, {
        token: ci, body: { kind: 'merge', branch: 'feature', force: true },
      });
      expect(change.status).toBe(400);
      expectIssueNaming(change.body, 'force');
      expect(await changeIds(names.pr)).toEqual([]);

      const token = await stack.call('POST', '/v1/tokens', { body: { name: 'eve', role: 'admin', expires: 'never' } });
      expect(token.status).toBe(400);
      expectIssueNaming(token.body, 'expires');
      expect(token.body.secret).toBeUndefined();

      const decision = await stack.call('POST', `/v1/products/${names.pr}/releases/master/changes/decisions`, {
        token: owner, body: { decisions: [{ id: 'x', decision: 'approve', force: true }] },
      });
      expect(decision.status).toBe(400);
      expectIssueNaming(decision.body, 'force');

      const deploy = await stack.call('POST', `/v1/products/${names.deploy}/releases/master/deployments`, {
        token: owner, body: { environment: 'staging', commit: 'HEAD' },
      });
      expect(deploy.status).toBe(400);
      expectIssueNaming(deploy.body, 'commit');
      const envs = await stack.call('GET', `/v1/products/${names.deploy}/environments`);
      expect(envs.body.items.flatMap((e: { history: unknown[] }) => e.history)).toEqual([]);
    });

    it('a body over 1 MiB is a 413 and creates nothing', async () => {
      const before = await productNames();
      const raw = JSON.stringify({ ...productBody(unique('p')), owners: ['x'.repeat(1024 * 1024 + 10)] });
      const res = await stack.call('POST', '/v1/products', { raw });
      expect(res.status).toBe(413);
      expect(res.body.code).toBe('payload_too_large');
      expect(res.body.message).toMatch(/larger than 1048576 bytes/);
      expect(await productNames()).toEqual(before);
    });
  });

  describe('slugs', () => {
    it('a bad slug in a path is a 400 naming the parameter', async () => {
      const product = await stack.call('GET', '/v1/products/Bad_Name!');
      expect(product.status).toBe(400);
      expect(product.body.code).toBe('bad_request');
      expect(product.body.message).toMatch(/invalid product "Bad_Name!"/);

      const release = await stack.call('GET', `/v1/products/${names.pr}/releases/Master..x`);
      expect(release.status).toBe(400);
      expect(release.body.message).toMatch(/invalid release/);

      const beforeChanges = await changeIds(names.pr);
      const change = await stack.call('POST', `/v1/products/${names.pr}/releases/-master/changes`, { token: ci, body: { kind: 'merge', branch: 'feature' } });
      expect(change.status).toBe(400);
      expect(change.body.message).toMatch(/invalid release "-master"/);
      expect(await changeIds(names.pr)).toEqual(beforeChanges);

      const cutBad = await stack.call('POST', '/v1/products/UPPER/releases', { body: { name: 'r1' } });
      expect(cutBad.status).toBe(400);
      expect(cutBad.body.message).toMatch(/invalid product "UPPER"/);
    });

    it('a bad slug in a body is a 400 with the field in details.issues, and creates nothing', async () => {
      const before = await productNames();
      const product = await stack.call('POST', '/v1/products', { body: productBody('Bad_Name!') });
      expect(product.status).toBe(400);
      expect(product.body.code).toBe('bad_request');
      expect(product.body.details.issues).toContainEqual({ path: 'name', message: expect.stringMatching(/slug/) });

      const env = await stack.call('POST', '/v1/products', {
        body: productBody(unique('p'), { environments: [{ name: 'Prod Env', order: 1, production: true }] }),
      });
      expect(env.status).toBe(400);
      expect(env.body.details.issues).toContainEqual({ path: 'environments.0.name', message: expect.stringMatching(/slug/) });
      expect(await productNames()).toEqual(before);

      const release = await stack.call('POST', `/v1/products/${names.cut}/releases`, { token: ci, body: { name: '../etc' } });
      expect(release.status).toBe(400);
      expect(release.body.details.issues).toContainEqual({ path: 'name', message: expect.stringMatching(/slug/) });
      expect((await stack.call('GET', `/v1/products/${names.cut}/releases`)).body.items).toEqual([]);

      const token = await stack.call('POST', '/v1/tokens', { body: { name: 'eve', role: 'owner', products: ['Not A Slug'] } });
      expect(token.status).toBe(400);
      expect(token.body.details.issues).toContainEqual({ path: 'products.0', message: expect.stringMatching(/slug/) });

      const deploy = await stack.call('POST', `/v1/products/${names.deploy}/releases/master/deployments`, { token: owner, body: { environment: '--prod' } });
      expect(deploy.status).toBe(400);
      expect(deploy.body.details.issues).toContainEqual({ path: 'environment', message: expect.stringMatching(/slug/) });
    });
  });

  describe('merge requests', () => {
    it.each(['--upload-pack=x', '../../etc', 'a..b', '-x', 'refs/../x', 'feature branch', 'main~1', 'x:y', 'x.lock', 'feat/.hidden', ''])('branch %j is a 400 and records nothing', async (branch) => {
      const refsBefore = await refs();
      const headBefore = await releaseHead(names.pr);
      const changesBefore = await changeIds(names.pr);
      const res = await stack.call('POST', `/v1/products/${names.pr}/releases/master/changes`, { token: ci, body: { kind: 'merge', branch } });
      expect(res.status, res.text).toBe(400);
      expect(['bad_request', 'invalid_ref']).toContain(res.body.code);
      expect(res.body.message).toMatch(/branch/);
      expect(await changeIds(names.pr)).toEqual(changesBefore);
      expect(await releaseHead(names.pr)).toBe(headBefore);
      expect(await refs()).toBe(refsBefore);
    });

    it('a well-formed branch that does not exist is a 422 unknown_branch and records nothing', async () => {
      const refsBefore = await refs();
      const headBefore = await releaseHead(names.pr);
      const changesBefore = await changeIds(names.pr);
      const res = await stack.call('POST', `/v1/products/${names.pr}/releases/master/changes`, { token: ci, body: { kind: 'merge', branch: 'no-such-branch' } });
      expect(res.status, res.text).toBe(422);
      expect(res.body.code).toBe('unknown_branch');
      expect(res.body.message).toMatch(/no-such-branch/);
      expect(await changeIds(names.pr)).toEqual(changesBefore);
      expect(await releaseHead(names.pr)).toBe(headBefore);
      expect(await refs()).toBe(refsBefore);
    });

    it('an unknown kind is a 400', async () => {
      const res = await stack.call('POST', `/v1/products/${names.pr}/releases/master/changes`, { token: ci, body: { kind: 'rebase', branch: 'feature' } });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('bad_request');
      expect(res.body.details.issues[0].path).toBe('kind');
      expect(await changeIds(names.pr)).toEqual([]);
    });

    it('a change request on a closed release is a 409 release_closed and records nothing', async () => {
      const refsBefore = await refs();
      const res = await stack.call('POST', `/v1/products/${names.closed}/releases/master/changes`, { token: ci, body: { kind: 'merge', branch: 'feature' } });
      expect(res.status, res.text).toBe(409);
      expect(res.body.code).toBe('release_closed');
      expect(res.body.message).toMatch(/closed/);
      expect(await changeIds(names.closed)).toEqual([]);
      expect(await refs()).toBe(refsBefore);
      const release = await stack.call('GET', `/v1/products/${names.closed}/releases/master`);
      expect(release.body.state).toBe('closed');
    });
  });

  describe('cutting releases', () => {
    it('from "--upload-pack=x" is a 400 and cuts nothing', async () => {
      const refsBefore = await refs();
      const res = await stack.call('POST', `/v1/products/${names.cut}/releases`, { token: ci, body: { name: 'master', from: '--upload-pack=x' } });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('bad_request');
      expect(res.body.details.issues).toContainEqual({ path: 'from', message: expect.stringMatching(/branch, a tag or a commit SHA/) });
      expect((await stack.call('GET', `/v1/products/${names.cut}/releases/master`)).status).toBe(404);
      expect(await refs()).toBe(refsBefore);
    });

    it('from an unknown ref is refused, leaves no release, and the same name can be cut afterwards', async () => {
      const refsBefore = await refs();
      for (const from of ['no-such-ref', 'deadbeefdeadbeef']) {
        const res = await stack.call('POST', `/v1/products/${names.cut}/releases`, { token: ci, body: { name: 'master', from } });
        expect(res.status, res.text).toBeGreaterThanOrEqual(400);
        expect(res.body.code).not.toBe('release_exists');
        const missing = await stack.call('GET', `/v1/products/${names.cut}/releases/master`);
        expect(missing.status).toBe(404);
        expect(missing.body.code).toBe('release_not_found');
        expect((await stack.call('GET', `/v1/products/${names.cut}/releases`)).body.items).toEqual([]);
        expect(await refs()).toBe(refsBefore);
      }

      const main = (await git(['rev-parse', 'refs/heads/main'], { cwd: repo.remote })).stdout.trim();
      const again = await cut(names.cut, { name: 'master', from: 'main' });
      expect(again.headSha).toBe(main);
      const listed = await stack.call('GET', `/v1/products/${names.cut}/releases`);
      expect(listed.body.items.map((r: { name: string }) => r.name)).toEqual(['master']);
    });

    it('from an unknown ref is a 422 unknown_commit', async () => {
      const product = unique('p');
      await createProduct(product);
      const res = await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: 'master', from: 'no-such-ref' } });
      expect(res.status, res.text).toBe(422);
      expect(res.body.code).toBe('unknown_commit');
      expect(res.body.message).toMatch(/no-such-ref/);
    });

    it('a second cut of a pull-request product is a 409 release_exists', async () => {
      const headBefore = await releaseHead(names.pr);
      const same = await stack.call('POST', `/v1/products/${names.pr}/releases`, { token: ci, body: { name: 'master' } });
      expect(same.status).toBe(409);
      expect(same.body.code).toBe('release_exists');
      const other = await stack.call('POST', `/v1/products/${names.pr}/releases`, { token: ci, body: { name: 'second' } });
      expect(other.status).toBe(409);
      expect(other.body.code).toBe('release_exists');
      expect(other.body.message).toMatch(/pull-request flow/);
      const listed = await stack.call('GET', `/v1/products/${names.pr}/releases`);
      expect(listed.body.items.map((r: { name: string }) => r.name)).toEqual(['master']);
      expect(await releaseHead(names.pr)).toBe(headBefore);
    });

    it('with Temporal unreachable: a 503 that says so, and no release', async () => {
      const product = unique('down');
      await createProduct(product);
      // No retry interceptor: fail at once instead of after the client's ~20 s of retries.
      const down = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1', interceptors: [] }) });
      const app = createApp({ db: stack.database.db, temporal: { client: down, namespace: 'default', taskQueue: stack.taskQueue, uiUrl: null } });
      const res = await app.request(`/v1/products/${product}/releases`, {
        method: 'POST', headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'master' }),
      });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ code: 'unavailable', message: expect.stringContaining('Temporal is not reachable') });
      expect((await stack.call('GET', `/v1/products/${product}/releases`)).body.items).toEqual([]);
    });

    it('two cuts of a new pull-request product racing under different names: one lands, one is a 409', async () => {
      const product = unique('race');
      await createProduct(product);
      const [a, b] = await Promise.all(['master', 'main-line'].map((name) => stack.call('POST', `/v1/products/${product}/releases`, { body: { name } })));
      expect([a?.status, b?.status].sort(), `${a?.text} ${b?.text}`).toEqual([201, 409]);
      const loser = a?.status === 409 ? a : b;
      expect(loser?.body.code).toBe('release_exists');
      const listed = (await stack.call('GET', `/v1/products/${product}/releases`)).body.items as { name: string }[];
      expect(listed).toHaveLength(1);
      expect(listed[0]?.name).toBe(a?.status === 201 ? 'master' : 'main-line');
      // The loser's workflow gave up rather than living on beside the release.
      const loserId = releaseWorkflowId(product, a?.status === 409 ? 'master' : 'main-line');
      await waitFor('the losing workflow to end', async () => (await stack.client.workflow.getHandle(loserId).describe()).status.name === 'COMPLETED');
    });
  });

  describe('products', () => {
    it('a second product with the same name is a 409 product_exists and keeps the first', async () => {
      const before = await stack.call('GET', `/v1/products/${names.pr}`);
      const res = await stack.call('POST', '/v1/products', { body: productBody(names.pr, { trunk: 'develop', owners: ['mallory'] }) });
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('product_exists');
      expect(res.body.message).toContain(names.pr);
      const after = await stack.call('GET', `/v1/products/${names.pr}`);
      expect(after.body).toEqual(before.body);
    });

    it('a product whose trigger names a missing step is refused at creation', async () => {
      const before = await productNames();
      const res = await stack.call('POST', '/v1/products', {
        body: productBody(unique('p'), { triggers: [{ on: 'change.requested', run: 'test' }] }),
      });
      expect(res.status).toBe(400);
      expect(res.body.details.issues).toContainEqual({ path: 'triggers.0.run', message: 'no step named test' });
      expect(await productNames()).toEqual(before);
    });

    it('PATCH with a trigger naming a missing step is a 400 and leaves the product as it was', async () => {
      const before = await stack.call('GET', `/v1/products/${names.patch}`);
      // Steps and triggers are an admin's to change (test/api-trust.test.ts): the admin's token here.
      const res = await stack.call('PATCH', `/v1/products/${names.patch}`, {
        body: { triggers: [{ on: 'change.requested', run: 'lint' }] },
      });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('bad_request');
      expect(res.body.details.issues).toContainEqual({ path: 'triggers.0.run', message: 'no step named lint' });

      const removing = await stack.call('PATCH', `/v1/products/${names.patch}`, {
        body: { steps: {}, triggers: [{ on: 'change.requested', run: 'test' }] },
      });
      expect(removing.status).toBe(400);
      expect(removing.body.details.issues).toContainEqual({ path: 'triggers.0.run', message: 'no step named test' });

      const renaming = await stack.call('PATCH', `/v1/products/${names.patch}`, { token: owner, body: { name: 'renamed' } });
      expect(renaming.status).toBe(400);
      expectIssueNaming(renaming.body, 'name');

      const after = await stack.call('GET', `/v1/products/${names.patch}`);
      expect(after.body).toEqual(before.body);
    });
  });

  describe('decisions', () => {
    let changeId: string;
    const decisions = () => `/v1/products/${names.decide}/releases/master/changes/decisions`;

    async function stateOf(id: string): Promise<string> {
      const res = await stack.call('GET', `/v1/products/${names.decide}/releases/master/changes/${id}`);
      expect(res.status, res.text).toBe(200);
      return res.body.state as string;
    }

    beforeAll(async () => {
      const res = await stack.call('POST', `/v1/products/${names.decide}/releases/master/changes`, { token: ci, body: { kind: 'merge', branch: 'feature' } });
      expect(res.status, res.text).toBe(201);
      expect(res.body.state).toBe('awaiting-decision');
      changeId = res.body.id as string;
    });

    it('an empty list is a 400', async () => {
      const res = await stack.call('POST', decisions(), { token: owner, body: { decisions: [] } });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('bad_request');
      expect(res.body.details.issues[0].path).toBe('decisions');
      expect(await stateOf(changeId)).toBe('awaiting-decision');
    });

    it('more than 1000 decisions is a 400', async () => {
      const many = Array.from({ length: 1001 }, (_, i) => ({ id: i === 0 ? changeId : `c${i}`, decision: 'approve' }));
      const res = await stack.call('POST', decisions(), { token: owner, body: { decisions: many } });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('bad_request');
      expect(res.body.details.issues[0].path).toBe('decisions');
      expect(await stateOf(changeId)).toBe('awaiting-decision');
    });

    it('the same id twice in one call is a 400 from the workflow validator', async () => {
      const res = await stack.call('POST', decisions(), {
        token: owner, body: { decisions: [{ id: changeId, decision: 'approve' }, { id: changeId, decision: 'reject' }] },
      });
      expect(res.status, res.text).toBe(400);
      expect(res.body.code).toBe('bad_request');
      expect(res.body.message).toBe(`change ${changeId} appears twice in one call`);
      expect(await stateOf(changeId)).toBe('awaiting-decision');
    });

    it('only unknown ids is a 404 change_not_found', async () => {
      const res = await stack.call('POST', decisions(), { token: owner, body: { decisions: [{ id: 'no-such-change', decision: 'approve' }] } });
      expect(res.status, res.text).toBe(404);
      expect(res.body.code).toBe('change_not_found');
      expect(res.body.message).toMatch(/no-such-change/);
      expect(await stateOf(changeId)).toBe('awaiting-decision');

      const one = await stack.call('POST', `/v1/products/${names.decide}/releases/master/changes/no-such-change/decision`, { token: owner, body: { decision: 'reject' } });
      expect(one.status, one.text).toBe(404);
      expect(one.body.code).toBe('change_not_found');
    });

    it('a bad decision value is a 400', async () => {
      const res = await stack.call('POST', decisions(), { token: owner, body: { decisions: [{ id: changeId, decision: 'maybe' }] } });
      expect(res.status).toBe(400);
      expect(res.body.details.issues[0].path).toBe('decisions.0.decision');
      expect(await stateOf(changeId)).toBe('awaiting-decision');
    });

    it('one valid and one unknown id is a 200 with a result per id', async () => {
      const refsBefore = await refs();
      const res = await stack.call('POST', decisions(), {
        token: owner, body: { decisions: [{ id: changeId, decision: 'reject', comment: 'not now' }, { id: 'no-such-change', decision: 'reject' }] },
      });
      expect(res.status, res.text).toBe(200);
      expect(res.body.results).toEqual([
        { id: changeId, ok: true, state: 'rejected' },
        { id: 'no-such-change', ok: false, code: 'change_not_found', message: expect.stringMatching(/no-such-change/) },
      ]);
      const change = await waitFor('the rejection to be recorded', async () => {
        const r = await stack.call('GET', `/v1/products/${names.decide}/releases/master/changes/${changeId}`);
        return r.body.state === 'rejected' ? r.body : undefined;
      });
      expect(change.decisionComment).toBe('not now');
      expect(await changeIds(names.decide)).toEqual([changeId]);
      expect(await refs()).toBe(refsBefore);
    });
  });

  describe('deployments', () => {
    async function history(): Promise<unknown[]> {
      const res = await stack.call('GET', `/v1/products/${names.deploy}/environments`);
      expect(res.status, res.text).toBe(200);
      return (res.body.items as { history: unknown[] }[]).flatMap((e) => e.history);
    }

    it('to an unknown environment is a 422 unknown_environment and records nothing', async () => {
      const res = await stack.call('POST', `/v1/products/${names.deploy}/releases/master/deployments`, { token: owner, body: { environment: 'moon' } });
      expect(res.status).toBe(422);
      expect(res.body.code).toBe('unknown_environment');
      expect(res.body.message).toMatch(/moon/);
      expect(await history()).toEqual([]);
    });

    it('a non-production release to a production environment is a 409 release_not_production and records nothing', async () => {
      const release = await stack.call('GET', `/v1/products/${names.deploy}/releases/master`);
      expect(release.body.production).toBe(false);
      const res = await stack.call('POST', `/v1/products/${names.deploy}/releases/master/deployments`, { token: owner, body: { environment: 'production' } });
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('release_not_production');
      expect(res.body.message).toMatch(/production/);
      expect(await history()).toEqual([]);
      const after = await stack.call('GET', `/v1/products/${names.deploy}/releases/master`);
      expect(after.body.deployments).toEqual([]);
    });
  });
});
