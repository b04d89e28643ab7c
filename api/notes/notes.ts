// What changed between two snapshots of a product (two releases, or what an environment runs and a
// release it could run): exactly git's from..to, grouped into merged requests, picks and other commits,
// with changes `from` already has under another SHA set apart instead of listed twice.
import type { Db } from '../../db/client.ts';
import { changesByIds, containedIn, diffSnapshots, originsOf, picksIn } from '../../db/repos/trace.ts';
import type { DiffCommit, Snapshot } from '../../db/repos/trace.ts';
import type { ChangeRequest } from '../../db/schema.ts';

export interface CommitRef {
  sha: string;
  subject: string;
  author: string;
}

export interface ChangeRef {
  id: string;
  seq: number;
  kind: string;
  branch: string | null;
  reason: string | null;
  severity: string | null;
  requester: string;
  approvedBy: string | null;
}

export interface MergeGroup {
  change: ChangeRef;
  /** The merge commit, then the commits it brought in. */
  commits: CommitRef[];
}

export interface PickCommit extends CommitRef {
  originSha: string | null;
  /** `trailer`, `patch-id` (a pick made by hand without -x), or `similar` (edited by hand: a "probably", with `evidence`). */
  pickedBy: string | null;
  evidence?: string;
  /** The origin is in from..to too; it is listed here, not again among the other commits. */
  originIncluded: boolean;
}

export interface PickGroup {
  /** The pick (or revert) request, or null for a pick made outside Culvert. */
  change: ChangeRef | null;
  commits: PickCommit[];
}

export interface AlreadyIn extends CommitRef {
  /** The commit of `from` that already brings this change (the origin, or a pick of it). */
  as: string;
}

export interface ChangeSet {
  /** Commits in from..to (every one of them appears exactly once below). */
  count: number;
  merges: MergeGroup[];
  picks: PickGroup[];
  commits: CommitRef[];
  /** In from..to by SHA, but `from` has the same change as a pick or as its origin. */
  alreadyIn: AlreadyIn[];
  /** Set when lists were cut at `limit` commits. */
  truncated: boolean;
  /** With `merges: 'exclude'`: how many merge commits among the other commits were left out (count still says git's from..to). */
  mergesLeftOut?: number;
}

const ref = (c: DiffCommit): CommitRef => ({ sha: c.sha, subject: c.subject, author: c.author });

const changeRef = (r: ChangeRequest): ChangeRef => ({
  id: r.id, seq: r.seq, kind: r.kind, branch: r.branch, reason: r.reason, severity: r.severity, requester: r.requester, approvedBy: r.decidedBy,
});

export async function changesBetween(db: Db, from: Snapshot, to: Snapshot, limit = Infinity, opts: { merges?: 'include' | 'exclude' } = {}): Promise<ChangeSet> {
  const diff = await diffSnapshots(db, from, to);
  const inDiff = new Map(diff.map((c) => [c.sha, c]));

  // Origins, followed through picks of picks.
  const originOf = new Map<string, string>();
  for (const c of diff) if (c.originSha) originOf.set(c.sha, c.originSha);
  let frontier = [...new Set(originOf.values())];
  for (let depth = 0; depth < 5 && frontier.length > 0; depth++) {
    const more = await originsOf(db, frontier.filter((s) => !originOf.has(s)));
    frontier = [];
    for (const [sha, origin] of more) {
      originOf.set(sha, origin);
      frontier.push(origin);
    }
  }
  const chainOf = (sha: string): string[] => {
    const chain: string[] = [];
    for (let s = originOf.get(sha); s && chain.length < 10 && !chain.includes(s); s = originOf.get(s)) chain.push(s);
    return chain;
  };

  // What `from` already has: the origins themselves, or picks of the same origins.
  const fromPicks = await picksIn(db, from);
  const pickInFrom = new Map<string, string>();
  for (const p of fromPicks) {
    originOf.set(p.sha, p.originSha);
    for (const o of [p.originSha, ...chainOf(p.originSha)]) if (!pickInFrom.has(o)) pickInFrom.set(o, p.sha);
  }
  const allOrigins = [...new Set(diff.flatMap((c) => chainOf(c.sha)))];
  const originsInFrom = await containedIn(db, from, allOrigins.filter((o) => !inDiff.has(o)));

  const placed = new Set<string>();
  const alreadyIn: AlreadyIn[] = [];
  for (const c of diff) {
    const chain = chainOf(c.sha);
    const held = chain.find((o) => originsInFrom.has(o));
    const picked = [c.sha, ...chain].map((s) => pickInFrom.get(s)).find((s) => s !== undefined);
    const as = held ?? picked;
    if (as !== undefined) {
      alreadyIn.push({ ...ref(c), as });
      placed.add(c.sha);
    }
  }

  const ids = [...new Set(diff.map((c) => c.changeId).filter((id): id is string => id !== null))];
  const changes = await changesByIds(db, ids);

  // Merged requests: the merge commit and what it brought in (same trunk position, or same move).
  const merges: MergeGroup[] = [];
  for (const c of diff) {
    const change = c.changeId ? changes.get(c.changeId) : undefined;
    if (!change || change.kind !== 'merge' || placed.has(c.sha)) continue;
    const members = diff.filter((o) => o.sha !== c.sha && !placed.has(o.sha) && (c.pos !== null ? o.pos === c.pos : o.move === c.move && o.pos === null));
    const group = { change: changeRef(change), commits: [ref(c), ...members.map(ref)] };
    for (const g of group.commits) placed.add(g.sha);
    merges.push(group);
  }

  // Picks: by request, and one group per pick made by hand.
  const picks: PickGroup[] = [];
  const byChange = new Map<string, PickGroup>();
  for (const c of diff) {
    if (placed.has(c.sha)) continue;
    const change = c.changeId ? changes.get(c.changeId) : undefined;
    const isRequest = change && (change.kind === 'pick' || change.kind === 'revert');
    if (!c.originSha && !isRequest) continue;
    const origin = c.originSha;
    const item: PickCommit = {
      ...ref(c), originSha: origin, pickedBy: c.originVia, ...(c.originEvidence ? { evidence: c.originEvidence } : {}),
      originIncluded: origin !== null && inDiff.has(origin) && !placed.has(origin),
    };
    placed.add(c.sha);
    if (item.originIncluded && origin) placed.add(origin);
    if (isRequest && change) {
      let group = byChange.get(change.id);
      if (!group) {
        group = { change: changeRef(change), commits: [] };
        byChange.set(change.id, group);
        picks.push(group);
      }
      group.commits.push(item);
    } else {
      picks.push({ change: null, commits: [item] });
    }
  }

  // "Merge tag '3.11.1'" lines are noise to readers: left out on request (a merged request keeps its group).
  const others = diff.filter((c) => !placed.has(c.sha));
  const leftOut = opts.merges === 'exclude' ? others.filter((c) => c.merge === true) : [];
  const commits = others.filter((c) => !leftOut.includes(c)).map(ref);
  let budget = limit;
  const take = <T>(list: T[]): T[] => {
    const kept = list.slice(0, Math.max(0, budget));
    budget -= kept.length;
    return kept;
  };
  const truncated = diff.length > limit;
  return {
    count: diff.length,
    merges: truncated ? merges.map((g) => ({ ...g, commits: take(g.commits) })).filter((g) => g.commits.length > 0) : merges,
    picks: truncated ? picks.map((g) => ({ ...g, commits: take(g.commits) })).filter((g) => g.commits.length > 0) : picks,
    commits: truncated ? take(commits) : commits,
    alreadyIn: truncated ? take(alreadyIn) : alreadyIn,
    truncated,
    ...(opts.merges === 'exclude' ? { mergesLeftOut: leftOut.length } : {}),
  };
}

/** Every SHA a change set lists (origins included with their picks count too): for checks against git. */
export function listedShas(set: ChangeSet): string[] {
  return [
    ...set.merges.flatMap((g) => g.commits.map((c) => c.sha)),
    ...set.picks.flatMap((g) => g.commits.flatMap((c) => (c.originIncluded && c.originSha ? [c.sha, c.originSha] : [c.sha]))),
    ...set.commits.map((c) => c.sha),
    ...set.alreadyIn.map((c) => c.sha),
  ];
}

const short = (sha: string): string => sha.slice(0, 12);
const escapeMd = (text: string): string => text.replace(/([\\`*_[\]<>#|])/g, '\\$1');
const line = (c: CommitRef): string => `${escapeMd(c.subject || '(no subject)')} (\`${short(c.sha)}\`${c.author ? `, ${escapeMd(c.author)}` : ''})`;

export function notesMarkdown(title: string, set: ChangeSet, alreadyLabel: string): string {
  const out: string[] = [`# ${escapeMd(title)}`, ''];
  const pickCount = set.picks.reduce((n, g) => n + g.commits.length, 0);
  const other = set.commits.length;
  out.push(`${set.count} commit${set.count === 1 ? '' : 's'}: ${set.merges.length} merged request${set.merges.length === 1 ? '' : 's'}, ${pickCount} pick${pickCount === 1 ? '' : 's'}, ${other} other commit${other === 1 ? '' : 's'}${set.alreadyIn.length > 0 ? `, ${set.alreadyIn.length} already in ${escapeMd(alreadyLabel)}` : ''}.`);
  if (set.truncated) out.push('', `_Lists are cut short; ${set.count} commits in all._`);
  if (set.mergesLeftOut) out.push('', `_${set.mergesLeftOut} merge commit${set.mergesLeftOut === 1 ? '' : 's'} left out._`);
  if (set.merges.length > 0) {
    out.push('', '## Merged requests', '');
    for (const g of set.merges) {
      const who = [`requested by ${escapeMd(g.change.requester)}`, g.change.approvedBy ? `approved by ${escapeMd(g.change.approvedBy)}` : null].filter(Boolean).join(', ');
      out.push(`- **#${g.change.seq}**${g.change.branch ? ` \`${g.change.branch}\`` : ''}: ${who}${g.change.reason ? `: ${escapeMd(g.change.reason)}` : ''}`);
      for (const c of g.commits) out.push(`  - ${line(c)}`);
    }
  }
  if (set.picks.length > 0) {
    out.push('', '## Picks', '');
    for (const g of set.picks) {
      if (g.change) {
        const head = [
          `**#${g.change.seq}**${g.change.kind === 'revert' ? ' (revert)' : ''}`,
          g.change.severity ? `${escapeMd(g.change.severity)}` : null,
          `requested by ${escapeMd(g.change.requester)}`,
          g.change.approvedBy ? `approved by ${escapeMd(g.change.approvedBy)}` : null,
        ].filter(Boolean).join(', ');
        out.push(`- ${head}${g.change.reason ? `: ${escapeMd(g.change.reason)}` : ''}`);
        for (const c of g.commits) out.push(`  - ${line(c)}${c.originSha ? `, picked from \`${short(c.originSha)}\`` : ''}`);
      } else {
        for (const c of g.commits) {
          const how = c.pickedBy === 'patch-id' ? ' (matched by patch id)' : c.pickedBy === 'similar' ? ` (probably: ${escapeMd(c.evidence ?? 'similar')})` : '';
          out.push(`- ${line(c)}, picked by hand from \`${short(c.originSha ?? '')}\`${how}`);
        }
      }
    }
  }
  if (set.commits.length > 0) {
    out.push('', '## Other commits', '');
    for (const c of set.commits) out.push(`- ${line(c)}`);
  }
  if (set.alreadyIn.length > 0) {
    out.push('', `## Already in ${escapeMd(alreadyLabel)} under another SHA`, '');
    for (const c of set.alreadyIn) out.push(`- ${line(c)}: as \`${short(c.as)}\``);
  }
  return `${out.join('\n')}\n`;
}
