import { and, desc, eq, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { deployments } from '../schema.ts';
import type { Deployment } from '../schema.ts';

export type DeploymentRecord = Omit<typeof deployments.$inferInsert, 'createdAt' | 'updatedAt' | 'finishedAt'>;

const finished = (state: Deployment['state']): boolean => state === 'succeeded' || state === 'failed';

/** Upsert by id; a finished deployment never goes back to pending or running (retries are harmless). */
export async function upsertDeployment(db: Db, d: DeploymentRecord): Promise<void> {
  const done = finished(d.state);
  await db.insert(deployments).values({ ...d, finishedAt: done ? new Date() : null }).onConflictDoUpdate({
    target: deployments.id,
    set: {
      state: sql`case when ${deployments.state} in ('succeeded', 'failed') then ${deployments.state} else excluded.state end`,
      runId: sql`coalesce(excluded.run_id, ${deployments.runId})`,
      finishedAt: sql`coalesce(${deployments.finishedAt}, excluded.finished_at)`,
      updatedAt: sql`now()`,
    },
  });
}

export async function deploymentsOfRelease(db: Db, product: string, release: string): Promise<Deployment[]> {
  return db.select().from(deployments).where(and(eq(deployments.product, product), eq(deployments.release, release)))
    .orderBy(desc(deployments.createdAt));
}

export async function deploymentsOfProduct(db: Db, product: string, limit = 500): Promise<Deployment[]> {
  return db.select().from(deployments).where(eq(deployments.product, product)).orderBy(desc(deployments.createdAt)).limit(limit);
}

export async function getDeployment(db: Db, id: string): Promise<Deployment | undefined> {
  return (await db.select().from(deployments).where(eq(deployments.id, id)))[0];
}
