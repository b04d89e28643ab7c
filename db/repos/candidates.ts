import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { artifacts, candidates } from '../schema.ts';
import type { Artifact, Candidate } from '../schema.ts';

export type CandidateRecord = Omit<typeof candidates.$inferInsert, 'createdAt' | 'updatedAt'>;

export async function upsertCandidate(db: Db, c: CandidateRecord): Promise<void> {
  await db.insert(candidates).values(c).onConflictDoUpdate({
    target: candidates.id,
    set: {
      state: c.state, failure: c.failure ?? null, buildRunId: sql`coalesce(excluded.build_run_id, ${candidates.buildRunId})`,
      deployedTo: sql`coalesce(excluded.deployed_to, ${candidates.deployedTo})`, updatedAt: sql`now()`,
    },
  });
}

export async function candidatesOfRelease(db: Db, product: string, release: string): Promise<Candidate[]> {
  return db.select().from(candidates).where(and(eq(candidates.product, product), eq(candidates.release, release)))
    .orderBy(asc(candidates.final), asc(candidates.number));
}

export type ArtifactRecord = Omit<typeof artifacts.$inferInsert, 'createdAt' | 'updatedAt'>;

/** One row per (candidate, slot): a retried build replaces it. */
export async function upsertArtifacts(db: Db, rows: ArtifactRecord[]): Promise<void> {
  if (rows.length === 0) return;
  await db.transaction(async (tx) => {
    for (const row of rows) {
      await tx.insert(artifacts).values(row).onConflictDoUpdate({
        target: artifacts.id, set: { runId: row.runId, size: row.size, sha256: row.sha256, location: row.location, updatedAt: sql`now()` },
      });
    }
  });
}

export async function artifactsOfCandidates(db: Db, ids: string[]): Promise<Artifact[]> {
  if (ids.length === 0) return [];
  return db.select().from(artifacts).where(inArray(artifacts.candidateId, ids)).orderBy(asc(artifacts.name));
}

export async function getArtifact(db: Db, id: string): Promise<Artifact | undefined> {
  return (await db.select().from(artifacts).where(eq(artifacts.id, id)))[0];
}

export async function markCandidateDeployed(db: Db, id: string, environment: string): Promise<void> {
  await db.update(candidates).set({ deployedTo: environment, updatedAt: sql`now()` }).where(eq(candidates.id, id));
}

export async function getCandidate(db: Db, id: string): Promise<Candidate | undefined> {
  return (await db.select().from(candidates).where(eq(candidates.id, id)))[0];
}
