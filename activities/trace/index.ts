// Commit tracing, the git side: index a trunk's first-parent history incrementally, record where releases
// are cut and what every move of their branches brought in (with the origin of picks), so the API can
// answer "where is commit X" from the database alone.
import { getProduct } from '../../db/repos/products.ts';
import {
  anchorAt, appendToLine, cachedPatchIds, createLine, currentLine, getCut, lastMove, moveTo, onLine, positionOf, saveCut, saveMoves,
  storePatchIds,
} from '../../db/repos/trace.ts';
import type { IndexedCommit, TraceEntry } from '../../db/repos/trace.ts';
import type { TraceLine } from '../../db/schema.ts';
import type { ProductConfig } from '../../domain/types.ts';
import type { ActivityDeps } from '../deps.ts';
import { mirrorFor } from '../deps.ts';
import type { Mirror } from '../git/index.ts';
import { withHeartbeat } from '../heartbeat.ts';
import { commitsTouching, logCommits, mergeBase, patchIds, touchedPaths } from './git.ts';
import { similarOrigins } from './similar.ts';
import type { LoggedCommit } from './git.ts';

/** Commits written per transaction while indexing: a retried activity resumes after the last one. */
const INDEX_CHUNK = 5000;

const pickedFrom = /\(cherry picked from commit ([0-9a-f]{7,40})\)/g;

// One indexer per trunk at a time in this process; across processes the line's row lock decides.
const indexing = new Map<string, Promise<unknown>>();

async function serialised<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = indexing.get(key) ?? Promise.resolve();
  const mine = previous.catch(() => undefined).then(fn);
  indexing.set(key, mine);
  try {
    return await mine;
  } finally {
    if (indexing.get(key) === mine) indexing.delete(key);
  }
}

/**
 * Brings the trunk index of `repository`'s `trunk` up to the trunk's head in the (already fetched)
 * mirror. Cheap when nothing is new. Returns the line, or null when the trunk does not exist.
 */
export async function indexTrunk(deps: ActivityDeps, m: Mirror, repository: string, trunk: string): Promise<TraceLine | null> {
  const head = await m.resolveBranch(trunk);
  if (!head) return null;
  return serialised(`${repository}\0${trunk}`, async () => {
    for (let attempt = 0; attempt < 5; attempt++) {
      let line = await currentLine(deps.db, repository, trunk);
      if (line?.headSha === head) return line;
      // A trunk that no longer contains the indexed head was rewritten: its positions start over.
      if (!line || (line.headSha !== null && !(await m.isAncestor(line.headSha, head)))) line = await createLine(deps.db, repository, trunk, line);
      if (line.headSha === head) return line;
      if (await extendLine(deps, m, line, head)) return (await currentLine(deps.db, repository, trunk)) ?? line;
    }
    throw new Error(`could not index ${trunk} of ${repository}: it kept moving`);
  });
}

/**
 * Appends `head`'s new history to the line. Anchors are the new first-parent commits that contain the
 * old head (all of them, usually); every other new commit takes the position of the first anchor whose
 * history holds it. Commits go in chunks, each ending at an anchor, so the line is valid after each one.
 */
async function extendLine(deps: ActivityDeps, m: Mirror, line: TraceLine, head: string): Promise<boolean> {
  const last = line.headSha;
  const commits = await logCommits(m, head, last ? [last] : []);
  const bySha = new Map<string, LoggedCommit & { i: number }>();
  commits.forEach((c, i) => bySha.set(c.sha, { ...c, i }));

  // Which new commits contain the old head (parents come before children in `commits`).
  const containsLast = new Set<string>();
  if (last === null) {
    for (const c of commits) containsLast.add(c.sha);
  } else {
    for (const c of commits) if (c.parents.some((p) => p === last || containsLast.has(p))) containsLast.add(c.sha);
  }
  const chain: string[] = [];
  for (let sha: string | undefined = head; sha !== undefined && bySha.has(sha) && containsLast.has(sha); sha = bySha.get(sha)?.parents[0]) chain.push(sha);
  chain.reverse();

  const pos = new Map<string, number>();
  let anchors = line.anchors;
  let seqBase = line.commits;
  let expected = last;
  let rows: IndexedCommit[] = [];
  for (const anchor of chain) {
    anchors += 1;
    const stack = [anchor];
    while (stack.length > 0) {
      const sha = stack.pop() as string;
      if (pos.has(sha)) continue;
      const c = bySha.get(sha);
      if (!c) continue;
      pos.set(sha, anchors);
      rows.push({ sha, pos: anchors, seq: 0, anchor: sha === anchor, subject: c.subject, author: c.author, changeId: c.changeId, merge: c.parents.length > 1 });
      for (const p of c.parents) if (!pos.has(p) && bySha.has(p)) stack.push(p);
    }
    if (rows.length >= INDEX_CHUNK || anchor === head) {
      rows.sort((a, b) => (bySha.get(a.sha)?.i ?? 0) - (bySha.get(b.sha)?.i ?? 0));
      rows.forEach((r, k) => { r.seq = seqBase + k + 1; });
      if (!(await appendToLine(deps.db, line.id, expected, anchor, rows, anchors, seqBase + rows.length))) return false;
      seqBase += rows.length;
      expected = anchor;
      rows = [];
    }
  }
  return true;
}

/** Origins by trailer, patch ids, and origins by patch id for picks made without a trailer. */
async function describe(
  deps: ActivityDeps, m: Mirror, commits: LoggedCommit[], ctx: { line: TraceLine | null; cutSha: string | null; product: ProductConfig | null },
): Promise<TraceEntry[]> {
  const entries: TraceEntry[] = [];
  for (const c of commits) {
    const trailers = [...c.message.matchAll(pickedFrom)];
    let origin = trailers.at(-1)?.[1] ?? null;
    if (origin && origin.length < 40) origin = await m.resolveCommit(origin).catch(() => null);
    entries.push({
      sha: c.sha, originSha: origin, originVia: origin ? 'trailer' : null, originEvidence: null, changeId: c.changeId, subject: c.subject, author: c.author, patchId: null,
      merge: c.parents.length > 1,
    });
  }
  const plain = commits.filter((c) => c.parents.length <= 1).map((c) => c.sha);
  const ids = await patchIds(m, plain);
  for (const e of entries) e.patchId = ids.get(e.sha) ?? null;

  // A commit picked by hand without -x: find the trunk commit with the same patch id among those the
  // release does not have, touching the same paths (a patch id covers the paths, so nothing is missed).
  const { line, cutSha, product } = ctx;
  const orphans = entries.filter((e) => e.originSha === null && e.patchId !== null);
  if (orphans.length === 0 || !line?.headSha || !cutSha || product?.flow === 'pull-request') return entries;
  const trunkOwn = await onLine(deps.db, line.id, orphans.map((e) => e.sha));
  const wanted = orphans.filter((e) => !trunkOwn.has(e.sha));
  if (wanted.length === 0) return entries;
  const paths = await touchedPaths(m, wanted.map((e) => e.sha));
  const candidates = await commitsTouching(m, line.headSha, [cutSha], paths);
  if (candidates.length === 0) return entries;
  const known = await cachedPatchIds(deps.db, line.id, candidates);
  const missing = candidates.filter((s) => !known.has(s));
  const computed = await patchIds(m, missing);
  if (computed.size > 0) await storePatchIds(deps.db, line.id, computed);
  const byPatch = new Map<string, string>();
  // rev-list lists newest first: keep the oldest commit with a given patch id.
  for (const sha of candidates) {
    const pid = known.get(sha) ?? computed.get(sha);
    if (pid) byPatch.set(pid, sha);
  }
  for (const e of wanted) {
    const origin = byPatch.get(e.patchId as string);
    if (origin && origin !== e.sha) {
      e.originSha = origin;
      e.originVia = 'patch-id';
    }
  }
  // Edited by hand: the patch differs; the author and date, or the subject and files, may not.
  const edited = wanted.filter((e) => e.originSha === null);
  const similar = await similarOrigins(m, edited.map((e) => e.sha), candidates);
  for (const e of edited) {
    const s = similar.get(e.sha);
    if (s) Object.assign(e, { originSha: s.sha, originVia: 'similar', originEvidence: s.evidence });
  }
  return entries;
}

/**
 * Records a release's cut: indexes the trunk, then finds the cut on it. A cut from a first-parent
 * commit of trunk is one number; any other cut is the latest anchor it contains plus its own commits
 * since then, recorded as the release's commits of move 0.
 */
export async function recordCut(deps: ActivityDeps, m: Mirror, product: ProductConfig, release: string, cutSha: string, at: Date): Promise<void> {
  const line = await indexTrunk(deps, m, product.repository, product.trunk);
  let cutPos = 0;
  let base: string | null = null;
  if (line?.headSha) {
    const here = await positionOf(deps.db, line.id, cutSha);
    if (here?.anchor) {
      cutPos = here.pos;
    } else {
      cutPos = await latestAnchorWithin(deps, m, line, cutSha);
      base = cutPos > 0 ? await anchorAt(deps.db, line.id, cutPos) : null;
    }
  }
  let entries: TraceEntry[] = [];
  if (!line?.headSha || base !== null || cutPos === 0) {
    const commits = await logCommits(m, cutSha, base ? [base] : [], { messages: true });
    entries = await describe(deps, m, commits, { line, cutSha, product });
  }
  await saveCut(deps.db, { product: product.name, release, line: line?.id ?? null, cutSha, cutPos, at }, entries);
}

/** The highest anchor position whose commit is an ancestor of `sha` (0: none). */
async function latestAnchorWithin(deps: ActivityDeps, m: Mirror, line: TraceLine, sha: string): Promise<number> {
  const base = await mergeBase(m, sha, line.headSha as string);
  if (!base) return 0;
  const at = await positionOf(deps.db, line.id, base);
  if (!at) return 0;
  if (at.anchor) return at.pos;
  // The anchor at the merge base's own position contains it but is not an ancestor of `sha` (else it
  // would be a better merge base): search below it. Ancestry is monotone along the anchors.
  let lo = 0;
  let hi = at.pos - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const anchor = await anchorAt(deps.db, line.id, mid);
    if (anchor && (await m.isAncestor(anchor, sha))) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Records a move of a release's branch from `from` to `to` (a fast-forward): indexes the trunk, and
 * records every commit the move brought in with the origin of picks. A push by someone else since the
 * last recorded head (adopted as "stale" by the workflow) is recorded as a move of its own first.
 */
export async function traceMove(
  deps: ActivityDeps, m: Mirror, productName: string, release: string, from: string, to: string, head: string | { sha: string; ifAt: string } = to,
): Promise<void> {
  const product = (await getProduct(deps.db, productName))?.config ?? null;
  const line = product ? await indexTrunk(deps, m, product.repository, product.trunk) : null;
  const cut = await getCut(deps.db, productName, release);
  if (await moveTo(deps.db, productName, release, to)) {
    await saveMoves(deps.db, productName, release, head, []);
    return;
  }
  const ranges: [string, string][] = [];
  const last = await lastMove(deps.db, productName, release);
  if (last && last.toSha !== from && (await m.isAncestor(last.toSha, from))) ranges.push([last.toSha, from]);
  ranges.push([from, to]);
  const ctx = { line: cut?.line === line?.id ? line : null, cutSha: cut?.cutSha ?? null, product };
  const moves = [];
  for (const [a, b] of ranges) {
    const commits = await logCommits(m, b, [a], { messages: true });
    moves.push({ fromSha: a, toSha: b, entries: await describe(deps, m, commits, ctx) });
  }
  await saveMoves(deps.db, productName, release, head, moves);
}

export function traceActivities(deps: ActivityDeps) {
  return {
    /** Brings a product's trunk index up to date (cheap when nothing is new). */
    async indexTrunk(i: { product: ProductConfig }): Promise<{ line: number | null; head: string | null; anchors: number }> {
      return withHeartbeat(async () => {
        const m = await mirrorFor(deps, i.product.repository);
        await m.fetch();
        const line = await indexTrunk(deps, m, i.product.repository, i.product.trunk);
        return { line: line?.id ?? null, head: line?.headSha ?? null, anchors: line?.anchors ?? 0 };
      });
    },
  };
}
