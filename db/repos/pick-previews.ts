// Answers to "does this pick apply on the release's head?" (activities/preview.ts writes them, the
// change list reads them). One row per undecided pick request, keyed by the head it was computed on.
import { and, asc, eq, inArray, max, notExists, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { changeRequests, pickPreviews } from '../schema.ts';
import type { PreviewOutcome } from '../schema.ts';

export type { PreviewOutcome } from '../schema.ts';

export interface PreviewRow {
  changeId: string;
  outcome: PreviewOutcome;
  paths: string[];
  presentSha: string | null;
  detail: string | null;
}

export interface Preview extends PreviewRow {
  /** The release head it was computed on: stale once the release's head is another. */
  headSha: string;
  computedAt: Date;
}

/** The states of a pick request no owner has decided yet (its check may still run). */
export const undecidedStates = ['requested', 'checking', 'awaiting-decision'] as const;

/**
 * Stores the answers computed on `head`, replacing each request's answer on an older head, in one
 * transaction. With `prune`, the answers of the release's requests that are no longer awaiting a
 * decision go too: nobody asks them again.
 */
export async function savePreviews(
  db: Db, product: string, release: string, head: string, rows: PreviewRow[], opts: { prune?: boolean; at?: Date } = {},
): Promise<void> {
  const at = opts.at ?? new Date();
  await db.transaction(async (tx) => {
    for (let i = 0; i < rows.length; i += 500) {
      const values = rows.slice(i, i + 500).map((r) => ({
        product, release, changeId: r.changeId, headSha: head, outcome: r.outcome, paths: r.paths, presentSha: r.presentSha, detail: r.detail, computedAt: at,
      }));
      await tx.insert(pickPreviews).values(values).onConflictDoUpdate({
        target: [pickPreviews.product, pickPreviews.release, pickPreviews.changeId],
        set: {
          headSha: sql`excluded.head_sha`, outcome: sql`excluded.outcome`, paths: sql`excluded.paths`,
          presentSha: sql`excluded.present_sha`, detail: sql`excluded.detail`, computedAt: sql`excluded.computed_at`,
        },
      });
    }
    if (opts.prune) {
      // Decided meanwhile (or withdrawn, or gone): read at commit time, so no list of ids is carried.
      await tx.delete(pickPreviews).where(and(
        eq(pickPreviews.product, product), eq(pickPreviews.release, release),
        notExists(tx.select({ one: sql`1` }).from(changeRequests).where(and(
          eq(changeRequests.id, pickPreviews.changeId), eq(changeRequests.product, product), eq(changeRequests.release, release),
          eq(changeRequests.kind, 'pick'), inArray(changeRequests.state, [...undecidedStates]),
        ))),
      ));
    }
  });
}

/** The answers of a release's requests (of `changeIds` only, when given), by request id, whatever head they were computed on. */
export async function previewsOf(db: Db, product: string, release: string, changeIds?: string[]): Promise<Map<string, Preview>> {
  const out = new Map<string, Preview>();
  if (changeIds?.length === 0) return out;
  const where = and(eq(pickPreviews.product, product), eq(pickPreviews.release, release), changeIds ? inArray(pickPreviews.changeId, changeIds) : undefined);
  for (const r of await db.select().from(pickPreviews).where(where)) {
    out.set(r.changeId, {
      changeId: r.changeId, headSha: r.headSha, outcome: r.outcome, paths: r.paths, presentSha: r.presentSha, detail: r.detail, computedAt: r.computedAt,
    });
  }
  return out;
}

/** The pick requests of a release still awaiting a decision, in filing order: what a preview answers. */
export async function undecidedPicks(db: Db, product: string, release: string): Promise<{ id: string; seq: number; commits: string[] }[]> {
  return db.select({ id: changeRequests.id, seq: changeRequests.seq, commits: changeRequests.commits }).from(changeRequests)
    .where(and(
      eq(changeRequests.product, product), eq(changeRequests.release, release), eq(changeRequests.kind, 'pick'),
      inArray(changeRequests.state, [...undecidedStates]),
    ))
    .orderBy(asc(changeRequests.seq));
}

/** When the release's latest answer was written: part of the web page's live-refresh stamp. */
export async function previewsStamp(db: Db, product: string, release: string): Promise<string> {
  const [row] = await db.select({ at: max(pickPreviews.computedAt) }).from(pickPreviews)
    .where(and(eq(pickPreviews.product, product), eq(pickPreviews.release, release)));
  return row?.at ? new Date(row.at).toISOString() : '';
}
