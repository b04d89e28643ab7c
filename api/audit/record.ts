import type { Db } from '../../db/client.ts';
import { appendAudit, settleAudit } from '../../db/repos/audit.ts';
import type { Actor } from '../../domain/types.ts';
import { toApiError } from '../errors.ts';

export interface AuditWhere {
  product?: string;
  release?: string;
  target?: string;
  details?: unknown;
}

/**
 * Carries out a human action with its audit entry written first (`pending`: who, what, when, from
 * which token) and settled after (`done`, or `refused` with the answer the caller got). An API that
 * dies half-way leaves the attempt on record instead of an action nobody can account for.
 */
export async function audited<T>(
  db: Db, actor: Actor, action: string, where: AuditWhere, act: () => Promise<T>, detailsAfter?: (result: T) => unknown,
): Promise<T> {
  const id = await appendAudit(db, {
    actor: actor.name, tokenId: actor.tokenId, action, product: where.product ?? null, release: where.release ?? null,
    target: where.target ?? null, details: where.details ?? null, outcome: 'pending',
  });
  let result: T;
  try {
    result = await act();
  } catch (err) {
    const refusal = toApiError(err);
    await settleAudit(db, id, { outcome: 'refused', refusal: { code: refusal.code, message: refusal.message } });
    throw err;
  }
  await settleAudit(db, id, { outcome: 'done', details: detailsAfter?.(result) });
  return result;
}

/** An action that is one database write, recorded once it is done. */
export async function audit(db: Db, actor: Actor, action: string, where: AuditWhere): Promise<void> {
  await appendAudit(db, {
    actor: actor.name, tokenId: actor.tokenId, action, product: where.product ?? null, release: where.release ?? null,
    target: where.target ?? null, details: where.details ?? null,
  });
}
