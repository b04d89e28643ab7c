import { and, count, desc, eq, inArray, max, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import type { Db } from '../client.ts';
import { deployments } from '../schema.ts';
import type { Deployment } from '../schema.ts';

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export type DeploymentRecord = Omit<typeof deployments.$inferInsert, 'createdAt' | 'updatedAt' | 'finishedAt'>;

const finished = (state: Deployment['state']): boolean => state === 'succeeded' || state === 'failed';

/** Upsert by id; a deployment never goes back (a finished one to running or pending, a running one to pending). */
export async function upsertDeployment(db: Db | Tx, d: DeploymentRecord): Promise<void> {
  await db.transaction(async (tx) => {
    await upsertOne(tx, d);
    await mirrorToComponents(tx, d.id);
  });
}

/** The mark of a component's share of a deployment: `<deployment id>~<component>`. */
export const componentDeploymentId = (deploymentId: string, component: string): string => `${deploymentId}~${component}`;

/**
 * A deployment of a release across repositories deploys every component as it was when the deployment
 * was first written (domain/components.ts): each gets a row of its own under its product, with that
 * commit, following the deployment's state. So "which environments run commit X" answers for a commit
 * of a component as for any other, and the deploy step is told those very commits.
 */
async function mirrorToComponents(tx: Tx, id: string): Promise<void> {
  await tx.execute(sql`
    insert into deployments (id, product, release, environment, commit_sha, trigger, requested_by, state, run_id, failure, finished_at)
    select d.id || '~' || rc.component, rc.component_product, d.release, d.environment, coalesce(r.head_sha, rc.cut_from),
           d.trigger, d.requested_by, d.state, d.run_id, d.failure, d.finished_at
      from deployments d
      join release_components rc on rc.product = d.product and rc.release = d.release and rc.state = 'cut'
      left join releases r on r.product = rc.component_product and r.name = rc.release
     where d.id = ${id}
    on conflict (id) do update set
      state = excluded.state, run_id = excluded.run_id, failure = excluded.failure,
      finished_at = excluded.finished_at, updated_at = now()`);
}

/** The commits a deployment of a release across repositories deploys, by component (each its own row, by id). */
export async function componentsOfDeployment(db: Db, deploymentId: string, components: readonly string[]): Promise<{ component: string; commitSha: string }[]> {
  if (components.length === 0) return [];
  const ids = new Map(components.map((c) => [componentDeploymentId(deploymentId, c), c]));
  const rows = await db.select({ id: deployments.id, commitSha: deployments.commitSha }).from(deployments).where(inArray(deployments.id, [...ids.keys()]));
  return rows.map((r) => ({ component: ids.get(r.id) as string, commitSha: r.commitSha })).sort((a, b) => a.component.localeCompare(b.component));
}

async function upsertOne(db: Db | Tx, d: DeploymentRecord): Promise<void> {
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
