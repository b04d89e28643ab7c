// Trains, their members and their actions (domain/trains.ts). The workflow of a train writes through
// activities; the API reads, and stores what an Update answered so the caller sees it at once. Every
// write is by key and may come twice (a retried activity, the API and the workflow both).
import { and, asc, desc, eq, lt, or, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { trainActions, trainMembers, trainOutcomes, trains } from '../schema.ts';
import type { Train, TrainActionRow, TrainMember, TrainMemberLast } from '../schema.ts';

export async function createTrain(db: Db, t: { name: string; release: string; production: boolean; plan: string | null; workflowId: string; createdBy: string; members: string[] }): Promise<boolean> {
  return db.transaction(async (tx) => {
    const rows = await tx.insert(trains).values({
      name: t.name, release: t.release, production: t.production, plan: t.plan, workflowId: t.workflowId, createdBy: t.createdBy,
    }).onConflictDoNothing().returning({ name: trains.name });
    if (rows.length === 0) return false;
    await tx.insert(trainMembers).values(t.members.map((product) => ({ train: t.name, product })));
    return true;
  });
}

/** Forgets a train whose workflow never started (the start failed after the rows were written). */
export async function deleteTrain(db: Db, name: string): Promise<void> {
  await db.delete(trains).where(eq(trains.name, name));
}

export async function getTrain(db: Db, name: string): Promise<Train | undefined> {
  return (await db.select().from(trains).where(eq(trains.name, name)))[0];
}

export async function listTrains(db: Db, limit = 100): Promise<Train[]> {
  return db.select().from(trains).orderBy(desc(trains.createdAt)).limit(limit);
}

export async function membersOf(db: Db, train: string): Promise<TrainMember[]> {
  return db.select().from(trainMembers).where(eq(trainMembers.train, train)).orderBy(asc(trainMembers.product));
}

export async function actionsOf(db: Db, train: string, limit = 50): Promise<TrainActionRow[]> {
  return db.select().from(trainActions).where(eq(trainActions.train, train)).orderBy(desc(trainActions.seq)).limit(limit);
}

export async function getTrainAction(db: Db, train: string, seq: number): Promise<TrainActionRow | undefined> {
  return (await db.select().from(trainActions).where(and(eq(trainActions.train, train), eq(trainActions.seq, seq))))[0];
}

/** The action as confirmed; a second write of the same seq changes nothing. */
export async function recordTrainAction(db: Db, a: { train: string; seq: number; action: Record<string, unknown>; requestedBy: string; report: Record<string, unknown>; members: string[] }): Promise<void> {
  await db.insert(trainActions).values(a).onConflictDoNothing();
}

/** A member's outcome of action `seq` (and its release, once cut); an older action's outcome never replaces a newer one's. */
export async function recordMemberOutcome(db: Db, train: string, product: string, last: TrainMemberLast, release?: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.insert(trainOutcomes).values({ train, seq: last.seq, product, outcome: last }).onConflictDoNothing();
    await tx.update(trainMembers).set({ last, ...(release ? { release } : {}), updatedAt: sql`now()` }).where(and(
    eq(trainMembers.train, train), eq(trainMembers.product, product),
      or(sql`${trainMembers.last} is null`, lt(sql`(${trainMembers.last}->>'seq')::int`, last.seq)),
    ));
  });
}

/** Every member's outcome of action `seq` that is recorded. */
export async function outcomesOf(db: Db, train: string, seq: number): Promise<Map<string, TrainMemberLast>> {
  const rows = await db.select().from(trainOutcomes).where(and(eq(trainOutcomes.train, train), eq(trainOutcomes.seq, seq)));
  return new Map(rows.map((r) => [r.product, r.outcome]));
}

/** The outcome recorded for one member and action, if any (a retried activity returns it). */
export async function outcomeOf(db: Db, train: string, seq: number, product: string): Promise<TrainMemberLast | undefined> {
  const rows = await db.select().from(trainOutcomes).where(and(eq(trainOutcomes.train, train), eq(trainOutcomes.seq, seq), eq(trainOutcomes.product, product)));
  return rows[0]?.outcome;
}

/** Ends action `seq`, counting its members' outcomes as recorded. */
export async function finishTrainAction(db: Db, train: string, seq: number): Promise<void> {
  await db.update(trainActions).set({
    state: 'done', finishedAt: sql`coalesce(${trainActions.finishedAt}, now())`,
    done: sql`(select count(*) from ${trainOutcomes} o where o.train = ${train} and o.seq = ${seq} and (o.outcome->>'ok')::boolean)`,
    failed: sql`(select count(*) from ${trainOutcomes} o where o.train = ${train} and o.seq = ${seq} and not (o.outcome->>'ok')::boolean)`,
  }).where(and(eq(trainActions.train, train), eq(trainActions.seq, seq)));
}

export async function closeTrain(db: Db, train: string): Promise<void> {
  await db.update(trains).set({ state: 'closed', updatedAt: sql`now()` }).where(eq(trains.name, train));
}

/** Replaces a member's outcome of action `seq` (a deployment that ended): in its outcomes and, if still its last, on the member. */
export async function settleMemberOutcome(db: Db, train: string, product: string, outcome: TrainMemberLast): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.update(trainOutcomes).set({ outcome }).where(and(eq(trainOutcomes.train, train), eq(trainOutcomes.seq, outcome.seq), eq(trainOutcomes.product, product)));
    await tx.update(trainMembers).set({ last: outcome, updatedAt: sql`now()` }).where(and(
      eq(trainMembers.train, train), eq(trainMembers.product, product), sql`(${trainMembers.last}->>'seq')::int = ${outcome.seq}`,
    ));
  });
}

/**
 * Changes whenever anything the train's page shows does: the train, its members' outcomes, its actions,
 * the members' releases and their deployments of the train's release. The page's live refresh polls it.
 */
export async function trainStamp(db: Db, train: string): Promise<string> {
  const rows = await db.execute(sql`
    select t.state,
           (select max(m.updated_at) from train_members m where m.train = t.name) as members,
           (select count(*) || ':' || coalesce(sum(a.done + a.failed), 0) from train_actions a where a.train = t.name) as actions,
           (select max(r.updated_at) from releases r join train_members m on m.product = r.product where m.train = t.name and r.name = t.release) as releases,
           (select count(*) || ':' || coalesce(max(d.updated_at)::text, '') from deployments d join train_members m on m.product = d.product
             where m.train = t.name and d.release = t.release) as deployments
      from trains t where t.name = ${train}`);
  const list = (Array.isArray(rows) ? rows : (rows as { rows: unknown[] }).rows) as Record<string, unknown>[];
  const row = list[0];
  if (!row) return '';
  const text = (v: unknown): string => (v instanceof Date ? v.toISOString() : String(v ?? ''));
  return [row.state, row.members, row.actions, row.releases, row.deployments].map(text).join('|');
}
