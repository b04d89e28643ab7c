// "Does this pick apply?" before anyone approves it. Every pick request awaiting a decision is tried on
// the release's head the way the pick batch would apply it (picks.ts: openBatch and applyItem, so the
// same trees, the same skips and the same outcome), each on its own. Nothing leaves the mirror: no
// worktree, no ref moved, no push; the commits applyItem makes are loose objects no ref points to.
// The answers are stored keyed by the head they were computed on (db/repos/pick-previews.ts).
import { ApplicationFailure, CancelledFailure, cancellationSignal, heartbeat } from '@temporalio/activity';
import { previewsOf, savePreviews, undecidedPicks } from '../db/repos/pick-previews.ts';
import type { PreviewRow } from '../db/repos/pick-previews.ts';
import { getRelease } from '../db/repos/releases.ts';
import type { ProductConfig } from '../domain/types.ts';
import type { ActivityDeps } from './deps.ts';
import { culvertIdentity, mirrorFor } from './deps.ts';
import { classify } from './faults.ts';
import type { Mirror } from './git/index.ts';
import { withHeartbeat } from './heartbeat.ts';
import { samePatchIn } from './inspect.ts';
import { applyItem, openBatch, pickHolders } from './picks.ts';
import type { PickItem } from './picks.ts';

export interface PreviewInput {
  product: ProductConfig;
  release: string;
  /** The release's head as the API read it: the answers are for this head only. */
  head: string;
}

export interface PicksPreviewed {
  head: string;
  /** Requests answered by this call (those without an answer on `head` yet, at most previewPerRun). */
  answered: number;
  /** Requests still without an answer on `head` after this call: the workflow calls again. */
  remaining?: number;
  /** Why nothing was stored: the release moved on (or went away) before or while it ran. */
  skipped?: 'head-moved';
}

/**
 * Requests one call answers, oldest first; the workflow calls again for the rest (each call's answers
 * are stored, so the page fills as it goes). A release with thousands of undecided picks (some of a
 * hundred commits each) is previewed in steps that each take seconds, beside the release's own work on
 * the same worker, never in one activity of minutes.
 */
export const previewPerRun = 100;

/** A row holds at most this many paths: enough to see what a pick touches, bounded for a huge one. */
const maxPaths = 200;

/** The commits applyItem makes are never referenced: a fixed committer keeps their objects the same on every run. */
const previewCommitter = { ...culvertIdentity, date: '2099-12-31T00:00:00Z' };

const short = (sha: string): string => sha.slice(0, 12);

type Undecided = Awaited<ReturnType<typeof undecidedPicks>>[number];

export function previewActivities(deps: ActivityDeps) {
  return {
    /** Answers "does it apply on `head`?" for every undecided pick request of the release that has no answer on it yet. */
    async previewPicks(i: PreviewInput): Promise<PicksPreviewed> {
      try {
        return await withHeartbeat(() => preview(deps, i));
      } catch (err) {
        // Cancelled (the workflow went, the worker stops): reported as such, never as a fault to retry.
        if (err instanceof CancelledFailure) throw err;
        throw classify(err);
      }
    },
  };
}

function stopIfCancelled(): void {
  const signal = cancellationSignal();
  if (signal.aborted) throw signal.reason instanceof CancelledFailure ? signal.reason : new CancelledFailure('the preview was cancelled');
}

async function preview(deps: ActivityDeps, i: PreviewInput): Promise<PicksPreviewed> {
  const { db } = deps;
  const product = i.product.name;
  const rel = await getRelease(db, product, i.release);
  // Answers for a head the release has left would be stale when written: the API asks for the new one.
  if (!rel || rel.headSha !== i.head) return { head: i.head, answered: 0, skipped: 'head-moved' };
  const [picks, known] = await Promise.all([undecidedPicks(db, product, i.release), previewsOf(db, product, i.release)]);
  const missing = picks.filter((p) => known.get(p.id)?.headSha !== i.head);
  const todo = missing.slice(0, previewPerRun);
  if (todo.length === 0) return { head: i.head, answered: 0 };

  let rows: PreviewRow[];
  try {
    rows = await previewOn(deps, i, rel.cutFrom, todo);
  } catch (err) {
    if (err instanceof CancelledFailure) throw err;
    const fault = classify(err);
    // A permanent fault (a repository Culvert may not read, a bad ref) is the answer for this head: the
    // page shows it, instead of starting a run that fails the same way on every reading.
    if (!(fault instanceof ApplicationFailure) || !fault.nonRetryable) throw fault;
    rows = todo.map((p) => failed(p.id, fault.message));
  }

  // The release may have moved while this ran: its new head gets answers of its own.
  if ((await getRelease(db, product, i.release))?.headSha !== i.head) return { head: i.head, answered: 0, skipped: 'head-moved' };
  await savePreviews(db, product, i.release, i.head, rows, { prune: true });
  return { head: i.head, answered: rows.length, ...(missing.length > todo.length ? { remaining: missing.length - todo.length } : {}) };
}

/** The answers of `todo` on the head, from the mirror (fetched first if it lacks the head or a commit). */
async function previewOn(deps: ActivityDeps, i: PreviewInput, cutFrom: string, todo: Undecided[]): Promise<PreviewRow[]> {
  const m = await mirrorFor(deps, i.product.repository);
  const wanted = [i.head, ...new Set(todo.flatMap((p) => p.commits))];
  let present = await m.commitsAmong(wanted);
  // Fetched only when the mirror lacks something (a head another worker pushed, a commit filed through
  // another worker's mirror): a remote that cannot be reached does not stop an answer the mirror has.
  if (present.size < wanted.length) {
    await m.fetch();
    present = await m.commitsAmong(wanted);
  }
  if (!present.has(i.head)) return todo.map((p) => failed(p.id, `the release head ${short(i.head)} is not in ${i.product.repository}`));
  return answer(m, i, cutFrom, todo, present);
}

function failed(changeId: string, detail: string): PreviewRow {
  return { changeId, outcome: 'error', paths: [], presentSha: null, detail };
}

/** The answer for each request: its commits applied in order onto the head, as the batch would. */
async function answer(m: Mirror, i: PreviewInput, cutFrom: string, todo: Undecided[], present: Set<string>): Promise<PreviewRow[]> {
  const rows: PreviewRow[] = [];
  const items: PickItem[] = [];
  for (const p of todo) {
    // A permanent problem of the request itself is its answer; the others still get theirs.
    const gone = p.commits.find((sha) => !present.has(sha));
    if (gone) rows.push(failed(p.id, `commit ${short(gone)} is not in ${i.product.repository}`));
    else if (p.commits.length === 0) rows.push(failed(p.id, 'the request names no commit'));
    else items.push({ changeId: p.id, seq: p.seq, kind: 'pick', commits: p.commits, revertOf: null });
  }
  if (items.length === 0) return rows;

  const head = i.head;
  // The origins' holders too, to name the commit that makes a pick already present.
  const holders = await pickHolders(m, `${cutFrom}..${head}`);
  const start = await openBatch(m, cutFrom, head, items, new Set(holders.keys()));
  const [headTree, makeCommit, fast] = await Promise.all([m.treeOf(head), m.commitMaker(), m.fastTrees()]);
  const presentOnes: PickItem[] = [];
  try {
    for (const [n, item] of items.entries()) {
      // Between two requests the event loop runs: workflow tasks and other activities of this worker
      // are not held up by a long preview's in-process merges.
      await new Promise<void>((resolve) => setImmediate(resolve));
      stopIfCancelled();
      heartbeat({ previewed: n, of: items.length });
      const root = item.commits.find((sha) => start.infoOf.get(sha)?.parents.length === 0 && !start.onHead.has(sha) && !start.origins.has(sha));
      if (root) {
        rows.push(failed(item.changeId, `commit ${short(root)} is a root commit: it cannot be picked`));
        continue;
      }
      // Each request on the head alone, as if approved by itself: a batch of its own that starts there.
      const batch = { ...start, tip: head, tipTree: headTree, made: new Set<string>(), origins: new Set(start.origins) };
      const outcome = await applyItem(m, batch, item, { cutFrom, committer: previewCommitter, makeCommit, fast });
      switch (outcome.outcome) {
        case 'merged': {
          const { paths } = await m.diffStatSince(head, outcome.resultSha);
          rows.push({ changeId: item.changeId, outcome: 'applies', paths: paths.slice(0, maxPaths), presentSha: null, detail: null });
          break;
        }
        case 'conflict':
          rows.push({ changeId: item.changeId, outcome: 'conflicts', paths: outcome.paths.slice(0, maxPaths), presentSha: null, detail: null });
          break;
        case 'already-present':
          presentOnes.push(item);
          break;
      }
    }
  } finally {
    fast?.close();
  }
  rows.push(...(await whereAlreadyPresent(m, i.product.repository, cutFrom, head, presentOnes, start.onHead, holders)));
  return rows;
}

/**
 * For requests whose commits the release already has: which of its commits holds them. The commit
 * itself (on the head), the pick that names it in its trailer, or one with the same patch (`git cherry`'s
 * patch-id, as filing a request finds it: inspect.ts samePatchIn), for the first commit that has one.
 */
async function whereAlreadyPresent(
  m: Mirror, repository: string, cutFrom: string, head: string, items: PickItem[], onHead: Set<string>, holders: Map<string, string>,
): Promise<PreviewRow[]> {
  if (items.length === 0) return [];
  const unheld = [...new Set(items.flatMap((x) => x.commits))].filter((sha) => !onHead.has(sha) && !holders.has(sha));
  const twins = await samePatchIn(m, repository, unheld, cutFrom, head);
  return items.map((item) => {
    for (const sha of item.commits) {
      if (onHead.has(sha)) return { changeId: item.changeId, outcome: 'already-present', paths: [], presentSha: sha, detail: `${short(sha)} is in the release` };
      const held = holders.get(sha) ?? twins.get(sha);
      if (held) {
        const how = holders.has(sha) ? `picked as ${short(held)}` : `the same patch as ${short(held)}`;
        return { changeId: item.changeId, outcome: 'already-present', paths: [], presentSha: held, detail: how };
      }
    }
    // Applying it changes nothing, though no one commit of the release has its patch (e.g. a squashed backport).
    return { changeId: item.changeId, outcome: 'already-present', paths: [], presentSha: null, detail: 'its changes are already in the release' };
  });
}
