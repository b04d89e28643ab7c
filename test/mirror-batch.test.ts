import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Mirror, git } from '../activities/git/index.ts';
import { gitHelperStatus } from '../activities/git/run.ts';
import { createRemote } from './helpers/git-fixture.ts';

const settle = <T>(p: Promise<T>) => p.then((value) => ({ value }), (error: unknown) => ({ error: (error as Error).message }));

// The batched look-ups of Mirror must answer exactly what the one-commit-at-a-time calls answer.
describe('Mirror batch look-ups', () => {
  async function setup() {
    const fx = await createRemote();
    onTestFinished(() => fx.cleanup());
    const root = await mkdtemp(join(tmpdir(), 'culvert-mirrors-'));
    onTestFinished(() => rm(root, { recursive: true, force: true }));
    const mirror = await Mirror.open(root, fx.remote);
    return { fx, mirror };
  }

  it('commitDetails and commitInfos match commitInfo and diffStat on awkward commits', async () => {
    const { fx, mirror } = await setup();
    const commits: string[] = [];
    commits.push(await fx.commit({ 'a.txt': 'a\nb\nc\n', 'ünïcode/ß.txt': 'x\n' }, 'root with ünïcode'));
    commits.push(await fx.commit({}, 'empty commit\n\nwith a body\n\n\nand blank lines'));
    commits.push(await fx.commit({ 'a.txt': 'a\nB\nc\nd\n', 'tab\there.txt': 't\n', 'new\nline.txt': 'n\n' }, 'odd paths'));
    commits.push(await fx.commit({ 'a.txt': null, 'moved/a.txt': 'a\nB\nc\nd\n' }, 'a rename, counted as delete and add'));
    await writeFile(join(fx.work, 'bin.dat'), Buffer.from([0, 1, 2, 3, 255, 0, 10]));
    await git(['add', 'bin.dat'], { cwd: fx.work });
    await git(['-c', 'user.name=T', '-c', 'user.email=t@example.com', 'commit', '--quiet', '-m', 'binary'], { cwd: fx.work });
    commits.push((await git(['rev-parse', 'HEAD'], { cwd: fx.work })).stdout.trim());
    await fx.branch('side', commits[1]);
    const side = await fx.commit({ 'side.txt': 's\n' }, 'side', 'side');
    await git(['checkout', '--quiet', 'main'], { cwd: fx.work });
    await git(['-c', 'user.name=T', '-c', 'user.email=t@example.com', 'merge', '--quiet', '--no-ff', '-m', 'merge side', 'side'], { cwd: fx.work });
    commits.push(side, (await git(['rev-parse', 'HEAD'], { cwd: fx.work })).stdout.trim());
    commits.push(await fx.commit({ 'z.txt': 'z\n' }, 'subject only'));
    await fx.push();
    await mirror.fetch();

    const asked = [...commits, commits[2]!, commits[0]!];
    const calls = () => gitHelperStatus()?.calls ?? Number.NaN;
    const before = calls();
    const details = await mirror.commitDetails(asked);
    const infos = await mirror.commitInfos(asked);
    // One git call each: the batch was understood, not answered one commit at a time.
    expect(calls() - before).toBe(2);
    expect(details.map((d) => d.sha)).toEqual(asked);
    for (const [k, sha] of asked.entries()) {
      const [info, stat] = await Promise.all([mirror.commitInfo(sha), mirror.diffStat(sha)]);
      expect(details[k]).toEqual({ ...info, stat });
      expect(infos[k]).toEqual(info);
    }
    expect(details[2]!.stat.paths.sort()).toEqual(['a.txt', 'new\nline.txt', 'tab\there.txt']);
    expect(details[4]!.stat).toMatchObject({ files: 1, insertions: 0, deletions: 0, paths: ['bin.dat'] });
    expect(details[1]!.stat.files).toBe(0);
    expect(await mirror.commitDetails([])).toEqual([]);
    expect(await mirror.commitInfos([commits[3]!])).toEqual([await mirror.commitInfo(commits[3]!)]);
    // Abbreviated shas are answered one by one, the same way.
    expect(await mirror.commitInfos([commits[0]!.slice(0, 12), commits[1]!])).toEqual(await Promise.all([mirror.commitInfo(commits[0]!.slice(0, 12)), mirror.commitInfo(commits[1]!)]));
  });

  it('reachableFrom answers isAncestor for many commits at once', async () => {
    const { fx, mirror } = await setup();
    const base = await fx.commit({ 'a.txt': '1\n' }, 'base');
    const cut = await fx.commit({ 'a.txt': '2\n' }, 'cut');
    await fx.branch('stable', cut);
    const after = [await fx.commit({ 'b.txt': '1\n' }, 'after 1'), await fx.commit({ 'c.txt': '1\n' }, 'after 2')];
    const stable = await fx.commit({ 's.txt': '1\n' }, 'on stable', 'stable');
    await fx.push();
    await fx.push('stable');
    await mirror.fetch();
    const asked = [base, cut, ...after, stable, after[0]!];
    const before = gitHelperStatus()?.calls ?? Number.NaN;
    const answer = await mirror.reachableFrom(asked, stable);
    expect((gitHelperStatus()?.calls ?? Number.NaN) - before).toBe(1);
    for (const c of asked) expect(answer.has(c)).toBe(await mirror.isAncestor(c, stable));
    expect([...answer].sort()).toEqual([base, cut, stable].sort());
    expect(await mirror.reachableFrom([], stable)).toEqual(new Set());
  });

  it('candidates lists only commits among the objects a prefix could mean', async () => {
    const { fx, mirror } = await setup();
    const c = await fx.commit({ 'a.txt': '1\n' }, 'one');
    await fx.push();
    await mirror.fetch();
    expect(await mirror.candidates(c.slice(0, 8))).toEqual([c]);
    const tree = await mirror.treeOf(c);
    expect(await mirror.candidates(tree)).toEqual([]);
    expect(await mirror.candidates('0000000')).toEqual([]);
    // Full SHAs: the commit itself, a tree is no commit, an unknown one is nothing.
    expect(await mirror.candidates(c)).toEqual([c]);
    expect(await mirror.candidates(tree.slice(0, 40))).toEqual([]);
    expect(await mirror.candidates('0'.repeat(40))).toEqual([]);
  });

  it('writes the scaffolding commit of a pick itself, byte for byte what commit-tree makes', async () => {
    const { fx, mirror } = await setup();
    await fx.commit({ 'f.txt': 'a\nb\nc\n' }, 'base');
    const fix = await fx.commit({ 'f.txt': 'a\nB\nc\n' }, 'fix');
    await fx.push();
    await mirror.fetch();
    const [parent] = await mirror.parentsOf(fix);
    const tree = await mirror.treeOf(parent!);
    const before = gitHelperStatus()?.calls ?? Number.NaN;
    const written = await (mirror as unknown as { syntheticCommit(t: string, p: string): Promise<string> }).syntheticCommit(tree, parent!);
    expect((gitHelperStatus()?.calls ?? Number.NaN) - before).toBe(0);
    const identity = { GIT_DIR: mirror.gitDir, GIT_AUTHOR_NAME: 'Culvert', GIT_AUTHOR_EMAIL: 'culvert@localhost', GIT_AUTHOR_DATE: '2099-12-31T00:00:00Z',
      GIT_COMMITTER_NAME: 'Culvert', GIT_COMMITTER_EMAIL: 'culvert@localhost', GIT_COMMITTER_DATE: '2099-12-31T00:00:00Z' };
    const byGit = (await git(['commit-tree', '--no-gpg-sign', '-p', parent!, tree], { env: identity, input: 'culvert: synthetic merge side\n' })).stdout.trim();
    expect(written).toBe(byGit);
    await git(['fsck', '--no-dangling', '--strict'], { env: { GIT_DIR: mirror.gitDir } });
    // And a pick told what it would look up answers as one that looks it up.
    expect(await mirror.pickTree(parent!, fix, { targetTree: tree, parents: [parent!] })).toEqual(await mirror.pickTree(parent!, fix));
  });

  it('commitMaker makes the very commits commit-tree makes, spawning git only where it must', async () => {
    const { fx, mirror } = await setup();
    const base = await fx.commit({ 'a.txt': 'a\n' }, 'base');
    const other = await fx.commit({ 'b.txt': 'b\n' }, 'other');
    await fx.push();
    await mirror.fetch();
    const tree = await mirror.treeOf(other);
    const make = await mirror.commitMaker();
    const calls = () => gitHelperStatus()?.calls ?? Number.NaN;
    const names = ['Alice Example', 'Zoë Ünïcode-Ñame', "O'Brien, Jr", '日本 語', 'tab\tinside', '🚀 Rocket', ' leading', 'trailing.', 'a<b', '"quoted"', 'x'];
    const emails = ['alice@example.com', 'weird+tag@例え.jp', 'x@y', 'dot.@z', '<a@b>'];
    const dates = [
      '2024-05-06T07:08:09+02:00', '2024-05-06T07:08:09-05:30', '2026-11-24T19:20:58.724Z', '1970-01-01T00:00:00Z', '2099-12-31T23:59:59+14:00',
      '2024-02-29T12:00:00-00:00', '2024-02-30T00:00:00Z', '2024-05-06 07:08:09 +0200', '2024-05-06T07:08:09+15:00', '@1714972089 +0200',
    ];
    const messages = ['subject', 'subject\n\nbody\n', 'emoji 🚀 and ünïcode\n', 'a noncharacter \uFFFF\n', 'lone \uD800 surrogate\n', 'nul \0 inside\n', '\n\nleading blank lines\n\n\n'];
    // The first six names, three emails, six dates and these messages are ordinary: written without git.
    const ordinaryMessages = [0, 1, 2, 6];
    const check = async (k: number, ordinary: boolean) => {
      const pick = <T>(list: T[], i: number, ordinaryCount: number) => list[ordinary ? i % ordinaryCount : i % list.length]!;
      const who = (j: number) => ({ name: pick(names, k + j, 6), email: pick(emails, k * 3 + j, 3), date: pick(dates, k * 7 + j, 6) });
      const message = messages[ordinary ? ordinaryMessages[k % ordinaryMessages.length]! : k % messages.length]!;
      const opts = { tree, parents: k % 5 === 0 ? [base, other] : [other], message, author: who(0), committer: who(1) };
      const expected = await settle(mirror.commitTree(opts));
      const before = calls();
      const made = await settle(make(opts));
      expect(made, JSON.stringify(opts)).toEqual(expected);
      return calls() === before;
    };
    for (let k = 0; k < 40; k++) expect(await check(k, true), `ordinary case ${k}`).toBe(true);
    let fast = 0;
    for (let k = 0; k < 80; k++) if (await check(k, false)) fast++;
    expect(fast).toBeLessThan(80);

    // A repository that writes commits in another encoding gets them from commit-tree, header and all.
    await git(['config', 'i18n.commitEncoding', 'ISO-8859-1'], { env: { GIT_DIR: mirror.gitDir } });
    const latin = await mirror.commitMaker();
    const opts = { tree, parents: [other], message: 'plain\n', author: { name: 'A B', email: 'a@b', date: '2024-05-06T07:08:09+02:00' } };
    const before = calls();
    expect(await latin(opts)).toBe(await mirror.commitTree(opts));
    expect(calls() - before).toBe(2);
    await git(['fsck', '--no-dangling'], { env: { GIT_DIR: mirror.gitDir } });
  });
});
