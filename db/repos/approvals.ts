import { and, desc, eq, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { approvals } from '../schema.ts';
import type { Approval } from '../schema.ts';

export type ApprovalRecord = Omit<typeof approvals.$inferInsert, 'createdAt' | 'updatedAt'>;

export async function upsertApproval(db: Db, a: ApprovalRecord): Promise<void> {
  await db.insert(approvals).values(a).onConflictDoUpdate({
    target: approvals.id,
    set: {
      state: a.state, votes: a.votes, reminders: a.reminders, escalatedTo: a.escalatedTo ?? null, deadline: a.deadline ?? null,
      updatedAt: sql`now()`,
    },
  });
}

export async function getApproval(db: Db, id: string): Promise<Approval | undefined> {
  return (await db.select().from(approvals).where(eq(approvals.id, id)))[0];
}

export async function listApprovals(db: Db, f: { state?: Approval['state']; product?: string; release?: string }): Promise<Approval[]> {
  return db.select().from(approvals).where(and(
    f.state ? eq(approvals.state, f.state) : undefined,
    f.product ? eq(approvals.product, f.product) : undefined,
    f.release ? eq(approvals.release, f.release) : undefined,
  )).orderBy(desc(approvals.createdAt)).limit(500);
}
