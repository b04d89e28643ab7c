// Backports edited by hand: the last signal the tracer tries, after Culvert's record, the trailers and
// the patch id. Real projects adapt a fix to older code, reword it, squash two into one; the patch id
// then differs, but git keeps the author and the author date through cherry-pick, amend and squash, and
// a fix redone by hand usually keeps its subject and touches mostly the same files. What is found this
// way is a "probably", said with its evidence, never a certain answer.
import { git } from '../git/run.ts';
import type { Mirror } from '../git/index.ts';

export interface Similar {
  sha: string;
  evidence: string;
}

interface Facts {
  author: string;
  date: number;
  subject: string;
  paths: Set<string>;
}

const RECORD = '\x1e';
/** Paths in common over paths of either, at least: most of the same files. */
const minOverlap = 0.5;

function run(m: Mirror, args: string[], input: string) {
  return git(['--literal-pathspecs', '-c', 'core.hooksPath=/dev/null', ...args], { cwd: m.gitDir, env: { GIT_DIR: m.gitDir }, input });
}

/** A subject as people rewrite it for a backport: without "[3.x]", "backport:", "(cherry-pick)", "(#123)", case. */
export function normalSubject(subject: string): string {
  let s = subject.trim().toLowerCase();
  for (let before = ''; before !== s;) {
    before = s;
    s = s.replace(/^\s*(\[[^\]]{1,40}\]|\((backport|cherry[- ]pick(ed)?)[^)]{0,40}\))\s*/, '')
      .replace(/^\s*(backport(ed)?( of| to [^:]{1,30})?|cherry[- ]pick(ed)?)\s*:?\s*/, '')
      .replace(/\s*\((#\d+|backport[^)]{0,40}|cherry[- ]pick[^)]{0,40})\)\s*$/, '');
  }
  return s.replace(/\s+/g, ' ').trim();
}

async function factsOf(m: Mirror, shas: string[]): Promise<Map<string, Facts>> {
  const out = new Map<string, Facts>();
  if (shas.length === 0) return out;
  const input = `${shas.join('\n')}\n`;
  const [log, tree] = await Promise.all([
    run(m, ['log', '--no-walk=unsorted', '--no-show-signature', `--format=${RECORD}%H%x00%an <%ae>%x00%at%x00%s`, '--stdin'], input),
    run(m, ['diff-tree', '-r', '--name-only', '--no-renames', '--root', '-z', '--stdin'], input),
  ]);
  for (const chunk of log.stdout.split(RECORD)) {
    const [sha, author = '', date = '0', subject = ''] = chunk.replace(/\n$/, '').split('\0');
    if (sha) out.set(sha, { author, date: Number(date), subject: normalSubject(subject), paths: new Set() });
  }
  // -z: each commit's id, then its paths, all NUL-separated; an id is one of those asked about.
  let current: Facts | undefined;
  for (const token of tree.stdout.split('\0')) {
    if (token === '') continue;
    const asked = out.get(token);
    if (asked && /^[0-9a-f]{40}$/.test(token)) current = asked;
    else current?.paths.add(token);
  }
  return out;
}

function overlap(a: Set<string>, b: Set<string>): { common: number; all: number } {
  let common = 0;
  for (const p of a) if (b.has(p)) common++;
  return { common, all: a.size + b.size - common };
}

/**
 * For each of `picks`, the one commit of `candidates` it is an edited backport of, if exactly one fits
 * the strongest rule that any fits: same author and author date; else the same subject with most paths
 * in common. Two candidates fitting equally well are no answer: a guess would not be a "probably".
 */
export async function similarOrigins(m: Mirror, picks: string[], candidates: string[]): Promise<Map<string, Similar>> {
  const found = new Map<string, Similar>();
  const pool = candidates.filter((c) => !picks.includes(c));
  if (picks.length === 0 || pool.length === 0) return found;
  const facts = await factsOf(m, [...new Set([...picks, ...pool])]);
  for (const pick of picks) {
    const p = facts.get(pick);
    if (!p) continue;
    const byDate = pool.filter((c) => {
      const f = facts.get(c);
      return f !== undefined && f.author === p.author && f.date === p.date;
    });
    if (byDate.length === 1) {
      const c = byDate[0] as string;
      found.set(pick, { sha: c, evidence: `same author and author date (${p.author}, ${new Date(p.date * 1000).toISOString()})` });
      continue;
    }
    if (byDate.length > 1 || p.subject === '') continue;
    const bySubject = pool.flatMap((c) => {
      const f = facts.get(c);
      if (!f || f.subject !== p.subject) return [];
      const o = overlap(p.paths, f.paths);
      return o.all > 0 && o.common / o.all >= minOverlap ? [{ c, o }] : [];
    });
    if (bySubject.length === 1) {
      const { c, o } = bySubject[0] as { c: string; o: { common: number; all: number } };
      found.set(pick, { sha: c, evidence: `same subject, ${o.common} of ${o.all} paths in common` });
    }
  }
  return found;
}
