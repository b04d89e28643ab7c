// Read-only git queries the tracer needs, in bulk: one process per question, never one per commit.
import { git } from '../git/run.ts';
import type { Mirror } from '../git/index.ts';

export interface LoggedCommit {
  sha: string;
  parents: string[];
  author: string;
  subject: string;
  /** The full message (only when asked for). */
  message: string;
  /** Value of the last `Culvert-Change:` trailer, if any. */
  changeId: string | null;
}

const RECORD = '\x1e';

function run(m: Mirror, args: string[], input?: string, okExitCodes?: number[]) {
  // --literal-pathspecs: paths from commits are data, never pathspec magic.
  return git(['--literal-pathspecs', '-c', 'core.hooksPath=/dev/null', ...args], {
    cwd: m.gitDir, env: { GIT_DIR: m.gitDir }, input, okExitCodes,
  });
}

function assertRev(rev: string): void {
  if (rev === '' || rev.startsWith('-')) throw new Error(`revision ${JSON.stringify(rev)} must be non-empty and must not start with "-"`);
}

/**
 * Commits reachable from `include` and from none of `exclude`, parents before children (topological
 * order). With `messages`, the full message of each; otherwise only the subject and the Culvert trailer.
 */
export async function logCommits(m: Mirror, include: string, exclude: string[], opts: { messages?: boolean } = {}): Promise<LoggedCommit[]> {
  assertRev(include);
  for (const e of exclude) assertRev(e);
  const body = opts.messages ? '%B' : '%(trailers:key=Culvert-Change,valueonly,separator=%x2C)';
  const format = `--format=${RECORD}%H%x00%P%x00%an%x00%s%x00${body}`;
  const { stdout } = await run(m, [
    'log', '--no-show-signature', '--no-decorate', '--topo-order', '--reverse', format, '--end-of-options', include, ...exclude.map((e) => `^${e}`), '--',
  ]);
  const out: LoggedCommit[] = [];
  for (const chunk of stdout.split(RECORD)) {
    if (chunk === '') continue;
    const [sha = '', parents = '', author = '', subject = '', rest = ''] = chunk.split('\0');
    const tail = rest.replace(/\n$/, '');
    let changeId: string | null;
    if (opts.messages) {
      const all = [...tail.matchAll(/^Culvert-Change: (\S+)$/gm)];
      changeId = all.at(-1)?.[1] ?? null;
    } else {
      changeId = tail.trim().split(',').map((s) => s.trim()).filter(Boolean).at(-1) ?? null;
    }
    out.push({ sha, parents: parents === '' ? [] : parents.split(' '), author, subject, message: opts.messages ? tail : '', changeId });
  }
  return out;
}

/** `git patch-id --stable` of each given non-merge commit (commits without a diff get none). */
export async function patchIds(m: Mirror, shas: string[]): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  if (shas.length === 0) return ids;
  const { stdout: patches } = await run(m, ['diff-tree', '-p', '--binary', '--no-renames', '--root', '--stdin'], `${shas.join('\n')}\n`);
  if (patches.trim() === '') return ids;
  const { stdout } = await run(m, ['patch-id', '--stable'], patches);
  for (const line of stdout.split('\n')) {
    const [pid, sha] = line.split(' ');
    if (pid && sha) ids.set(sha, pid);
  }
  return ids;
}

/** Every path the given commits touch (against their first parent). */
export async function touchedPaths(m: Mirror, shas: string[]): Promise<string[]> {
  if (shas.length === 0) return [];
  const { stdout } = await run(m, ['diff-tree', '-r', '--name-only', '--no-commit-id', '--no-renames', '--root', '-z', '--stdin'], `${shas.join('\n')}\n`);
  return [...new Set(stdout.split('\0').filter(Boolean))];
}

/** Non-merge commits of `include ^exclude` that touch any of `paths` (all of them when there are too many paths). */
export async function commitsTouching(m: Mirror, include: string, exclude: string[], paths: string[]): Promise<string[]> {
  assertRev(include);
  for (const e of exclude) assertRev(e);
  const pathspec = paths.length > 0 && paths.length <= 500 ? paths : [];
  const { stdout } = await run(m, ['rev-list', '--no-merges', '--end-of-options', include, ...exclude.map((e) => `^${e}`), '--', ...pathspec]);
  return stdout.split('\n').filter(Boolean);
}

export async function mergeBase(m: Mirror, a: string, b: string): Promise<string | null> {
  assertRev(a);
  assertRev(b);
  const { stdout, exitCode } = await run(m, ['merge-base', '--end-of-options', a, b], undefined, [1]);
  return exitCode === 0 ? stdout.trim() || null : null;
}
