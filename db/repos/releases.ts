import { and, asc, eq, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { releaseCommits, releaseCuts, releaseMoves, releases } from '../schema.ts';
import { violates } from '../errors.ts';
import type { Release } from '../schema.ts';

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export type NewRelease = Omit<typeof releases.$inferInsert, 'createdAt' | 'updatedAt'>;

/** Upsert by (product, name): a retried cut records the same row. */
export async function upsertRelease(db: Db, r: NewRelease): Promise<void> {
  try {
    await db.insert(releases).values(r).onConflictDoUpdate({
      target: [releases.product, releases.name],
      set: {
        headSha: r.headSha, branch: r.branch, cutFrom: r.cutFrom, workflowId: r.workflowId, updatedAt: sql`now()`,
        ...(r.epoch !== undefined ? { epoch: r.epoch } : {}), ...(r.engine !== undefined ? { engine: r.engine } : {}),
      },
    });
  } catch (err) {
    if (violates(err, 'releases_one_pull_request')) throw new SecondPullRequestReleaseError(r.product, { cause: err });
    throw err;
  }
}

/** A pull-request product already has its one release (another cut got there first). */
export class SecondPullRequestReleaseError extends Error {
  override name = 'SecondPullRequestReleaseError';
  constructor(readonly product: string, options?: { cause?: unknown }) {
    super(`product ${product} uses the pull-request flow and already has its release`, options);
  }
}


export async function getRelease(db: Db, product: string, name: string): Promise<Release | undefined> {
  const rows = await db.select().from(releases).where(and(eq(releases.product, product), eq(releases.name, name)));
  return rows[0];
}

export async function listReleases(db: Db, product: string): Promise<Release[]> {
  return db.select().from(releases).where(eq(releases.product, product)).orderBy(asc(releases.createdAt));
}

const stateRank = sql`case ${releases.state} when 'open' then 0 when 'frozen' then 1 else 2 end`;

/** Moves a release's state forward only (open, frozen, closed): a late write of an earlier state changes nothing. */
export async function advanceReleaseState(db: Db | Tx, product: string, name: string, state: Release['state']): Promise<void> {
  const rank = state === 'open' ? 0 : state === 'frozen' ? 1 : 2;
  await db.update(releases).set({ state, updatedAt: sql`now()` })
    .where(and(eq(releases.product, product), eq(releases.name, name), sql`${stateRank} < ${rank}`));
}

export async function setReleaseState(db: Db, product: string, name: string, state: Release['state']): Promise<void> {
  await db.update(releases).set({ state, updatedAt: sql`now()` }).where(and(eq(releases.product, product), eq(releases.name, name)));
}

export interface CommitEntry { sha: string; originSha: string | null; changeId: string | null }

/** Moves the head and records the commits the move brought in, in one transaction. */
export async function moveReleaseHead(db: Db, product: string, name: string, headSha: string, commits: CommitEntry[]): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.update(releases).set({ headSha, updatedAt: sql`now()` })
      .where(and(eq(releases.product, product), eq(releases.name, name)));
    for (let i = 0; i < commits.length; i += 500) {
      const rows = commits.slice(i, i + 500).map((c) => ({ product, release: name, ...c }));
      await tx.insert(releaseCommits).values(rows).onConflictDoNothing();
    }
  });
}

/** Removes every trace of a release whose cut did not finish (its name is free again). */
export async function forgetRelease(db: Db, product: string, name: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.delete(releaseCommits).where(and(eq(releaseCommits.product, product), eq(releaseCommits.release, name)));
    await tx.delete(releaseMoves).where(and(eq(releaseMoves.product, product), eq(releaseMoves.release, name)));
    await tx.delete(releaseCuts).where(and(eq(releaseCuts.product, product), eq(releaseCuts.release, name)));
    await tx.delete(releases).where(and(eq(releases.product, product), eq(releases.name, name)));
  });
}
