import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';
import { culvertDataConverter } from '../cli/temporal-connection.ts';
import { testCodec } from './helpers/codec.ts';
import type { Stack } from './helpers/stack.ts';

// The "Backend Server" story of DESIGN.md section 1, over HTTP, on a real dev server and real git.
describe('pull-request flow', () => {
  let stack: Stack;
  let repo: GitFixture;
  let outDir: string;

  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
    outDir = await mkdtemp(join(tmpdir(), 'culvert-deploys-'));
  });
  afterAll(async () => {
    await stack?.stop();
    await repo?.cleanup();
    await rm(outDir, { recursive: true, force: true });
  });

  it('tests, approves, merges without a working tree, deploys, and keeps the database and the API in agreement', async () => {
    const product = unique('backend');
    const other = unique('other');
    await repo.commit({ 'README.md': 'backend\n', 'src/app.txt': 'v1\n' }, 'initial');
    await repo.push();
    await repo.branch('feature-good');
    await repo.commit({ 'src/feature.txt': 'good feature\n' }, 'good feature', 'feature-good');
    await repo.push('feature-good');
    await repo.branch('feature-bad');
    await repo.commit({ BROKEN: 'this makes the tests fail\n' }, 'bad feature', 'feature-bad');
    await repo.push('feature-bad');
    const deployLog = join(outDir, 'deploys.log');

    const owner = await stack.token('olivia', 'owner', [product]);
    const otherOwner = await stack.token('oscar', 'owner', [other]);
    const ci = await stack.token('ci-bot', 'ci', [product]);

    const created = await stack.call('POST', '/v1/products', {
      body: {
        name: product, repository: repo.remote, flow: 'pull-request', trunk: 'main', owners: ['olivia'],
        steps: {
          test: { argv: ['sh', '-c', 'echo running tests; test ! -e BROKEN'], timeoutSeconds: 60 },
          deploy: { argv: ['sh', '-c', 'echo "$CULVERT_ENVIRONMENT $CULVERT_COMMIT" >> "$DEPLOY_LOG"'], env: { DEPLOY_LOG: deployLog } },
        },
        triggers: [
          { on: 'change.requested', run: 'test' },
          { on: 'release.updated', run: 'deploy', environment: 'production' },
          { on: 'deploy.clicked', run: 'deploy' },
        ],
        environments: [{ name: 'staging', order: 2, production: false }, { name: 'production', order: 3, production: true }],
      },
    });
    expect(created.status, created.text).toBe(201);

    const cut = await stack.call('POST', `/v1/products/${product}/releases`, { token: ci, body: { name: 'master' } });
    expect(cut.status, cut.text).toBe(201);
    expect(cut.body.branch).toBe('main');
    expect(cut.body.temporalUrl).toContain(encodeURIComponent(`culvert/${product}/master`));
    const base = cut.body.headSha as string;
    const changes = `/v1/products/${product}/releases/master/changes`;

    const good = await stack.call('POST', changes, { token: ci, body: { kind: 'merge', branch: 'feature-good' } });
    const bad = await stack.call('POST', changes, { token: ci, body: { kind: 'merge', branch: 'feature-bad' } });
    expect(good.status, good.text).toBe(201);
    expect(bad.status, bad.text).toBe(201);
    expect(good.body.state).toBe('checking');
    // Its real diff, from the merge base (issue 11: it was always 0/0/0), and its tip's subject and author.
    expect(good.body.diff).toEqual({ files: 1, insertions: 1, deletions: 0 });
    expect(good.body.commitDetails).toMatchObject([{ subject: 'good feature', paths: ['src/feature.txt'] }]);
    expect(bad.body.diff).toEqual({ files: 1, insertions: 1, deletions: 0 });

    const settled = async (id: string) => waitFor(`checks of ${id}`, async () => {
      const r = await stack.call('GET', `${changes}/${id}`, { token: ci });
      return r.body.state === 'awaiting-decision' ? r.body : undefined;
    });
    const goodChecked = await settled(good.body.id);
    const badChecked = await settled(bad.body.id);
    expect(goodChecked.check).toBe('passed');
    expect(badChecked.check).toBe('failed');
    expect(goodChecked.checks[0]).toMatchObject({ step: 'test', state: 'succeeded' });
    expect(badChecked.checks[0]).toMatchObject({ step: 'test', state: 'failed', exitCode: 1 });
    const log = await stack.call('GET', `/v1/runs/${goodChecked.checkRunId}/log`, { token: ci });
    expect(log.text).toContain('running tests');

    // Who may decide: not CI, not the owner of another product.
    const byCi = await stack.call('POST', `${changes}/${good.body.id}/decision`, { token: ci, body: { decision: 'approve' } });
    expect(byCi.status).toBe(403);
    const byOther = await stack.call('POST', `${changes}/decisions`, { token: otherOwner, body: { decisions: [{ id: good.body.id, decision: 'approve' }] } });
    expect(byOther.status).toBe(403);

    const refused = await stack.call('POST', `${changes}/${bad.body.id}/decision`, { token: owner, body: { decision: 'approve' } });
    expect(refused.status, refused.text).toBe(422);
    expect(refused.body.code).toBe('checks_failed');

    // A client holding revision `rev` long-polls for a newer one instead of polling: woken by the write
    // (db/feed.ts), each answer newer than the last, until merged. Started before the approval.
    const watched: string[] = [];
    const watch = (async () => {
      let rev = goodChecked.rev as number;
      for (;;) {
        const r = await stack.call('GET', `${changes}/${good.body.id}?after=${rev}&wait=60`, { token: ci });
        expect(r.status, r.text).toBe(200);
        expect(r.body.rev, 'a long poll answered before its wait ran out with nothing newer').toBeGreaterThan(rev);
        rev = r.body.rev;
        watched.push(r.body.state);
        if (r.body.state === 'merged') return r.body;
      }
    })();
    // Nothing newer: answered with the change as it is when the wait runs out.
    const unchanged = await stack.call('GET', `${changes}/${bad.body.id}?after=${badChecked.rev}&wait=0.05`, { token: ci });
    expect(unchanged.status, unchanged.text).toBe(200);
    expect(unchanged.body.rev).toBe(badChecked.rev);
    expect((await stack.call('GET', `${changes}/${bad.body.id}?after=-1`, { token: ci })).body.code).toBe('bad_request');
    expect((await stack.call('GET', `${changes}/${bad.body.id}?after=1&wait=61`, { token: ci })).status).toBe(400);
    expect((await stack.call('GET', `${changes}/nope?after=1&wait=1`, { token: ci })).status).toBe(404);

    const approved = await stack.call('POST', `${changes}/${good.body.id}/decision`, { token: owner, body: { decision: 'approve', comment: 'ship it' } });
    expect(approved.status, approved.text).toBe(200);

    const merged = await watch;
    expect(watched.at(-1)).toBe('merged');
    const remoteHead = (await git(['rev-parse', 'refs/heads/main'], { cwd: repo.remote })).stdout.trim();
    expect(merged.resultSha).toBe(remoteHead);
    const parents = (await git(['rev-list', '--parents', '-n', '1', remoteHead], { cwd: repo.remote })).stdout.trim().split(' ').slice(1);
    expect(parents).toEqual([base, goodChecked.sourceSha]);
    const message = (await git(['log', '-1', '--format=%B', remoteHead], { cwd: repo.remote })).stdout;
    expect(message).toContain(`Culvert-Change: ${good.body.id}`);
    const files = (await git(['ls-tree', '-r', '--name-only', remoteHead], { cwd: repo.remote })).stdout.split('\n');
    expect(files).toContain('src/feature.txt');
    expect(files).not.toContain('BROKEN');

    // release.updated deployed the merge to production.
    const envs = await waitFor('the production deployment', async () => {
      const r = await stack.call('GET', `/v1/products/${product}/environments`, { token: ci });
      const prod = r.body.items.find((e: { name: string }) => e.name === 'production');
      return prod?.current?.commitSha === remoteHead ? r.body : undefined;
    });
    expect(envs.items.find((e: { name: string }) => e.name === 'staging').current).toBeNull();
    expect(await readFile(deployLog, 'utf8')).toContain(`production ${remoteHead}`);

    // Deploy click to staging.
    const click = await stack.call('POST', `/v1/products/${product}/releases/master/deployments`, { token: owner, body: { environment: 'staging' } });
    expect(click.status, click.text).toBe(202);
    await waitFor('the staging deployment', async () => {
      const r = await stack.call('GET', `/v1/products/${product}/environments`, { token: ci });
      return r.body.items.find((e: { name: string }) => e.name === 'staging')?.current?.deploymentId === click.body.deploymentId;
    });
    expect(await readFile(deployLog, 'utf8')).toContain(`staging ${remoteHead}`);

    // The database and the API agree with git.
    const release = await stack.call('GET', `/v1/products/${product}/releases/master`, { token: ci });
    expect(release.body.headSha).toBe(remoteHead);
    expect(release.body.changes.map((c: { state: string }) => c.state).sort()).toEqual(['awaiting-decision', 'merged']);
    expect(release.body.deployments).toHaveLength(2);
    const list = await stack.call('GET', `${changes}?state=merged`, { token: ci });
    expect(list.body.items.map((c: { id: string }) => c.id)).toEqual([good.body.id]);

    // The workflow code replays its own history deterministically.
    const history = await stack.client.workflow.getHandle(`culvert/${product}/master`).fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') }, dataConverter: culvertDataConverter(testCodec()) }, history);

    // Releases are findable by search attribute in Temporal.
    await waitFor('the release in Temporal visibility', async () => {
      for await (const wf of stack.client.workflow.list({ query: `CulvertProduct = "${product}" AND CulvertRelease = "master"` })) {
        return wf.workflowId === `culvert/${product}/master`;
      }
      return false;
    });
  });
});
