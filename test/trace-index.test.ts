// The trunk index and release snapshots against git itself, without Temporal: merges on trunk, a
// "foxtrot" fast-forward, cuts from every commit (anchors, merged-in commits, unmerged branches, an
// unrelated root), a trunk rewrite, and moves with picks by trailer and by patch id.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActivityDeps } from '../activities/deps.ts';
import { Mirror } from '../activities/git/index.ts';
import { git } from '../activities/git/run.ts';
import { indexTrunk, recordCut, traceMove } from '../activities/trace/index.ts';
import type { Database } from '../db/client.ts';
import { listedShas, notesMarkdown, changesBetween } from '../api/notes/notes.ts';
import { upsertChanges } from '../db/repos/changes.ts';
import { createProduct } from '../db/repos/products.ts';
import { containedIn, currentLine, diffSnapshots, moveTo, snapshotOf } from '../db/repos/trace.ts';
import { releaseCommits, releaseCuts } from '../db/schema.ts';
import type { ProductConfig } from '../domain/types.ts';
import { openTestDatabase } from './helpers/db.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';

const IDENTITY = ['-c', 'user.name=T', '-c', 'user.email=t@example.com', '-c', 'commit.gpgSign=false'];

describe('trace index against git', () => {
  let database: Database;
  let repo: GitFixture;
  let dataDir: string;
  let deps: ActivityDeps;
  let mirror: Mirror;
  const product: ProductConfig = {
    name: 'idx', repository: '', flow: 'cherry-pick', trunk: 'main', owners: [], steps: {}, triggers: [], environments: [],
  };

  const w = async (args: string[]): Promise<string> => (await git(args, { cwd: repo.work })).stdout.trim();
  const r = async (args: string[]): Promise<string> => (await git(args, { cwd: repo.remote, env: { GIT_DIR: repo.remote } })).stdout.trim();
  const merge = async (branch: string, into = 'main'): Promise<string> => {
    await w(['checkout', '--quiet', into]);
    await w([...IDENTITY, 'merge', '--quiet', '--no-ff', '-m', `merge ${branch} into ${into}`, branch]);
    return w(['rev-parse', 'HEAD']);
  };
  const pushAll = async (): Promise<void> => {
    await w(['push', '--quiet', '--force', 'origin', '+refs/heads/*:refs/heads/*']);
    await mirror.fetch();
  };
  const allCommits = async (): Promise<string[]> => (await r(['rev-list', '--all'])).split('\n').filter(Boolean);
  const historyOf = async (sha: string): Promise<Set<string>> => new Set((await r(['rev-list', sha])).split('\n').filter(Boolean));

  beforeAll(async () => {
    database = await openTestDatabase();
    repo = await createRemote();
    dataDir = await mkdtemp(join(tmpdir(), 'culvert-trace-'));
    deps = { db: database.db, dataDir };
    product.repository = repo.remote;
    await createProduct(database.db, product);
    mirror = await Mirror.open(join(dataDir, 'mirrors'), repo.remote);
  });
  afterAll(async () => {
    await database?.close();
    await repo?.cleanup();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const cuts = new Map<string, string>();
  /** Cuts a release from every commit of the repository and checks each one's contents against git. */
  const cutAndCheckAll = async (prefix: string): Promise<void> => {
    const commits = await allCommits();
    for (const [i, sha] of commits.entries()) {
      const name = `${prefix}-${i}`;
      await recordCut(deps, mirror, product, name, sha, new Date());
      cuts.set(name, sha);
    }
    for (const [i, sha] of commits.entries()) {
      const snap = await snapshotOf(database.db, product.name, `${prefix}-${i}`, null);
      expect(snap).not.toBeNull();
      const got = await containedIn(database.db, snap!, commits);
      const want = await historyOf(sha);
      expect([...got].sort(), `release cut from ${sha}`).toEqual([...want].sort());
    }
  };

  it('indexes trunk merges incrementally and cuts from any commit exactly', async () => {
    const a1 = await repo.commit({ 'a.txt': '1\n' }, 'a1');
    const a2 = await repo.commit({ 'a.txt': '2\n' }, 'a2');
    await repo.branch('f1', a2);
    await repo.commit({ 'f1.txt': 'x\n' }, 'f1a', 'f1');
    await repo.commit({ 'f1.txt': 'y\n' }, 'f1b', 'f1');
    await repo.commit({ 'a.txt': '3\n' }, 'a3', 'main');
    await merge('f1');
    await repo.commit({ 'a.txt': '4\n' }, 'a4', 'main');
    await repo.branch('f3', a1);
    await repo.commit({ 'f3.txt': 'x\n' }, 'f3a', 'f3');
    await repo.branch('f2', a1);
    await repo.commit({ 'f2.txt': 'x\n' }, 'f2a', 'f2');
    await merge('f3', 'f2');
    await merge('f2');
    await pushAll();
    const line1 = await indexTrunk(deps, mirror, repo.remote, 'main');
    expect(line1?.anchors).toBe(Number(await r(['rev-list', '--first-parent', '--count', 'main'])));
    await cutAndCheckAll('s1');

    // Nothing new: the same line, nothing written.
    expect((await indexTrunk(deps, mirror, repo.remote, 'main'))?.id).toBe(line1?.id);

    // A foxtrot: main fast-forwarded to a branch that merged main in; the old head is a second parent now.
    const a5 = await repo.commit({ 'a.txt': '5\n' }, 'a5', 'main');
    await pushAll();
    await indexTrunk(deps, mirror, repo.remote, 'main');
    const a4 = await w(['rev-parse', 'main~2']);
    await repo.branch('fx', a4);
    await repo.commit({ 'fx.txt': 'x\n' }, 'fxa', 'fx');
    await merge('main', 'fx');
    await w(['checkout', '--quiet', 'main']);
    await w(['merge', '--quiet', '--ff-only', 'fx']);
    await repo.commit({ 'a.txt': '6\n' }, 'a6', 'main');
    await repo.branch('f4', 'main');
    for (let i = 0; i < 3; i++) await repo.commit({ [`f4-${i}.txt`]: 'x\n' }, `f4-${i}`, 'f4');
    await merge('f4');
    // Never merged, and an unrelated root.
    await repo.branch('u1', a2);
    await repo.commit({ 'u.txt': 'x\n' }, 'u1a', 'u1');
    await w(['checkout', '--quiet', '--orphan', 'o1']);
    await repo.commit({ 'o.txt': 'x\n' }, 'o1a', 'o1');
    await w(['checkout', '--quiet', 'main']);
    await pushAll();
    const line2 = await indexTrunk(deps, mirror, repo.remote, 'main');
    expect(line2?.id).toBe(line1?.id);
    expect(await r(['rev-list', '--first-parent', 'main'])).not.toContain(a5);
    await cutAndCheckAll('s2');
    // Both ways of cutting were exercised: from anchors, and from elsewhere (own commits at move 0; none on trunk for the orphan).
    const cutRows = await database.db.select().from(releaseCuts);
    const atCut = (await database.db.select().from(releaseCommits)).filter((x) => x.move === 0);
    expect(cutRows.filter((c) => c.cutPos === 0).length).toBeGreaterThan(0);
    expect(new Set(atCut.map((x) => x.release)).size).toBeGreaterThan(5);
    expect(cutRows.filter((c) => !atCut.some((x) => x.release === c.release)).length).toBeGreaterThan(5);

    // Differences between snapshots are git's ranges, each commit once.
    const names = [...cuts.keys()];
    for (let k = 0; k < 60; k++) {
      const x = names[(k * 7) % names.length] as string;
      const y = names[(k * 13 + 5) % names.length] as string;
      const [sx, sy] = await Promise.all([snapshotOf(database.db, product.name, x, null), snapshotOf(database.db, product.name, y, null)]);
      const diff = (await diffSnapshots(database.db, sx!, sy!)).map((c) => c.sha);
      const want = (await r(['rev-list', cuts.get(y) as string, `^${cuts.get(x) as string}`])).split('\n').filter(Boolean);
      expect(new Set(diff).size).toBe(diff.length);
      expect(diff.sort(), `${x}..${y}`).toEqual(want.sort());
    }

    // A rewritten trunk starts a new generation; old cuts keep theirs.
    await w(['checkout', '--quiet', 'main']);
    await w(['reset', '--quiet', '--hard', a4]);
    await repo.commit({ 'b.txt': '1\n' }, 'b1', 'main');
    await pushAll();
    const line3 = await indexTrunk(deps, mirror, repo.remote, 'main');
    expect(line3?.generation).toBe((line1?.generation ?? 0) + 1);
    expect((await currentLine(database.db, repo.remote, 'main'))?.id).toBe(line3?.id);
    await cutAndCheckAll('s3');
  });

  it('records moves with picks by trailer and by patch id, and snapshots at every move', async () => {
    const base = await w(['rev-parse', 'main']);
    const fixA = await repo.commit({ 'fix-a.txt': 'a\n' }, 'fix a', 'main');
    const fixB = await repo.commit({ 'fix-b.txt': 'b\n' }, 'fix b', 'main');
    await pushAll();
    await recordCut(deps, mirror, product, 'rel', base, new Date());
    await repo.branch('rel', base);
    await w(['checkout', '--quiet', 'rel']);
    await w([...IDENTITY, 'cherry-pick', '-x', fixA]);
    const p1 = await w(['rev-parse', 'HEAD']);
    await w([...IDENTITY, 'cherry-pick', fixB]);
    const p2 = await w(['rev-parse', 'HEAD']);
    await pushAll();
    await traceMove(deps, mirror, product.name, 'rel', base, p1);
    await traceMove(deps, mirror, product.name, 'rel', p1, p2);
    await traceMove(deps, mirror, product.name, 'rel', p1, p2); // a retry records nothing twice
    const rows = await database.db.select().from(releaseCommits);
    const mine = rows.filter((x) => x.release === 'rel').sort((a, b) => a.move - b.move);
    expect(mine.map((x) => [x.sha, x.move, x.originSha, x.originVia])).toEqual([[p1, 1, fixA, 'trailer'], [p2, 2, fixB, 'patch-id']]);
    expect((await moveTo(database.db, product.name, 'rel', p2))?.move).toBe(2);

    // A push nobody recorded (p3), then a recorded move from it: the gap becomes a move of its own.
    const p3 = await repo.commit({ 'hand.txt': 'x\n' }, 'by hand', 'rel');
    const p4 = await repo.commit({ 'hand.txt': 'y\n' }, 'by culvert', 'rel');
    await pushAll();
    await traceMove(deps, mirror, product.name, 'rel', p3, p4);
    expect((await moveTo(database.db, product.name, 'rel', p3))?.move).toBe(3);
    expect((await moveTo(database.db, product.name, 'rel', p4))?.move).toBe(4);
    const all = await allCommits();
    for (const [head, move] of [[base, 0], [p1, 1], [p2, 2], [p3, 3], [p4, 4]] as const) {
      const got = await containedIn(database.db, { product: product.name, release: 'rel', line: (await snapshotOf(database.db, product.name, 'rel', null))!.line, cutPos: (await snapshotOf(database.db, product.name, 'rel', null))!.cutPos, move }, all);
      expect([...got].sort(), `rel at move ${move}`).toEqual([...(await historyOf(head))].sort());
    }
  });
  it('groups notes into merged requests (trunk merges Culvert made) and picks with their requests', async () => {
    await w(['checkout', '--quiet', 'main']);
    const before = await w(['rev-parse', 'main']);
    await repo.branch('feat-x', before);
    const fx1 = await repo.commit({ 'x.txt': '1\n' }, 'x part 1', 'feat-x');
    const fx2 = await repo.commit({ 'x.txt': '2\n' }, 'x part 2', 'feat-x');
    await w(['checkout', '--quiet', 'main']);
    await w([...IDENTITY, 'merge', '--quiet', '--no-ff', '-m', "Merge branch 'feat-x' into main\n\nCulvert merged request #7, approved by olga.\n\nCulvert-Change: merge-7", 'feat-x']);
    const mergeSha = await w(['rev-parse', 'HEAD']);
    const plain = await repo.commit({ 'y.txt': '1\n' }, 'plain change', 'main');
    const fix = await repo.commit({ 'z.txt': '1\n' }, 'fix z', 'main');
    await pushAll();
    await recordCut(deps, mirror, product, 'n1', before, new Date());
    await recordCut(deps, mirror, product, 'n2', plain, new Date());
    await repo.branch('n2', plain);
    await w(['checkout', '--quiet', 'n2']);
    await w([...IDENTITY, 'cherry-pick', '-x', fix]);
    await w(['commit', '--quiet', '--amend', '-m', `fix z\n\n(cherry picked from commit ${fix})\nCulvert-Change: pick-3`]);
    const picked = await w(['rev-parse', 'HEAD']);
    await pushAll();
    await traceMove(deps, mirror, product.name, 'n2', plain, picked);
    await upsertChanges(database.db, product.name, 'master', [
      { id: 'merge-7', seq: 7, kind: 'merge', state: 'merged', check: 'passed', branch: 'feat-x', requester: 'mia', decidedBy: 'olga', reason: null },
    ]);
    await upsertChanges(database.db, product.name, 'n2', [
      { id: 'pick-3', seq: 3, kind: 'pick', state: 'merged', check: 'none', commits: [fix], requester: 'pat', decidedBy: 'olga', reason: 'z breaks', severity: 'hotfix' },
    ]);
    const [n1, n2] = await Promise.all([snapshotOf(database.db, product.name, 'n1', null), snapshotOf(database.db, product.name, 'n2', null)]);
    const set = await changesBetween(database.db, n1!, n2!);
    expect(set.count).toBe(5);
    expect(set.merges).toEqual([{ change: expect.objectContaining({ id: 'merge-7', seq: 7, branch: 'feat-x', requester: 'mia', approvedBy: 'olga' }), commits: [
      expect.objectContaining({ sha: mergeSha }), expect.objectContaining({ sha: fx1 }), expect.objectContaining({ sha: fx2 }),
    ] }]);
    expect(set.picks).toEqual([{ change: expect.objectContaining({ id: 'pick-3', reason: 'z breaks', severity: 'hotfix', requester: 'pat' }), commits: [
      expect.objectContaining({ sha: picked, originSha: fix, pickedBy: 'trailer', originIncluded: false }),
    ] }]);
    expect(set.commits.map((c) => c.sha)).toEqual([plain]);
    expect(listedShas(set).sort()).toEqual((await r(['rev-list', picked, `^${before}`])).split('\n').filter(Boolean).sort());
    const md = notesMarkdown('idx n2 (since n1)', set, 'n1');
    expect(md).toContain('## Merged requests');
    expect(md).toContain('**#7** `feat-x`: requested by mia, approved by olga');
    expect(md).toContain('**#3**, hotfix, requested by pat, approved by olga: z breaks');
    expect(md).toContain('plain change');
  });
});
