import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';
import type { Stack } from './helpers/stack.ts';
import { callResending } from './helpers/resend.ts';

const picks = 200;

// The Phabricator story of DESIGN.md section 1: stable releases, hundreds of pick requests triaged in bulk.
describe('cherry-pick flow', () => {
  let stack: Stack;
  const repos: GitFixture[] = [];

  beforeAll(async () => {
    stack = await startStack();
    for (let i = 0; i < 3; i++) repos.push(await createRemote());
  });
  afterAll(async () => {
    await stack?.stop();
    for (const r of repos) await r.cleanup();
  });

  const gitIn = async (dir: string, args: string[]): Promise<string> => (await git(args, { cwd: dir })).stdout.trim();

  it('files 200 picks, triages them in one call, applies the approved ones in trunk order, closes, and cuts the next release on schedule', async () => {
    const [repo, repo2, repo3] = repos as [GitFixture, GitFixture, GitFixture];
    const template = unique('phab-stable');
    const names = [unique('phabricator'), unique('arcanist'), unique('libphutil')] as const;
    const owner = await stack.token('epriestley', 'owner', [...names]);
    const engineer = await stack.token('chad', 'ci', [...names]);

    // Trunk: a base, the cut point, then 200 commits to pick (fix 20 needs fix 10, which stays unpicked).
    await repo.commit({ 'shared.txt': 'a\n', 'README.md': 'phabricator\n' }, 'base');
    const cutPoint = await repo.commit({ 'before-cut.txt': 'x\n' }, 'before the cut');
    const trunk: string[] = [];
    for (let i = 0; i < picks; i++) {
      const files: Record<string, string> = i === 10 ? { 'shared.txt': 'b\n' } : i === 20 ? { 'shared.txt': 'c\n' } : { [`fixes/fix-${i}.txt`]: `fix ${i}\n` };
      trunk.push(await repo.commit(files, `fix ${i}`));
    }
    await repo.push();
    for (const r of [repo2, repo3]) {
      await r.commit({ 'README.md': 'other\n' }, 'base');
      await r.push();
    }

    // One configuration, three products.
    const tpl = await stack.call('POST', '/v1/templates', {
      body: {
        name: template, flow: 'cherry-pick', trunk: 'main', branchTemplate: 'stable/{name}', nameTemplate: 'w{gggg}-{ww}',
        steps: { build: { argv: ['sh', '-c', 'ls fixes | wc -l'] } },
        triggers: [{ on: 'release.updated', run: 'build', environment: 'stable' }],
        environments: [{ name: 'stable', order: 1, production: false }],
        approval: { rule: 'any-owner' },
      },
    });
    expect(tpl.status, tpl.text).toBe(201);
    for (const [i, r] of [repo, repo2, repo3].entries()) {
      const created = await stack.call('POST', '/v1/products', { body: { name: names[i], repository: r.remote, template } });
      expect(created.status, created.text).toBe(201);
      expect(created.body.flow).toBe('cherry-pick');
      expect(created.body.steps.build.argv[0]).toBe('sh');
    }
    const patched = await stack.call('PATCH', `/v1/templates/${template}`, { body: { severities: ['hotfix', 'release', 'normal', 'wishlist'] } });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body.products.sort()).toEqual([...names].sort());
    expect((await stack.call('GET', `/v1/products/${names[2]}`)).body.severities).toContain('wishlist');

    const product = names[0];
    const cut = await stack.call('POST', `/v1/products/${product}/releases`, { token: engineer, body: { name: 'stable-1', from: cutPoint } });
    expect(cut.status, cut.text).toBe(201);
    expect(cut.body).toMatchObject({ branch: 'stable/stable-1', cutFrom: cutPoint, headSha: cutPoint });
    expect(await gitIn(repo.remote, ['rev-parse', 'refs/heads/stable/stable-1'])).toBe(cutPoint);
    const changes = `/v1/products/${product}/releases/stable-1/changes`;

    const severities = ['hotfix', 'release', 'normal'];
    const ids: string[] = [];
    for (let start = 0; start < picks; start += 25) {
      // As CI files: each request under its own Idempotency-Key, sent again when answered 503.
      const filed = await Promise.all(trunk.slice(start, start + 25).map((sha, k) => callResending(stack, 'POST', changes, {
        token: engineer, headers: { 'idempotency-key': `${product}-fix-${start + k}` },
        body: { kind: 'pick', commits: [sha.slice(0, 10)], reason: `backport fix ${start + k}${(start + k) % 7 === 0 ? ' security' : ''}`, severity: severities[(start + k) % 3] },
      })));
      for (const r of filed) expect(r.status, r.text).toBe(201);
      ids.push(...filed.map((r) => r.body.id as string));
    }

    // Triage view: filters, text search, trunk order, and what an owner needs to decide.
    const security = await stack.call('GET', `${changes}?q=security&severity=hotfix&sort=trunk&limit=5`, { token: owner });
    expect(security.status, security.text).toBe(200);
    expect(security.body.items.length).toBeGreaterThan(0);
    for (const item of security.body.items) {
      expect(item.reason).toContain('security');
      expect(item.severity).toBe('hotfix');
      expect(item.commitDetails[0]).toMatchObject({ author: 'T <t@example.com>', files: 1, insertions: 1 });
      expect(item.diff.files).toBe(1);
    }
    const orders = security.body.items.map((c: { trunkOrder: number }) => c.trunkOrder);
    expect(orders).toEqual([...orders].sort((a, b) => a - b));
    const page2 = await stack.call('GET', `${changes}?limit=50&offset=50&sort=trunk`, { token: owner });
    expect(page2.body.total).toBe(picks);
    expect(page2.body.items[0].commits[0]).toBe(trunk[50]);

    // 150 approved (including fix 20, which needs fix 10's change to shared.txt) and 50 rejected, in one call.
    const approve = new Set(ids.filter((_, i) => i % 4 !== 3 && i !== 10));
    approve.add(ids[23] as string);
    const rejected = ids.filter((id) => !approve.has(id));
    const decisions = ids.map((id) => ({ id, decision: approve.has(id) ? 'approve' : 'reject', comment: approve.has(id) ? undefined : 'not for stable' }));
    expect(approve.size).toBe(150);
    const decided = await stack.call('POST', `${changes}/decisions`, { token: owner, body: { decisions } });
    expect(decided.status, decided.text).toBe(200);
    expect(decided.body.results).toHaveLength(picks);
    expect(decided.body.results.every((r: { ok: boolean }) => r.ok)).toBe(true);

    await waitFor('every approved pick to settle', async () => {
      const r = await stack.call('GET', `${changes}?state=merged,conflict&limit=1`, { token: owner });
      return r.body.total === 150;
    }, 180_000);
    const conflict = await stack.call('GET', `${changes}/${ids[20]}`, { token: owner });
    expect(conflict.body.state).toBe('conflict');
    expect(conflict.body.conflictPaths).toEqual(['shared.txt']);
    expect((await stack.call('GET', `${changes}?state=merged&limit=1`)).body.total).toBe(149);
    expect((await stack.call('GET', `${changes}?state=rejected&limit=1`)).body.total).toBe(rejected.length);

    // On the remote: 149 picks in trunk order, each with its origin trailer.
    const branchLog = (await gitIn(repo.remote, ['log', '--reverse', '--format=%H%x01%B%x00', `${cutPoint}..refs/heads/stable/stable-1`]))
      .split('\0').map((x) => x.trim()).filter(Boolean);
    expect(branchLog).toHaveLength(149);
    const origins = branchLog.map((entry) => /\(cherry picked from commit ([0-9a-f]{40})\)/.exec(entry)?.[1]);
    const expectedOrigins = trunk.filter((_, i) => approve.has(ids[i] as string) && i !== 20);
    expect(origins).toEqual(expectedOrigins);
    const stableHead = await gitIn(repo.remote, ['rev-parse', 'refs/heads/stable/stable-1']);
    const release = await stack.call('GET', `/v1/products/${product}/releases/stable-1`);
    expect(release.body.headSha).toBe(stableHead);

    // Picking something already there is answered as such, never applied twice.
    const again = await stack.call('POST', changes, { token: engineer, body: { kind: 'pick', commits: [trunk[0]], reason: 'again', severity: 'normal' } });
    expect(again.status, again.text).toBe(200);
    expect(again.body.state).toBe('already-present');
    const old = await stack.call('POST', changes, { token: engineer, body: { kind: 'pick', commits: [cutPoint], reason: 'before the cut', severity: 'normal' } });
    expect(old.body.state).toBe('already-present');
    expect(await gitIn(repo.remote, ['rev-parse', 'refs/heads/stable/stable-1'])).toBe(stableHead);

    // A weekly schedule cuts the next release from trunk and closes this one.
    const schedule = await stack.call('POST', `/v1/products/${product}/schedules`, { token: owner, body: { every: '7d', closePrevious: true, paused: true } });
    expect(schedule.status, schedule.text).toBe(201);
    expect(schedule.body.paused).toBe(true);
    expect((await stack.call('GET', `/v1/products/${product}/schedules`, { token: owner })).body.items).toHaveLength(1);
    const triggered = await stack.call('POST', `/v1/products/${product}/schedules/trigger`, { token: owner });
    expect(triggered.status, triggered.text).toBe(200);
    const next = await waitFor('the scheduled cut', async () => {
      const r = await stack.call('GET', `/v1/products/${product}/releases`);
      return r.body.items.find((x: { name: string }) => x.name !== 'stable-1');
    });
    expect(next.name).toMatch(/^w\d{4}-\d{2}$/);
    expect(next.cutFrom).toBe(trunk.at(-1));
    expect(await gitIn(repo.remote, ['rev-parse', `refs/heads/${next.branch}`])).toBe(trunk.at(-1));
    await waitFor('the previous release closed', async () =>
      (await stack.call('GET', `/v1/products/${product}/releases/stable-1`)).body.state === 'closed');

    // A closed release accepts nothing.
    const late = await stack.call('POST', changes, { token: engineer, body: { kind: 'pick', commits: [trunk[3]], reason: 'late', severity: 'normal' } });
    expect(late.status).toBe(409);
    expect(late.body.code).toBe('release_closed');
    expect(late.body.message).toContain(`${product}/stable-1`);
    await stack.call('POST', `/v1/products/${product}/schedules/pause`, { token: owner });
    }, 300_000);
});
