import { desc, eq } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { auditLog } from '../schema.ts';
import type { AuditEntry } from '../schema.ts';

export type NewAuditEntry = Omit<typeof auditLog.$inferInsert, 'id' | 'at'>;

export async function appendAudit(db: Db, entry: NewAuditEntry): Promise<void> {
  await db.insert(auditLog).values(entry);
}

export async function auditOfProduct(db: Db, product: string, limit = 200): Promise<AuditEntry[]> {
  return db.select().from(auditLog).where(eq(auditLog.product, product)).orderBy(desc(auditLog.id)).limit(limit);
}
