// "Where is commit X?" from the database: releases (directly or as a pick), environments (now and since
// when), production. Exact with respect to git because every release is its cut's trunk position plus
// the commits each recorded move of its branch brought in.
import type { Db } from '../../db/client.ts';
import { commitRows, currentOf, cutsOfLine, finishedTime, productConfigs, tracedDeployments } from '../../db/repos/trace.ts';
import type { LineCut, LinePosition, ReleaseCommitRow, TracedDeployment } from '../../db/repos/trace.ts';
import type { ProductConfig } from '../../domain/types.ts';

/** How a release holds the commit: the earliest move at which it holds it directly and as a pick. */
interface Membership {
  product: string;
  release: string;
  direct: number | null;
  /** When the move `direct` happened (for a cut, `cutAt` says when). */
  directAt: Date | null;
  via: 'cut' | 'move' | null;
  pick: { move: number; at: Date | null; sha: string; via: string | null; evidence: string | null } | null;
  /** When the release was cut, if its cut holds the commit. */
  cutAt: Date | null;
}

export interface ReleaseAnswer {
  product: string;
  /** A component's release: the product it is part of, and the component (domain/components.ts). */
  partOf?: string;
  component?: string;
  release: string;
  how: 'direct' | 'pick';
  /** The pick's SHA in the release, when it holds the commit as a pick. */
  pickSha?: string;
  /**
   * How the pick's origin was known: `trailer` (Culvert's or git's) and `patch-id` are certain;
   * `similar` (an edited backport) is a "probably", with its `evidence`.
   */
  pickedBy?: string | null;
  evidence?: string;
  /** `cut`: the release was cut from a commit containing it; `move`: a later move of its branch brought it in. */
  via?: 'cut' | 'move';
  since: string | null;
}

export interface EnvironmentAnswer {
  product: string;
  partOf?: string;
  component?: string;
  environment: string;
  order: number;
  production: boolean;
  /** Whether the deployment the environment runs now contains the commit (null: that head was never recorded). */
  runsNow: boolean | null;
  how?: 'direct' | 'pick';
  pickSha?: string;
  current: { release: string; commitSha: string; deploymentId: string; since: string | null } | null;
  firstReached: { at: string | null; release: string; commitSha: string; deploymentId: string; how: 'direct' | 'pick'; pickSha?: string } | null;
}

export interface CommitAnswer {
  sha: string;
  subject: string | null;
  author: string | null;
  /** When this commit is itself a pick: what it was picked from. */
  origin: { sha: string; pickedBy: string | null; evidence?: string } | null;
  picks: { product: string; release: string; sha: string; pickedBy: string | null; evidence?: string }[];
  releases: ReleaseAnswer[];
  environments: EnvironmentAnswer[];
  inProduction: boolean;
}

const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

// Cuts only ever get added, and a release holds every commit up to its cut position: each API process
// keeps the cuts of a line in memory, sorted, and reloads them when the line's cut count or position sum
// (read with the commit's position, in the same query) says a cut was added.
const cutCache = new WeakMap<Db, Map<number, { count: number; sum: number; cuts: LineCut[]; products: string[] }>>();

async function cutsHolding(db: Db, p: LinePosition): Promise<LineCut[]> {
  let perDb = cutCache.get(db);
  if (!perDb) {
    perDb = new Map();
    cutCache.set(db, perDb);
  }
  let entry = perDb.get(p.line);
  if (!entry || entry.count !== p.cutCount || entry.sum !== p.cutSum) {
    const cuts = await cutsOfLine(db, p.line);
    entry = { count: cuts.length, sum: cuts.reduce((n, c) => n + c.cutPos, 0), cuts, products: [...new Set(cuts.map((c) => c.product))] };
    perDb.set(p.line, entry);
  }
  const { cuts } = entry;
  let lo = 0;
  let hi = cuts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((cuts[mid] as LineCut).cutPos < p.pos) lo = mid + 1;
    else hi = mid;
  }
  return cuts.slice(lo);
}

function productsOnLine(db: Db, line: number): string[] {
  return cutCache.get(db)?.get(line)?.products ?? [];
}

/** The answer for a full SHA, or null when Culvert traces no such commit. */
export async function traceCommit(db: Db, sha: string, product: string | null, canSee: (product: string) => boolean): Promise<CommitAnswer | null> {
  const facts = await commitRows(db, sha, product);
  if (facts.positions.length === 0 && facts.own.length === 0 && facts.picks.length === 0) return null;
  const key = (p: string, r: string): string => `${p}\0${r}`;
  const members = new Map<string, Membership>();
  const member = (p: string, r: string): Membership => {
    let m = members.get(key(p, r));
    if (!m) {
      m = { product: p, release: r, direct: null, directAt: null, via: null, pick: null, cutAt: null };
      members.set(key(p, r), m);
    }
    return m;
  };
  const lineProducts = new Set<string>();
  for (const position of facts.positions) {
    for (const cut of await cutsHolding(db, position)) {
      if (!canSee(cut.product) || (product && cut.product !== product)) continue;
      const m = member(cut.product, cut.release);
      m.direct = 0;
      m.via = 'cut';
      m.cutAt = cut.at;
    }
    for (const p of productsOnLine(db, position.line)) if (canSee(p) && (!product || p === product)) lineProducts.add(p);
  }
  for (const row of facts.own) {
    if (!canSee(row.product)) continue;
    const m = member(row.product, row.release);
    if (m.direct === null || row.move < m.direct) {
      m.direct = row.move;
      m.directAt = row.movedAt;
      m.via = row.move === 0 ? 'cut' : 'move';
    }
  }
  for (const row of facts.picks) {
    if (!canSee(row.product)) continue;
    const m = member(row.product, row.release);
    if (!m.pick || row.move < m.pick.move) m.pick = { move: row.move, at: row.movedAt, sha: row.sha, via: row.originVia, evidence: row.originEvidence };
  }

  const products = new Set([...members.values()].map((m) => m.product));
  for (const p of lineProducts) products.add(p);
  const [deployments, configs] = await Promise.all([tracedDeployments(db, [...products]), productConfigs(db, [...products])]);

  const releases: ReleaseAnswer[] = [];
  for (const m of members.values()) {
    if (m.direct !== null) {
      releases.push({
        product: m.product, release: m.release, how: 'direct', via: m.via ?? 'move', since: iso(m.cutAt ?? m.directAt),
      });
    } else if (m.pick) {
      releases.push({
        product: m.product, release: m.release, how: 'pick', pickSha: m.pick.sha, pickedBy: m.pick.via, ...(m.pick.evidence ? { evidence: m.pick.evidence } : {}),
        since: iso(m.pick.at),
      });
    }
  }
  const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  releases.sort((a, b) => cmp(a.product, b.product) || cmp(a.since ?? '', b.since ?? '') || cmp(a.release, b.release));

  // Does a deployment (a release at one of its recorded heads) hold the commit, and how?
  const holds = (d: TracedDeployment): { how: 'direct' | 'pick'; pickSha?: string } | null | undefined => {
    if (d.move === null) return undefined;
    const m = members.get(key(d.product, d.release));
    if (!m) return null;
    if (m.direct !== null && m.direct <= d.move) return { how: 'direct' };
    if (m.pick && m.pick.move <= d.move) return { how: 'pick', pickSha: m.pick.sha };
    return null;
  };

  const environments: EnvironmentAnswer[] = [];
  for (const p of [...products].sort()) {
    const config = configs.get(p) as ProductConfig | undefined;
    if (!config) continue;
    for (const env of [...config.environments].sort((a, b) => a.order - b.order)) {
      const history = deployments.filter((d) => d.product === p && d.environment === env.name).sort((a, b) => finishedTime(a) - finishedTime(b));
      const current = currentOf(history);
      const now = current ? holds(current) : null;
      let firstReached: EnvironmentAnswer['firstReached'] = null;
      for (const d of history) {
        const h = holds(d);
        if (h) {
          firstReached = { at: iso(d.finishedAt), release: d.release, commitSha: d.commitSha, deploymentId: d.id, ...h };
          break;
        }
      }
      environments.push({
        product: p, environment: env.name, order: env.order, production: env.production,
        runsNow: now === undefined ? null : now !== null, ...(now ?? {}),
        current: current ? { release: current.release, commitSha: current.commitSha, deploymentId: current.id, since: iso(current.finishedAt) } : null,
        firstReached,
      });
    }
  }

  const info = (facts.positions[0] ?? facts.own[0]) as Pick<ReleaseCommitRow, 'subject' | 'author'> | undefined;
  const origin = facts.own.find((r) => r.originSha !== null);
  return {
    sha,
    subject: info?.subject ?? null,
    author: info?.author ?? null,
    origin: origin ? { sha: origin.originSha as string, pickedBy: origin.originVia, ...(origin.originEvidence ? { evidence: origin.originEvidence } : {}) } : null,
    picks: facts.picks.filter((r) => canSee(r.product)).map((r) => ({
      product: r.product, release: r.release, sha: r.sha, pickedBy: r.originVia, ...(r.originEvidence ? { evidence: r.originEvidence } : {}),
    })),
    releases,
    environments,
    inProduction: environments.some((e) => e.production && e.runsNow === true),
  };
}
