// Everything a release workflow records in one transaction: its change requests (by revision), the
// release's state, epoch and blocked list, bulk endings (freeze, close) and queued deployments.
import { and, eq, sql } from 'drizzle-orm';
import type { ChangeWrite } from '../../domain/changes.ts';
import type { ReleaseWrite } from '../../domain/records.ts';
import type { Db } from '../client.ts';
import { changeRequests, releases } from '../schema.ts';
import { writeBulk, writeChanges } from './change-writes.ts';
import { upsertDeployment } from './deployments.ts';
import { advanceReleaseState } from './releases.ts';

export async function recordRelease(db: Db, product: string, release: string, writes: ChangeWrite[], w: ReleaseWrite, at = new Date()): Promise<void> {
  await db.transaction(async (tx) => {
    // Changes first: a bulk ending then spares every request this write brought to a newer revision.
    await writeChanges(tx, product, release, writes, at);
    for (const bulk of w.bulk) await writeBulk(tx, product, release, bulk);
    if (w.requeueChecks) {
      await tx.update(changeRequests).set({ checkOutcome: 'queued' }).where(and(
        eq(changeRequests.product, product), eq(changeRequests.release, release), eq(changeRequests.state, 'checking'), eq(changeRequests.checkOutcome, 'running'),
      ));
    }
    if (w.state !== undefined) await advanceReleaseState(tx, product, release, w.state);
    const set: Partial<typeof releases.$inferInsert> = {};
    if (w.blocked !== undefined) set.blocked = w.blocked;
    if (w.blocked !== undefined || w.epoch !== undefined) {
      await tx.update(releases).set({
        ...set,
        ...(w.epoch !== undefined ? { epoch: sql`greatest(${releases.epoch}, ${w.epoch})`, engine: 2 } : {}),
        updatedAt: sql`now()`,
      }).where(and(eq(releases.product, product), eq(releases.name, release)));
    }
    for (const d of w.deployments) {
      await upsertDeployment(tx, {
        id: d.job.deploymentId, product, release, environment: d.job.environment, commitSha: d.job.commitSha, trigger: d.job.trigger,
        requestedBy: d.job.requestedBy, state: d.state, runId: null, failure: d.failure ?? null,
      });
    }
  });
}
