// The units of work of the release workflows that move a release branch. Each records its outcome
// itself, at the revision the workflow reserved, right after its push and the trace of what it brought
// in (which moves the release's head): the API shows `merged` before the workflow hears back, and a
// retry after a crash at any point finds its own push and records the same outcome once.
import { writeChanges, writeLanded } from '../db/repos/change-writes.ts';
import type { Change } from '../domain/changes.ts';
import type { ProductConfig } from '../domain/types.ts';
import type { ActivityDeps } from './deps.ts';
import { mirrorFor } from './deps.ts';
import { classified } from './faults.ts';
import { withHeartbeat } from './heartbeat.ts';
import { traceUpTo } from './moves.ts';
import { applyBatch } from './picks.ts';
import type { PickOutcome } from './picks.ts';
import { mergeOnto } from './release-git.ts';

interface UnitBase {
  product: ProductConfig; release: string; branch: string; expectedHead: string; rev: number; at: string;
  /** The workflow traces the move afterwards (traceRelease): write the outcome and the new head right after the push. */
  traceLater?: boolean;
}

function settled(change: Change, rev: number, fields: Partial<Change>): Change {
  return { ...change, ...fields, rev };
}

export function unitActivities(deps: ActivityDeps) {
  const writesOf = (i: UnitBase, changes: { change: Change; note: string }[]) =>
    changes.map(({ change, note }) => ({ change, events: [{ at: i.at, state: change.state, note, rev: i.rev }] }));
  const write = (i: UnitBase, changes: { change: Change; note: string }[]) =>
    writeChanges(deps.db, i.product.name, i.release, writesOf(i, changes), new Date(i.at));
  // Inline tracing moved the head already; otherwise the outcome carries it.
  const land = (i: UnitBase, head: string, changes: { change: Change; note: string }[]) =>
    (i.traceLater ? writeLanded(deps.db, i.product.name, i.release, writesOf(i, changes), head, new Date(i.at)) : write(i, changes));

  return {
    async mergeApproved(i: UnitBase & { change: Change }): Promise<
      { kind: 'merged'; head: string; written: Change } | { kind: 'already-present' | 'conflict'; written: Change } | { kind: 'stale'; actual: string }
    > {
      return classified(() => withHeartbeat(async () => {
        const c = i.change;
        const mergedAs = (sha: string) => settled(c, i.rev, { state: 'merged', resultSha: sha, failure: null });
        const res = await mergeOnto(deps, {
          product: i.product, release: i.release, branch: i.branch, expectedHead: i.expectedHead,
          change: { id: c.id, seq: c.seq, branch: c.branch ?? '', sourceSha: c.sourceSha ?? '', decidedBy: c.decidedBy ?? '' },
        }, (sha) => land(i, sha, [{ change: mergedAs(sha), note: `merged as ${sha.slice(0, 12)}` }]), i.traceLater);
        switch (res.kind) {
          case 'stale':
            return res;
          case 'merged':
            return { kind: 'merged', head: res.sha, written: mergedAs(res.sha) };
          case 'already-present': {
            const written = settled(c, i.rev, { state: 'already-present' });
            await write(i, [{ change: written, note: 'the branch is already in the release' }]);
            return { kind: 'already-present', written };
          }
          case 'conflict': {
            const written = settled(c, i.rev, { state: 'conflict', conflictPaths: res.paths });
            await write(i, [{ change: written, note: `conflicts in ${res.paths.join(', ')}` }]);
            return { kind: 'conflict', written };
          }
        }
      }));
    },

    async applyApprovedPicks(i: UnitBase & { cutFrom: string; committedAt: string; items: Change[] }): Promise<
      { kind: 'applied'; head: string; written: Change[] } | { kind: 'stale'; actual: string }
    > {
      return classified(() => withHeartbeat(async () => {
        const byId = new Map(i.items.map((c) => [c.id, c]));
        const outcomesOf = (results: PickOutcome[]) => results.flatMap((r) => {
          const c = byId.get(r.changeId);
          if (!c) return [];
          switch (r.outcome) {
            case 'merged':
              return [{ change: settled(c, i.rev, { state: 'merged', resultSha: r.resultSha, failure: null }), note: `applied as ${r.resultSha.slice(0, 12)}` }];
            case 'already-present':
              return [{ change: settled(c, i.rev, { state: 'already-present' }), note: 'its commits are already in the release' }];
            case 'conflict':
              return [{ change: settled(c, i.rev, { state: 'conflict', conflictPaths: r.paths }), note: `conflicts in ${r.paths.join(', ')}` }];
          }
        });
        const res = await applyBatch(deps, {
          product: i.product, release: i.release, branch: i.branch, expectedHead: i.expectedHead, cutFrom: i.cutFrom, committedAt: i.committedAt,
          items: i.items.map((c) => ({ changeId: c.id, seq: c.seq, kind: c.kind === 'revert' ? 'revert' as const : 'pick' as const, commits: c.commits, revertOf: c.revertOf })),
        }, (tip, results) => land(i, tip, outcomesOf(results)), i.traceLater);
        if (res.kind === 'stale') return res;
        return { kind: 'applied', head: res.head, written: outcomesOf(res.results).map((o) => o.change) };
      }));
    },

    /** Traces the release's branch up to `to` (activities/moves.ts traceUpTo): after units that wrote their outcome first. */
    async traceRelease(i: { product: ProductConfig; release: string; to: string }): Promise<void> {
      return classified(() => withHeartbeat(async () => {
        const m = await mirrorFor(deps, i.product.repository);
        // Another worker may have pushed it: the mirror must hold the commits first.
        if (!(await m.resolveCommit(i.to))) await m.fetch();
        await traceUpTo(deps, m, i.product.name, i.release, i.to);
      }));
    },
  };
}
