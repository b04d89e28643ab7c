import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InvalidRefError, assertSafeBranchName, isFullSha } from './refs.ts';
import { GitError, git, type GitOptions, type GitResult } from './run.ts';

export interface Identity {
  name: string;
  email: string;
  /** Any date git accepts in GIT_AUTHOR_DATE; fix it to make the commit sha reproducible. */
  date?: string;
}

export interface CommitTreeOptions {
  tree: string;
  parents: string[];
  message: string;
  author: Identity;
  committer?: Identity;
}

export interface CommitInfo {
  sha: string;
  tree: string;
  parents: string[];
  subject: string;
  body: string;
  message: string;
  authorName: string;
  authorEmail: string;
  /** Strict ISO 8601 in the author's own time zone, as git's %aI. */
  authorDate: string;
}

export type MergeTreesResult = { clean: true; tree: string } | { clean: false; conflicts: string[] };

export type PickResult =
  | { kind: 'clean'; tree: string }
  | { kind: 'empty' }
  | { kind: 'conflict'; conflicts: string[] };

export type PushResult = { ok: true } | { ok: false; reason: 'stale'; actual: string | null };

export interface Checkout {
  dir: string;
  dispose(): Promise<void>;
}

// Scaffolding commits for tree-only picks never leave the mirror; fixing their identity
// and date keeps them byte-identical across runs, so retries reuse the same objects.
const SYNTHETIC_IDENTITY: Identity = { name: 'Culvert', email: 'culvert@localhost', date: '2000-01-01T00:00:00Z' };

const COMMIT_FORMAT = ['%H', '%T', '%P', '%an', '%ae', '%aI', '%s', '%b', '%B'].join('%x00') + '%x00';
const COMMIT_FIELDS = 9;

// Mirrors opened twice in one process (e.g. by concurrent activities) must share one
// queue, so the lock is keyed by repository path rather than held per instance.
const lockTails = new Map<string, Promise<void>>();

function assertNotOption(what: string, value: string): void {
  if (value === '' || value.startsWith('-')) {
    throw new InvalidRefError(value, `${what} ${JSON.stringify(value)} must be non-empty and must not start with "-"`);
  }
}

function assertFullSha(what: string, value: string): void {
  if (!isFullSha(value)) throw new InvalidRefError(value, `${what} ${JSON.stringify(value)} must be a full 40-character sha`);
}

function identityEnv(role: 'AUTHOR' | 'COMMITTER', who: Identity): Record<string, string> {
  const env: Record<string, string> = {
    [`GIT_${role}_NAME`]: who.name,
    [`GIT_${role}_EMAIL`]: who.email,
  };
  if (who.date !== undefined) env[`GIT_${role}_DATE`] = who.date;
  return env;
}

function parseCommits(stdout: string): CommitInfo[] {
  const tokens = stdout.split('\0');
  const commits: CommitInfo[] = [];
  for (let i = 0; i + COMMIT_FIELDS <= tokens.length; i += COMMIT_FIELDS) {
    const [sha, tree, parents, authorName, authorEmail, authorDate, subject, body, message] = tokens.slice(i, i + COMMIT_FIELDS) as [
      string, string, string, string, string, string, string, string, string,
    ];
    commits.push({
      // Records after the first are preceded by git's "\n" record separator.
      sha: sha.replace(/^\n/, ''),
      tree,
      parents: parents === '' ? [] : parents.split(' '),
      subject,
      body: body.trimEnd(),
      message,
      authorName,
      authorEmail,
      authorDate,
    });
  }
  return commits;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

export class Mirror {
  private constructor(
    readonly gitDir: string,
    readonly remoteUrl: string,
  ) {}

  static async open(root: string, remoteUrl: string): Promise<Mirror> {
    assertNotOption('remote URL', remoteUrl);
    const absRoot = resolve(root);
    const name = createHash('sha256').update(remoteUrl).digest('hex').slice(0, 16);
    const gitDir = join(absRoot, `${name}.git`);
    if (!(await exists(gitDir))) {
      await mkdir(absRoot, { recursive: true });
      // Build the repository under a private name and rename it into place, so a
      // concurrent opener sees either nothing or a complete mirror, never a half-made one.
      const tmp = join(absRoot, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
      try {
        await git(['init', '--bare', '--quiet', tmp]);
        await git(['remote', 'add', '--end-of-options', 'origin', remoteUrl], { cwd: tmp, env: { GIT_DIR: tmp } });
        await rename(tmp, gitDir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Losing the rename race is fine: the winner made the same mirror.
        if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !(await exists(gitDir))) throw err;
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    }
    return new Mirror(gitDir, remoteUrl);
  }

  /** Serialises `fn` against every other lock holder for this mirror in this process. */
  async lock<T>(fn: () => Promise<T>): Promise<T> {
    const previous = lockTails.get(this.gitDir) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    const tail = previous.then(() => mine);
    lockTails.set(this.gitDir, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (lockTails.get(this.gitDir) === tail) lockTails.delete(this.gitDir);
    }
  }

  private run(args: string[], opts: GitOptions = {}): Promise<GitResult> {
    // Hooks from the host's global config have no business running inside Culvert's mirror.
    return git(['-c', 'core.hooksPath=/dev/null', ...args], {
      ...opts,
      cwd: opts.cwd ?? this.gitDir,
      env: { GIT_DIR: this.gitDir, ...opts.env },
    });
  }

  async fetch(): Promise<void> {
    await this.lock(() =>
      this.run(['fetch', '--prune', '--no-tags', '--end-of-options', 'origin', '+refs/heads/*:refs/remotes/origin/*']),
    );
  }

  async resolveBranch(branch: string): Promise<string | null> {
    assertSafeBranchName(branch);
    return this.verify(`refs/remotes/origin/${branch}`);
  }

  async resolveCommit(rev: string): Promise<string | null> {
    assertNotOption('revision', rev);
    return this.verify(`${rev}^{commit}`);
  }

  private async verify(rev: string): Promise<string | null> {
    const { stdout, exitCode } = await this.run(['rev-parse', '--verify', '--quiet', '--end-of-options', rev], {
      okExitCodes: [1],
    });
    return exitCode === 0 ? stdout.trim() : null;
  }

  async remoteHead(branch: string): Promise<string | null> {
    assertSafeBranchName(branch);
    const ref = `refs/heads/${branch}`;
    const { stdout } = await this.run(['ls-remote', '--end-of-options', 'origin', ref]);
    // ls-remote patterns match ref-name suffixes, so "refs/heads/x" would also match
    // "refs/heads/a/refs/heads/x"; only the exact ref counts.
    for (const line of stdout.split('\n')) {
      const [sha, name] = line.split('\t');
      if (name === ref && sha) return sha;
    }
    return null;
  }

  async isAncestor(a: string, b: string): Promise<boolean> {
    assertNotOption('revision', a);
    assertNotOption('revision', b);
    const { exitCode } = await this.run(['merge-base', '--is-ancestor', '--end-of-options', a, b], { okExitCodes: [1] });
    return exitCode === 0;
  }

  async mergeTrees(ours: string, theirs: string): Promise<MergeTreesResult> {
    assertNotOption('revision', ours);
    assertNotOption('revision', theirs);
    // -z keeps paths raw; without it git C-quotes non-ASCII and unusual names.
    const { stdout, exitCode } = await this.run(
      ['merge-tree', '--write-tree', '--name-only', '--no-messages', '-z', '--end-of-options', ours, theirs],
      { okExitCodes: [1] },
    );
    const [tree, ...paths] = stdout.split('\0').filter((s) => s !== '');
    if (!tree) throw new GitError('git merge-tree printed no tree', ['merge-tree', ours, theirs], exitCode, '');
    if (exitCode === 0) return { clean: true, tree };
    return { clean: false, conflicts: [...new Set(paths)] };
  }

  async commitTree(opts: CommitTreeOptions): Promise<string> {
    assertNotOption('tree', opts.tree);
    for (const p of opts.parents) assertNotOption('parent', p);
    const args = ['commit-tree', '--no-gpg-sign'];
    for (const p of opts.parents) args.push('-p', p);
    args.push('--end-of-options', opts.tree);
    // git itself always ends messages with a newline; match it so commits made here
    // look like ordinary ones to every other tool.
    const message = opts.message.endsWith('\n') ? opts.message : `${opts.message}\n`;
    const { stdout } = await this.run(args, {
      input: message,
      env: { ...identityEnv('AUTHOR', opts.author), ...identityEnv('COMMITTER', opts.committer ?? opts.author) },
    });
    return stdout.trim();
  }

  async treeOf(commit: string): Promise<string> {
    assertNotOption('revision', commit);
    const { stdout } = await this.run(['rev-parse', '--verify', '--end-of-options', `${commit}^{tree}`]);
    return stdout.trim();
  }

  async parentsOf(commit: string): Promise<string[]> {
    assertNotOption('revision', commit);
    const { stdout } = await this.run(['rev-list', '--parents', '--no-walk', '--end-of-options', `${commit}^{commit}`, '--']);
    return stdout.trim().split(' ').slice(1);
  }

  async commitInfo(sha: string): Promise<CommitInfo> {
    assertNotOption('revision', sha);
    const [info] = await this.logCommits(['-1', '--end-of-options', `${sha}^{commit}`, '--']);
    if (!info) throw new GitError(`git log printed nothing for ${sha}`, ['log', sha], 0, '');
    return info;
  }

  async log(range: string, limit?: number): Promise<CommitInfo[]> {
    assertNotOption('range', range);
    const args = ['--topo-order'];
    if (limit !== undefined) args.push(`--max-count=${Math.max(0, Math.floor(limit))}`);
    return this.logCommits([...args, '--end-of-options', range, '--']);
  }

  async countCommits(range: string): Promise<number> {
    assertNotOption('range', range);
    const { stdout } = await this.run(['rev-list', '--count', '--end-of-options', range, '--']);
    return Number.parseInt(stdout.trim(), 10);
  }

  /** Full SHAs that an abbreviated one could mean (more than one: ambiguous; none: unknown). */
  async candidates(prefix: string): Promise<string[]> {
    assertNotOption('revision', prefix);
    const { stdout } = await this.run(['rev-parse', `--disambiguate=${prefix}`], { okExitCodes: [1, 128] });
    const shas = stdout.split('\n').filter(Boolean);
    const commits: string[] = [];
    for (const sha of shas) {
      const { stdout: type } = await this.run(['cat-file', '-t', sha], { okExitCodes: [128] });
      if (type.trim() === 'commit') commits.push(sha);
    }
    return commits;
  }

  /** Files, added and removed lines, and touched paths of one commit against its first parent. */
  async diffStat(sha: string): Promise<{ files: number; insertions: number; deletions: number; paths: string[] }> {
    assertNotOption('revision', sha);
    const { stdout } = await this.run(['show', '--no-show-signature', '--numstat', '--format=', '-z', '--no-renames', '--end-of-options', sha, '--']);
    let insertions = 0;
    let deletions = 0;
    const paths: string[] = [];
    for (const entry of stdout.split('\0')) {
      const m = /^\s*(\d+|-)\t(\d+|-)\t(.*)$/s.exec(entry);
      if (!m) continue;
      insertions += m[1] === '-' ? 0 : Number(m[1]);
      deletions += m[2] === '-' ? 0 : Number(m[2]);
      paths.push(m[3] ?? '');
    }
    return { files: paths.length, insertions, deletions, paths };
  }

  /** Raw messages of the commits in `range`, newest first. */
  async messages(range: string): Promise<{ sha: string; message: string }[]> {
    assertNotOption('range', range);
    const { stdout } = await this.run(['log', '--no-show-signature', '--format=%H%n%B%x00', '--end-of-options', range, '--']);
    return stdout.split('\0').map((chunk) => chunk.replace(/^\n/, '')).filter((chunk) => chunk.trim() !== '').map((chunk) => {
      const nl = chunk.indexOf('\n');
      return { sha: chunk.slice(0, nl), message: chunk.slice(nl + 1) };
    });
  }

  private async logCommits(args: string[]): Promise<CommitInfo[]> {
    // --no-show-signature: log.showSignature in someone's config would mix gpg output into stdout.
    const { stdout } = await this.run(['log', '--no-show-signature', `--format=format:${COMMIT_FORMAT}`, ...args]);
    return parseCommits(stdout);
  }

  /**
   * Cherry-picks `pick` onto `target` as a tree, without a working tree.
   *
   * merge-tree in git 2.39 has no --merge-base, so the base is forced through ancestry:
   * a synthetic commit S (target's tree, parent pick^) shares exactly pick^ as merge base
   * with pick, making the three-way merge target + (pick - pick^).
   */
  async pickTree(target: string, pick: string): Promise<PickResult> {
    const [parent] = await this.parentsOf(pick);
    if (parent === undefined) throw rootCommitError('pick', target, pick);
    const targetTree = await this.treeOf(target);
    const ours = await this.syntheticCommit(targetTree, parent);
    return this.treeResult(targetTree, await this.mergeTrees(ours, pick));
  }

  /**
   * Reverts `commit` on top of `target` as a tree: base = commit, ours = target,
   * theirs = commit^. Both sides become synthetic children of `commit` so that it is
   * their only merge base.
   */
  async revertTree(target: string, commit: string): Promise<PickResult> {
    const [parent] = await this.parentsOf(commit);
    if (parent === undefined) throw rootCommitError('revert', target, commit);
    const [targetTree, parentTree] = await Promise.all([this.treeOf(target), this.treeOf(parent)]);
    const ours = await this.syntheticCommit(targetTree, commit);
    const theirs = await this.syntheticCommit(parentTree, commit);
    return this.treeResult(targetTree, await this.mergeTrees(ours, theirs));
  }

  private syntheticCommit(tree: string, parent: string): Promise<string> {
    return this.commitTree({ tree, parents: [parent], message: 'culvert: synthetic merge side', author: SYNTHETIC_IDENTITY });
  }

  private treeResult(targetTree: string, merged: MergeTreesResult): PickResult {
    if (!merged.clean) return { kind: 'conflict', conflicts: merged.conflicts };
    if (merged.tree === targetTree) return { kind: 'empty' };
    return { kind: 'clean', tree: merged.tree };
  }

  async push(opts: { sha: string; branch: string; expectedOld: string | null }): Promise<PushResult> {
    const { sha, branch, expectedOld } = opts;
    assertSafeBranchName(branch);
    assertFullSha('sha', sha);
    if (expectedOld !== null) assertFullSha('expectedOld', expectedOld);
    const ref = `refs/heads/${branch}`;
    // An empty lease value means "the ref must not exist yet".
    const args = ['push', '--porcelain', `--force-with-lease=${ref}:${expectedOld ?? ''}`, '--end-of-options', 'origin', `${sha}:${ref}`];
    const { stdout, stderr, exitCode } = await this.run(args, { okExitCodes: [1] });
    if (exitCode === 0) {
      await this.lock(() => this.run(['update-ref', '--end-of-options', `refs/remotes/origin/${branch}`, sha]));
      return { ok: true };
    }
    // Porcelain status lines are "<flag>\t<from>:<to>\t<summary>"; "!" with a plain
    // "[rejected]" is the lease (or fast-forward) check, whereas "[remote rejected]"
    // is a hook or server policy and must not be mistaken for a race.
    const line = stdout.split('\n').find((l) => l.startsWith('!\t') && l.split('\t')[1]?.endsWith(`:${ref}`));
    if (line?.split('\t')[2]?.startsWith('[rejected]')) {
      return { ok: false, reason: 'stale', actual: await this.remoteHead(branch) };
    }
    throw new GitError(`git push failed: ${line ?? stderr.trim()}`, args, exitCode, stderr);
  }

  /** A detached worktree of exactly `sha`; the commit need not be reachable from any ref. */
  async checkout(sha: string, dir: string): Promise<Checkout> {
    assertFullSha('sha', sha);
    const absDir = resolve(dir);
    await this.run(['worktree', 'add', '--detach', '--force', '--end-of-options', absDir, sha]);
    return {
      dir: absDir,
      dispose: async () => {
        if (await exists(absDir)) await this.run(['worktree', 'remove', '--force', '--end-of-options', absDir]);
        // Also clears the bookkeeping of a worktree whose directory someone else deleted.
        await this.run(['worktree', 'prune']);
      },
    };
  }
}

function rootCommitError(op: 'pick' | 'revert', target: string, commit: string): GitError {
  return new GitError(`cannot ${op} ${commit}: root commits can't be ${op === 'pick' ? 'picked' : 'reverted'}`, [op, target, commit], null, '');
}
