// Git's text and object formats as Culvert reads and writes them, without running git: commit records
// of `git log`, `--numstat` entries, identity lines and commit objects byte for byte as `git commit-tree`
// writes them (so that a mirror may write a commit object itself). The types the mirror answers with.
import type { FastTrees } from './fast-trees.ts';

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

export interface DiffStat {
  files: number;
  insertions: number;
  deletions: number;
  paths: string[];
}

/** What pickTree and revertTree would otherwise look up themselves. */
export interface KnownTrees {
  /** Tree of the target commit. */
  targetTree?: string;
  /** Parents of the commit being picked or reverted, as commitInfo gives them. */
  parents?: string[];
  /** The batch's in-process merger: tried first, merge-tree decides whatever it leaves. */
  fast?: FastTrees | null;
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
// The date must be later than any real commit's: merge-tree finds the merge base by walking
// commits newest first, and a scaffold dated in the past makes it walk all history older than
// the pick before it reaches the scaffold (about 100 ms a pick on 20,000 commits, against 2 ms).
// 2099 is as late as git's date parser goes.

export const COMMIT_FORMAT = ['%H', '%T', '%P', '%an', '%ae', '%aI', '%s', '%b', '%B'].join('%x00') + '%x00';
export const COMMIT_FIELDS = 9;

export function parseCommits(stdout: string): CommitInfo[] {
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

export const numstatEntry = /^\s*(\d+|-)\t(\d+|-)\t(.*)$/s;

/** `--numstat -z` entries (without renames): "added<TAB>deleted<TAB>path", "-" for binary files. */
export function parseNumstat(entries: string[]): DiffStat {
  let insertions = 0;
  let deletions = 0;
  const paths: string[] = [];
  for (const entry of entries) {
    const m = numstatEntry.exec(entry);
    if (!m) continue;
    insertions += m[1] === '-' ? 0 : Number(m[1]);
    deletions += m[2] === '-' ? 0 : Number(m[2]);
    paths.push(m[3] ?? '');
  }
  return { files: paths.length, insertions, deletions, paths };
}

const isCrud = (c: string): boolean => c.charCodeAt(0) <= 32 || '.,:;<>"\\\''.includes(c);

/**
 * The "Name <email> epoch +hhmm" line `git commit-tree` writes for an identity given through
 * GIT_*_NAME, _EMAIL and _DATE, or null where this function is not certain to match git: any name or
 * email git would trim or strip (its "crud" at either end, "<", ">", newlines, NUL, or empty), and any
 * date other than strict ISO 8601 with a zone (fractions of a second are ignored, as git does) in the
 * years git accepts.
 */
export function identLine(who: Identity): string | null {
  const { name, email, date } = who;
  for (const part of [name, email]) {
    if (part === '' || /[<>\n\0]/.test(part) || isCrud(part[0] as string) || isCrud(part[part.length - 1] as string)) return null;
  }
  const m = date === undefined ? null : /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|([+-])(\d{2}):(\d{2}))$/.exec(date);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const zoneHours = m[8] === undefined ? 0 : Number(m[8]);
  const zoneMinutes = m[9] === undefined ? 0 : Number(m[9]);
  if (year < 1970 || year > 2099 || hour > 23 || minute > 59 || second > 59 || zoneHours > 14 || zoneMinutes > 59) return null;
  const local = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(local);
  // No rolling over: 2024-02-30 is not a date git and JavaScript agree on.
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return null;
  const offset = (m[7] === '-' ? -1 : 1) * (zoneHours * 60 + zoneMinutes);
  const epoch = local / 1000 - offset * 60;
  if (epoch < 0) return null;
  const zone = `${offset < 0 ? '-' : '+'}${String(zoneHours).padStart(2, '0')}${String(zoneMinutes).padStart(2, '0')}`;
  return `${name} <${email}> ${epoch} ${zone}`;
}

/** Code points git's commit writer does not take as UTF-8 (it would rewrite their bytes). */
export function hasGitInvalidUtf8(text: string): boolean {
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    if ((cp >= 0xd800 && cp <= 0xdfff) || (cp & 0xfffe) === 0xfffe || (cp >= 0xfdd0 && cp <= 0xfdef)) return true;
  }
  return false;
}

/**
 * The bytes of the commit object `git commit-tree --no-gpg-sign` makes from these options (message
 * ending in a newline, as commitTree sends it; UTF-8, no encoding header), or null when any part is
 * outside what this function formats exactly as git does.
 */
export function commitObject(opts: CommitTreeOptions): Buffer | null {
  const fullSha = /^[0-9a-f]{40}$/;
  if (!fullSha.test(opts.tree) || !opts.parents.every((p) => fullSha.test(p)) || new Set(opts.parents).size !== opts.parents.length) return null;
  const author = identLine(opts.author);
  const committer = identLine(opts.committer ?? opts.author);
  if (author === null || committer === null) return null;
  // commit-tree refuses a message with a NUL byte; that refusal is left to it.
  if (opts.message.includes('\0')) return null;
  const message = opts.message.endsWith('\n') ? opts.message : `${opts.message}\n`;
  const text = `tree ${opts.tree}\n${opts.parents.map((p) => `parent ${p}\n`).join('')}author ${author}\ncommitter ${committer}\n\n${message}`;
  return hasGitInvalidUtf8(text) ? null : Buffer.from(text, 'utf8');
}
