// A unit of work writes its outcome right after its push and the trace of the move follows in an
// activity of its own (issue 9: the API's view follows the push closely). Meanwhile the release's head
// is already the new one, and tracing answers (`where`, notes) wait for the trace instead of
// contradicting the `merged` a caller just read.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';

describe('the trace of a merge follows its outcome', () => {
  let stack: Stack;
  let repo: GitFixture;
  let releaseTrace = (): void => undefined;
  let traceHeld = new Promise<void>((resolve) => {
    releaseTrace = resolve;
  });
  let tracesStarted = 0;

  beforeAll(async () => {
    stack = await startStack({
      faults: {
        around: async (activity, phase) => {
          if (activity !== 'traceRelease' || phase !== 'before') return;
          tracesStarted++;
          await traceHeld;
        },
      },
    });
    repo = await createRemote();
  });
  afterAll(async () => {
    releaseTrace();
    await stack?.stop();
    await repo?.cleanup();
  });

  it('shows merged and the new head at once; where waits for the trace, then agrees', async () => {
    const product = unique('later');
    await repo.commit({ 'README.md': 'later\n' }, 'initial');
    await repo.push();
    await repo.branch('feature');
    const feature = await repo.commit({ 'src/feature.txt': 'feature\n' }, 'the feature', 'feature');
    await repo.push('feature');
    const owner = await stack.token('olivia', 'owner', [product]);
    expect((await stack.call('POST', '/v1/products', {
      body: { name: product, repository: repo.remote, flow: 'pull-request', trunk: 'main', owners: ['olivia'], environments: [{ name: 'production', order: 1, production: true }] },
    })).status).toBe(201);
    expect((await stack.call('POST', `/v1/products/${product}/releases`, { token: owner, body: { name: 'master' } })).status).toBe(201);
    const changes = `/v1/products/${product}/releases/master/changes`;
    const filed = await stack.call('POST', changes, { token: owner, body: { kind: 'merge', branch: 'feature' } });
    expect(filed.status, JSON.stringify(filed.body)).toBe(201);
    expect((await stack.call('POST', `${changes}/${filed.body.id}/decision`, { token: owner, body: { decision: 'approve' } })).status).toBe(200);

    // The trace is held: the request is merged and the release's head moved all the same.
    const merged = await waitFor('the merge', async () => {
      const r = await stack.call('GET', `${changes}/${filed.body.id}`, { token: owner });
      return r.body.state === 'merged' ? r.body : undefined;
    });
    const release = await stack.call('GET', `/v1/products/${product}/releases/master`, { token: owner });
    expect(release.body.headSha).toBe(merged.resultSha);
    await waitFor('the trace to start', async () => tracesStarted > 0);

    // A lookup now waits for the trace rather than answering "in no release".
    let answered = false;
    const lookup = stack.call('GET', `/v1/commits/${feature}`, { token: owner }).finally(() => {
      answered = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(answered, 'the lookup waits while the trace of the merge is held').toBe(false);
    releaseTrace();
    traceHeld = Promise.resolve();
    const where = await lookup;
    expect(where.status, JSON.stringify(where.body)).toBe(200);
    expect(where.body.releases.map((r: { release: string }) => r.release)).toEqual(['master']);
    const again = await stack.call('GET', `/v1/products/${product}/releases/master`, { token: owner });
    expect(again.body.headSha, 'the trace left the head where the outcome put it').toBe(merged.resultSha);
  });
});
