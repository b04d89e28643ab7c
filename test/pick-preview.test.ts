import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import { upsertChanges } from '../db/repos/changes.ts';
import { previewsOf } from '../db/repos/pick-previews.ts';
import { previewWorkflowId } from '../domain/types.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';

const releaseName = 'stable-1';
const branch = `releases/${releaseName}`;

interface Applies { state: string; head: string; paths?: string[]; presentSha?: string; detail?: string }
interface Item { id: string; state: string; applies?: Applies }

// "Does this pick apply?" before anyone approves it: the change list answers it for every undecided pick
// on the release's current head, worked out by the worker without touching the remote, and again when
// the head moves.
describe('pick previews', () => {
  let stack: Stack;
  const repos: GitFixture[] = [];

  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
    for (const r of repos) await r.cleanup();
  });

  /** A fresh repository and cherry-pick product with `releaseName` cut just before the given trunk commits. */
  async function release(trunkCommits: Record<string, string>[]) {
    const repo = await createRemote();
    repos.push(repo);
    const product = unique('preview');
    await repo.commit({ 'README.md': `${product}\n`, 'shared.txt': 'one\ntwo\nthree\n' }, 'base');
    const cutPoint = await repo.commit({ 'cut.txt': 'cut\n' }, 'the cut point');
    const trunk: string[] = [];
    for (const [i, files] of trunkCommits.entries()) trunk.push(await repo.commit(files, `trunk ${i}`));
    await repo.push();
    const created = await stack.call('POST', '/v1/products', { body: { name: product, repository: repo.remote, flow: 'cherry-pick', branchTemplate: 'releases/{name}' } });
    expect(created.status, created.text).toBe(201);
    const cut = await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: releaseName, from: cutPoint } });
    expect(cut.status, cut.text).toBe(201);
    expect(cut.body.branch).toBe(branch);
    const owner = await stack.token('olga', 'owner', [product]);
    const ci = await stack.token('ci', 'ci', [product]);
    return { product, repo, cutPoint, trunk, owner, ci, changes: `/v1/products/${product}/releases/${releaseName}/changes` };
  }
  type Rel = Awaited<ReturnType<typeof release>>;

  async function pick(rel: Rel, commits: string[]): Promise<string> {
    const res = await stack.call('POST', rel.changes, { token: rel.ci, body: { kind: 'pick', commits, reason: `needs ${commits.join(' ')}`, severity: 'normal' } });
    expect(res.status, res.text).toBe(201);
    expect(res.body.state).toBe('awaiting-decision');
    return res.body.id as string;
  }

  async function list(rel: Rel): Promise<Map<string, Item>> {
    const res = await stack.call('GET', `${rel.changes}?limit=100&applies=true`, { token: rel.ci });
    expect(res.status, res.text).toBe(200);
    return new Map((res.body.items as Item[]).map((x) => [x.id, x]));
  }

  /** The list once every one of `ids` has an answer on `head` (polled: each reading may start the preview). */
  const answered = (rel: Rel, ids: string[], head: string) => waitFor(`answers on ${head.slice(0, 12)}`, async () => {
    const items = await list(rel);
    return ids.every((id) => items.get(id)?.applies?.head === head && items.get(id)?.applies?.state !== 'pending') ? items : undefined;
  });

  const releaseHead = async (rel: Rel): Promise<string> => (await stack.call('GET', `/v1/products/${rel.product}/releases/${releaseName}`)).body.headSha as string;
  /** Every ref of the remote with its commit: a preview must leave them as they are. */
  const remoteRefs = async (rel: Rel): Promise<string> => (await git(['for-each-ref', '--format=%(refname) %(objectname)'], { cwd: rel.repo.remote })).stdout;

  const settled = (rel: Rel, id: string, state: string) => waitFor(`change ${id} to be ${state}`, async () => {
    const res = await stack.call('GET', `${rel.changes}/${id}`);
    return res.body.state === state ? res.body : undefined;
  });

  it('answers applies, conflicts and already-present on the current head, and again when the head moves', async () => {
    const rel = await release([
      { 'first.txt': 'first\n' }, // 0: lands first, through Culvert
      { 'clean.txt': 'clean\n' }, // 1: applies
      { 'shared.txt': 'one\nTRUNK\nthree\n' }, // 2: conflicts once the release changes the same line
      { 'dup.txt': 'the fix\n' }, // 3: backported by hand under another SHA
      { 'multi.txt': 'a\n' }, // 4 and 5: one request, applied in order (5 alone edits a file the release lacks)
      { 'multi.txt': 'a\nb\n' },
    ]);
    const [t0, t1, t2, t3, t4, t5] = rel.trunk as [string, string, string, string, string, string];
    const first = await pick(rel, [t0]);
    const clean = await pick(rel, [t1]);
    const conflicting = await pick(rel, [t2]);
    const present = await pick(rel, [t3]);
    const twoCommits = await pick(rel, [t4, t5]);
    const undecided = [first, clean, conflicting, present, twoCommits];

    // On the cut: all of them apply. The first reading answers `pending` (or already the answer) for the cut.
    // Only asked for: a plain list (CI polling it) neither shows nor starts previews.
    const plain = await stack.call('GET', `${rel.changes}?limit=100`, { token: rel.ci });
    expect((plain.body.items as Item[]).map((x) => x.applies)).toEqual(undecided.map(() => undefined));
    const refsAtCut = await remoteRefs(rel);
    const firstReading = await list(rel);
    for (const id of undecided) {
      expect(firstReading.get(id)?.applies?.head).toBe(rel.cutPoint);
      expect(['pending', 'applies']).toContain(firstReading.get(id)?.applies?.state);
    }
    const onCut = await answered(rel, undecided, rel.cutPoint);
    for (const id of undecided) expect(onCut.get(id)?.applies?.state).toBe('applies');
    expect(onCut.get(clean)?.applies?.paths).toEqual(['clean.txt']);
    expect(onCut.get(twoCommits)?.applies?.paths).toEqual(['multi.txt']);
    expect(await remoteRefs(rel)).toBe(refsAtCut);

    // The release's maintainers change shared.txt on the branch and backport trunk 3 by hand (same
    // patch, no trailer); Culvert adopts their head when it next moves the branch: the first pick lands.
    await rel.repo.branch(branch, rel.cutPoint);
    await rel.repo.commit({ 'shared.txt': 'one\nRELEASE\nthree\n' }, 'release-only wording', branch);
    const byHand = await rel.repo.commit({ 'dup.txt': 'the fix\n' }, 'backport the fix by hand', branch);
    await rel.repo.push(branch);
    await git(['checkout', '--quiet', 'main'], { cwd: rel.repo.work });
    expect((await stack.call('POST', `${rel.changes}/${first}/decision`, { token: rel.owner, body: { decision: 'approve' } })).status).toBe(200);
    const landed = await settled(rel, first, 'merged');
    const moved = await waitFor('the release head to be the landed pick', async () => ((await releaseHead(rel)) === landed.resultSha ? landed.resultSha as string : undefined));
    expect((await git(['merge-base', '--is-ancestor', byHand, moved], { cwd: rel.repo.remote })).exitCode).toBe(0);

    // The answers on the cut are stale now: pending on the new head until the worker has answered again.
    const refsMoved = await remoteRefs(rel);
    const stale = await list(rel);
    expect(stale.get(first)?.applies).toBeUndefined();
    for (const id of [clean, conflicting, present, twoCommits]) expect(stale.get(id)?.applies).toEqual({ state: 'pending', head: moved });
    const onMoved = await answered(rel, [clean, conflicting, present, twoCommits], moved);
    expect(onMoved.get(clean)?.applies).toEqual({ state: 'applies', head: moved, paths: ['clean.txt'] });
    expect(onMoved.get(conflicting)?.applies).toEqual({ state: 'conflicts', head: moved, paths: ['shared.txt'] });
    expect(onMoved.get(present)?.applies).toMatchObject({ state: 'already-present', head: moved, presentSha: byHand });
    expect(onMoved.get(present)?.applies?.detail).toContain(`the same patch as ${byHand.slice(0, 12)}`);
    expect(onMoved.get(twoCommits)?.applies).toEqual({ state: 'applies', head: moved, paths: ['multi.txt'] });
    expect(await remoteRefs(rel)).toBe(refsMoved);
    // None of it was a decision: every request still awaits one.
    for (const id of [clean, conflicting, present, twoCommits]) expect(onMoved.get(id)?.state).toBe('awaiting-decision');

    // Approving the clean pick moves the head again: it is no longer undecided, the others are answered anew.
    expect((await stack.call('POST', `${rel.changes}/${clean}/decision`, { token: rel.owner, body: { decision: 'approve' } })).status).toBe(200);
    const cleanLanded = await settled(rel, clean, 'merged');
    const next = await waitFor('the release head to move again', async () => ((await releaseHead(rel)) === cleanLanded.resultSha ? cleanLanded.resultSha as string : undefined));
    const onNext = await answered(rel, [conflicting, present, twoCommits], next);
    expect(onNext.get(clean)?.state).toBe('merged');
    expect(onNext.get(clean)?.applies).toBeUndefined();
    expect(onNext.get(conflicting)?.applies).toEqual({ state: 'conflicts', head: next, paths: ['shared.txt'] });
    expect(onNext.get(present)?.applies).toMatchObject({ state: 'already-present', head: next, presentSha: byHand });
    expect(onNext.get(twoCommits)?.applies).toEqual({ state: 'applies', head: next, paths: ['multi.txt'] });

    // Stored once per request, on the head computed; decided requests keep no answer.
    const stored = await previewsOf(stack.database.db, rel.product, releaseName);
    expect([...stored.keys()].sort()).toEqual([conflicting, present, twoCommits].sort());
    for (const p of stored.values()) expect(p.headSha).toBe(next);
    // One workflow per head, named after it.
    // (Its answers are stored just before it returns: wait for the run to end before describing it.)
    const handle = stack.client.workflow.getHandle(previewWorkflowId(rel.product, releaseName, next));
    expect((await handle.result() as { head: string }).head).toBe(next);
    const run = await handle.describe();
    expect(run.type).toBe('previewPicksWorkflow');
    expect(run.status.name).toBe('COMPLETED');
  });

  it('answers error for a pick whose commit is gone, and the others still get their answer', async () => {
    const rel = await release([{ 'clean.txt': 'clean\n' }]);
    const [t0] = rel.trunk as [string];
    const fine = await pick(rel, [t0]);
    // A request whose commit no longer exists anywhere (as after a trunk rewrite and a gc): written
    // straight to the database, as filing refuses an unknown commit.
    const goneSha = 'dead'.repeat(10);
    const goneId = `${rel.product}-gone`;
    await upsertChanges(stack.database.db, rel.product, releaseName, [{
      id: goneId, seq: 1000, kind: 'pick', state: 'awaiting-decision', check: 'none', commits: [goneSha], reason: 'gone', severity: 'normal', requester: 'ci',
    }]);
    const items = await answered(rel, [fine, goneId], rel.cutPoint);
    expect(items.get(fine)?.applies).toEqual({ state: 'applies', head: rel.cutPoint, paths: ['clean.txt'] });
    expect(items.get(goneId)?.applies).toMatchObject({ state: 'error', head: rel.cutPoint });
    expect(items.get(goneId)?.applies?.detail).toContain(`commit ${goneSha.slice(0, 12)} is not in`);
  });
});
