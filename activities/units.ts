// The units of work of the release workflows that move a release branch. Each records its outcome
// itself, at the revision the workflow reserved, right after its push and the trace of what it brought
// in (which moves the release's head): the API shows `merged` before the workflow hears back, and a
// retry after a crash at any point finds its own push and records the same outcome once.
import { writeChanges } from '../db/repos/change-writes.ts';
import type { Change } from '../domain/changes.ts';
import type { ProductConfig } from '../domain/types.ts';
import type { ActivityDeps } from './deps.ts';
import { classified } from './faults.ts';
import { withHeartbeat } from './heartbeat.ts';
import { applyBatch } from './picks.ts';
import type { PickOutcome } from './picks.ts';
import { mergeOnto } from './release-git.ts';

interface UnitBase { product: ProductConfig; release: string; branch: string; expectedHead: string; rev: number; at: string }

function settled(change: Change, rev: number, fields: Partial<Change>): Change {
  return { ...change, ...fields, rev };
}

export function unitActivities(deps: ActivityDeps) {
  const write = (i: UnitBase, changes: { change: Change; note: string }[]) =>
    writeChanges(deps.db, i.product.name, i.release, changes.map(({ change, note }) => ({ change, events: [{ at: i.at, state: change.state, note, rev: i.rev }] })), new Date(i.at));

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
        }, (sha) => write(i, [{ change: mergedAs(sha), note: `merged as ${sha.slice(0, 12)}` }]));
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
        }, (_tip, results) => write(i, outcomesOf(results)));
        if (res.kind === 'stale') return res;
        return { kind: 'applied', head: res.head, written: outcomesOf(res.results).map((o) => o.change) };
      }));
    },
  };
}
