import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { git } from '../../activities/git/run.ts';

export interface GitFixture {
  /** Path of the bare repository that plays the hosted remote. */
  remote: string;
  /** A normal clone of `remote` that tests write commits in. */
  work: string;
  /** Checks out `branch` (default "main"), applies `files` (null deletes) and commits; returns the new sha. */
  commit(files: Record<string, string | null>, message: string, branch?: string): Promise<string>;
  /** Creates `name` at `from` (default "main") without switching to it. */
  branch(name: string, from?: string): Promise<void>;
  /** Force-pushes `branch` (default "main") so the remote matches the work clone exactly. */
  push(branch?: string): Promise<void>;
  cleanup(): Promise<void>;
}

const DEFAULT_BRANCH = 'main';

// Pinned here rather than read from ~/.gitconfig, so tests behave the same on any machine.
const IDENTITY = ['-c', 'user.name=T', '-c', 'user.email=t@example.com', '-c', 'commit.gpgSign=false'];

export async function createRemote(): Promise<GitFixture> {
  const root = await mkdtemp(join(tmpdir(), 'culvert-git-'));
  const remote = join(root, 'remote.git');
  const work = join(root, 'work');

  await git(['init', '--quiet', '--bare', `--initial-branch=${DEFAULT_BRANCH}`, remote]);
  await git(['init', '--quiet', `--initial-branch=${DEFAULT_BRANCH}`, work]);
  await git(['remote', 'add', 'origin', remote], { cwd: work });

  const inWork = (args: string[]) => git(args, { cwd: work });

  async function currentBranch(): Promise<string> {
    const { stdout } = await inWork(['symbolic-ref', '--short', 'HEAD']);
    return stdout.trim();
  }

  return {
    remote,
    work,

    async commit(files, message, branch = DEFAULT_BRANCH) {
      // An unborn "main" cannot be checked out, but it is already where HEAD points.
      if ((await currentBranch()) !== branch) await inWork(['checkout', '--quiet', branch, '--']);
      for (const [path, content] of Object.entries(files)) {
        const abs = join(work, path);
        if (content === null) {
          await rm(abs, { force: true });
        } else {
          await mkdir(dirname(abs), { recursive: true });
          await writeFile(abs, content);
        }
      }
      await inWork(['add', '--all']);
      await inWork([...IDENTITY, 'commit', '--quiet', '--allow-empty', '--no-verify', '-m', message]);
      const { stdout } = await inWork(['rev-parse', 'HEAD']);
      return stdout.trim();
    },

    async branch(name, from = DEFAULT_BRANCH) {
      await inWork(['branch', name, from]);
    },

    async push(branch = DEFAULT_BRANCH) {
      await inWork(['push', '--quiet', '--no-verify', 'origin', `+refs/heads/${branch}:refs/heads/${branch}`]);
    },

    async cleanup() {
      await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * Another path to the same bare repository (a link), for tests whose several pull-request products
 * share one remote's trunk: a repository's branches belong to one product, and Culvert does not
 * recognise one repository spelled two ways (domain/repositories.ts). Removed by the returned cleanup.
 */
export async function aliasOf(remote: string, name: string): Promise<{ path: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'culvert-alias-'));
  const path = join(dir, `${name}.git`);
  await symlink(remote, path);
  return { path, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
