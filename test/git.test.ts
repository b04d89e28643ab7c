import { chmod, mkdtemp, readFile, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  GitError,
  InvalidRefError,
  Mirror,
  assertSafeBranchName,
  git,
  isFullSha,
  isShaLike,
} from '../activities/git/index.ts';
import { createRemote, type GitFixture } from './helpers/git-fixture.ts';
import { waitFor } from './helpers/wait.ts';

const ALICE = { name: 'Alice Example', email: 'alice@example.com', date: '2024-05-06T07:08:09Z' };

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function setup(): Promise<{ fx: GitFixture; root: string; mirror: Mirror }> {
  const fx = await createRemote();
  onTestFinished(() => fx.cleanup());
  const root = await tempDir('culvert-mirrors-');
  const mirror = await Mirror.open(root, fx.remote);
  return { fx, root, mirror };
}

async function show(gitDir: string, treeish: string, path: string): Promise<string> {
  const { stdout } = await git(['cat-file', 'blob', `${treeish}:${path}`], { env: { GIT_DIR: gitDir } });
  return stdout;
}

async function paths(gitDir: string, treeish: string): Promise<string[]> {
  const { stdout } = await git(['ls-tree', '-r', '--name-only', '-z', treeish], { env: { GIT_DIR: gitDir } });
  return stdout.split('\0').filter(Boolean).sort();
}

async function remoteRef(fx: GitFixture, branch: string): Promise<string | null> {
  const { stdout, exitCode } = await git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], {
    env: { GIT_DIR: fx.remote },
    okExitCodes: [1],
  });
  return exitCode === 0 ? stdout.trim() : null;
}

async function pathExists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Every path under `dir` (but .git), as "<mode> <path> <content or link target>", in git's terms. */
async function describeTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const full = join(entry.parentPath, entry.name);
    const rel = relative(dir, full);
    if (entry.isDirectory()) continue;
    if (entry.isSymbolicLink()) out.push(`120000 ${rel} ${await readlink(full)}`);
    else out.push(`${(await stat(full)).mode & 0o100 ? '100755' : '100644'} ${rel} ${await readFile(full, 'utf8')}`);
  }
  return out.sort();
}

/** The same description, of the tree of `commit` as git stores it. */
async function describeCommit(gitDir: string, commit: string): Promise<string[]> {
  const { stdout } = await git(['ls-tree', '-r', '-z', commit], { env: { GIT_DIR: gitDir } });
  const out: string[] = [];
  for (const line of stdout.split('\0').filter(Boolean)) {
    const [meta, path] = line.split('\t') as [string, string];
    const [mode, , blob] = meta.split(' ') as [string, string, string];
    const { stdout: content } = await git(['cat-file', 'blob', blob], { env: { GIT_DIR: gitDir } });
    out.push(`${mode} ${path} ${content}`);
  }
  return out.sort();
}

/** Every path in a directory tree with its size, to tell whether anything was written there. */
async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return Promise.all(entries.map(async (e) => {
    const full = join(e.parentPath, e.name);
    return `${relative(dir, full)} ${e.isFile() ? (await stat(full)).size : '-'}`;
  })).then((l) => l.sort());
}

describe('branch names and shas', () => {
  it.each(['feature/x', 'release-1.2', 'main', 'a.b/c_d', 'user@host'])('accepts %j', (name) => {
    expect(() => assertSafeBranchName(name)).not.toThrow();
  });

  it.each([
    ['--upload-pack=x', 'must not start with "-"'],
    ['../../etc', 'must not contain ".."'],
    ['a..b', 'must not contain ".."'],
    ['x.lock', 'ending with ".lock"'],
    ['a b', 'must not contain a space'],
    ['@', 'must not be "@"'],
    ['', 'must not be empty'],
    ['/a', 'must not start with "/"'],
    ['a/', 'must not end with "/"'],
    ['a//b', 'must not contain "//"'],
    ['a@{1}', 'must not contain "@{"'],
    ['a.', 'must not end with "."'],
    ['x/.hidden', 'starting with "."'],
    ['a\u0001b', 'control character 0x01'],
    ['a~1', 'must not contain "~"'],
    ['a^', 'must not contain "^"'],
    ['a:b', 'must not contain ":"'],
    ['a?', 'must not contain "?"'],
    ['a*', 'must not contain "*"'],
    ['a[b', 'must not contain "["'],
    ['a\\b', 'must not contain "\\"'],
    ['x'.repeat(256), 'at most 255'],
  ])('rejects %j', (name, why) => {
    let caught: unknown;
    try {
      assertSafeBranchName(name);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidRefError);
    expect((caught as InvalidRefError).ref).toBe(name);
    expect((caught as InvalidRefError).message).toContain(why);
  });

  it('names the problem in the message', () => {
    expect(() => assertSafeBranchName('--upload-pack=x')).toThrow('branch name "--upload-pack=x" must not start with "-"');
  });

  it('recognises shas', () => {
    expect(isShaLike('abcd')).toBe(true);
    expect(isShaLike('ABCDEF0123')).toBe(true);
    expect(isShaLike('abc')).toBe(false);
    expect(isShaLike('abcg')).toBe(false);
    expect(isShaLike('a'.repeat(41))).toBe(false);
    expect(isFullSha('a'.repeat(40))).toBe(true);
    expect(isFullSha('A'.repeat(40))).toBe(true);
    expect(isFullSha('a'.repeat(39))).toBe(false);
  });
});

describe('git()', () => {
  it('throws GitError with the subcommand, exit code and stderr', async () => {
    const dir = await tempDir('culvert-run-');
    const err = await git(['rev-parse', '--verify', 'nope'], { cwd: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GitError);
    const gitErr = err as GitError;
    expect(gitErr.exitCode).toBe(128);
    expect(gitErr.args).toEqual(['rev-parse', '--verify', 'nope']);
    expect(gitErr.message).toMatch(/^git rev-parse failed: .*not a git repository/);
    expect(gitErr.stderr).toContain('not a git repository');
    expect(gitErr.cause).toBeInstanceOf(Error);
  });

  it('accepts listed exit codes and feeds stdin', async () => {
    const dir = await tempDir('culvert-run-');
    await writeFile(join(dir, 'x'), 'x\n');
    await writeFile(join(dir, 'y'), 'y\n');
    const res = await git(['diff', '--no-index', '--quiet', '--', join(dir, 'x'), join(dir, 'y')], { okExitCodes: [1] });
    expect(res.exitCode).toBe(1);
    const { stdout } = await git(['hash-object', '--stdin'], { input: 'hello\n' });
    expect(stdout.trim()).toBe('ce013625030ba8dba906f756967f9e9ca394464a');
  });
});

describe('Mirror', () => {
  it('fetches and resolves branches and commits', async () => {
    const { fx, mirror } = await setup();
    const c1 = await fx.commit({ 'a.txt': 'one\n' }, 'first');
    await fx.push();
    await fx.branch('feature/x');
    await fx.push('feature/x');

    expect(await mirror.resolveBranch('main')).toBeNull();
    await mirror.fetch();
    expect(await mirror.resolveBranch('main')).toBe(c1);
    expect(await mirror.resolveBranch('feature/x')).toBe(c1);
    expect(await mirror.resolveBranch('nope')).toBeNull();
    await expect(mirror.resolveBranch('--upload-pack=x')).rejects.toBeInstanceOf(InvalidRefError);

    expect(await mirror.resolveCommit(c1)).toBe(c1);
    expect(await mirror.resolveCommit(c1.slice(0, 8))).toBe(c1);
    expect(await mirror.resolveCommit('refs/remotes/origin/main')).toBe(c1);
    expect(await mirror.resolveCommit('0'.repeat(40))).toBeNull();
    expect(await mirror.resolveCommit('no-such-rev')).toBeNull();
    await expect(mirror.resolveCommit('--all')).rejects.toBeInstanceOf(InvalidRefError);

    const c2 = await fx.commit({ 'a.txt': 'two\n' }, 'second');
    await fx.push();
    await git(['push', '--quiet', 'origin', '--delete', 'feature/x'], { cwd: fx.work });
    expect(await mirror.remoteHead('main')).toBe(c2);
    expect(await mirror.remoteHead('feature/x')).toBeNull();
    expect(await mirror.resolveBranch('main')).toBe(c1);

    await mirror.fetch();
    expect(await mirror.resolveBranch('main')).toBe(c2);
    expect(await mirror.resolveBranch('feature/x')).toBeNull();
  });

  it('remoteHead matches the exact ref only', async () => {
    const { fx, mirror } = await setup();
    const c1 = await fx.commit({ 'a.txt': '1\n' }, 'one');
    await fx.branch('x/refs/heads/main');
    await fx.push('x/refs/heads/main');
    expect(await mirror.remoteHead('main')).toBeNull();
    await fx.push();
    expect(await mirror.remoteHead('main')).toBe(c1);
  });

  it('answers ancestry, counts and logs', async () => {
    const { fx, mirror } = await setup();
    const c1 = await fx.commit({ 'a.txt': '1\n' }, 'one');
    const c2 = await fx.commit({ 'a.txt': '2\n' }, 'two\n\nwith a body\nof two lines');
    const c3 = await fx.commit({ 'b.txt': '3\n' }, 'three');
    await fx.push();
    await mirror.fetch();

    expect(await mirror.isAncestor(c1, c3)).toBe(true);
    expect(await mirror.isAncestor(c3, c1)).toBe(false);
    await expect(mirror.isAncestor('0'.repeat(40), c1)).rejects.toBeInstanceOf(GitError);

    expect(await mirror.countCommits(`${c1}..${c3}`)).toBe(2);
    expect(await mirror.countCommits('refs/remotes/origin/main')).toBe(3);

    const all = await mirror.log('refs/remotes/origin/main');
    expect(all.map((c) => c.sha)).toEqual([c3, c2, c1]);
    expect(all.map((c) => c.subject)).toEqual(['three', 'two', 'one']);
    expect(all[1]!.body).toBe('with a body\nof two lines');
    expect(all[1]!.message).toBe('two\n\nwith a body\nof two lines\n');
    expect(all[0]!.parents).toEqual([c2]);
    expect(all[2]!.parents).toEqual([]);
    expect(all[0]!.authorName).toBe('T');
    expect(all[0]!.authorEmail).toBe('t@example.com');
    expect((await mirror.log(`${c1}..${c3}`, 1)).map((c) => c.sha)).toEqual([c3]);
    expect(await mirror.log(`${c3}..${c3}`)).toEqual([]);

    expect(await mirror.parentsOf(c2)).toEqual([c1]);
    expect(await mirror.parentsOf(c1)).toEqual([]);
    const info = await mirror.commitInfo(c2);
    expect(info).toEqual(all[1]);
    expect(info.tree).toBe(await mirror.treeOf(c2));
    expect(await show(mirror.gitDir, info.tree, 'a.txt')).toBe('2\n');
  });

  it('merges trees cleanly and reports conflicts', async () => {
    const { fx, mirror } = await setup();
    await fx.commit({ 'f.txt': 'a\nb\nc\n', 'g.txt': 'g\n' }, 'base');
    await fx.branch('left');
    await fx.branch('right');
    await fx.branch('clash');
    const left = await fx.commit({ 'f.txt': 'A\nb\nc\n' }, 'left', 'left');
    const right = await fx.commit({ 'f.txt': 'a\nb\nC\n', 'h.txt': 'new\n', 'g.txt': null }, 'right', 'right');
    const clash = await fx.commit({ 'f.txt': 'a\nb\nZ\n', 'g.txt': 'changed\n' }, 'clash', 'clash');
    for (const b of ['left', 'right', 'clash']) await fx.push(b);
    await mirror.fetch();

    const clean = await mirror.mergeTrees(left, right);
    expect(clean.clean).toBe(true);
    if (!clean.clean) return;
    expect(await show(mirror.gitDir, clean.tree, 'f.txt')).toBe('A\nb\nC\n');
    expect(await paths(mirror.gitDir, clean.tree)).toEqual(['f.txt', 'h.txt']);

    const conflict = await mirror.mergeTrees(right, clash);
    expect(conflict).toEqual({ clean: false, conflicts: ['f.txt', 'g.txt'] });

    await expect(mirror.mergeTrees(left, '0'.repeat(40))).rejects.toBeInstanceOf(GitError);
  });

  it('commitTree is deterministic for a fixed date', async () => {
    const { fx, mirror } = await setup();
    const base = await fx.commit({ 'a.txt': 'a\n' }, 'base');
    await fx.push();
    await mirror.fetch();
    const tree = await mirror.treeOf(base);

    const opts = { tree, parents: [base], message: 'Release 1.0\n\nNotes.', author: ALICE };
    const first = await mirror.commitTree(opts);
    const second = await mirror.commitTree({ ...opts });
    expect(second).toBe(first);
    const later = await mirror.commitTree({ ...opts, author: { ...ALICE, date: '2024-05-06T07:08:10Z' } });
    expect(later).not.toBe(first);

    const info = await mirror.commitInfo(first);
    expect(info).toMatchObject({
      sha: first,
      tree,
      parents: [base],
      subject: 'Release 1.0',
      body: 'Notes.',
      message: 'Release 1.0\n\nNotes.\n',
      authorName: 'Alice Example',
      authorEmail: 'alice@example.com',
      authorDate: '2024-05-06T07:08:09+00:00',
    });

    const bot = { name: 'Culvert Bot', email: 'bot@example.com', date: ALICE.date };
    const withCommitter = await mirror.commitTree({ ...opts, committer: bot });
    const { stdout } = await git(['log', '-1', '--format=%an|%cn|%ce', withCommitter], { env: { GIT_DIR: mirror.gitDir } });
    expect(stdout.trim()).toBe('Alice Example|Culvert Bot|bot@example.com');
  });

  it('pushes with a lease and refuses stale expectations', async () => {
    const { fx, mirror } = await setup();
    const c1 = await fx.commit({ 'a.txt': '1\n' }, 'one');
    await fx.push();
    await mirror.fetch();

    const tree = await mirror.treeOf(c1);
    const mine = await mirror.commitTree({ tree, parents: [c1], message: 'mine', author: ALICE });
    expect(await mirror.push({ sha: mine, branch: 'main', expectedOld: c1 })).toEqual({ ok: true });
    expect(await remoteRef(fx, 'main')).toBe(mine);
    expect(await mirror.resolveBranch('main')).toBe(mine);

    // Someone else moves main; a push expecting the old value must not clobber it.
    const other = await mirror.commitTree({ tree, parents: [mine], message: 'other', author: ALICE });
    expect(await mirror.push({ sha: other, branch: 'main', expectedOld: mine })).toEqual({ ok: true });
    const late = await mirror.commitTree({ tree, parents: [mine], message: 'late', author: ALICE });
    expect(await mirror.push({ sha: late, branch: 'main', expectedOld: mine })).toEqual({
      ok: false,
      reason: 'stale',
      actual: other,
    });
    expect(await remoteRef(fx, 'main')).toBe(other);

    expect(await mirror.push({ sha: late, branch: 'release/1.0', expectedOld: null })).toEqual({ ok: true });
    expect(await remoteRef(fx, 'release/1.0')).toBe(late);
    expect(await mirror.resolveBranch('release/1.0')).toBe(late);
    expect(await mirror.push({ sha: other, branch: 'release/1.0', expectedOld: null })).toEqual({
      ok: false,
      reason: 'stale',
      actual: late,
    });
    expect(await remoteRef(fx, 'release/1.0')).toBe(late);

    await expect(mirror.push({ sha: late, branch: '-x', expectedOld: null })).rejects.toBeInstanceOf(InvalidRefError);
    await expect(mirror.push({ sha: 'HEAD', branch: 'main', expectedOld: null })).rejects.toBeInstanceOf(InvalidRefError);
  });

  it('reports a server-side rejection as an error, not as stale', async () => {
    const { fx, mirror } = await setup();
    const c1 = await fx.commit({ 'a.txt': '1\n' }, 'one');
    await fx.push();
    await mirror.fetch();
    await git(['config', 'receive.denyDeletes', 'true'], { env: { GIT_DIR: fx.remote } });
    await git(['config', 'receive.denyNonFastForwards', 'true'], { env: { GIT_DIR: fx.remote } });
    const tree = await mirror.treeOf(c1);
    const rewrite = await mirror.commitTree({ tree, parents: [], message: 'rewrite', author: ALICE });
    await expect(mirror.push({ sha: rewrite, branch: 'main', expectedOld: c1 })).rejects.toThrow(/remote rejected/);
    expect(await remoteRef(fx, 'main')).toBe(c1);
  });

  it('checks out an unpushed merge commit as a plain tree and disposes of it', async () => {
    const { fx, mirror } = await setup();
    await fx.commit({ 'f.txt': 'a\nb\nc\n' }, 'base');
    await fx.branch('feature');
    const feature = await fx.commit({ 'src/new.txt': 'feature\n' }, 'feature', 'feature');
    await fx.commit({ 'f.txt': 'a\nb\nC\n', 'bin/run.sh': '#!/bin/sh\necho run\n' }, 'main');
    // An executable bit and a symlink, committed as such.
    await chmod(join(fx.work, 'bin/run.sh'), 0o755);
    await symlink('../f.txt', join(fx.work, 'bin/f-link'));
    const main = await fx.commit({}, 'mode and link');
    await fx.push();
    await fx.push('feature');
    await mirror.fetch();

    const merged = await mirror.mergeTrees(main, feature);
    if (!merged.clean) throw new Error('expected a clean merge');
    const sha = await mirror.commitTree({ tree: merged.tree, parents: [main, feature], message: 'Merge feature', author: ALICE });
    const mirrorBefore = await listTree(mirror.gitDir);

    const dir = join(await tempDir('culvert-wt-'), 'checkout');
    const co = await mirror.checkout(sha, dir);
    expect(co.dir).toBe(dir);
    expect(await describeTree(dir)).toEqual(await describeCommit(mirror.gitDir, sha));
    expect(await readFile(join(dir, 'f.txt'), 'utf8')).toBe('a\nb\nC\n');
    expect(await readFile(join(dir, 'src/new.txt'), 'utf8')).toBe('feature\n');
    expect((await stat(join(dir, 'bin/run.sh'))).mode & 0o111).not.toBe(0);
    expect((await stat(join(dir, 'f.txt'))).mode & 0o111).toBe(0);
    expect(await readlink(join(dir, 'bin/f-link'))).toBe('../f.txt');
    expect(await pathExists(join(dir, '.git'))).toBe(false);
    // Nothing was written into the mirror: no worktree, no index.
    expect(await listTree(mirror.gitDir)).toEqual(mirrorBefore);

    await co.dispose();
    expect(await pathExists(dir)).toBe(false);

    const again = await mirror.checkout(sha, dir);
    await rm(dir, { recursive: true, force: true });
    await again.dispose();
    await again.dispose();
    expect(await pathExists(dir)).toBe(false);
  });

  it('refuses to check out into a directory that is not empty, and leaves it alone', async () => {
    const { fx, mirror } = await setup();
    const sha = await fx.commit({ 'f.txt': 'f\n' }, 'base');
    await fx.push();
    await mirror.fetch();
    const dir = await tempDir('culvert-wt-');
    await writeFile(join(dir, 'mine.txt'), 'keep me\n');
    await expect(mirror.checkout(sha, dir)).rejects.toThrow(/not empty/);
    expect(await readdir(dir)).toEqual(['mine.txt']);
  });

  it('checks out while fetches run, neither ever failing', async () => {
    const { fx, mirror } = await setup();
    let latest = await fx.commit({ 'n.txt': '0\n', 'tool.sh': '#!/bin/sh\n' }, 'base');
    await fx.push();
    await mirror.fetch();
    const root = await tempDir('culvert-wt-');

    let fetching = true;
    const fetches = (async () => {
      try {
        for (let i = 1; i <= 20; i++) {
          latest = await fx.commit({ 'n.txt': `${i}\n`, [`dir${i % 3}/f${i}.txt`]: `${i}\n` }, `commit ${i}`);
          await fx.push();
          await mirror.fetch();
        }
      } finally {
        fetching = false;
      }
    })();
    let checkouts = 0;
    const checkingOut = (async () => {
      while (fetching || checkouts < 5) {
        const sha = (await mirror.resolveBranch('main')) as string;
        const co = await mirror.checkout(sha, join(root, `co-${checkouts}`));
        expect(await describeTree(co.dir)).toEqual(await describeCommit(mirror.gitDir, sha));
        await co.dispose();
        checkouts++;
      }
    })();
    await Promise.all([fetches, checkingOut]);

    expect(checkouts).toBeGreaterThanOrEqual(5);
    expect(await mirror.resolveBranch('main')).toBe(latest);
    expect(await readdir(root)).toEqual([]);
    expect(await pathExists(join(mirror.gitDir, 'worktrees'))).toBe(false);
  }, 120_000);

  it('picks a commit onto another tree: clean, empty and conflicting', async () => {
    const { fx, mirror } = await setup();
    const base = await fx.commit({ 'f.txt': 'a\nb\nc\n', 'g.txt': '1\n' }, 'base');
    await fx.branch('fix');
    await fx.branch('other');
    // An earlier commit on the branch must not come along with the pick.
    await fx.commit({ 'unrelated.txt': 'stays behind\n' }, 'before fix', 'fix');
    const fix = await fx.commit({ 'g.txt': '1\n2\n', 'fix.txt': 'fixed\n' }, 'fix', 'fix');
    const main = await fx.commit({ 'f.txt': 'A\nb\nc\n' }, 'main moves on');
    const other = await fx.commit({ 'g.txt': '1\nX\n' }, 'other edits g', 'other');
    for (const b of ['main', 'fix', 'other']) await fx.push(b);
    await mirror.fetch();

    const clean = await mirror.pickTree(main, fix);
    expect(clean.kind).toBe('clean');
    if (clean.kind !== 'clean') return;
    expect(await paths(mirror.gitDir, clean.tree)).toEqual(['f.txt', 'fix.txt', 'g.txt']);
    expect(await show(mirror.gitDir, clean.tree, 'f.txt')).toBe('A\nb\nc\n');
    expect(await show(mirror.gitDir, clean.tree, 'g.txt')).toBe('1\n2\n');
    expect(await show(mirror.gitDir, clean.tree, 'fix.txt')).toBe('fixed\n');
    expect(await mirror.pickTree(main, fix)).toEqual(clean);

    expect(await mirror.pickTree(fix, fix)).toEqual({ kind: 'empty' });
    const picked = await mirror.commitTree({ tree: clean.tree, parents: [main], message: 'fix', author: ALICE });
    expect(await mirror.pickTree(picked, fix)).toEqual({ kind: 'empty' });

    expect(await mirror.pickTree(other, fix)).toEqual({ kind: 'conflict', conflicts: ['g.txt'] });

    const err = await mirror.pickTree(main, base).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GitError);
    expect((err as GitError).message).toContain("root commits can't be picked");
  });

  it('reverts a commit onto another tree', async () => {
    const { fx, mirror } = await setup();
    await fx.commit({ 'f.txt': 'a\nb\nc\nd\ne\n' }, 'base');
    const addR = await fx.commit({ 'r.txt': 'r\n', 'f.txt': 'a\nB\nc\nd\ne\n' }, 'add r');
    const later = await fx.commit({ 'f.txt': 'a\nB\nc\nd\nE\n', 'z.txt': 'z\n' }, 'later');
    await fx.push();
    await mirror.fetch();

    const reverted = await mirror.revertTree(later, addR);
    expect(reverted.kind).toBe('clean');
    if (reverted.kind !== 'clean') return;
    expect(await paths(mirror.gitDir, reverted.tree)).toEqual(['f.txt', 'z.txt']);
    expect(await show(mirror.gitDir, reverted.tree, 'f.txt')).toBe('a\nb\nc\nd\nE\n');

    const without = await mirror.commitTree({ tree: reverted.tree, parents: [later], message: 'revert', author: ALICE });
    expect(await mirror.revertTree(without, addR)).toEqual({ kind: 'empty' });

    const touched = await fx.commit({ 'r.txt': 'r changed\n' }, 'touch r');
    await fx.push();
    await mirror.fetch();
    expect(await mirror.revertTree(touched, addR)).toEqual({ kind: 'conflict', conflicts: ['r.txt'] });
  });

  it('survives concurrent opens and fetches of the same remote', async () => {
    const fx = await createRemote();
    onTestFinished(() => fx.cleanup());
    const root = await tempDir('culvert-mirrors-');
    const head = await fx.commit({ 'a.txt': 'a\n' }, 'one');
    await fx.push();
    for (const b of ['b1', 'b2', 'b3']) {
      await fx.branch(b);
      await fx.push(b);
    }

    const mirrors = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const m = await Mirror.open(root, fx.remote);
        await m.fetch();
        return m;
      }),
    );
    expect(new Set(mirrors.map((m) => m.gitDir)).size).toBe(1);
    for (const m of mirrors) {
      expect(await m.resolveBranch('main')).toBe(head);
      expect(await m.resolveBranch('b3')).toBe(head);
    }
    const { stdout } = await git(['config', '--get', 'remote.origin.url'], { env: { GIT_DIR: mirrors[0]!.gitDir } });
    expect(stdout.trim()).toBe(fx.remote);

    expect(await readdir(root)).toEqual([mirrors[0]!.gitDir.slice(root.length + 1)]);
  });

  it('fetches asked for while one runs share one fetch that starts after them', async () => {
    const fx = await createRemote();
    onTestFinished(() => fx.cleanup());
    const dir = await tempDir('culvert-fetch-gate-');
    const mirror = await Mirror.open(join(dir, 'mirrors'), fx.remote);
    await fx.commit({ 'a.txt': 'a\n' }, 'one');
    await fx.push();
    // The remote end of every fetch counts itself; the first waits at a gate the test opens.
    const count = join(dir, 'count');
    const gate = join(dir, 'gate');
    const script = join(dir, 'upload-pack');
    await writeFile(script, `#!/bin/sh\necho run >> '${count}'\nwhile [ ! -e '${gate}' ]; do sleep 0.01; done\nexec git-upload-pack "$@"\n`, { mode: 0o755 });
    await git(['config', 'remote.origin.uploadpack', script], { env: { GIT_DIR: mirror.gitDir } });
    const runs = async (): Promise<number> => (await readFile(count, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;

    const running = mirror.fetch();
    await waitFor('the first fetch to reach the remote', async () => (await runs()) === 1);
    const head = await fx.commit({ 'a.txt': 'b\n' }, 'two');
    await fx.push();
    const asked = [mirror.fetch(), mirror.fetch(), mirror.fetch()];
    await writeFile(gate, '');
    await Promise.all([running, ...asked]);
    // One fetch for the three (not three, and not the one already running when they asked).
    expect(await runs()).toBe(2);
    expect(await mirror.resolveBranch('main')).toBe(head);
  });
});
