// Writes of change requests by revision (domain/changes.ts): a row's fields only ever move to a newer
// revision, and its history gains every entry it does not hold yet (one per revision, in order). Three writers may write the same
// revision (the workflow's recorder, the API storing an Update's answer, a merge activity recording its
// outcome); whichever comes second changes nothing.
import { and, asc, eq, inArray, notInArray, sql } from 'drizzle-orm';
import type { Change, ChangeWrite } from '../../domain/changes.ts';
import type { BulkWrite } from '../../domain/records.ts';
import type { ChangeState } from '../../domain/types.ts';
import type { Db } from '../client.ts';
import { changeRequests, releases } from '../schema.ts';
import { violates } from '../errors.ts';
import { notifyRelease } from '../feed.ts';
import type { ChangeRequest } from '../schema.ts';

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
type Writer = Db | Tx;

/** Writes each change at its revision, in one transaction (or the caller's). */
export async function writeChanges(db: Writer, product: string, release: string, writes: ChangeWrite[], at = new Date()): Promise<void> {
  if (writes.length === 0) return;
  const run = async (tx: Writer) => {
    await notifyRelease(tx, product, release);
    for (let i = 0; i < writes.length; i += 200) {
      const rows = writes.slice(i, i + 200).map(({ change: c, events, details }) => ({
        id: c.id, product, release, seq: c.seq, kind: c.kind, state: c.state, checkOutcome: c.check, branch: c.branch, sourceSha: c.sourceSha,
        commits: c.commits, reason: c.reason, severity: c.severity, requester: c.requester, checkRunId: c.checkRunId, resultSha: c.resultSha,
        conflictPaths: c.conflictPaths, decidedBy: c.decidedBy, decisionComment: c.decisionComment,
        votes: c.votes.map((v) => ({ by: v.by, decision: v.decision, at: v.at ?? at.toISOString() })), dependsOn: c.dependsOn, revertOf: c.revertOf, trunkOrder: c.trunkOrder,
        commitDetails: details ?? [], history: events, failure: c.failure, rev: c.rev, createdAt: at, updatedAt: at,
      }));
      // Fields only from a newer revision; history entries from any write, each revision once (a
      // writer of a later revision may have created the row without the entries before it).
      const newer = (column: string) => sql.raw(`case when excluded.rev > change_requests.rev then excluded.${column} else change_requests.${column} end`);
      await tx.insert(changeRequests).values(rows).onConflictDoUpdate({
        target: changeRequests.id,
        set: {
          state: newer('state'),
          checkOutcome: newer('check_outcome'),
          checkRunId: newer('check_run_id'),
          resultSha: newer('result_sha'),
          conflictPaths: newer('conflict_paths'),
          decidedBy: newer('decided_by'),
          decisionComment: newer('decision_comment'),
          votes: newer('votes'),
          failure: newer('failure'),
          commitDetails: sql`case when jsonb_array_length(excluded.commit_details) > 0 then excluded.commit_details else ${changeRequests.commitDetails} end`,
          history: sql`(select coalesce(jsonb_agg(t.e order by t.r, t.o), '[]'::jsonb) from (
              select h.e, coalesce((h.e->>'rev')::int, 0) as r, h.o from jsonb_array_elements(${changeRequests.history}) with ordinality as h(e, o)
              union all
              select x.e, (x.e->>'rev')::int, x.o + 1000000 from jsonb_array_elements(excluded.history) with ordinality as x(e, o)
              where x.e->>'rev' is not null
                and not exists (select 1 from jsonb_array_elements(${changeRequests.history}) as y(e) where y.e->>'rev' = x.e->>'rev')
            ) as t)`,
          rev: sql`greatest(${changeRequests.rev}, excluded.rev)`,
          updatedAt: sql`case when excluded.rev > ${changeRequests.rev} then excluded.updated_at else ${changeRequests.updatedAt} end`,
        },
      });
    }
  };
  // Inside a caller's transaction this is a savepoint. Two writers inserting the same new request at
  // once (the API and the recorder) can collide on its number rather than its id on PostgreSQL: the
  // row exists then, and writing again updates it.
  for (let attempt = 1; ; attempt++) {
    try {
      await db.transaction(run);
      return;
    } catch (err) {
      if (attempt >= 3 || !violates(err, 'change_requests_release_seq')) throw err;
    }
  }
}

/**
 * The outcome of a unit of work that moved the release: its requests and the release's new head, in one
 * transaction, right after the push (the trace of the move follows: activities/moves.ts).
 */
export async function writeLanded(db: Db, product: string, release: string, writes: ChangeWrite[], head: string, at = new Date()): Promise<void> {
  await db.transaction(async (tx) => {
    await writeChanges(tx, product, release, writes, at);
    await tx.update(releases).set({ headSha: head, updatedAt: sql`now()` }).where(and(eq(releases.product, product), eq(releases.name, release)));
  });
}

/** Ends every request of the release in one of `from` with an older revision, but those excepted. */
export async function writeBulk(tx: Writer, product: string, release: string, bulk: BulkWrite): Promise<number> {
  const event = { at: bulk.at, state: bulk.to, note: bulk.note, rev: bulk.rev };
  await notifyRelease(tx, product, release);
  const rows = await tx.update(changeRequests).set({
    state: bulk.to as ChangeRequest['state'],
    checkOutcome: sql`case when ${changeRequests.checkOutcome} in ('queued', 'running') then 'none'::check_outcome else ${changeRequests.checkOutcome} end`,
    history: sql`${changeRequests.history} || ${JSON.stringify([event])}::jsonb`,
    rev: bulk.rev,
    updatedAt: new Date(bulk.at),
  }).where(and(
    eq(changeRequests.product, product), eq(changeRequests.release, release),
    inArray(changeRequests.state, bulk.from as ChangeRequest['state'][]),
    sql`${changeRequests.rev} < ${bulk.rev}`,
    bulk.except.length > 0 ? notInArray(changeRequests.id, bulk.except) : undefined,
  )).returning({ id: changeRequests.id });
  return rows.length;
}

export function changeOfRow(r: ChangeRequest): Change {
  return {
    id: r.id, seq: r.seq, kind: r.kind, state: r.state, check: r.checkOutcome, branch: r.branch, sourceSha: r.sourceSha, commits: r.commits,
    trunkOrder: r.trunkOrder ?? 0, dependsOn: r.dependsOn, revertOf: r.revertOf, reason: r.reason, severity: r.severity, requester: r.requester,
    votes: r.votes.map((v) => ({ by: v.by, decision: v.decision, at: v.at })), decidedBy: r.decidedBy, decisionComment: r.decisionComment,
    checkRunId: r.checkRunId, resultSha: r.resultSha, conflictPaths: r.conflictPaths, failure: r.failure, rev: r.rev,
  };
}

/**
 * Queued work of a release, oldest first: approved requests (by the revision they were approved at)
 * or requests whose check waits for a slot (by number); and the requests those depend on.
 */
export async function queuedChanges(db: Db, product: string, release: string, which: 'approved' | 'checks', limit: number): Promise<{
  changes: Change[]; dependencies: Change[]; more: boolean;
}> {
  const where = which === 'approved'
    ? and(eq(changeRequests.product, product), eq(changeRequests.release, release), eq(changeRequests.state, 'approved'))
    : and(eq(changeRequests.product, product), eq(changeRequests.release, release), eq(changeRequests.state, 'checking'), eq(changeRequests.checkOutcome, 'queued'));
  const rows = await db.select().from(changeRequests).where(where)
    .orderBy(which === 'approved' ? asc(changeRequests.rev) : asc(changeRequests.seq)).limit(limit + 1);
  const changes = rows.slice(0, limit).map(changeOfRow);
  const deps = [...new Set(changes.flatMap((c) => c.dependsOn))].filter((id) => !changes.some((c) => c.id === id));
  const dependencies = deps.length === 0 ? [] : (await db.select().from(changeRequests)
    .where(and(eq(changeRequests.product, product), eq(changeRequests.release, release), inArray(changeRequests.id, deps)))).map(changeOfRow);
  return { changes, dependencies, more: rows.length > limit };
}

/**
 * The API's reading for a message to a release workflow: the release's epoch and the named requests,
 * in one statement (one snapshot, on PostgreSQL as on PGlite).
 */
export async function readKnown(db: Db, product: string, release: string, ids: string[]): Promise<{ epoch: number; engine: number; changes: Change[] } | undefined> {
  const wanted = [...new Set(ids)];
  const rows = await db.select({ epoch: releases.epoch, engine: releases.engine, change: changeRequests }).from(releases)
    .leftJoin(changeRequests, and(
      eq(changeRequests.product, releases.product), eq(changeRequests.release, releases.name),
      wanted.length > 0 ? inArray(changeRequests.id, wanted) : sql`false`,
    ))
    .where(and(eq(releases.product, product), eq(releases.name, release)));
  const first = rows[0];
  if (!first) return undefined;
  return { epoch: first.epoch, engine: first.engine, changes: rows.flatMap((r) => (r.change ? [changeOfRow(r.change)] : [])) };
}

export const openStates: ChangeState[] = ['requested', 'checking', 'awaiting-decision', 'approved'];
