import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { chmod, mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { deflateSync } from 'node:zlib';
import { FastTrees } from './fast-trees.ts';
import { InvalidRefError, assertSafeBranchName, isFullSha } from './refs.ts';
import { GitError, git, type GitOptions, type GitResult } from './run.ts';
import { COMMIT_FIELDS, COMMIT_FORMAT, commitObject, numstatEntry, parseCommits, parseNumstat } from './git-objects.ts';
import type { CommitInfo, CommitTreeOptions, DiffStat, Identity, KnownTrees, MergeTreesResult, PickResult, PushResult, Checkout } from './git-objects.ts';

export type { CommitInfo, CommitTreeOptions, DiffStat, Identity, KnownTrees, MergeTreesResult, PickResult, PushResult, Checkout } from './git-objects.ts';

const SYNTHETIC_IDENTITY: Identity = { name: 'Culvert', email: 'culvert@localhost', date: '2099-12-31T00:00:00Z' };
const SYNTHETIC_MESSAGE = 'culvert: synthetic merge side\n';
// The identity line `git commit-tree` writes for SYNTHETIC_IDENTITY (git reads that date as UTC).
const SYNTHETIC_IDENT = `${SYNTHETIC_IDENTITY.name} <${SYNTHETIC_IDENTITY.email}> ${Date.parse(SYNTHETIC_IDENTITY.date as string) / 1000} +0000`;

// Per repository: whether its objects are named by SHA-1, so that this process may write them itself.
const sha1Repos = new Map<string, Promise<boolean>>();

// Mirrors opened twice in one process (e.g. by concurrent activities) must share one
// queue, so the lock is keyed by repository path rather than held per instance.
const lockTails = new Map<string, Promise<void>>();
// Per mirror, the fetch that has not started yet (see fetch).
const waitingFetches = new Map<string, Promise<void>>();

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
    // fetch.writeCommitGraph keeps a commit-graph of what was fetched (a new layer only when something
    // new came): counting commits, ancestry checks and merge bases then read it instead of parsing every
    // commit object, e.g. `rev-list --count` over 20,000 commits in 14 ms instead of 90.
    // A caller needs a fetch that starts after it asked: one still waiting for the lock will do, so a
    // burst of activities on one repository shares a fetch or two instead of queueing one each.
    const waiting = waitingFetches.get(this.gitDir);
    if (waiting) return waiting;
    const fetched = this.lock(async () => {
      if (waitingFetches.get(this.gitDir) === fetched) waitingFetches.delete(this.gitDir);
      await this.run(['-c', 'fetch.writeCommitGraph=true', 'fetch', '--prune', '--no-tags', '--end-of-options', 'origin', '+refs/heads/*:refs/remotes/origin/*']);
    });
    waitingFetches.set(this.gitDir, fetched);
    return fetched;
  }

  async resolveBranch(branch: string): Promise<string | null> {
    assertSafeBranchName(branch);
    return this.verify(`refs/remotes/origin/${branch}`);
  }

  /**
   * The commit a tag of the remote names, or null when the remote has no such tag. Fetched on demand (the
   * mirror keeps branches only, so that hundreds of tags cost nothing until one is named); the listing
   * comes first so that an unreachable remote is a fault, never "no such tag".
   */
  async resolveTag(name: string): Promise<string | null> {
    assertSafeBranchName(name);
    const ref = `refs/tags/${name}`;
    const { stdout } = await this.run(['ls-remote', '--tags', '--end-of-options', 'origin', ref]);
    if (!stdout.split('\n').some((line) => line.split('\t')[1] === ref)) return null;
    await this.lock(() => this.run(['fetch', '--no-tags', '--no-write-fetch-head', '--end-of-options', 'origin', `+${ref}:${ref}`]));
    return this.verify(`${ref}^{commit}`);
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

  /**
   * A commitTree for a batch of commits: writes each commit object itself when it can produce exactly
   * the bytes `git commit-tree` would (see commitObject), so the SHAs are the same either way, and
   * runs commit-tree for anything else. Asks git once whether commits here are written in UTF-8.
   */
  async commitMaker(): Promise<(opts: CommitTreeOptions) => Promise<string>> {
    const [{ stdout, exitCode }, sha1] = await Promise.all([
      this.run(['config', '--get', 'i18n.commitEncoding'], { okExitCodes: [1] }),
      this.usesSha1(),
    ]);
    // Without i18n.commitEncoding (or with UTF-8) commit-tree writes no encoding header.
    const utf8 = exitCode === 1 || /^utf-?8$/i.test(stdout.trim());
    return async (opts) => {
      const body = utf8 && sha1 ? commitObject(opts) : null;
      const sha = body ? await this.writeLooseObject('commit', body) : null;
      return sha ?? this.commitTree(opts);
    };
  }

  /**
   * In-process tree merges for a batch of picks (pass it to pickTree and revertTree as `fast`, close
   * it after), or null where this process cannot write objects as git would.
   */
  async fastTrees(): Promise<FastTrees | null> {
    if (!(await this.usesSha1())) return null;
    return new FastTrees(this.gitDir, (body) => this.writeLooseObject('tree', body));
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

  /**
   * commitInfo of several commits with one git call, in the order given (a commit given twice is
   * answered twice). Falls back to one call per commit when the answer cannot be matched up.
   */
  async commitInfos(shas: string[]): Promise<CommitInfo[]> {
    const unique = [...new Set(shas)];
    for (const sha of unique) assertNotOption('revision', sha);
    if (unique.length <= 1) return Promise.all(shas.map((sha) => this.commitInfo(sha)));
    // Revisions on stdin: a batch of any size fits, and none can be read as an option.
    const found = await this.logCommits(['--no-walk=unsorted', '--stdin'], `${unique.map((sha) => `${sha}^{commit}`).join('\n')}\n`);
    const bySha = new Map(found.map((c) => [c.sha, c]));
    // Only full shas name their own answer; anything else is asked for one by one.
    if (!unique.every((sha) => bySha.has(sha))) return Promise.all(shas.map((sha) => this.commitInfo(sha)));
    return shas.map((sha) => bySha.get(sha) as CommitInfo);
  }

  /** commitInfo and diffStat of several commits with one `git show`, in the order given. */
  async commitDetails(shas: string[]): Promise<(CommitInfo & { stat: DiffStat })[]> {
    const unique = [...new Set(shas)];
    for (const sha of unique) assertNotOption('revision', sha);
    if (unique.length === 0) return [];
    const found = await this.showDetails(unique);
    const bySha = new Map(found.map((c) => [c.sha, c]));
    if (!unique.every((sha) => bySha.has(sha))) {
      return Promise.all(shas.map(async (sha) => {
        const [info, stat] = await Promise.all([this.commitInfo(sha), this.diffStat(sha)]);
        return { ...info, stat };
      }));
    }
    return shas.map((sha) => bySha.get(sha) as CommitInfo & { stat: DiffStat });
  }

  private async showDetails(shas: string[]): Promise<(CommitInfo & { stat: DiffStat })[]> {
    // The options of diffStat and the format of commitInfo in one command: NUL-terminated header
    // fields, then NUL-terminated numstat entries, then the next commit.
    const { stdout } = await this.run([
      'show', '--no-show-signature', '--numstat', '-z', '--no-renames', `--format=format:${COMMIT_FORMAT}`, '--stdin', '--',
    ], { input: `${shas.join('\n')}\n` });
    const tokens = stdout.split('\0');
    const commits: (CommitInfo & { stat: DiffStat })[] = [];
    let i = 0;
    while (i < tokens.length) {
      const head = (tokens[i] ?? '').replace(/^\n+/, '');
      if (head === '') {
        i++;
        continue;
      }
      if (!/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(head) || i + COMMIT_FIELDS > tokens.length) {
        throw new GitError(`git show printed something other than a commit: ${JSON.stringify(head.slice(0, 80))}`, ['show', ...shas], 0, '');
      }
      const [info] = parseCommits([head, ...tokens.slice(i + 1, i + COMMIT_FIELDS)].join('\0'));
      i += COMMIT_FIELDS;
      const entries: string[] = [];
      for (; i < tokens.length; i++) {
        const token = tokens[i] ?? '';
        if (numstatEntry.test(token)) entries.push(token);
        else if (token.trim() !== '') break;
      }
      if (info) commits.push({ ...info, stat: parseNumstat(entries) });
    }
    return commits;
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
    // A full SHA names at most itself: only its type is in question.
    const shas = /^[0-9a-f]{40}$/.test(prefix)
      ? [prefix]
      : (await this.run(['rev-parse', `--disambiguate=${prefix}`], { okExitCodes: [1, 128] })).stdout.split('\n').filter(Boolean);
    const commits = await this.commitsAmong(shas);
    return shas.filter((sha) => commits.has(sha));
  }

  /** Which of `shas` (full SHAs) name commits this mirror has, with one look-up for all of them. */
  async commitsAmong(shas: string[]): Promise<Set<string>> {
    // Only object names are asked: cat-file would read "main" or "HEAD:x" as revisions.
    const asked = shas.filter((sha) => /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(sha));
    if (asked.length === 0) return new Set();
    // An object that is not there (or vanished meanwhile) reads "<sha> missing".
    const { stdout: types } = await this.run(['cat-file', '--batch-check=%(objectname) %(objecttype)'], { input: `${asked.join('\n')}\n` });
    return new Set(types.split('\n').filter((l) => l.endsWith(' commit')).map((l) => l.slice(0, l.indexOf(' '))));
  }

  /** Files, added and removed lines, and touched paths of one commit against its first parent. */
  async diffStat(sha: string): Promise<DiffStat> {
    assertNotOption('revision', sha);
    const { stdout } = await this.run(['show', '--no-show-signature', '--numstat', '--format=', '-z', '--no-renames', '--end-of-options', sha, '--']);
    return parseNumstat(stdout.split('\0'));
  }

  /** Whether some branch of the remote (as last fetched) contains `sha`. */
  async onSomeBranch(sha: string): Promise<boolean> {
    assertNotOption('revision', sha);
    const { stdout } = await this.run(['for-each-ref', '--count=1', '--format=%(refname)', `--contains=${sha}`, 'refs/remotes/origin/']);
    return stdout.trim() !== '';
  }

  /** What merging `tip` into `base` would change: the diff from their merge base to `tip` (as `git diff base...tip`). */
  async diffStatSince(base: string, tip: string): Promise<DiffStat> {
    assertNotOption('revision', base);
    assertNotOption('revision', tip);
    const { stdout } = await this.run(['diff', '--numstat', '-z', '--no-renames', '--end-of-options', `${base}...${tip}`, '--']);
    return parseNumstat(stdout.split('\0'));
  }

  /**
   * Which of `commits` are reachable from `head` (`isAncestor(c, head)` for each), with one walk.
   * The walk covers only what the commits have and `head` lacks, not all of history.
   */
  async reachableFrom(commits: string[], head: string): Promise<Set<string>> {
    const unique = [...new Set(commits)];
    if (unique.length === 0) return new Set();
    // rev-list names commits by full lowercase sha; anything else is asked about one by one.
    if (!/^[0-9a-f]{40}$/.test(head) || !unique.every((c) => /^[0-9a-f]{40}$/.test(c))) {
      const answers = await Promise.all(unique.map(async (c) => [c, await this.isAncestor(c, head)] as const));
      return new Set(answers.filter(([, yes]) => yes).map(([c]) => c));
    }
    const { stdout } = await this.run(['rev-list', '--stdin'], { input: `${unique.join('\n')}\n^${head}\n` });
    const notReachable = new Set(stdout.split('\n'));
    return new Set(unique.filter((c) => !notReachable.has(c)));
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

  private async logCommits(args: string[], input?: string): Promise<CommitInfo[]> {
    // --no-show-signature: log.showSignature in someone's config would mix gpg output into stdout.
    const { stdout } = await this.run(['log', '--no-show-signature', `--format=format:${COMMIT_FORMAT}`, ...args], { input });
    return parseCommits(stdout);
  }

  /**
   * Cherry-picks `pick` onto `target` as a tree, without a working tree.
   *
   * merge-tree in git 2.39 has no --merge-base, so the base is forced through ancestry:
   * a synthetic commit S (target's tree, parent pick^) shares exactly pick^ as merge base
   * with pick, making the three-way merge target + (pick - pick^).
   *
   * `known` saves the look-ups a caller has already done (the pick's parents from commitInfo, the
   * target's tree from the commit it just made).
   */
  async pickTree(target: string, pick: string, known: KnownTrees = {}): Promise<PickResult> {
    const [parents, targetTree] = await Promise.all([known.parents ?? this.parentsOf(pick), known.targetTree ?? this.treeOf(target)]);
    const [parent] = parents;
    if (parent === undefined) throw rootCommitError('pick', target, pick);
    const fast = await known.fast?.pick(targetTree, pick, parent);
    if (fast) return fast === targetTree ? { kind: 'empty' } : { kind: 'clean', tree: fast };
    const ours = await this.syntheticCommit(targetTree, parent);
    return this.treeResult(targetTree, await this.mergeTrees(ours, pick));
  }

  /**
   * Reverts `commit` on top of `target` as a tree: base = commit, ours = target,
   * theirs = commit^. Both sides become synthetic children of `commit` so that it is
   * their only merge base.
   */
  async revertTree(target: string, commit: string, known: KnownTrees = {}): Promise<PickResult> {
    const [parent] = known.parents ?? (await this.parentsOf(commit));
    if (parent === undefined) throw rootCommitError('revert', target, commit);
    const targetTree = known.targetTree ?? (await this.treeOf(target));
    const fast = await known.fast?.revert(targetTree, commit, parent);
    if (fast) return fast === targetTree ? { kind: 'empty' } : { kind: 'clean', tree: fast };
    const parentTree = await this.treeOf(parent);
    const ours = await this.syntheticCommit(targetTree, commit);
    const theirs = await this.syntheticCommit(parentTree, commit);
    return this.treeResult(targetTree, await this.mergeTrees(ours, theirs));
  }

  /**
   * The scaffolding commit (tree, one parent, fixed identity and message): the very object `git
   * commit-tree` makes for it, written here as a loose object instead of by a git process, one spawn
   * less per pick. Falls back to commit-tree where this process cannot write objects as git would.
   */
  private async syntheticCommit(tree: string, parent: string): Promise<string> {
    if (/^[0-9a-f]{40}$/.test(tree) && /^[0-9a-f]{40}$/.test(parent)) {
      const body = `tree ${tree}\nparent ${parent}\nauthor ${SYNTHETIC_IDENT}\ncommitter ${SYNTHETIC_IDENT}\n\n${SYNTHETIC_MESSAGE}`;
      const sha = await this.writeLooseObject('commit', Buffer.from(body, 'utf8'));
      if (sha) return sha;
    }
    return this.commitTree({ tree, parents: [parent], message: SYNTHETIC_MESSAGE, author: SYNTHETIC_IDENTITY });
  }

  /**
   * Writes an object as git writes a loose one (zlib of "<type> <size>\0<body>", named by its SHA-1,
   * through a tmp_obj_ file that git's own pruning cleans up if we die half-way), or returns null if
   * the repository does not use SHA-1 names.
   */
  private async writeLooseObject(type: 'commit' | 'tree', body: Buffer): Promise<string | null> {
    if (!(await this.usesSha1())) return null;
    const header = Buffer.from(`${type} ${body.length}\0`, 'utf8');
    const sha = createHash('sha1').update(header).update(body).digest('hex');
    const dir = join(this.gitDir, 'objects', sha.slice(0, 2));
    const path = join(dir, sha.slice(2));
    // Synchronous on purpose: a handful of microsecond syscalls on a small file, where a round trip
    // through libuv's thread pool per call costs more than the work (and more still under load).
    if (existsSync(path)) {
      // Already there (these objects are deterministic): freshen it as git does, so that a prune of
      // old unreachable objects cannot take it away while we use it.
      try {
        const now = new Date();
        utimesSync(path, now, now);
        return sha;
      } catch {
        // Gone meanwhile, or not ours to touch: write it (again).
      }
    }
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `tmp_obj_${process.pid}_${randomBytes(6).toString('hex')}`);
    try {
      writeFileSync(tmp, deflateSync(Buffer.concat([header, body]), { level: 1 }), { mode: 0o444, flag: 'wx' });
      // Same name, same bytes: replacing an object someone else wrote meanwhile changes nothing.
      renameSync(tmp, path);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    return sha;
  }

  private usesSha1(): Promise<boolean> {
    let known = sha1Repos.get(this.gitDir);
    if (!known) {
      known = readFile(join(this.gitDir, 'config'), 'utf8').then(
        // Anything but the default object format (or a config we cannot read) is left to git.
        (config) => !/^\s*objectformat\s*=/im.test(config),
        () => false,
      );
      sha1Repos.set(this.gitDir, known);
    }
    return known;
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
      // The mirror's copy of the branch follows, without holding up whoever waits on the push (the
      // outcome is written right after it): every later user of the mirror takes the lock after this.
      void this.lock(() => this.run(['update-ref', '--end-of-options', `refs/remotes/origin/${branch}`, sha])).catch(() => undefined);
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

  /**
   * A plain copy of the tree of exactly `sha` in `dir` (created; it must not exist or be empty): file
   * modes and symlinks as committed, no `.git`, and no trace in the mirror (no worktree bookkeeping,
   * which `git fetch` would trip over). The commit need not be reachable from any ref.
   *
   * Runs without the mirror's lock: read-tree and checkout-index only read objects, and write nothing
   * but a temporary index (inside `dir`, removed before returning) and the files; a concurrent fetch
   * only ever adds objects and moves refs, atomically.
   */
  async checkout(sha: string, dir: string): Promise<Checkout> {
    assertFullSha('sha', sha);
    const absDir = resolve(dir);
    await mkdir(absDir, { recursive: true });
    if ((await readdir(absDir)).length > 0) throw new Error(`checkout directory ${absDir} is not empty`);
    const index = join(absDir, `.culvert-index-${randomBytes(6).toString('hex')}`);
    const env = { GIT_INDEX_FILE: index, GIT_WORK_TREE: absDir };
    try {
      await this.run(['read-tree', '--end-of-options', sha], { env });
      await this.run(['checkout-index', '--all', '--force'], { env });
      await rm(index, { force: true });
    } catch (err) {
      await removeTree(absDir);
      throw err;
    }
    return { dir: absDir, dispose: () => removeTree(absDir) };
  }
}

/**
 * `rm -rf`, also of directories a build made read-only (which rm alone cannot empty). Missing is fine.
 */
export async function removeTree(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw err;
    await makeWritable(dir);
    await rm(dir, { recursive: true, force: true });
  }
}

async function makeWritable(dir: string): Promise<void> {
  await chmod(dir, 0o700).catch(() => undefined);
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) if (entry.isDirectory()) await makeWritable(join(dir, entry.name));
}

function rootCommitError(op: 'pick' | 'revert', target: string, commit: string): GitError {
  return new GitError(`cannot ${op} ${commit}: root commits can't be ${op === 'pick' ? 'picked' : 'reverted'}`, [op, target, commit], null, '');
}
