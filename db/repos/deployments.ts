import { and, count, desc, eq, max, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import type { Db } from '../client.ts';
import { deployments } from '../schema.ts';
import type { Deployment } from '../schema.ts';

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export type DeploymentRecord = Omit<typeof deployments.$inferInsert, 'createdAt' | 'updatedAt' | 'finishedAt'>;

const finished = (state: Deployment['state']): boolean => state === 'succeeded' || state === 'failed';

/** Upsert by id; a deployment never goes back (a finished one to running or pending, a running one to pending). */
export async function upsertDeployment(db: Db | Tx, d: DeploymentRecord): Promise<void> {
  const done = finished(d.state);
  await db.insert(deployments).values({ ...d, finishedAt: done ? new Date() : null }).onConflictDoUpdate({
    target: deployments.id,
    set: {
      // Forward only: pending, running, then succeeded or failed (writers race; the furthest wins).
      state: sql`case when ${deployments.state} in ('succeeded', 'failed') then ${deployments.state}
                      when ${deployments.state} = 'running' and excluded.state = 'pending' then ${deployments.state}
                      else excluded.state end`,
      runId: sql`coalesce(excluded.run_id, ${deployments.runId})`,
      failure: sql`case when ${deployments.state} in ('succeeded', 'failed') then ${deployments.failure} else excluded.failure end`,
      finishedAt: sql`coalesce(${deployments.finishedAt}, excluded.finished_at)`,
      // The facts of the click are written once, by whoever has them first.
      facts: sql`coalesce(${deployments.facts}, excluded.facts)`,
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

/**
 * What each of the product's `environments` runs now: its latest succeeded deployment by finish time,
 * ties to the later created, then the larger id (currentOf in repos/trace.ts, as one query). One index
 * probe (deployments_env_current) per environment, however many deployments there are; environments
 * that never ran anything are absent from the map.
 */
export async function currentDeployments(db: Db, product: string, environments: readonly string[]): Promise<Map<string, Deployment>> {
  const names = [...new Set(environments)];
  if (names.length === 0) return new Map();
  const d = alias(deployments, 'd');
  const latest = db.select({ id: d.id }).from(d)
    .where(and(eq(d.product, product), sql`${d.environment} = env.name`, eq(d.state, 'succeeded')))
    .orderBy(desc(sql`coalesce(${d.finishedAt}, ${d.createdAt})`), desc(d.createdAt), desc(d.id)).limit(1);
  const envs = sql`(values ${sql.join(names.map((n) => sql`(${n}::text)`), sql`, `)}) as env(name)`;
  const rows = await db.select().from(deployments)
    .where(and(eq(deployments.product, product), sql`${deployments.id} = any(array(select (${latest}) from ${envs}))`));
  return new Map(rows.map((r) => [r.environment, r]));
}

/** An environment's latest deployments in any state, newest first (deployments_env_history). */
export async function environmentHistory(db: Db, product: string, environment: string, limit = 20): Promise<Deployment[]> {
  return db.select().from(deployments).where(and(eq(deployments.product, product), eq(deployments.environment, environment)))
    .orderBy(desc(deployments.createdAt), desc(deployments.id)).limit(limit);
}

export async function getDeployment(db: Db, id: string): Promise<Deployment | undefined> {
  return (await db.select().from(deployments).where(eq(deployments.id, id)))[0];
}

/** Changes whenever a deployment of the product is started or written: the web page's board polls it. */
export async function deploymentsStamp(db: Db, product: string): Promise<string> {
  const [row] = await db.select({ n: count(), at: max(deployments.updatedAt) }).from(deployments).where(eq(deployments.product, product));
  return `${row?.n ?? 0}:${row?.at ? new Date(row.at).toISOString() : ''}`;
}
