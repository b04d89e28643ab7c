import { and, desc, eq, lt } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { auditLog } from '../schema.ts';
import type { AuditEntry } from '../schema.ts';

export type NewAuditEntry = Omit<typeof auditLog.$inferInsert, 'id' | 'at'>;

export async function appendAudit(db: Db, entry: NewAuditEntry): Promise<number> {
  const [row] = await db.insert(auditLog).values(entry).returning({ id: auditLog.id });
  if (!row) throw new Error('audit insert returned no row');
  return row.id;
}

/** Settles a `pending` entry: what was done, or why it was refused. */
export async function settleAudit(db: Db, id: number, settled: { outcome: 'done'; details?: unknown } | { outcome: 'refused'; refusal: { code: string; message: string } }): Promise<void> {
  await db.update(auditLog).set(settled.outcome === 'done'
    ? { outcome: 'done', ...(settled.details === undefined ? {} : { details: settled.details }) }
    : { outcome: 'refused', refusal: settled.refusal }).where(eq(auditLog.id, id));
}

/** A product's entries, newest first; `before` pages on by id. */
export async function auditOfProduct(db: Db, product: string, limit = 200, before?: number): Promise<AuditEntry[]> {
  const where = before === undefined ? eq(auditLog.product, product) : and(eq(auditLog.product, product), lt(auditLog.id, before));
  return db.select().from(auditLog).where(where).orderBy(desc(auditLog.id)).limit(limit);
}
