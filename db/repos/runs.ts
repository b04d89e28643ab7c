import { and, desc, eq, inArray } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { stepRuns } from '../schema.ts';
import type { StepRun } from '../schema.ts';

export type NewRun = Omit<typeof stepRuns.$inferInsert, 'finishedAt' | 'exitCode' | 'durationMs'>;

/** A retried step starts its run row afresh under the same id. */
export async function startRun(db: Db, run: NewRun): Promise<void> {
  await db.insert(stepRuns).values({ ...run, state: 'running' }).onConflictDoUpdate({
    target: stepRuns.id,
    set: { state: 'running', startedAt: new Date(), exitCode: null, durationMs: null, finishedAt: null },
  });
}

export async function finishRun(db: Db, id: string, r: { state: StepRun['state']; exitCode: number | null; durationMs: number }): Promise<void> {
  await db.update(stepRuns).set({ ...r, finishedAt: new Date() }).where(eq(stepRuns.id, id));
}

export async function getRun(db: Db, id: string): Promise<StepRun | undefined> {
  return (await db.select().from(stepRuns).where(eq(stepRuns.id, id)))[0];
}

export async function runsOfRelease(db: Db, product: string, release: string, limit = 100): Promise<StepRun[]> {
  return db.select().from(stepRuns).where(and(eq(stepRuns.product, product), eq(stepRuns.release, release)))
    .orderBy(desc(stepRuns.startedAt)).limit(limit);
}

export async function runsByIds(db: Db, ids: string[]): Promise<StepRun[]> {
  if (ids.length === 0) return [];
  return db.select().from(stepRuns).where(inArray(stepRuns.id, ids));
}
