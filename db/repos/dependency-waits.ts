import { and, eq, inArray, isNull, lt, ne, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { auditLog, dependencyWaits, deployments } from '../schema.ts';
import type { DependencyWait } from '../schema.ts';

export type NewWait = Pick<DependencyWait, 'deploymentId' | 'workflowId' | 'product' | 'release' | 'environment' | 'onProduct' | 'onVersion' | 'onEnvironment'>;

/** The deployment's waits, as they are (registered now if new). */
export async function registerWaits(db: Db, rows: NewWait[]): Promise<void> {
  if (rows.length > 0) await db.insert(dependencyWaits).values(rows).onConflictDoNothing();
}

export async function waitsOfDeployment(db: Db, deploymentId: string): Promise<DependencyWait[]> {
  return db.select().from(dependencyWaits).where(eq(dependencyWaits.deploymentId, deploymentId));
}

export async function waitsOfRelease(db: Db, product: string, release: string): Promise<DependencyWait[]> {
  return db.select().from(dependencyWaits).where(and(eq(dependencyWaits.product, product), eq(dependencyWaits.release, release)));
}

/** Whether `product`'s release `version` has been deployed to `environment` successfully, ever. */
export async function isPublished(db: Db, product: string, version: string, environment: string): Promise<boolean> {
  const rows = await db.select({ id: deployments.id }).from(deployments).where(and(
    eq(deployments.product, product), eq(deployments.release, version), eq(deployments.environment, environment), eq(deployments.state, 'succeeded'),
  )).limit(1);
  return rows.length > 0;
}

export async function endWaits(db: Db, deploymentId: string, onProducts: string[] | null, state: 'met' | 'overridden' | 'timed-out', by: string | null): Promise<void> {
  await db.update(dependencyWaits).set({ state, endedAt: sql`now()`, endedBy: by }).where(and(
    eq(dependencyWaits.deploymentId, deploymentId), eq(dependencyWaits.state, 'waiting'),
    onProducts ? inArray(dependencyWaits.onProduct, onProducts) : undefined,
  ));
}

/** Deployments waiting on `product` `version` in `environment`. */
export async function waitersOn(db: Db, product: string, version: string, environment: string): Promise<DependencyWait[]> {
  return db.select().from(dependencyWaits).where(and(
    eq(dependencyWaits.onProduct, product), eq(dependencyWaits.onVersion, version), eq(dependencyWaits.onEnvironment, environment), eq(dependencyWaits.state, 'waiting'),
  ));
}

export async function noteWaiters(db: Db, product: string, version: string, environment: string, note: string): Promise<void> {
  await db.update(dependencyWaits).set({ note }).where(and(
    eq(dependencyWaits.onProduct, product), eq(dependencyWaits.onVersion, version), eq(dependencyWaits.onEnvironment, environment), eq(dependencyWaits.state, 'waiting'),
  ));
}

/**
 * Hands the waiting rows of `onProducts` to `escalateTo` (their timeout passed); they go on waiting. Once
 * per row: a retried call finds them escalated and writes no second audit entry. Answers the rows escalated now.
 */
export async function escalateWaits(
  db: Db, w: { deploymentId: string; product: string; release: string; environment: string },
  escalations: { onProduct: string; on: string; escalateTo: string[] }[],
): Promise<{ onProduct: string; escalatedTo: string[] }[]> {
  return db.transaction(async (tx) => {
    const done: { onProduct: string; escalatedTo: string[] }[] = [];
    for (const e of escalations) {
      const rows = await tx.update(dependencyWaits).set({ escalatedTo: e.escalateTo, escalatedAt: sql`now()` }).where(and(
        eq(dependencyWaits.deploymentId, w.deploymentId), eq(dependencyWaits.onProduct, e.onProduct),
        eq(dependencyWaits.state, 'waiting'), isNull(dependencyWaits.escalatedAt),
      )).returning({ onProduct: dependencyWaits.onProduct });
      if (rows.length === 0) continue;
      done.push({ onProduct: e.onProduct, escalatedTo: e.escalateTo });
      await tx.insert(auditLog).values({
        actor: 'culvert', action: 'deploy.wait-escalated', product: w.product, release: w.release, target: w.deploymentId,
        details: { environment: w.environment, waitingFor: e.on, escalatedTo: e.escalateTo },
      });
    }
    return done;
  });
}

/**
 * Notes the waits that went ahead because `product` `version` was published to `environment` (state
 * met, ended before `at`), when that changes: another of its releases replaced it there, or a later
 * deployment of it there failed.
 */
export async function noteMetWaits(
  db: Db, e: { product: string; version: string; environment: string; state: 'succeeded' | 'failed'; at: string },
  note: (onVersion: string) => string,
): Promise<number> {
  const at = new Date(e.at);
  const rows = await db.select({ deploymentId: dependencyWaits.deploymentId, onProduct: dependencyWaits.onProduct, onVersion: dependencyWaits.onVersion })
    .from(dependencyWaits).where(and(
      eq(dependencyWaits.onProduct, e.product), eq(dependencyWaits.onEnvironment, e.environment), eq(dependencyWaits.state, 'met'),
      e.state === 'succeeded' ? ne(dependencyWaits.onVersion, e.version) : eq(dependencyWaits.onVersion, e.version),
      lt(dependencyWaits.endedAt, at),
    ));
  for (const r of rows) {
    await db.update(dependencyWaits).set({ note: note(r.onVersion) })
      .where(and(eq(dependencyWaits.deploymentId, r.deploymentId), eq(dependencyWaits.onProduct, r.onProduct)));
  }
  return rows.length;
}
