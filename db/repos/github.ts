// GitHub deliveries (each webhook once, by its delivery id) and the pull requests Culvert filed merge
// requests for (domain/github.ts).
import { and, eq, sql } from 'drizzle-orm';
import type { GithubOutcome } from '../../domain/github.ts';
import type { Db } from '../client.ts';
import { githubDeliveries, githubPulls } from '../schema.ts';
import type { GithubDeliveryRow, GithubPull } from '../schema.ts';

/** The delivery as recorded: written now if it is new. */
export async function receiveDelivery(db: Db, d: { id: string; event: string; action: string | null; repository: string }): Promise<GithubDeliveryRow> {
  await db.insert(githubDeliveries).values(d).onConflictDoNothing();
  const [row] = await db.select().from(githubDeliveries).where(eq(githubDeliveries.id, d.id));
  return row as GithubDeliveryRow;
}

/** Marks the delivery handled with what it led to; a second handling keeps the first's outcomes. */
export async function deliveryHandled(db: Db, id: string, outcomes: GithubOutcome[]): Promise<void> {
  await db.update(githubDeliveries).set({ outcomes, handledAt: sql`coalesce(${githubDeliveries.handledAt}, now())` })
    .where(and(eq(githubDeliveries.id, id), sql`${githubDeliveries.handledAt} is null`));
}

export async function getDelivery(db: Db, id: string): Promise<GithubDeliveryRow | undefined> {
  return (await db.select().from(githubDeliveries).where(eq(githubDeliveries.id, id)))[0];
}

/** The merge request filed for a pull request's head (the latest head wins). */
export async function recordPull(db: Db, p: Omit<GithubPull, 'updatedAt'>): Promise<void> {
  await db.insert(githubPulls).values(p).onConflictDoUpdate({
    target: [githubPulls.product, githubPulls.number],
    set: { release: p.release, changeId: p.changeId, headSha: p.headSha, updatedAt: sql`now()` },
  });
}

export async function getPull(db: Db, product: string, number: number): Promise<GithubPull | undefined> {
  return (await db.select().from(githubPulls).where(and(eq(githubPulls.product, product), eq(githubPulls.number, number))))[0];
}
