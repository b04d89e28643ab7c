// The in-process tree merge (activities/git/tree-merge.ts) against merge-tree itself: on random
// repositories with nested directories, names that sort around "/", non-UTF-8 names, executable bits,
// symlinks, deletions and renames, every answer the fast path gives must be merge-tree's tree, byte
// for byte, and whatever it cannot be sure of it must leave to merge-tree.
import { chmod, mkdir, mkdtemp, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FastTrees } from '../activities/git/fast-trees.ts';
import { Mirror } from '../activities/git/mirror.ts';
import type { PickResult } from '../activities/git/mirror.ts';
import { git } from '../activities/git/run.ts';
import { seededRandom } from './helpers/seeded-random.ts';

const IDENTITY = ['-c', 'user.name=T', '-c', 'user.email=t@example.com', '-c', 'commit.gpgSign=false'];


// Names that sort next to each other and to "name/" in git's order, one that is not UTF-8.
// Names are byte strings, one char per byte (latin1), as the tree code holds them.
const NAMES = ['a', 'a.b', 'a-b', 'a0', 'f', 'f.txt', Buffer.from('é.txt', 'utf8').toString('latin1'), '\xff.t'];
const DIRS = ['', 'a', 'd', 'd/e', 'd/e/f', 'x', 'x/a', 'x/a.b'];
const CONTENTS = ['one\n', 'two\n', 'one\ntwo\n', 'three\n'];

describe('in-process tree merges agree with merge-tree', () => {
  let root: string;
  let work: string;
  let mirror: Mirror;
  let fast: FastTrees;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'culvert-tree-merge-'));
    work = join(root, 'work');
    await mkdir(work);
    await git(['init', '--quiet', '-b', 'main'], { cwd: work });
  });
  afterAll(async () => {
    fast?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  const w = async (args: string[]): Promise<string> => (await git(args, { cwd: work })).stdout.trim();
  const commit = async (message: string): Promise<string> => {
    await w(['add', '-A']);
    await w([...IDENTITY, 'commit', '--quiet', '--allow-empty', '--no-verify', '-m', message]);
    return w(['rev-parse', 'HEAD']);
  };
  // Paths as bytes, so that a name that is not UTF-8 reaches the file system as it is.
  const abs = (rel: string): Buffer => Buffer.from(join(work, rel), 'latin1');
  const parent = (rel: string): Buffer => Buffer.from(dirname(join(work, rel)), 'latin1');

  async function files(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      for (const e of await readdir(Buffer.from(dir, 'latin1'), { withFileTypes: true, encoding: 'buffer' })) {
        const name = e.name.toString('latin1');
        if (rel === '' && name === '.git') continue;
        const r = rel ? `${rel}/${name}` : name;
        if (e.isDirectory()) await walk(join(dir, name), r);
        else out.push(r);
      }
    };
    await walk(work, '');
    return out.sort();
  }

  /** One random change; `area` makes the two sides of a merge mostly, not always, touch different places. */
  async function change(rand: () => number, area: string): Promise<void> {
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const dirs = rand() < 0.75 ? DIRS.filter((d) => d === area || d.startsWith(`${area}/`)) : DIRS;
    const existing = await files();
    const target = (): string => {
      const d = pick(dirs);
      return d ? `${d}/${pick(NAMES)}` : pick(NAMES);
    };
    const roll = rand();
    try {
      if (roll < 0.45 || existing.length === 0) {
        const p = target();
        await mkdir(parent(p), { recursive: true });
        await writeFile(abs(p), pick(CONTENTS));
      } else if (roll < 0.65) {
        await rm(abs(pick(existing)));
      } else if (roll < 0.75) {
        await chmod(abs(pick(existing)), 0o755);
      } else if (roll < 0.85) {
        const from = pick(existing);
        const to = target();
        await mkdir(parent(to), { recursive: true });
        await rename(abs(from), abs(to));
      } else if (roll < 0.92) {
        const p = target();
        await mkdir(parent(p), { recursive: true });
        await symlink(Buffer.from(pick(NAMES), 'latin1'), abs(p));
      } else {
        const d = pick(DIRS.filter(Boolean));
        await rm(abs(d), { recursive: true, force: true });
      }
    } catch {
      // A file where a directory is wanted or the like: no change this time.
    }
  }

  const expectSame = (fastTree: string | null, slow: PickResult, oursTree: string): boolean => {
    if (fastTree === null) return false;
    expect(slow.kind, 'merge-tree merged what the fast path merged').not.toBe('conflict');
    expect(fastTree).toBe(slow.kind === 'clean' ? slow.tree : oursTree);
    return true;
  };

  it('gives merge-tree\'s tree whenever it answers, and leaves the rest', async () => {
    const rand = seededRandom(20261124);
    await writeFile(join(work, 'seed'), 'seed\n');
    await commit('seed');
    const trials: { base: string; ours: string; theirs: string }[] = [];
    for (let i = 0; i < 40; i++) {
      await w(['checkout', '--quiet', '-B', `base${i}`, 'main']);
      for (let k = 0; k < 4; k++) await change(rand, pick2(rand));
      const base = await commit(`base ${i}`);
      await w(['branch', '-f', 'main', base]);
      await w(['checkout', '--quiet', '-B', `ours${i}`, base]);
      for (let k = Math.floor(rand() * 4); k > 0; k--) await change(rand, 'd');
      const ours = await commit(`ours ${i}`);
      await w(['checkout', '--quiet', '-B', `theirs${i}`, base]);
      for (let k = 1 + Math.floor(rand() * 3); k > 0; k--) await change(rand, 'x');
      const theirs = await commit(`theirs ${i}`);
      trials.push({ base, ours, theirs });
    }
    // The rename/delete case: both sides lose `r`, one because it renamed it. Only merge-tree sees that.
    await w(['checkout', '--quiet', '-B', 'rd-base', 'main']);
    await writeFile(join(work, 'r'), 'a file long enough to be seen as renamed\n'.repeat(5));
    const rdBase = await commit('rd base');
    await w(['checkout', '--quiet', '-B', 'rd-ours', rdBase]);
    await rename(join(work, 'r'), join(work, 'r2'));
    const rdOurs = await commit('rename r');
    await w(['checkout', '--quiet', '-B', 'rd-theirs', rdBase]);
    await rm(join(work, 'r'));
    const rdTheirs = await commit('delete r');
    trials.push({ base: rdBase, ours: rdOurs, theirs: rdTheirs });

    mirror = await Mirror.open(join(root, 'mirrors'), work);
    await mirror.fetch();
    const made = await mirror.fastTrees();
    expect(made).not.toBeNull();
    fast = made as FastTrees;

    let answered = 0;
    let left = 0;
    for (const t of trials) {
      const oursTree = await mirror.treeOf(t.ours);
      const picked = await fast.pick(oursTree, t.theirs, t.base);
      if (expectSame(picked, await mirror.pickTree(t.ours, t.theirs), oursTree)) answered++;
      else left++;
      const reverted = await fast.revert(oursTree, t.theirs, t.base);
      if (expectSame(reverted, await mirror.revertTree(t.ours, t.theirs), oursTree)) answered++;
      else left++;
    }
    const rd = await fast.pick(await mirror.treeOf(rdOurs), rdTheirs, rdBase);
    expect(rd, 'rename on one side, delete on the other: left to merge-tree').toBeNull();
    expect((await mirror.pickTree(rdOurs, rdTheirs)).kind).toBe('conflict');
    // Both paths were exercised, and every tree written is a valid object git can read.
    expect(answered).toBeGreaterThan(trials.length / 2);
    expect(left).toBeGreaterThan(2);
    await git(['fsck', '--no-dangling', '--connectivity-only'], { cwd: mirror.gitDir, env: { GIT_DIR: mirror.gitDir } });
    console.log(`tree merges: ${answered} in process, ${left} left to merge-tree`);
  }, 120_000);
});

function pick2(rand: () => number): string {
  return rand() < 0.5 ? 'd' : 'x';
}
