// The release workflows' database work: one transaction per recording, queued work read back by a new run.
import { queuedChanges } from '../db/repos/change-writes.ts';
import { recordRelease } from '../db/repos/release-writes.ts';
import type { Change, ChangeWrite } from '../domain/changes.ts';
import type { ReleaseWrite } from '../domain/records.ts';
import type { ActivityDeps } from './deps.ts';
import { classified } from './faults.ts';

export function releaseRecordActivities(deps: ActivityDeps) {
  return {
    async recordRelease(i: { product: string; release: string; writes: ChangeWrite[]; write: ReleaseWrite }): Promise<void> {
      await classified(() => recordRelease(deps.db, i.product, i.release, i.writes, i.write));
    },

    async loadChanges(i: { product: string; release: string; which: 'approved' | 'checks'; limit: number }): Promise<{
      changes: Change[]; dependencies: Change[]; more: boolean;
    }> {
      return classified(() => queuedChanges(deps.db, i.product, i.release, i.which, i.limit));
    },
  };
}
