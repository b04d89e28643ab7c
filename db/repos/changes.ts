import { and, asc, count, desc, eq, ilike, inArray, like, max, or, sql } from 'drizzle-orm';
import type { SQL } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { changeRequests } from '../schema.ts';
import { notifyRelease } from '../feed.ts';
import type { ChangeEvent, ChangeRequest } from '../schema.ts';
import type { ChangeRecord } from '../../domain/changes.ts';
import { defaultSeverities } from '../../domain/types.ts';

export type { ChangeRecord } from '../../domain/changes.ts';


/** Upserts by id, in one transaction: a retried activity writes the same rows again, harmlessly. */
export async function upsertChanges(db: Db, product: string, release: string, records: ChangeRecord[], at = new Date()): Promise<void> {
  if (records.length === 0) return;
  await db.transaction(async (tx) => {
    await notifyRelease(tx, product, release);
    for (let i = 0; i < records.length; i += 200) {
      const rows = records.slice(i, i + 200).map((r) => {
        const event: ChangeEvent = { at: at.toISOString(), state: r.state, ...(r.by ? { by: r.by } : {}), ...(r.note ? { note: r.note } : {}) };
        return {
          id: r.id, product, release, seq: r.seq, kind: r.kind, state: r.state as ChangeRequest['state'], checkOutcome: r.check as ChangeRequest['checkOutcome'],
          branch: r.branch ?? null, sourceSha: r.sourceSha ?? null, commits: r.commits ?? [], reason: r.reason ?? null,
          severity: r.severity ?? null, requester: r.requester, checkRunId: r.checkRunId ?? null, resultSha: r.resultSha ?? null,
          conflictPaths: r.conflictPaths ?? null, decidedBy: r.decidedBy ?? null, decisionComment: r.decisionComment ?? null,
          votes: (r.votes ?? []).map((v) => ({ ...v, at: at.toISOString() })), dependsOn: r.dependsOn ?? [], revertOf: r.revertOf ?? null,
          trunkOrder: r.trunkOrder ?? null, commitDetails: r.commitDetails ?? [],
          history: [event], createdAt: at, updatedAt: at,
        };
      });
      await tx.insert(changeRequests).values(rows).onConflictDoUpdate({
        target: changeRequests.id,
        set: {
          state: sql`excluded.state`,
          checkOutcome: sql`excluded.check_outcome`,
          checkRunId: sql`coalesce(excluded.check_run_id, ${changeRequests.checkRunId})`,
          resultSha: sql`coalesce(excluded.result_sha, ${changeRequests.resultSha})`,
          conflictPaths: sql`coalesce(excluded.conflict_paths, ${changeRequests.conflictPaths})`,
          decidedBy: sql`coalesce(excluded.decided_by, ${changeRequests.decidedBy})`,
          decisionComment: sql`coalesce(excluded.decision_comment, ${changeRequests.decisionComment})`,
          votes: sql`excluded.votes`,
          history: sql`case when ${changeRequests.history}->-1->>'state' = excluded.state::text then ${changeRequests.history}
                           else ${changeRequests.history} || excluded.history end`,
          updatedAt: sql`excluded.updated_at`,
        },
      });
    }
  });
}

export async function getChange(db: Db, product: string, release: string, id: string): Promise<ChangeRequest | undefined> {
  const rows = await db.select().from(changeRequests)
    .where(and(eq(changeRequests.product, product), eq(changeRequests.release, release), eq(changeRequests.id, id)));
  return rows[0];
}

export interface ChangeFilter {
  state?: ChangeRequest['state'][];
  severity?: string;
  requester?: string;
  /** Text to find in the reason. */
  q?: string;
  limit: number;
  offset: number;
  /** `severity`: in the order of the product's list of severities (the default list puts hotfix first). */
  sort?: 'seq' | 'trunk' | 'age' | 'severity';
  severities?: string[];
}

/**
 * What `q` finds: the text in a request's reason or in a subject of its commits; and, when it looks like
 * one, a SHA (full or abbreviated) among its commits, its source or its result, so "was this commit
 * already requested?" has an answer.
 */
function textOrSha(q: string): SQL {
  const pattern = `%${q.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
  const text = or(
    ilike(changeRequests.reason, pattern),
    sql`exists (select 1 from jsonb_array_elements(${changeRequests.commitDetails}) d where d->>'subject' ilike ${pattern})`,
  ) as SQL;
  if (!/^[0-9a-f]{4,40}$/i.test(q)) return text;
  const prefix = `${q.toLowerCase()}%`;
  return or(
    text,
    like(changeRequests.sourceSha, prefix),
    like(changeRequests.resultSha, prefix),
    sql`exists (select 1 from jsonb_array_elements_text(${changeRequests.commits}) c where c like ${prefix})`,
  ) as SQL;
}

export async function listChanges(db: Db, product: string, release: string, f: ChangeFilter): Promise<{ items: ChangeRequest[]; total: number }> {
  const where = and(
    eq(changeRequests.product, product),
    eq(changeRequests.release, release),
    f.state && f.state.length > 0 ? inArray(changeRequests.state, f.state) : undefined,
    f.severity ? eq(changeRequests.severity, f.severity) : undefined,
    f.requester ? eq(changeRequests.requester, f.requester) : undefined,
    f.q ? textOrSha(f.q) : undefined,
  );
  const rank = sql`array_position(array[${sql.join((f.severities?.length ? f.severities : defaultSeverities).map((x) => sql`${x}`), sql`, `)}]::text[], ${changeRequests.severity})`;
  const order = f.sort === 'age' ? [asc(changeRequests.createdAt), asc(changeRequests.seq)]
    : f.sort === 'trunk' ? [asc(changeRequests.trunkOrder), asc(changeRequests.seq)]
      : f.sort === 'severity' ? [sql`${rank} asc nulls last`, asc(changeRequests.seq)]
      : [asc(changeRequests.seq)];
  const [items, totals] = await Promise.all([
    db.select().from(changeRequests).where(where).orderBy(...order).limit(f.limit).offset(f.offset),
    db.select({ n: count() }).from(changeRequests).where(where),
  ]);
  return { items, total: totals[0]?.n ?? 0 };
}

/** The ids of a release's requests with these numbers (uses the release/seq unique index). */
export async function idsBySeq(db: Db, product: string, release: string, seqs: number[]): Promise<Map<number, string>> {
  if (seqs.length === 0) return new Map();
  const rows = await db.select({ id: changeRequests.id, seq: changeRequests.seq }).from(changeRequests)
    .where(and(eq(changeRequests.product, product), eq(changeRequests.release, release), inArray(changeRequests.seq, seqs)));
  return new Map(rows.map((r) => [r.seq, r.id]));
}

export async function latestChanges(db: Db, product: string, release: string, limit: number): Promise<ChangeRequest[]> {
  return db.select().from(changeRequests)
    .where(and(eq(changeRequests.product, product), eq(changeRequests.release, release)))
    .orderBy(desc(changeRequests.seq)).limit(limit);
}

/** Changes whenever a request of the release is filed or written: the web page's live refresh polls it. */
export async function changesStamp(db: Db, product: string, release: string): Promise<string> {
  const [row] = await db.select({ n: count(), at: max(changeRequests.updatedAt) }).from(changeRequests)
    .where(and(eq(changeRequests.product, product), eq(changeRequests.release, release)));
  return `${row?.n ?? 0}:${row?.at ? new Date(row.at).toISOString() : ''}`;
}
