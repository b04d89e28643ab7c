import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import type { ApprovalPolicy } from '../domain/types.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';
import type { Stack } from './helpers/stack.ts';

const terminal = ['rejected', 'merged', 'conflict', 'failed', 'already-present'];
const releaseName = 'stable-1';
const branch = `releases/${releaseName}`;
const trailer = /\(cherry picked from commit ([0-9a-f]{40})\)/g;

// What issue 3 asks of picks beyond the main story: races, policies, dependencies, reverts and bad input.
describe('cherry-pick edges', () => {
  let stack: Stack;
  const repos: GitFixture[] = [];

  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
    for (const r of repos) await r.cleanup();
  });

  interface Rel {
    product: string;
    repo: GitFixture;
    changes: string;
    cutPoint: string;
    trunk: string[];
    /** Owners of the product, and an engineer who may only file requests. */
    alice: string;
    bob: string;
    carol: string;
  }

  const fix = (i: number): Record<string, string> => ({ [`fixes/fix-${i}.txt`]: `fix ${i}\n` });
  const fixes = (n: number): Record<string, string>[] => Array.from({ length: n }, (_, i) => fix(i));

  /** A fresh repository and cherry-pick product, with `releaseName` cut just before the given trunk commits. */
  async function cherryPickRelease(opts: { trunk: Record<string, string>[]; base?: Record<string, string>; approval?: ApprovalPolicy }): Promise<Rel> {
    const repo = await createRemote();
    repos.push(repo);
    const product = unique('edges');
    await repo.commit({ 'README.md': `${product}\n`, ...opts.base }, 'base');
    const cutPoint = await repo.commit({ 'cut.txt': 'cut\n' }, 'the cut point');
    const trunk: string[] = [];
    for (const [i, files] of opts.trunk.entries()) trunk.push(await repo.commit(files, `fix ${i}`));
    await repo.push();
    const created = await stack.call('POST', '/v1/products', {
      body: { name: product, repository: repo.remote, flow: 'cherry-pick', branchTemplate: 'releases/{name}', ...(opts.approval ? { approval: opts.approval } : {}) },
    });
    expect(created.status, created.text).toBe(201);
    const cut = await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: releaseName, from: cutPoint } });
    expect(cut.status, cut.text).toBe(201);
    expect(cut.body.branch).toBe(branch);
    return {
      product, repo, cutPoint, trunk, changes: `/v1/products/${product}/releases/${releaseName}/changes`,
      alice: await stack.token('alice', 'owner', [product]),
      bob: await stack.token('bob', 'owner', [product]),
      carol: await stack.token('carol', 'ci', [product]),
    };
  }

  async function pick(rel: Rel, commits: string[], extra: { token?: string; dependsOn?: string[] } = {}): Promise<string> {
    const res = await stack.call('POST', rel.changes, {
      token: extra.token ?? rel.carol,
      body: { kind: 'pick', commits, reason: `needs ${commits.join(' ')}`, severity: 'normal', ...(extra.dependsOn ? { dependsOn: extra.dependsOn } : {}) },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body.state).toBe('awaiting-decision');
    return res.body.id as string;
  }

  const decide = (rel: Rel, token: string, id: string, decision: 'approve' | 'reject') =>
    stack.call('POST', `${rel.changes}/${id}/decision`, { token, body: { decision } });

  const getChange = async (rel: Rel, id: string) => {
    const res = await stack.call('GET', `${rel.changes}/${id}`);
    expect(res.status, res.text).toBe(200);
    return res.body;
  };

  const settled = (rel: Rel, id: string) => waitFor(`change ${id} to settle`, async () => {
    const body = await getChange(rel, id);
    return terminal.includes(body.state as string) ? body : undefined;
  });

  const total = async (rel: Rel): Promise<number> => (await stack.call('GET', `${rel.changes}?limit=1`)).body.total as number;
  const head = async (rel: Rel): Promise<string> => (await git(['rev-parse', `refs/heads/${branch}`], { cwd: rel.repo.remote })).stdout.trim();
  const fileOnBranch = async (rel: Rel, path: string): Promise<string> => (await git(['show', `refs/heads/${branch}:${path}`], { cwd: rel.repo.remote })).stdout;

  /** The release branch's commits after the cut, oldest first. */
  async function branchCommits(rel: Rel): Promise<{ sha: string; message: string }[]> {
    const out = (await git(['log', '--reverse', '--format=%H%x01%B%x00', `${rel.cutPoint}..refs/heads/${branch}`], { cwd: rel.repo.remote })).stdout;
    return out.split('\0').map((x) => x.trim()).filter(Boolean).map((entry) => {
      const [sha = '', message = ''] = entry.split('\x01');
      return { sha, message };
    });
  }

  /** Origins named by `(cherry picked from commit X)` trailers on the release branch, oldest first. */
  const originsOnBranch = async (rel: Rel): Promise<string[]> =>
    (await branchCommits(rel)).flatMap((c) => [...c.message.matchAll(trailer)].map((m) => m[1] ?? ''));

  it('the same pick approved twice at once is applied once', async () => {
    const rel = await cherryPickRelease({ trunk: fixes(2) });
    const [first, second] = rel.trunk as [string, string];
    const byTwo = await pick(rel, [first]);
    const byOneTwice = await pick(rel, [second]);

    // Two owners approve in parallel: one approval decides, the other finds it already decided.
    const twoOwners = await Promise.all([decide(rel, rel.alice, byTwo, 'approve'), decide(rel, rel.bob, byTwo, 'approve')]);
    expect(twoOwners.map((r) => r.status).sort(), twoOwners.map((r) => r.text).join('\n')).toEqual([200, 409]);
    expect(twoOwners.find((r) => r.status === 409)?.body.code).toBe('change_not_decidable');

    // The same owner sends the same bulk call twice in parallel.
    const body = { decisions: [{ id: byOneTwice, decision: 'approve' }] };
    const twice = await Promise.all([1, 2].map(() => stack.call('POST', `${rel.changes}/decisions`, { token: rel.alice, body })));
    expect(twice.map((r) => r.status).sort(), twice.map((r) => r.text).join('\n')).toEqual([200, 409]);
    expect(twice.find((r) => r.status === 200)?.body.results).toEqual([{ id: byOneTwice, ok: true, state: 'approved' }]);

    expect((await settled(rel, byTwo)).state).toBe('merged');
    expect((await settled(rel, byOneTwice)).state).toBe('merged');
    expect(await originsOnBranch(rel)).toEqual([first, second]);
    expect(await branchCommits(rel)).toHaveLength(2);
  });

  describe('approval policies', () => {
    it('quorum 2 needs two owners, and one pass rejects even after a want', async () => {
      const rel = await cherryPickRelease({ trunk: fixes(2), approval: { rule: 'quorum', quorum: 2 } });
      const [first, second] = rel.trunk as [string, string];
      const wanted = await pick(rel, [first]);
      const passed = await pick(rel, [second]);
      const before = await head(rel);

      const one = await decide(rel, rel.alice, wanted, 'approve');
      expect(one.status, one.text).toBe(200);
      expect(one.body).toMatchObject({ state: 'awaiting-decision', wantedBy: ['alice'] });
      // The same owner wanting it again is still one owner.
      const again = await decide(rel, rel.alice, wanted, 'approve');
      expect(again.status, again.text).toBe(200);
      expect(again.body).toMatchObject({ state: 'awaiting-decision', wantedBy: ['alice'] });
      expect(await head(rel)).toBe(before);

      const two = await decide(rel, rel.bob, wanted, 'approve');
      expect(two.status, two.text).toBe(200);
      const merged = await settled(rel, wanted);
      expect(merged).toMatchObject({ state: 'merged', decidedBy: 'bob' });
      expect(merged.wantedBy.sort()).toEqual(['alice', 'bob']);

      expect((await decide(rel, rel.alice, passed, 'approve')).body.state).toBe('awaiting-decision');
      const pass = await decide(rel, rel.bob, passed, 'reject');
      expect(pass.status, pass.text).toBe(200);
      expect(pass.body).toMatchObject({ state: 'rejected', wantedBy: ['alice'], passedBy: ['bob'] });
      expect(await originsOnBranch(rel)).toEqual([first]);
    });

    it("excludeRequester: the requester's own vote is a 422 own_vote_excluded and counts for nothing", async () => {
      const rel = await cherryPickRelease({ trunk: fixes(1), approval: { rule: 'any-owner', excludeRequester: true } });
      const id = await pick(rel, [rel.trunk[0] as string], { token: rel.alice });
      const before = await head(rel);

      const own = await decide(rel, rel.alice, id, 'approve');
      expect(own.status, own.text).toBe(422);
      expect(own.body.code).toBe('own_vote_excluded');
      const bulk = await stack.call('POST', `${rel.changes}/decisions`, { token: rel.alice, body: { decisions: [{ id, decision: 'approve' }] } });
      expect(bulk.status, bulk.text).toBe(422);
      expect(bulk.body.code).toBe('own_vote_excluded');
      expect(await getChange(rel, id)).toMatchObject({ state: 'awaiting-decision', votes: [] });
      expect(await head(rel)).toBe(before);

      expect((await decide(rel, rel.bob, id, 'approve')).status).toBe(200);
      expect(await settled(rel, id)).toMatchObject({ state: 'merged', decidedBy: 'bob', wantedBy: ['bob'] });
    });

    it('any-owner: one pass rejects, even after a want of a pick still waiting to apply', async () => {
      const rel = await cherryPickRelease({ trunk: fixes(3) });
      const [first, second, third] = rel.trunk as [string, string, string];
      const dependency = await pick(rel, [first]);
      const waiting = await pick(rel, [second], { dependsOn: [dependency] });
      const plain = await pick(rel, [third]);

      // Wanted, so approved; it waits for its dependency, and a pass meanwhile takes it back out.
      const want = await decide(rel, rel.alice, waiting, 'approve');
      expect(want.status, want.text).toBe(200);
      expect(want.body.state).toBe('approved');
      const pass = await decide(rel, rel.bob, waiting, 'reject');
      expect(pass.status, pass.text).toBe(200);
      expect(pass.body).toMatchObject({ state: 'rejected', wantedBy: ['alice'], passedBy: ['bob'] });

      // A pass first is final: a later want cannot undo it.
      expect((await decide(rel, rel.bob, plain, 'reject')).body.state).toBe('rejected');
      const late = await decide(rel, rel.alice, plain, 'approve');
      expect(late.status, late.text).toBe(409);
      expect(late.body.code).toBe('change_not_decidable');

      expect((await decide(rel, rel.alice, dependency, 'approve')).status).toBe(200);
      expect((await settled(rel, dependency)).state).toBe('merged');
      expect(await originsOnBranch(rel)).toEqual([first]);
      expect((await getChange(rel, waiting)).state).toBe('rejected');
    });
  });

  describe('dependencies', () => {
    it('a dependent pick lands after what it depends on, fails when that is rejected, and an unknown dependency is a 422', async () => {
      const rel = await cherryPickRelease({ trunk: fixes(4) });
      const [c0, c1, c2, c3] = rel.trunk as [string, string, string, string];

      // c0 comes first on trunk, but its request depends on the request for c1.
      const later = await pick(rel, [c1]);
      const dependent = await pick(rel, [c0], { dependsOn: [later] });
      const both = await stack.call('POST', `${rel.changes}/decisions`, {
        token: rel.alice, body: { decisions: [{ id: dependent, decision: 'approve' }, { id: later, decision: 'approve' }] },
      });
      expect(both.status, both.text).toBe(200);
      expect((await settled(rel, dependent)).state).toBe('merged');
      expect((await settled(rel, later)).state).toBe('merged');
      expect(await originsOnBranch(rel)).toEqual([c1, c0]);

      const refused = await pick(rel, [c2]);
      const orphan = await pick(rel, [c3], { dependsOn: [refused] });
      const mixed = await stack.call('POST', `${rel.changes}/decisions`, {
        token: rel.alice, body: { decisions: [{ id: orphan, decision: 'approve' }, { id: refused, decision: 'reject' }] },
      });
      expect(mixed.status, mixed.text).toBe(200);
      const failed = await settled(rel, orphan);
      expect(failed.state).toBe('failed');
      expect(failed.history.at(-1).note).toBe(`depends on ${refused}, which ended rejected`);
      expect(await originsOnBranch(rel)).toEqual([c1, c0]);

      const count = await total(rel);
      const before = await head(rel);
      const ghost = randomUUID();
      const unknown = await stack.call('POST', rel.changes, {
        token: rel.carol, body: { kind: 'pick', commits: [c3], reason: 'needs a ghost', severity: 'normal', dependsOn: [ghost] },
      });
      expect(unknown.status, unknown.text).toBe(422);
      expect(unknown.body.code).toBe('dependency_unknown');
      expect(unknown.body.message).toContain(ghost);
      expect(await total(rel)).toBe(count);
      expect(await head(rel)).toBe(before);
    });
  });

  describe('picks from any line', () => {
    it('picks a fix kept on an older line, and finds a hand backport with the same patch already there (as git cherry does)', async () => {
      const rel = await cherryPickRelease({ trunk: [fix(0), { 'shared.txt': 'the fix\n' }] });
      const [, onTrunk] = rel.trunk as [string, string];
      // The older line keeps its own fixes: one only there, and the trunk fix backported by hand (same diff, no trailer).
      await rel.repo.branch('maint-1', rel.cutPoint);
      const onlyOld = await rel.repo.commit({ 'old-line.txt': 'only on the old line\n' }, 'a fix kept on the old line', 'maint-1');
      const byHand = await rel.repo.commit({ 'shared.txt': 'the fix\n' }, 'backport: the fix, by hand', 'maint-1');
      await rel.repo.push('maint-1');
      await git(['checkout', '--quiet', 'main'], { cwd: rel.repo.work });

      const picked = await pick(rel, [byHand, onlyOld]);
      const filed = await getChange(rel, picked);
      // In the order of their own history, not trunk's.
      expect(filed.commits).toEqual([onlyOld, byHand]);
      expect((await decide(rel, rel.alice, picked, 'approve')).status).toBe(200);
      expect((await settled(rel, picked)).state).toBe('merged');
      expect(await fileOnBranch(rel, 'old-line.txt')).toBe('only on the old line\n');
      const landed = (await branchCommits(rel)).find((c) => c.message.includes(`cherry picked from commit ${byHand}`))?.sha as string;

      // The trunk commit's patch is in the release under another SHA: already present, naming it.
      const again = await stack.call('POST', rel.changes, { token: rel.carol, body: { kind: 'pick', commits: [onTrunk], reason: 'the fix', severity: 'normal' } });
      expect(again.status, again.text).toBe(200);
      expect(again.body.state).toBe('already-present');
      const history = (await getChange(rel, again.body.id as string)).history as { note?: string }[];
      expect(history.at(-1)?.note).toContain(`the same patch as ${landed.slice(0, 12)}`);
    });
  });

  describe('reverts', () => {
    it('a merged pick is reverted by a trailered revert commit; reverting what is not merged is a 409', async () => {
      const rel = await cherryPickRelease({ base: { 'config.txt': 'old\n' }, trunk: [{ 'config.txt': 'new\n' }, fix(1)] });
      const [change, other] = rel.trunk as [string, string];
      const picked = await pick(rel, [change]);
      expect((await decide(rel, rel.alice, picked, 'approve')).status).toBe(200);
      const merged = await settled(rel, picked);
      expect(merged.state).toBe('merged');
      expect(await fileOnBranch(rel, 'config.txt')).toBe('new\n');

      // "Was this commit already requested?": the list finds a request by a SHA of its commits (full or
      // abbreviated), its result's, or a word of a commit's subject, as well as its reason.
      const subject = (merged.commitDetails as { subject: string }[])[0]?.subject as string;
      for (const q of [change, change.slice(0, 8).toUpperCase(), merged.resultSha.slice(0, 10), subject.slice(1, -1)]) {
        const found = await stack.call('GET', `${rel.changes}?q=${encodeURIComponent(q)}`, { token: rel.carol });
        expect([q, found.status, found.body.items.map((x: { id: string }) => x.id)]).toEqual([q, 200, [picked]]);
      }
      expect((await stack.call('GET', `${rel.changes}?q=${'f'.repeat(12)}`, { token: rel.carol })).body.total).toBe(0);

      // A revert names its target by id or, as people and the CLI do, by #seq.
      const unknownSeq = await stack.call('POST', rel.changes, { token: rel.carol, body: { kind: 'revert', revertOf: '#999', reason: 'no such' } });
      expect([unknownSeq.status, unknownSeq.body.code, unknownSeq.body.message]).toEqual([404, 'change_not_found', expect.stringContaining('#999')]);
      const revert = await stack.call('POST', rel.changes, { token: rel.carol, body: { kind: 'revert', revertOf: `#${merged.seq as number}`, reason: 'broke the config' } });
      expect(revert.status, revert.text).toBe(201);
      expect(revert.body).toMatchObject({ kind: 'revert', revertOf: picked, state: 'awaiting-decision' });
      expect((await decide(rel, rel.alice, revert.body.id as string, 'approve')).status).toBe(200);
      const reverted = await settled(rel, revert.body.id as string);
      expect(reverted.state).toBe('merged');

      const commits = await branchCommits(rel);
      expect(commits).toHaveLength(2);
      const last = commits.at(-1);
      expect(last?.sha).toBe(reverted.resultSha);
      expect(last?.sha).toBe(await head(rel));
      expect(last?.message).toContain(`This reverts commit ${merged.resultSha}.`);
      expect(last?.message).toMatch(new RegExp(`^Culvert-Reverts: ${picked}$`, 'm'));
      expect(await fileOnBranch(rel, 'config.txt')).toBe('old\n');

      // Neither a pick still awaiting a decision nor an unknown id can be reverted.
      const pending = await pick(rel, [other]);
      const count = await total(rel);
      const before = await head(rel);
      for (const revertOf of [pending, randomUUID()]) {
        const res = await stack.call('POST', rel.changes, { token: rel.carol, body: { kind: 'revert', revertOf, reason: 'take it out' } });
        expect(res.status, res.text).toBe(409);
        expect(res.body.code).toBe('change_not_decidable');
        expect(res.body.message).toContain(revertOf);
      }
      expect(await total(rel)).toBe(count);
      expect(await head(rel)).toBe(before);
      expect((await getChange(rel, pending)).state).toBe('awaiting-decision');
    });
  });

  describe('bad input', () => {
    let rel: Rel;
    let other: Rel;
    let pending: string;
    let otherPending: string;
    let sideCommit: string;
    let count: number;
    let before: string;

    beforeAll(async () => {
      rel = await cherryPickRelease({ trunk: fixes(2) });
      other = await cherryPickRelease({ trunk: fixes(1) });
      await rel.repo.branch('side', rel.cutPoint);
      sideCommit = await rel.repo.commit({ 'side.txt': 'side\n' }, 'only on a side branch', 'side');
      await rel.repo.push('side');
      await git(['checkout', '--quiet', 'main'], { cwd: rel.repo.work });
      pending = await pick(rel, [rel.trunk[0] as string]);
      otherPending = await pick(other, [other.trunk[0] as string]);
      count = await total(rel);
      before = await head(rel);
    });

    /** Nothing of a refused request is recorded and the branch has not moved. */
    async function nothingChanged(): Promise<void> {
      expect(await total(rel)).toBe(count);
      expect(await head(rel)).toBe(before);
      expect((await getChange(rel, pending)).state).toBe('awaiting-decision');
    }

    const filePick = (commits: string[], extra: Record<string, unknown> = {}) =>
      stack.call('POST', rel.changes, { token: rel.carol, body: { kind: 'pick', commits, reason: 'bad input', severity: 'normal', ...extra } });

    it('an unknown commit is a 422 unknown_commit naming it', async () => {
      const missing = 'deadbeef'.repeat(5);
      const res = await filePick([rel.trunk[1] as string, missing]);
      expect(res.status, res.text).toBe(422);
      expect(res.body.code).toBe('unknown_commit');
      expect(res.body.message).toContain(missing);
      expect(res.body.details).toMatchObject({ commit: missing });
      await nothingChanged();
    });

    it('a commit on no branch of the repository (its branch deleted) is a 422 commit_not_on_a_branch naming it', async () => {
      // The mirror still has it from when its branch existed; git knows it, no branch holds it.
      await git(['push', '--quiet', 'origin', '--delete', 'side'], { cwd: rel.repo.work });
      const res = await filePick([sideCommit]);
      expect(res.status, res.text).toBe(422);
      expect(res.body.code).toBe('commit_not_on_a_branch');
      expect(res.body.message).toContain(sideCommit);
      await nothingChanged();
    });

    it('malformed SHAs are a 400', async () => {
      for (const bad of ['xyz', '--all', 'abc']) {
        const res = await filePick([bad]);
        expect(res.status, `${bad}: ${res.text}`).toBe(400);
        expect(res.body.code).toBe('bad_request');
      }
      await nothingChanged();
    });

    it('an ambiguous abbreviation is a 400 ambiguous_commit', async () => {
      // Empty commits on trunk until two commits share their first four hex digits.
      const byPrefix = new Map<string, string>();
      let pair: [string, string] | undefined;
      for (let round = 0; round < 8 && !pair; round++) {
        const tip = (await git(['rev-parse', 'refs/heads/main'], { cwd: rel.repo.work })).stdout.trim();
        let stream = '';
        for (let i = 0; i < 256; i++) {
          const message = `filler ${round}.${i}\n`;
          stream += `commit refs/heads/main\ncommitter T <t@example.com> ${1_700_000_000 + round * 256 + i} +0000\ndata ${Buffer.byteLength(message)}\n${message}`;
          if (i === 0) stream += `from ${tip}\n`;
          stream += '\n';
        }
        await git(['fast-import', '--quiet'], { cwd: rel.repo.work, input: stream });
        const all = (await git(['rev-list', 'main'], { cwd: rel.repo.work })).stdout.split('\n').filter(Boolean);
        for (const sha of all) {
          const seen = byPrefix.get(sha.slice(0, 4));
          if (seen && seen !== sha) {
            pair = [seen, sha];
            break;
          }
          byPrefix.set(sha.slice(0, 4), sha);
        }
      }
      expect(pair, 'no two commits shared a 4-digit prefix').toBeDefined();
      const [a, b] = pair as [string, string];
      await rel.repo.push();

      const prefix = a.slice(0, 4);
      const res = await filePick([prefix]);
      expect(res.status, res.text).toBe(400);
      expect(res.body.code).toBe('ambiguous_commit');
      expect(res.body.message).toContain(prefix);
      expect(res.body.details.candidates).toEqual(expect.arrayContaining([a, b]));
      await nothingChanged();
    });

    it('10,000 ids in one decision call is a 400', async () => {
      const decisions = Array.from({ length: 10_000 }, (_, i) => ({ id: i === 0 ? pending : randomUUID(), decision: 'approve' }));
      const res = await stack.call('POST', `${rel.changes}/decisions`, { token: rel.alice, body: { decisions } });
      expect(res.status, res.text.slice(0, 500)).toBe(400);
      expect(res.body.code).toBe('bad_request');
      expect(res.body.details.issues[0].path).toBe('decisions');
      await nothingChanged();
    });

    it("decisions on another product's requests are change_not_found per id, and change nothing there", async () => {
      const both = await stack.token('olga', 'owner', [rel.product, other.product]);
      const only = await stack.call('POST', `${rel.changes}/decisions`, { token: both, body: { decisions: [{ id: otherPending, decision: 'approve' }] } });
      expect(only.status, only.text).toBe(404);
      expect(only.body.code).toBe('change_not_found');
      const single = await stack.call('POST', `${rel.changes}/${otherPending}/decision`, { token: both, body: { decision: 'reject' } });
      expect(single.status, single.text).toBe(404);
      expect(single.body.code).toBe('change_not_found');

      // Mixed with one of this release's own: that one is decided, the foreign one is not found.
      const mixed = await stack.call('POST', `${other.changes}/decisions`, {
        token: both, body: { decisions: [{ id: pending, decision: 'reject' }, { id: otherPending, decision: 'reject' }] },
      });
      expect(mixed.status, mixed.text).toBe(200);
      expect(mixed.body.results).toEqual([
        { id: pending, ok: false, code: 'change_not_found', message: expect.stringContaining(pending) },
        { id: otherPending, ok: true, state: 'rejected' },
      ]);
      await nothingChanged();
    });

    it('an unknown severity is a 400', async () => {
      const res = await filePick([rel.trunk[1] as string], { severity: 'whenever' });
      expect(res.status, res.text).toBe(400);
      expect(res.body.code).toBe('unknown_severity');
      expect(res.body.message).toContain('whenever');
      await nothingChanged();
    });

    it('a pick on a pull-request product is a 422 flow_mismatch', async () => {
      const product = unique('edges-pr');
      const created = await stack.call('POST', '/v1/products', { body: { name: product, repository: rel.repo.remote, flow: 'pull-request' } });
      expect(created.status, created.text).toBe(201);
      const cut = await stack.call('POST', `/v1/products/${product}/releases`, { body: {} });
      expect(cut.status, cut.text).toBe(201);
      const changes = `/v1/products/${product}/releases/${cut.body.name}/changes`;
      const trunkBefore = (await git(['rev-parse', 'refs/heads/main'], { cwd: rel.repo.remote })).stdout.trim();
      const res = await stack.call('POST', changes, { body: { kind: 'pick', commits: [rel.trunk[1]], reason: 'wrong flow', severity: 'normal' } });
      expect(res.status, res.text).toBe(422);
      expect(res.body.code).toBe('flow_mismatch');
      expect((await stack.call('GET', `${changes}?limit=1`)).body.total).toBe(0);
      expect((await git(['rev-parse', 'refs/heads/main'], { cwd: rel.repo.remote })).stdout.trim()).toBe(trunkBefore);
      await nothingChanged();
    });
  });
});
