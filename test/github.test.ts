import { randomUUID } from 'node:crypto';
import { sign } from '@octokit/webhooks-methods';
import examples from '@octokit/webhooks-examples';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getDelivery } from '../db/repos/github.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startGithubMock } from './helpers/github-mock.ts';
import type { GithubMock } from './helpers/github-mock.ts';
import { githubWebhookSecret, startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';

// GitHub's payloads, read and edited loosely as the tests need them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

/** GitHub's own example of an event (@octokit/webhooks-examples), as a fresh copy. */
function example(event: string, action?: string): Json {
  const found = (examples as unknown as { name: string; examples: Json[] }[]).find((e) => e.name === event)?.examples.find((x) => action === undefined || x.action === action);
  if (!found) throw new Error(`no example of ${event} ${action ?? ''}`);
  return structuredClone(found);
}

// Issue 14: a product backed by "GitHub": webhooks in (signed, each delivery once), Culvert's operations
// as the GitHub users they name, and commit statuses out, every request checked against GitHub's own
// OpenAPI description.
describe('GitHub', () => {
  let stack: Stack;
  let github: GithubMock;
  let shop: GitFixture;
  let app: GitFixture;

  beforeAll(async () => {
    process.env.CULVERT_SECRET_GH_TOKEN = 'ghp_culvert_test_token';
    [stack, github, shop, app] = await Promise.all([startStack(), startGithubMock(), createRemote(), createRemote()]);
  });
  afterAll(async () => {
    await stack?.stop();
    await github?.close();
    await shop?.cleanup();
    await app?.cleanup();
  });

  const deliver = async (event: string, payload: Json, o: { id?: string; secret?: string } = {}) => {
    const id = o.id ?? randomUUID();
    const body = JSON.stringify(payload);
    const res = await stack.app.request('/v1/github/webhooks', {
      method: 'POST', body,
      headers: { 'content-type': 'application/json', 'x-github-event': event, 'x-github-delivery': id, 'x-hub-signature-256': await sign(o.secret ?? githubWebhookSecret, body) },
    });
    return { id, status: res.status, body: await res.json() as Json };
  };
  const handled = (id: string) => waitFor(`delivery ${id} handled`, async () => {
    const row = await getDelivery(stack.database.db, id);
    return row?.handledAt ? row : undefined;
  });
  const backing = (repository: string) => ({ repository, baseUrl: github.baseUrl, auth: { token: { secret: 'GH_TOKEN' } } });

  it('files a pull request as a merge request, posts its statuses, counts an owner\'s approving review, and merges; redeliveries change nothing', async () => {
    const product = unique('shop');
    const repository = `octo-org/${product}`;
    await shop.commit({ 'README.md': 'shop\n' }, 'initial');
    await shop.push();
    await shop.branch('feature');
    const head = await shop.commit({ 'feature.txt': 'new\n' }, 'a feature', 'feature');
    await shop.push('feature');
    const made = await stack.call('POST', '/v1/products', {
      body: {
        name: product, repository: shop.remote, flow: 'pull-request', trunk: 'main', owners: ['olivia'], approval: { rule: 'any-owner', excludeRequester: true }, github: backing(repository),
        steps: { test: { argv: ['true'] }, deploy: { argv: ['true'] } }, environments: [{ name: 'staging', order: 1, production: false }],
        triggers: [{ on: 'change.requested', run: 'test' }, { on: 'deploy.clicked', run: 'deploy' }],
      },
    });
    expect(made.status, made.text).toBe(201);
    expect((await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: 'main' } })).status).toBe(201);
    const changes = `/v1/products/${product}/releases/main/changes`;

    const opened = example('pull_request', 'opened');
    opened.repository.full_name = repository;
    Object.assign(opened.pull_request, { number: 7, draft: false, state: 'open', merged: false, user: { ...opened.pull_request.user, login: 'dana' } });
    Object.assign(opened.pull_request.head, { ref: 'feature', sha: head, repo: { ...opened.pull_request.head.repo, full_name: repository } });
    opened.pull_request.base.ref = 'main';

    // A wrong signature, a missing one: 401, and nothing is kept or filed.
    const forged = await deliver('pull_request', opened, { secret: 'not-the-secret' });
    expect(forged.status).toBe(401);
    expect(forged.body.code).toBe('unauthorized');
    expect(await getDelivery(stack.database.db, forged.id)).toBeUndefined();
    const unsigned = await stack.app.request('/v1/github/webhooks', { method: 'POST', body: JSON.stringify(opened), headers: { 'x-github-event': 'pull_request', 'x-github-delivery': randomUUID() } });
    expect(unsigned.status).toBe(401);
    expect((await stack.call('GET', changes)).body.items).toEqual([]);
    expect((await deliver('ping', example('ping'))).status).toBe(200);
    // Signed but not a webhook: 400, nothing kept.
    const signedPost = async (raw: string, headers: Record<string, string>) => (await stack.app.request('/v1/github/webhooks', {
      method: 'POST', body: raw, headers: { 'x-hub-signature-256': await sign(githubWebhookSecret, raw), ...headers },
    })).status;
    expect(await signedPost('not json', { 'x-github-event': 'push', 'x-github-delivery': randomUUID() })).toBe(400);
    expect(await signedPost('{}', { 'x-github-event': 'push', 'x-github-delivery': 'no spaces allowed' })).toBe(400);
    expect(await signedPost('{}', { 'x-github-delivery': randomUUID() })).toBe(400);
    expect(await signedPost(JSON.stringify({ repository: 'not an object' }), { 'x-github-event': 'push', 'x-github-delivery': randomUUID() })).toBe(400);

    const first = await deliver('pull_request', opened);
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    expect(first.body.workflowId).toBe(`culvert-github/${first.id}`);
    const filed = await waitFor('the merge request', async () => (await stack.call('GET', changes)).body.items[0]);
    expect(filed).toMatchObject({ kind: 'merge', branch: 'feature', requester: 'dana', sourceSha: head });
    const row = await handled(first.id);
    expect(row.outcomes).toEqual([expect.objectContaining({ product, ok: true, changeId: filed.id, did: expect.stringContaining('pull request #7') })]);
    // GitHub shows what Culvert thinks: its check passed, and the request awaits an owner's decision.
    await waitFor('the check status', async () => github.statuses.get(head)?.some((s) => s.context === 'culvert/check' && s.state === 'success'));
    await waitFor('the approval status', async () => github.statuses.get(head)?.some((s) => s.context === 'culvert/approval' && s.state === 'pending' && /awaits an owner/.test(s.description ?? '')));

    // GitHub redelivers: the same delivery is answered from what it did; a new delivery of the same head files nothing new.
    const again = await deliver('pull_request', opened, { id: first.id });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ duplicate: true, outcomes: row.outcomes });
    await handled((await deliver('pull_request', { ...opened, action: 'synchronize' })).id);
    expect((await stack.call('GET', changes)).body.items).toHaveLength(1);

    // A review by someone who is not an owner is no vote; an owner's approving review is.
    const review = (by: string) => {
      const r = example('pull_request_review', 'submitted');
      r.repository.full_name = repository;
      r.pull_request = { ...opened.pull_request };
      r.review = { ...r.review, state: 'approved', user: { ...r.review.user, login: by } };
      return r;
    };
    const stranger = await handled((await deliver('pull_request_review', review('mallory'))).id);
    expect(stranger.outcomes?.[0]?.did).toContain('not an owner');
    expect((await stack.call('GET', `${changes}/${filed.id}`)).body.state).toBe('awaiting-decision');
    const approved = await handled((await deliver('pull_request_review', review('olivia'))).id);
    expect(approved.outcomes?.[0]).toMatchObject({ ok: true, changeId: filed.id });
    const merged = await waitFor('the merge', async () => {
      const c = await stack.call('GET', `${changes}/${filed.id}`);
      return c.body.state === 'merged' ? c.body : undefined;
    });
    expect(merged.decidedBy).toBe('olivia');
    await waitFor('the merged status', async () => github.statuses.get(head)?.some((s) => s.context === 'culvert/approval' && s.state === 'success' && /merged by Culvert/.test(s.description ?? '')));
    // Each status once: the follower reads GitHub's before it posts.
    const approvals = (github.statuses.get(head) ?? []).filter((s) => s.context === 'culvert/approval').map((s) => `${s.state}:${s.description}`);
    expect(new Set(approvals).size).toBe(approvals.length);

    // A deployment shows on GitHub as a Deployment of that commit to that environment, its status following Culvert's.
    const deployed = await stack.call('POST', `/v1/products/${product}/releases/main/deployments`, { body: { environment: 'staging' } });
    expect(deployed.status, deployed.text).toBe(202);
    const mirrored = await waitFor('the GitHub deployment to succeed', async () => {
      const d = github.deployments.find((x) => (x.payload as { culvert?: string }).culvert === deployed.body.deploymentId);
      return d && d.statuses.at(-1) === 'success' ? d : undefined;
    });
    expect(mirrored).toMatchObject({ sha: merged.resultSha, environment: 'staging' });
    // (A status per state it saw: a quick deployment may be seen only once it ended.)
    expect(mirrored.statuses.every((x) => ['queued', 'in_progress', 'success'].includes(x))).toBe(true);
    expect(new Set(mirrored.statuses).size).toBe(mirrored.statuses.length);
    expect(github.deployments.filter((x) => (x.payload as { culvert?: string }).culvert === deployed.body.deploymentId)).toHaveLength(1);

    // A push to trunk refreshes its index at once.
    const push = example('push');
    Object.assign(push, { ref: 'refs/heads/main', after: merged.resultSha, repository: { ...push.repository, full_name: repository } });
    const pushed = await handled((await deliver('push', push)).id);
    expect(pushed.outcomes?.[0]?.did).toContain('index refreshed');

    // Everything Culvert sent GitHub was a request GitHub's description allows, with the token it was given.
    expect(github.violations).toEqual([]);
    expect(github.calls.length).toBeGreaterThanOrEqual(4);
    expect(new Set(github.calls.map((c) => c.authorization))).toEqual(new Set(['token ghp_culvert_test_token']));
    expect(new Set(github.calls.map((c) => c.operationId))).toEqual(new Set([
      'repos/list-commit-statuses-for-ref', 'repos/create-commit-status',
      'repos/list-deployments', 'repos/create-deployment', 'repos/list-deployment-statuses', 'repos/create-deployment-status',
    ]));
    // And the contract bites: a status GitHub does not know is refused.
    expect(github.check('POST', `/repos/${repository}/statuses/${head}`, { state: 'bogus', context: 'culvert/check' }).valid).toBe(false);
  });

  it('files a pick of a merged pull request labelled pick:<release>, as the labeller; other labels do nothing', async () => {
    const product = unique('app');
    const repository = `octo-org/${product}`;
    await app.commit({ 'README.md': 'app\n' }, 'initial');
    await app.push();
    const made = await stack.call('POST', '/v1/products', {
      body: { name: product, repository: app.remote, flow: 'cherry-pick', trunk: 'main', owners: ['olivia'], github: { ...backing(repository), pickLabel: 'pick:{release}' } },
    });
    expect(made.status, made.text).toBe(201);
    expect((await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: 'stable' } })).status).toBe(201);
    const fix = await app.commit({ 'fix.txt': 'fix\n' }, 'Merge pull request #12: fix the crash');
    await app.push();

    const labelled = (name: string) => {
      const l = example('pull_request', 'labeled');
      l.repository.full_name = repository;
      Object.assign(l.pull_request, { number: 12, state: 'closed', merged: true, merge_commit_sha: fix, html_url: `https://github.com/${repository}/pull/12` });
      l.label = { ...l.label, name };
      l.sender = { ...l.sender, login: 'rita' };
      return l;
    };
    const other = await handled((await deliver('pull_request', labelled('bug'))).id);
    expect(other.outcomes?.[0]?.did).toContain('not a pick label');
    const picked = await handled((await deliver('pull_request', labelled('pick:stable'))).id);
    expect(picked.outcomes?.[0], JSON.stringify(picked.outcomes)).toMatchObject({ ok: true });
    const items = (await stack.call('GET', `/v1/products/${product}/releases/stable/changes`)).body.items as Json[];
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ kind: 'pick', commits: [fix], requester: 'rita', reason: expect.stringContaining(`https://github.com/${repository}/pull/12`) });
    // Approved and picked: the pull request is told, once.
    const owner = await stack.token('olivia', 'owner', [product]);
    const changes = `/v1/products/${product}/releases/stable/changes`;
    expect((await stack.call('POST', `${changes}/${items[0]?.id}/decision`, { token: owner, body: { decision: 'approve' } })).status).toBe(200);
    const told = await waitFor('the comment on #12', async () => github.comments.get('12')?.[0]);
    const merged = (await stack.call('GET', `${changes}/${items[0]?.id}`)).body;
    expect(merged.state).toBe('merged');
    expect(told.body).toContain(`Culvert picked this pull request into \`stable\` as ${String(merged.resultSha).slice(0, 12)}`);
    // The label sent again (a new delivery) files nothing new (the pick is keyed by the pull request and
    // release), and its follower finds the comment already there.
    await handled((await deliver('pull_request', labelled('pick:stable'))).id);
    await stack.client.workflow.getHandle(`culvert-github-pick/${product}/stable/12`).result();
    expect((await stack.call('GET', changes)).body.items).toHaveLength(1);
    expect(github.comments.get('12')).toHaveLength(1);
    // A label naming a release that does not exist is an outcome, not a fault.
    const missing = await handled((await deliver('pull_request', labelled('pick:nope'))).id);
    expect(missing.outcomes?.[0]).toMatchObject({ ok: false });
    expect(github.violations).toEqual([]);
  });

  it('lets a Culvert gate (any 2 of 3) decide a GitHub deployment to production, and answers GitHub once it is decided', async () => {
    const product = unique('guarded');
    const repository = `octo-org/${product}`;
    const made = await stack.call('POST', '/v1/products', {
      body: {
        name: product, repository: app.remote, flow: 'cherry-pick', trunk: 'main', owners: ['olivia', 'rita', 'sam'], github: backing(repository),
        environments: [{ name: 'production', order: 1, production: true, gate: { group: ['olivia', 'rita', 'sam'], quorum: 2 } }],
      },
    });
    expect(made.status, made.text).toBe(201);
    const [olivia, rita] = [await stack.token('olivia', 'owner', [product]), await stack.token('rita', 'owner', [product])];

    // GitHub's deployment_protection_rule event: webhooks-examples has none, so it is made from the parts of
    // its examples and checked against the event's schema in GitHub's own description.
    const run = 4242;
    const sample = example('deployment', 'created');
    const asked = {
      action: 'requested', environment: 'production', event: 'workflow_dispatch', sha: sample.deployment.sha, ref: 'main',
      deployment_callback_url: `${github.baseUrl}/repos/${repository}/actions/runs/${run}/deployment_protection_rule`,
      deployment: sample.deployment, repository: { ...sample.repository, full_name: repository }, sender: sample.sender, installation: { id: 1, node_id: 'MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ==' },
    };
    await github.loadWebhook('webhook-deployment-protection-rule-requested');
    expect(github.checkWebhook('webhook-deployment-protection-rule-requested', asked)).toMatchObject({ valid: true });
    expect(github.checkWebhook('webhook-deployment-protection-rule-requested', { ...asked, action: 'approved' }).valid).toBe(false);

    const delivery = await deliver('deployment_protection_rule', asked);
    expect(delivery.status).toBe(202);
    const row = await handled(delivery.id);
    expect(row.outcomes?.[0]).toMatchObject({ ok: true, did: expect.stringContaining('decides GitHub\'s deployment') });
    const gateId = `${product}/github/${delivery.id}`;
    const answered = () => github.calls.filter((c) => c.operationId === 'actions/review-custom-gates-for-run' && c.path.includes(`/runs/${run}/`));
    const vote = async (token: string) => {
      const r = await stack.call('POST', `/v1/approvals/${encodeURIComponent(gateId)}`, { token, body: { decision: 'approve' } });
      expect(r.status, r.text).toBe(200);
    };
    await waitFor('the gate', async () => (await stack.call('GET', `/v1/approvals?product=${product}`)).body.items?.find((a: Json) => a.id === gateId));
    await vote(olivia);
    expect(answered()).toEqual([]);
    await vote(rita);
    await waitFor('GitHub answered', async () => answered().length === 1 || undefined);
    expect(answered()[0]?.body).toEqual({ environment_name: 'production', state: 'approved', comment: 'Culvert: the gate of production ended approved' });
    await stack.client.workflow.getHandle(`culvert-github-gate/${delivery.id}`).result();
    expect(answered()).toHaveLength(1);
    // A callback elsewhere than the product's GitHub API is not answered (the token goes nowhere else).
    const elsewhere = await handled((await deliver('deployment_protection_rule', { ...asked, deployment_callback_url: `https://attacker.example/repos/${repository}/actions/runs/1/deployment_protection_rule` })).id);
    expect(elsewhere.outcomes?.[0]).toMatchObject({ ok: false, did: expect.stringContaining('not on') });
    expect(github.violations).toEqual([]);
  });

  it('publishes a binary release on GitHub: tagged at its commit, Culvert\'s notes since the release before, the final build\'s artifacts as assets', async () => {
    const product = unique('boxed');
    const repository = `octo-org/${product}`;
    const box = await createRemote();
    try {
      await box.commit({ 'src/app.c': 'int main() { return 0; }\n' }, 'the app');
      await box.push();
      const made = await stack.call('POST', '/v1/products', {
        body: {
          name: product, repository: box.remote, flow: 'binary', trunk: 'main', owners: ['olivia'], github: backing(repository),
          steps: {
            build: { argv: ['sh', '-c', 'mkdir -p dist && cat src/*.c > "dist/app-$CULVERT_VERSION.bin"'] },
            publish: { argv: ['true'] },
          },
          triggers: [{ on: 'release.final', run: 'publish', environment: 'production' }],
          environments: [{ name: 'production', order: 1, production: true }],
          artifacts: [{ name: 'app', path: 'dist/app-*.bin' }],
        },
      });
      expect(made.status, made.text).toBe(201);
      const publish = async (name: string) => {
        expect((await stack.call('POST', `/v1/products/${product}/releases`, { body: { name } })).status).toBe(201);
        expect((await stack.call('POST', `/v1/products/${product}/releases/${name}/freeze`)).status).toBe(200);
        return waitFor(`GitHub release ${name}`, async () => {
          const r = github.releases.find((x) => x.tag_name === name);
          return r && r.assets.length > 0 ? r : undefined;
        }, 120_000);
      };
      const first = await publish('1.0');
      expect(first.body).toContain('the first release');
      await box.commit({ 'src/fix.c': 'int fix;\n' }, 'fix the crash on start');
      await box.push();
      const second = await publish('1.1');
      const head = (await stack.call('GET', `/v1/products/${product}/releases/1.1`)).body.headSha;
      expect(second).toMatchObject({ target_commitish: head, name: `${product} 1.1` });
      expect(second.body).toContain('since 1.0');
      expect(second.body).toContain('fix the crash on start');
      expect(second.assets).toEqual([{ name: 'app', size: 'int main() { return 0; }\nint fix;\n'.length }]);
      expect(github.releases.filter((x) => x.tag_name === '1.1')).toHaveLength(1);
      // Each build is shown on the commit it built: pending, then success.
      await waitFor('the final build\'s status', async () => github.statuses.get(head)?.some((s) => s.context === 'culvert/build' && s.state === 'success' && s.description === '1.1: built'));
      expect(github.statuses.get(head)?.filter((s) => s.context === 'culvert/build').map((s) => s.state)).toContain('pending');
      expect(github.violations).toEqual([]);
    } finally {
      await box.cleanup();
    }
  });
});
