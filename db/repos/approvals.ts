import { and, desc, eq, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { approvals } from '../schema.ts';
import type { Approval } from '../schema.ts';
import type { Gate } from '../../domain/gate.ts';

export type ApprovalRecord = Omit<typeof approvals.$inferInsert, 'createdAt' | 'updatedAt'>;

/** Upsert by id; with a `rev`, only over an older one (a gate workflow and the API write the same versions). */
export async function upsertApproval(db: Db, a: ApprovalRecord): Promise<void> {
  await db.insert(approvals).values(a).onConflictDoUpdate({
    target: approvals.id,
    set: {
      state: a.state, votes: a.votes, reminders: a.reminders, workflowId: a.workflowId, escalatedTo: a.escalatedTo ?? null, deadline: a.deadline ?? null,
      rev: a.rev ?? 0, updatedAt: sql`now()`,
    },
    ...(a.rev !== undefined ? { setWhere: sql`${approvals.rev} < ${a.rev}` } : {}),
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

/** A gate as its workflow holds it, recorded (at its revision when it has one). */
export async function recordGate(db: Db, i: { product: string; release: string | null; workflowId: string; gate: Gate; rev?: number }): Promise<void> {
  const g = i.gate;
  await upsertApproval(db, {
    id: g.id, product: i.product, release: i.release, subject: g.subject, group: g.group, quorum: g.quorum, state: g.state,
    votes: g.votes, workflowId: i.workflowId, requestedBy: g.requestedBy, excluded: g.excluded, rejectStops: g.rejectStops,
    deadline: g.deadline ? new Date(g.deadline) : null, reminders: g.reminders, escalatedTo: g.escalatedTo, ...(i.rev !== undefined ? { rev: i.rev } : {}),
  });
}
