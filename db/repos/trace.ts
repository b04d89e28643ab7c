// Commit tracing: the trunk index (trace_lines, trace_commits), release cuts and moves, and the queries
// that answer "where is commit X" and "what changed between two snapshots" from the database alone.
import { and, asc, desc, eq, gt, gte, inArray, isNotNull, lt, lte, max, ne, notExists, or, sql } from 'drizzle-orm';
import type { SQL } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { changeRequests, deployments, products, releaseCommits, releaseCuts, releaseMoves, releases, traceCommits, traceLines } from '../schema.ts';
import type { ChangeRequest, Deployment, ReleaseCut, ReleaseMove, TraceLine } from '../schema.ts';

const CHUNK = 1000;

// ---------------------------------------------------------------------------------------------------
// Lines: the trunk index.

export async function currentLine(db: Db, repository: string, trunk: string): Promise<TraceLine | undefined> {
  const rows = await db.select().from(traceLines)
    .where(and(eq(traceLines.repository, repository), eq(traceLines.trunk, trunk)))
    .orderBy(desc(traceLines.generation)).limit(1);
  return rows[0];
}

/** Starts a new generation for a repository's trunk (the first, or after the trunk was rewritten). */
export async function createLine(db: Db, repository: string, trunk: string, after: TraceLine | undefined): Promise<TraceLine> {
  const generation = (after?.generation ?? 0) + 1;
  const [row] = await db.insert(traceLines).values({ repository, trunk, generation }).onConflictDoNothing().returning();
  if (row) return row;
  const existing = await currentLine(db, repository, trunk);
  if (!existing) throw new Error(`trace line for ${repository} ${trunk} vanished`);
  return existing;
}

export interface IndexedCommit {
  sha: string;
  pos: number;
  seq: number;
  anchor: boolean;
  subject: string;
  author: string;
  changeId: string | null;
  merge: boolean;
}

/**
 * Appends commits to a line in one transaction, moving its head from `expectedHead` to `head`. Returns
 * false (and writes nothing) when someone else moved the line meanwhile.
 */
export async function appendToLine(
  db: Db, lineId: number, expectedHead: string | null, head: string, rows: IndexedCommit[], anchors: number, commits: number,
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [line] = await tx.select().from(traceLines).where(eq(traceLines.id, lineId)).for('update');
    if (!line || line.headSha !== expectedHead) return false;
    for (let i = 0; i < rows.length; i += CHUNK) {
      await tx.insert(traceCommits).values(rows.slice(i, i + CHUNK).map((r) => ({ ...r, line: lineId }))).onConflictDoNothing();
    }
    await tx.update(traceLines).set({ headSha: head, anchors, commits, updatedAt: sql`now()` }).where(eq(traceLines.id, lineId));
    return true;
  });
}

/** The commit's position on the line and whether it is an anchor (first-parent commit), if indexed. */
export async function positionOf(db: Db, line: number, sha: string): Promise<{ pos: number; anchor: boolean } | null> {
  const [row] = await db.select({ pos: traceCommits.pos, anchor: traceCommits.anchor }).from(traceCommits)
    .where(and(eq(traceCommits.sha, sha), eq(traceCommits.line, line)));
  return row ?? null;
}

export async function anchorAt(db: Db, line: number, pos: number): Promise<string | null> {
  const [row] = await db.select({ sha: traceCommits.sha }).from(traceCommits)
    .where(and(eq(traceCommits.line, line), eq(traceCommits.pos, pos), eq(traceCommits.anchor, true)));
  return row?.sha ?? null;
}

/** Which of `shas` are indexed on the line. */
export async function onLine(db: Db, line: number, shas: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < shas.length; i += CHUNK) {
    const rows = await db.select({ sha: traceCommits.sha }).from(traceCommits)
      .where(and(eq(traceCommits.line, line), inArray(traceCommits.sha, shas.slice(i, i + CHUNK))));
    for (const r of rows) found.add(r.sha);
  }
  return found;
}

export async function cachedPatchIds(db: Db, line: number, shas: string[]): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (let i = 0; i < shas.length; i += CHUNK) {
    const rows = await db.select({ sha: traceCommits.sha, patchId: traceCommits.patchId }).from(traceCommits)
      .where(and(eq(traceCommits.line, line), inArray(traceCommits.sha, shas.slice(i, i + CHUNK)), isNotNull(traceCommits.patchId)));
    for (const r of rows) if (r.patchId) ids.set(r.sha, r.patchId);
  }
  return ids;
}

export async function storePatchIds(db: Db, line: number, ids: Map<string, string>): Promise<void> {
  const entries = [...ids];
  for (let i = 0; i < entries.length; i += CHUNK) {
    const part = entries.slice(i, i + CHUNK);
    const values = sql.join(part.map(([sha, pid]) => sql`(${sha}, ${pid})`), sql`, `);
    await db.execute(sql`update trace_commits t set patch_id = v.pid from (values ${values}) as v(sha, pid)
      where t.line = ${line} and t.sha = v.sha`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Cuts and moves of releases.

export interface TraceEntry {
  sha: string;
  originSha: string | null;
  originVia: 'trailer' | 'patch-id' | 'similar' | null;
  /** For `similar`: what made the tracer think so (the answer is a "probably"). */
  originEvidence: string | null;
  changeId: string | null;
  subject: string;
  author: string;
  patchId: string | null;
  merge: boolean;
}

export async function getCut(db: Db, product: string, release: string): Promise<ReleaseCut | undefined> {
  return (await db.select().from(releaseCuts).where(and(eq(releaseCuts.product, product), eq(releaseCuts.release, release))))[0];
}

async function insertEntries(tx: Db, product: string, release: string, move: number, entries: TraceEntry[], at: Date): Promise<void> {
  for (let i = 0; i < entries.length; i += 500) {
    const rows = entries.slice(i, i + 500).map((e, k) => ({ product, release, move, ord: i + k, addedAt: at, ...e }));
    await tx.insert(releaseCommits).values(rows).onConflictDoNothing();
  }
}

/** Records a cut: where it sits on its line, move 0, and (for cuts off trunk's first-parent chain) its own commits. */
export async function saveCut(
  db: Db, cut: { product: string; release: string; line: number | null; cutSha: string; cutPos: number; at: Date }, entries: TraceEntry[],
): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.insert(releaseCuts).values(cut).onConflictDoUpdate({
      target: [releaseCuts.product, releaseCuts.release], set: { line: cut.line, cutSha: cut.cutSha, cutPos: cut.cutPos },
    });
    await tx.insert(releaseMoves).values({ product: cut.product, release: cut.release, move: 0, fromSha: null, toSha: cut.cutSha, at: cut.at })
      .onConflictDoNothing();
    await tx.update(releases).set({ tracedSha: sql`coalesce(${releases.tracedSha}, ${cut.cutSha})` })
      .where(and(eq(releases.product, cut.product), eq(releases.name, cut.release)));
    await insertEntries(tx as unknown as Db, cut.product, cut.release, 0, entries, cut.at);
  });
}

export async function lastMove(db: Db, product: string, release: string): Promise<ReleaseMove | undefined> {
  return (await db.select().from(releaseMoves).where(and(eq(releaseMoves.product, product), eq(releaseMoves.release, release)))
    .orderBy(desc(releaseMoves.move)).limit(1))[0];
}

export async function moveTo(db: Db, product: string, release: string, toSha: string): Promise<ReleaseMove | undefined> {
  return (await db.select().from(releaseMoves)
    .where(and(eq(releaseMoves.product, product), eq(releaseMoves.release, release), eq(releaseMoves.toSha, toSha))))[0];
}

/**
 * Moves a release's head and records each move (in order) with the commits it brought in, in one
 * transaction. A move whose head is already recorded is skipped, so a retried activity records nothing twice.
 */
export async function saveMoves(
  db: Db, product: string, release: string, head: string | { sha: string; ifAt: string }, moves: { fromSha: string; toSha: string; entries: TraceEntry[] }[], at = new Date(),
): Promise<void> {
  await db.transaction(async (tx) => {
    // A trace that follows the outcome moves the head only where nothing newer has moved it since.
    const [sha, where] = typeof head === 'string' ? [head, undefined] : [head.sha, eq(releases.headSha, head.ifAt)];
    await tx.update(releases).set({ headSha: sha, updatedAt: sql`now()` }).where(and(eq(releases.product, product), eq(releases.name, release), where));
    const [top] = await tx.select({ n: max(releaseMoves.move) }).from(releaseMoves)
      .where(and(eq(releaseMoves.product, product), eq(releaseMoves.release, release)));
    let n = top?.n ?? 0;
    for (const mv of moves) {
      const seen = await tx.select({ move: releaseMoves.move }).from(releaseMoves)
        .where(and(eq(releaseMoves.product, product), eq(releaseMoves.release, release), eq(releaseMoves.toSha, mv.toSha)));
      if (seen.length > 0) continue;
      n += 1;
      await tx.insert(releaseMoves).values({ product, release, move: n, fromSha: mv.fromSha, toSha: mv.toSha, at });
      await insertEntries(tx as unknown as Db, product, release, n, mv.entries, at);
    }
    const last = moves.at(-1);
    if (last) await tx.update(releases).set({ tracedSha: last.toSha }).where(and(eq(releases.product, product), eq(releases.name, release)));
  });
}

/**
 * Releases updated since `since` whose head is not the last head traced: a unit of work wrote its
 * outcome (and the new head) and the trace of its move has not followed yet. Releases cut before
 * Culvert traced commits (no moves at all) are not counted.
 */
export async function untracedReleases(db: Db, products: string[] | null, since: Date): Promise<{ product: string; name: string }[]> {
  // Every read of a trace asks this, right after many releases may have moved (a train, a bench): one
  // comparison on the release row (the traced head is kept there with each recorded move), no lookup per
  // release (a subquery each cost ~0.2 ms on PGlite: 190 ms for 1,000).
  return db.select({ product: releases.product, name: releases.name }).from(releases).where(and(
    gte(releases.updatedAt, since), products ? inArray(releases.product, products) : undefined,
    isNotNull(releases.tracedSha), ne(releases.tracedSha, releases.headSha),
  ));
}

// ---------------------------------------------------------------------------------------------------
// Reading: resolving SHAs, where a commit is, what a snapshot contains.

/** The smallest hex string above every string starting with `prefix`, or null when there is none. */
function prefixEnd(prefix: string): string | null {
  const digits = '0123456789abcdef';
  for (let i = prefix.length - 1; i >= 0; i--) {
    const d = digits.indexOf(prefix[i] ?? '');
    if (d < 15) return prefix.slice(0, i) + digits[d + 1];
  }
  return null;
}

function startsWith(column: typeof traceCommits.sha | typeof releaseCommits.sha | typeof releaseCommits.originSha, prefix: string): SQL {
  if (prefix.length === 40) return eq(column, prefix);
  const end = prefixEnd(prefix);
  return end === null ? gte(column, prefix) : and(gte(column, prefix), lt(column, end)) as SQL;
}

/** Full SHAs of traced commits (trunk, release and pick origins) starting with `prefix` (lowercase hex); at most `limit`. */
export async function matchCommits(db: Db, prefix: string, product: string | null, limit = 10): Promise<string[]> {
  const lines = product ? db.select({ line: releaseCuts.line }).from(releaseCuts).where(eq(releaseCuts.product, product)) : null;
  const [onTrunk, inReleases, origins] = await Promise.all([
    db.selectDistinct({ sha: traceCommits.sha }).from(traceCommits)
      .where(and(startsWith(traceCommits.sha, prefix), lines ? inArray(traceCommits.line, lines) : undefined)).limit(limit),
    db.selectDistinct({ sha: releaseCommits.sha }).from(releaseCommits)
      .where(and(startsWith(releaseCommits.sha, prefix), product ? eq(releaseCommits.product, product) : undefined)).limit(limit),
    db.selectDistinct({ sha: releaseCommits.originSha }).from(releaseCommits)
      .where(and(startsWith(releaseCommits.originSha, prefix), product ? eq(releaseCommits.product, product) : undefined)).limit(limit),
  ]);
  const all = new Set<string>();
  for (const r of [...onTrunk, ...inReleases, ...origins]) if (r.sha) all.add(r.sha);
  return [...all].sort().slice(0, limit);
}

export interface ReleaseCommitRow {
  product: string;
  release: string;
  sha: string;
  move: number;
  originSha: string | null;
  originVia: string | null;
  originEvidence: string | null;
  changeId: string | null;
  subject: string | null;
  author: string | null;
}

const rcColumns = {
  product: releaseCommits.product, release: releaseCommits.release, sha: releaseCommits.sha, move: releaseCommits.move,
  originSha: releaseCommits.originSha, originVia: releaseCommits.originVia, originEvidence: releaseCommits.originEvidence, changeId: releaseCommits.changeId,
  subject: releaseCommits.subject, author: releaseCommits.author,
};

export interface LinePosition {
  line: number;
  pos: number;
  subject: string;
  author: string;
  /** `git patch-id --stable`, when the tracer has computed it (for hand picks it looked for). */
  patchId?: string | null;
  /** Count and position sum of the line's cuts: changes whenever a cut is added (a cache key). */
  cutCount: number;
  cutSum: number;
}

/** A release row of the commit, with when the move that brought it in happened (null: not recorded). */
export type TracedReleaseCommit = ReleaseCommitRow & { movedAt: Date | null };

export interface CommitRows {
  /** Where the commit sits on trunk lines. */
  positions: LinePosition[];
  /** Releases whose history has it by its own SHA beyond their cut point. */
  own: TracedReleaseCommit[];
  /** Commits that are picks of it (transitively: picks of picks too). */
  picks: TracedReleaseCommit[];
}

export async function commitRows(db: Db, sha: string, product: string | null): Promise<CommitRows> {
  // Two queries, whatever the commit: its trunk positions, and every release row that is it, a pick of
  // it, a pick of the same patch elsewhere on trunk (applied twice: a pick of a copy is a pick of this
  // commit too), or a pick of such a pick (transitively, 8 deep), each with the time of the move that
  // brought it in. Every lookup pays these round trips (~0.5 ms each on PGlite), so they are kept few.
  const byProduct = product ? sql`and r.product = ${product}` : sql``;
  const picked = sql`${releaseCommits.sha} in (
    with recursive p(sha, depth) as (
      select r.sha, 0 from release_commits r
      where (r.origin_sha = ${sha} or r.origin_sha in (
        select t2.sha from trace_commits t1
        join trace_commits t2 on t2.line = t1.line and t2.patch_id = t1.patch_id and t2.sha <> t1.sha
        where t1.sha = ${sha} and t1.patch_id is not null
      )) ${byProduct}
      union
      select r.sha, p.depth + 1 from release_commits r join p on r.origin_sha = p.sha
      where p.depth < 8 ${byProduct}
    ) select sha from p
  )`;
  const [positions, rows] = await Promise.all([
    db.select({
      line: traceCommits.line, pos: traceCommits.pos, subject: traceCommits.subject, author: traceCommits.author, patchId: traceCommits.patchId,
      cutCount: sql<number>`(select count(*)::int from release_cuts c where c.line = ${traceCommits.line})`,
      cutSum: sql<number>`(select coalesce(sum(c.cut_pos), 0)::float8 from release_cuts c where c.line = ${traceCommits.line})`,
    }).from(traceCommits).where(eq(traceCommits.sha, sha)),
    db.select({ ...rcColumns, movedAt: releaseMoves.at }).from(releaseCommits)
      .leftJoin(releaseMoves, and(eq(releaseMoves.product, releaseCommits.product), eq(releaseMoves.release, releaseCommits.release), eq(releaseMoves.move, releaseCommits.move)))
      .where(and(or(eq(releaseCommits.sha, sha), picked), product ? eq(releaseCommits.product, product) : undefined)),
  ]);
  return { positions, own: rows.filter((r) => r.sha === sha), picks: rows.filter((r) => r.sha !== sha) };
}

export interface LineCut {
  product: string;
  release: string;
  cutPos: number;
  at: Date;
}

/** Every cut on a line, by position. */
export async function cutsOfLine(db: Db, line: number): Promise<LineCut[]> {
  return db.select({ product: releaseCuts.product, release: releaseCuts.release, cutPos: releaseCuts.cutPos, at: releaseCuts.at })
    .from(releaseCuts).where(eq(releaseCuts.line, line)).orderBy(asc(releaseCuts.cutPos), asc(releaseCuts.product), asc(releaseCuts.release));
}

export interface TracedDeployment extends Deployment {
  /** The move of its release whose head it ran; null when Culvert never recorded that head. */
  move: number | null;
  line: number | null;
  cutPos: number | null;
}

/** Succeeded deployments of the products, each with the release move it ran and its release's cut. */
export async function tracedDeployments(db: Db, productNames: string[]): Promise<TracedDeployment[]> {
  if (productNames.length === 0) return [];
  const rows = await db.select({ d: deployments, move: releaseMoves.move, line: releaseCuts.line, cutPos: releaseCuts.cutPos })
    .from(deployments)
    .leftJoin(releaseMoves, and(eq(releaseMoves.product, deployments.product), eq(releaseMoves.release, deployments.release), eq(releaseMoves.toSha, deployments.commitSha)))
    .leftJoin(releaseCuts, and(eq(releaseCuts.product, deployments.product), eq(releaseCuts.release, deployments.release)))
    .where(and(inArray(deployments.product, productNames), eq(deployments.state, 'succeeded')));
  return rows.map((r) => ({ ...r.d, move: r.move, line: r.line, cutPos: r.cutPos }));
}

export async function productConfigs(db: Db, names: string[]): Promise<Map<string, unknown>> {
  if (names.length === 0) return new Map();
  const rows = await db.select({ name: products.name, config: products.config }).from(products).where(inArray(products.name, names));
  return new Map(rows.map((r) => [r.name, r.config]));
}

/**
 * The deployment an environment runs now: its latest succeeded one, by when it finished (ties: the later
 * created, then the larger id, as currentDeployments in repos/deployments.ts orders them). Failed and
 * unfinished deployments never change what an environment runs.
 */
export function currentOf<D extends Pick<Deployment, 'id' | 'state' | 'finishedAt' | 'createdAt'>>(history: D[]): D | undefined {
  let best: D | undefined;
  for (const d of history) {
    if (d.state !== 'succeeded') continue;
    if (!best || later(d, best)) best = d;
  }
  return best;
}

function later(a: Pick<Deployment, 'id' | 'finishedAt' | 'createdAt'>, b: Pick<Deployment, 'id' | 'finishedAt' | 'createdAt'>): boolean {
  if (finishedTime(a) !== finishedTime(b)) return finishedTime(a) > finishedTime(b);
  if (a.createdAt.getTime() !== b.createdAt.getTime()) return a.createdAt > b.createdAt;
  return a.id > b.id;
}

export const finishedTime = (d: Pick<Deployment, 'finishedAt' | 'createdAt'>): number => (d.finishedAt ?? d.createdAt).getTime();

/** What a release contains at one of its heads: its cut's trunk part plus its own commits up to `move`. */
export interface Snapshot {
  product: string;
  release: string;
  line: number | null;
  cutPos: number;
  /** Own commits of moves up to this one count; null: all of them (the release's head). */
  move: number | null;
}

/** Nothing: what an environment that never ran anything contains. */
export const emptySnapshot: Snapshot = { product: '', release: '', line: null, cutPos: 0, move: -1 };

export async function snapshotOf(db: Db, product: string, release: string, move: number | null): Promise<Snapshot | null> {
  const cut = await getCut(db, product, release);
  if (!cut) return null;
  return { product, release, line: cut.line, cutPos: cut.cutPos, move };
}

export interface DiffCommit {
  sha: string;
  subject: string;
  author: string;
  changeId: string | null;
  originSha: string | null;
  originVia: string | null;
  originEvidence?: string | null;
  /** Trunk commits: line position and topological order. */
  pos: number | null;
  seq: number | null;
  /** Release commits: the move that brought it in and its order within the move. */
  move: number | null;
  ord: number | null;
  /** More than one parent (null: traced before this was kept). */
  merge: boolean | null;
}

const ownOf = (s: Snapshot, rc = releaseCommits): SQL => and(
  eq(rc.product, s.product), eq(rc.release, s.release), s.move === null ? undefined : lte(rc.move, s.move),
) as SQL;

/** Every commit in `to` that is not in `from` (git's from..to), trunk part first, each in order. */
export async function diffSnapshots(db: Db, from: Snapshot, to: Snapshot): Promise<DiffCommit[]> {
  const inFromOwn = (shaColumn: typeof traceCommits.sha | typeof releaseCommits.sha) => notExists(
    db.select({ one: sql`1` }).from(releaseCommits).where(and(ownOf(from), eq(releaseCommits.sha, shaColumn))),
  );
  const out: DiffCommit[] = [];
  if (to.line !== null && to.cutPos > 0) {
    const sameLine = from.line === to.line;
    const fromTrunk = !sameLine && from.line !== null && from.cutPos > 0 ? from : null;
    const t2 = sql`trace_commits t2`;
    const rows = await db.select({
      sha: traceCommits.sha, subject: traceCommits.subject, author: traceCommits.author, changeId: traceCommits.changeId,
      pos: traceCommits.pos, seq: traceCommits.seq, merge: traceCommits.merge,
    }).from(traceCommits).where(and(
      eq(traceCommits.line, to.line), lte(traceCommits.pos, to.cutPos), sameLine ? gt(traceCommits.pos, from.cutPos) : undefined,
      from.release !== '' ? inFromOwn(traceCommits.sha) : undefined,
      fromTrunk ? sql`not exists (select 1 from ${t2} where t2.line = ${fromTrunk.line} and t2.sha = ${traceCommits.sha} and t2.pos <= ${fromTrunk.cutPos})` : undefined,
    )).orderBy(asc(traceCommits.seq));
    for (const r of rows) out.push({ ...r, originSha: null, originVia: null, move: null, ord: null });
  }
  const fromTrunk = from.line !== null && from.cutPos > 0 ? from : null;
  const mine = await db.select({
    sha: releaseCommits.sha, subject: releaseCommits.subject, author: releaseCommits.author, changeId: releaseCommits.changeId,
    originSha: releaseCommits.originSha, originVia: releaseCommits.originVia, originEvidence: releaseCommits.originEvidence,
    move: releaseCommits.move, ord: releaseCommits.ord, merge: releaseCommits.merge,
  }).from(releaseCommits).where(and(
    ownOf(to),
    from.release !== '' ? notExists(db.select({ one: sql`1` }).from(sql`release_commits a`).where(sql`a.product = ${from.product} and a.release = ${from.release} and a.sha = ${releaseCommits.sha}${from.move === null ? sql`` : sql` and a.move <= ${from.move}`}`)) : undefined,
    fromTrunk ? notExists(db.select({ one: sql`1` }).from(traceCommits).where(and(eq(traceCommits.line, fromTrunk.line as number), eq(traceCommits.sha, releaseCommits.sha), lte(traceCommits.pos, fromTrunk.cutPos)))) : undefined,
  )).orderBy(asc(releaseCommits.move), asc(releaseCommits.ord));
  const seen = new Set(out.map((c) => c.sha));
  for (const r of mine) {
    if (seen.has(r.sha)) continue;
    out.push({ ...r, subject: r.subject ?? '', author: r.author ?? '', pos: null, seq: null });
  }
  return out;
}

/** The picks a snapshot holds: pick SHA → origin SHA. */
export async function picksIn(db: Db, s: Snapshot): Promise<{ sha: string; originSha: string }[]> {
  if (s.release === '') return [];
  const rows = await db.select({ sha: releaseCommits.sha, originSha: releaseCommits.originSha }).from(releaseCommits)
    .where(and(ownOf(s), isNotNull(releaseCommits.originSha)));
  return rows.map((r) => ({ sha: r.sha, originSha: r.originSha as string }));
}

/** Which of `shas` a snapshot contains. */
export async function containedIn(db: Db, s: Snapshot, shas: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  if (s.release === '' || shas.length === 0) return found;
  for (let i = 0; i < shas.length; i += CHUNK) {
    const part = shas.slice(i, i + CHUNK);
    const [own, trunk] = await Promise.all([
      db.select({ sha: releaseCommits.sha }).from(releaseCommits).where(and(ownOf(s), inArray(releaseCommits.sha, part))),
      s.line !== null && s.cutPos > 0
        ? db.select({ sha: traceCommits.sha }).from(traceCommits).where(and(eq(traceCommits.line, s.line), lte(traceCommits.pos, s.cutPos), inArray(traceCommits.sha, part)))
        : Promise.resolve([]),
    ]);
    for (const r of [...own, ...trunk]) found.add(r.sha);
  }
  return found;
}

/** Origins of the given release commits, from any release (for picks of picks). */
export async function originsOf(db: Db, shas: string[]): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  if (shas.length === 0) return map;
  const rows = await db.selectDistinct({ sha: releaseCommits.sha, originSha: releaseCommits.originSha }).from(releaseCommits)
    .where(and(inArray(releaseCommits.sha, shas), isNotNull(releaseCommits.originSha)));
  for (const r of rows) if (r.originSha) map.set(r.sha, r.originSha);
  return map;
}

export async function changesByIds(db: Db, ids: string[]): Promise<Map<string, ChangeRequest>> {
  if (ids.length === 0) return new Map();
  const rows = await db.select().from(changeRequests).where(inArray(changeRequests.id, ids));
  return new Map(rows.map((r) => [r.id, r]));
}
