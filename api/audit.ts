import type { Db } from '../db/client.ts';
import { appendAudit } from '../db/repos/audit.ts';
import type { Actor } from '../workflows/domain.ts';

/** Every human action, written after it succeeded: who, what, when and from which token. */
export function audit(db: Db, actor: Actor, action: string, where: { product?: string; release?: string; target?: string; details?: unknown }): Promise<void> {
  return appendAudit(db, {
    actor: actor.name, tokenId: actor.tokenId, action, product: where.product ?? null, release: where.release ?? null,
    target: where.target ?? null, details: where.details ?? null,
  });
}
