import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import { testContinueAsNewThreshold } from './global-setup.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';
import type { Stack } from './helpers/stack.ts';
import { callResending } from './helpers/resend.ts';

const requests = 200;

// The dev server of this test run suggests continue-as-new after a few events (global-setup.ts), so a
// release that takes hundreds of merge requests crosses many runs; none may be lost or repeated.
describe('a long-lived release across continue-as-new', () => {
  let stack: Stack;
  let repo: GitFixture;

  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
  });
  afterAll(async () => {
    await stack?.stop();
    await repo?.cleanup();
  });

  it(`takes ${requests} merge requests over several runs, losing and repeating none`, async () => {
    expect(testContinueAsNewThreshold).toBeLessThan(500);
    const product = unique('busy');
    await repo.commit({ 'README.md': 'busy\n' }, 'initial');
    const branches: string[] = [];
    for (let i = 0; i < requests; i++) {
      const name = `f${i}`;
      await repo.branch(name);
      await repo.commit({ [`features/${name}.txt`]: `${i}\n` }, `feature ${i}`, name);
      branches.push(name);
    }
    await git(['push', '--quiet', '--all', 'origin'], { cwd: repo.work });

    expect((await stack.call('POST', '/v1/products', { body: { name: product, repository: repo.remote, flow: 'pull-request' } })).status).toBe(201);
    expect((await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: 'master' } })).status).toBe(201);
    const changes = `/v1/products/${product}/releases/master/changes`;

    // File in waves and approve while earlier approvals are still merging; every request is sent
    // twice with the same idempotency key, so dedupe is exercised across runs too.
    const ids: string[] = [];
    for (let wave = 0; wave < requests; wave += 40) {
      const filed = await Promise.all(branches.slice(wave, wave + 40).flatMap((branch) => [0, 1].map(() =>
        callResending(stack, 'POST', changes, { body: { kind: 'merge', branch }, headers: { 'idempotency-key': `${product}-${branch}` } }))));
      for (const r of filed) expect(r.status, r.text).toBe(201);
      const waveIds = [...new Set(filed.map((r) => r.body.id as string))];
      expect(waveIds).toHaveLength(Math.min(40, requests - wave));
      ids.push(...waveIds);
      const decided = await stack.call('POST', `${changes}/decisions`, { body: { decisions: waveIds.map((id) => ({ id, decision: 'approve' })) } });
      expect(decided.status, decided.text).toBe(200);
      expect(decided.body.results.every((r: { ok: boolean }) => r.ok)).toBe(true);
    }

    await waitFor('every request merged', async () => {
      const r = await stack.call('GET', `${changes}?state=merged&limit=1`);
      return r.body.total === requests;
    }, 300_000);

    const log = (await git(['log', '--format=%H %P%n%B%x00', 'main'], { cwd: repo.remote })).stdout;
    const trailers = [...log.matchAll(/Culvert-Change: (\S+)/g)].map((m) => m[1]);
    expect(trailers).toHaveLength(requests);
    expect(new Set(trailers)).toEqual(new Set(ids));
    const files = (await git(['ls-tree', '-r', '--name-only', 'main', '--', 'features'], { cwd: repo.remote })).stdout.split('\n').filter(Boolean);
    expect(files).toHaveLength(requests);

    const all = await stack.call('GET', `${changes}?limit=1000`);
    expect(all.body.total).toBe(requests);
    expect(new Set(all.body.items.map((c: { seq: number }) => c.seq)).size).toBe(requests);

    let runs = 0;
    for await (const _ of stack.client.workflow.list({ query: `WorkflowId = "culvert/${product}/master"` })) runs++;
    expect(runs).toBeGreaterThan(2);
    }, 300_000);
});
