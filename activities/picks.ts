import { refuse } from '../domain/errors.ts';
import type { CommitDetail } from '../db/schema.ts';
import type { ProductConfig } from '../domain/types.ts';
import type { ActivityDeps } from './deps.ts';
import { culvertIdentity, mirrorFor } from './deps.ts';
import { isShaLike } from './git/index.ts';
import type { CommitInfo, CommitTreeOptions, Identity, Mirror } from './git/index.ts';
import type { FastTrees } from './git/fast-trees.ts';
import { withHeartbeat } from './heartbeat.ts';
import { recordMove as recordMoveNow } from './moves.ts';
import { permanent } from './faults.ts';

export interface PickItem {
  changeId: string;
  seq: number;
  kind: 'pick' | 'revert';
  commits: string[];
  revertOf: string | null;
}

export type PickOutcome =
  | { changeId: string; outcome: 'merged'; resultSha: string }
  | { changeId: string; outcome: 'already-present' }
  | { changeId: string; outcome: 'conflict'; paths: string[] };

export type ApplyResult = { kind: 'applied'; head: string; results: PickOutcome[] } | { kind: 'stale'; actual: string };

const pickedFrom = /\(cherry picked from commit ([0-9a-f]{40})\)/g;
const changeTrailer = (id: string): string => `Culvert-Change: ${id}`;

/** Origins of every pick already in `range`, from the standard trailer. */
export async function pickedOrigins(m: Mirror, range: string): Promise<Set<string>> {
  return new Set((await pickHolders(m, range)).keys());
}

/** For every origin named by a trailer in `range`: the commit of `range` holding it (the oldest, if picked twice). */
export async function pickHolders(m: Mirror, range: string): Promise<Map<string, string>> {
  const holders = new Map<string, string>();
  // Newest first: an older holder overwrites a newer one.
  for (const { sha, message } of await m.messages(range)) {
    for (const match of message.matchAll(pickedFrom)) if (match[1]) holders.set(match[1], sha);
  }
  return holders;
}

/** The full SHA of a trunk commit named by a user (full or abbreviated); refuses anything else. */
export async function resolvePick(m: Mirror, product: ProductConfig, trunkHead: string, given: string): Promise<string> {
  if (!isShaLike(given)) throw refuse('bad_request', `"${given}" is not a commit SHA (4 to 40 hex digits)`, { commit: given });
  const found = await m.candidates(given.toLowerCase());
  if (found.length > 1) throw refuse('ambiguous_commit', `commit ${given} is ambiguous: it could be ${found.slice(0, 5).join(', ')}`, { commit: given, candidates: found });
  const sha = found[0];
  if (!sha) throw refuse('unknown_commit', `commit ${given} does not exist in ${product.repository}`, { commit: given });
  if (!(await m.isAncestor(sha, trunkHead))) {
    throw refuse('commit_not_on_trunk', `commit ${given} is not on trunk ${product.trunk}: only trunk commits can be picked`, { commit: given });
  }
  return sha;
}

export interface BatchInput {
  product: ProductConfig; release: string; branch: string; expectedHead: string; cutFrom: string; committedAt: string; items: PickItem[];
}

/**
 * Applies a batch of approved picks (and reverts) in the given order without a working tree, then
 * pushes once with the expected old head. Commits are deterministic (author from the original,
 * committer date from the workflow), so a retry after a crash recomputes the very same SHAs and
 * recognises its own push (at the head, or under commits pushed on top since) instead of applying
 * anything twice.
 */
export async function applyBatch(
  deps: ActivityDeps, i: BatchInput, landed?: (tip: string, results: PickOutcome[]) => Promise<void>, traceLater = false,
): Promise<ApplyResult> {
  // As in mergeOnto: with `traceLater` the workflow traces the move in an activity of its own.
  const recordMove = traceLater ? async () => undefined : recordMoveNow;
  const identity = deps.identity ?? culvertIdentity;
  const m = await mirrorFor(deps, i.product.repository);
  await m.fetch();
  const remote = await m.resolveBranch(i.branch);
  if (!remote) throw permanent(`release branch ${i.branch} is gone from ${i.product.repository}`);
  const committer = { ...identity, date: i.committedAt };
  const batch = await openBatch(m, i.cutFrom, i.expectedHead, i.items);
  // Commits are written the way commit-tree writes them, without a git process each (see commitMaker).
  const makeCommit = await m.commitMaker();
  // Most picks touch only paths the release left alone: merged in process, merge-tree for the rest.
  const fast = await m.fastTrees();
  const results: PickOutcome[] = [];
  try {
    for (const item of i.items) {
      results.push(await applyItem(m, batch, item, { cutFrom: i.cutFrom, committer, makeCommit, fast }));
    }
  } finally {
    fast?.close();
  }
  const tip = batch.tip;
  if (tip !== i.expectedHead && remote !== tip) {
    if (remote !== i.expectedHead) {
      // Our own push of an earlier attempt, with someone else's commits on top since.
      if (await m.isAncestor(tip, remote)) {
        await recordMove(deps, m, i.product.name, i.release, i.expectedHead, tip);
        await landed?.(tip, results);
        return { kind: 'applied', head: tip, results };
      }
      return { kind: 'stale', actual: remote };
    }
    await deps.faults?.beforePush?.(i.items[0]?.changeId ?? '');
    const pushed = await m.push({ sha: tip, branch: i.branch, expectedOld: i.expectedHead });
    if (!pushed.ok) return { kind: 'stale', actual: pushed.actual ?? i.expectedHead };
    await deps.faults?.afterPush?.(i.items[0]?.changeId ?? '');
  }
  if (tip === i.expectedHead && remote !== i.expectedHead) {
    // Nothing to add, but the branch is not where the workflow thinks: it adopts the new head first.
    return { kind: 'stale', actual: remote };
  }
  // The move, then the outcomes: whoever reads a pick merged finds the release and its trace agreeing.
  if (tip !== i.expectedHead) await recordMove(deps, m, i.product.name, i.release, i.expectedHead, tip);
  await landed?.(tip, results);
  return { kind: 'applied', head: tip, results };
}

export function pickActivities(deps: ActivityDeps) {

  return {
    /** Validates a pick request and gathers what a release owner needs to triage it. */
    async inspectPicks(i: { product: ProductConfig; head: string; cutFrom: string; commits: string[] }): Promise<{
      commits: CommitDetail[]; trunkOrder: number; alreadyPresent: boolean;
    }> {
      return withHeartbeat(async () => {
        const m = await mirrorFor(deps, i.product.repository);
        await m.fetch();
        const trunkHead = await m.resolveBranch(i.product.trunk);
        if (!trunkHead) throw refuse('unknown_branch', `trunk ${i.product.trunk} does not exist in ${i.product.repository}`);
        const shas: string[] = [];
        for (const given of i.commits) {
          const sha = await resolvePick(m, i.product, trunkHead, given);
          if (!shas.includes(sha)) shas.push(sha);
        }
        // Independent reads: trunk order of each commit, picks already in the release, and the
        // subject, author and diff size of every commit with one git call.
        const [ordered, origins, details] = await Promise.all([
          Promise.all(shas.map(async (sha) => ({ sha, order: await m.countCommits(sha) }))),
          pickedOrigins(m, `${i.cutFrom}..${i.head}`),
          m.commitDetails(shas),
        ]);
        ordered.sort((a, b) => a.order - b.order);
        const detailOf = new Map(details.map((d) => [d.sha, d]));
        let alreadyPresent = true;
        const commits: CommitDetail[] = [];
        for (const { sha } of ordered) {
          const info = detailOf.get(sha);
          if (!info) throw new Error(`no details for commit ${sha}`);
          const { stat } = info;
          commits.push({
            sha, subject: info.subject, author: `${info.authorName} <${info.authorEmail}>`, authorDate: info.authorDate,
            files: stat.files, insertions: stat.insertions, deletions: stat.deletions, paths: stat.paths.slice(0, 50),
          });
          // Once one commit is missing the answer is settled; the rest need not be asked.
          if (alreadyPresent && !origins.has(sha) && !(await m.isAncestor(sha, i.head))) alreadyPresent = false;
        }
        return { commits, trunkOrder: ordered[0]?.order ?? 0, alreadyPresent };
      });
    },

    /** The batch of the release workflow of 2026-11 (releaseWorkflow); applyApprovedPicks is today's. */
    async applyPicks(i: BatchInput): Promise<ApplyResult> {
      return withHeartbeat(() => applyBatch(deps, i));
    },
  };
}

/** The commits a merged pick request brought in, newest first, found by their trailer. */
async function revertTargets(m: Mirror, cutFrom: string, tip: string, changeId: string): Promise<string[]> {
  const trailer = changeTrailer(changeId);
  return (await m.messages(`${cutFrom}..${tip}`)).filter((c) => c.message.includes(trailer)).map((c) => c.sha);
}

/**
 * A batch at `head`, before its first item: the picks the release holds (by trailer since `cutFrom`,
 * or as ancestors of `head`) and what every pick needs to know about its commit (message, author,
 * parents), in two git calls for the whole batch instead of two per pick. `origins`: the trailers'
 * origins, when the caller has read them already.
 */
export async function openBatch(m: Mirror, cutFrom: string, head: string, items: PickItem[], origins?: Set<string>): Promise<Batch> {
  const held = origins ?? (await pickedOrigins(m, `${cutFrom}..${head}`));
  const pickShas = [...new Set(items.flatMap((item) => (item.kind === 'pick' ? item.commits : [])))];
  const [infos, onHead] = await Promise.all([m.commitInfos(pickShas), m.reachableFrom(pickShas, head)]);
  return { tip: head, tipTree: undefined, made: new Set(), origins: held, onHead, infoOf: new Map(infos.map((c) => [c.sha, c])) };
}

/** Where a batch stands: its tip so far and what it knows about the picks. */
export interface Batch {
  tip: string;
  /** Tree of `tip`, once known: the commit made last was made from it. */
  tipTree: string | undefined;
  /**
   * Commits made by this batch between expectedHead and tip: with onHead, exactly tip's ancestors
   * among the picks (isAncestor(sha, tip) without asking git each time).
   */
  made: Set<string>;
  origins: Set<string>;
  onHead: Set<string>;
  infoOf: Map<string, CommitInfo>;
}

export interface ItemTools {
  cutFrom: string;
  committer: Identity;
  makeCommit: (opts: CommitTreeOptions) => Promise<string>;
  fast: FastTrees | null;
}

/** Applies one pick or revert request onto the batch's tip: all of its commits, or (on a conflict) none. */
export async function applyItem(m: Mirror, b: Batch, item: PickItem, t: ItemTools): Promise<PickOutcome> {
  const start = b.tip;
  const startTree = b.tipTree;
  const madeHere: string[] = [];
  const targets = item.kind === 'pick' ? item.commits : await revertTargets(m, t.cutFrom, b.tip, item.revertOf ?? '');
  for (const sha of targets) {
    if (item.kind === 'pick' && (b.origins.has(sha) || b.made.has(sha) || b.onHead.has(sha))) continue;
    const info = b.infoOf.get(sha) ?? (await m.commitInfo(sha));
    b.tipTree ??= await m.treeOf(b.tip);
    const known = { targetTree: b.tipTree, parents: info.parents, fast: t.fast };
    const applied = item.kind === 'pick' ? await m.pickTree(b.tip, sha, known) : await m.revertTree(b.tip, sha, known);
    if (applied.kind === 'conflict') {
      b.tip = start;
      b.tipTree = startTree;
      for (const c of madeHere) b.made.delete(c);
      return { changeId: item.changeId, outcome: 'conflict', paths: applied.conflicts };
    }
    if (applied.kind === 'empty') continue;
    const message = item.kind === 'pick'
      ? `${info.message.trimEnd()}\n\n(cherry picked from commit ${sha})\n${changeTrailer(item.changeId)}\n`
      : `Revert "${info.subject}"\n\nThis reverts commit ${sha}.\n\nCulvert-Reverts: ${item.revertOf}\n${changeTrailer(item.changeId)}\n`;
    const author = item.kind === 'pick' ? { name: info.authorName, email: info.authorEmail, date: info.authorDate } : t.committer;
    b.tip = await t.makeCommit({ tree: applied.tree, parents: [b.tip], message, author, committer: t.committer });
    b.tipTree = applied.tree;
    b.made.add(b.tip);
    madeHere.push(b.tip);
    if (item.kind === 'pick') b.origins.add(sha);
  }
  if (b.tip === start) return { changeId: item.changeId, outcome: 'already-present' };
  return { changeId: item.changeId, outcome: 'merged', resultSha: b.tip };
}
