import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { dependencyWaits, deployments } from '../schema.ts';
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
