import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import type { Role } from '../../domain/types.ts';
import type { Db } from '../client.ts';
import { apiTokens } from '../schema.ts';
import type { ApiToken } from '../schema.ts';

export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

export function newSecret(): string {
  return `cvt_${randomBytes(24).toString('base64url')}`;
}

/** A name is one principal: its tokens share its role (approval groups and gates name principals). */
export class TokenNameTakenError extends Error {
  override name = 'TokenNameTakenError';
  constructor(readonly tokenName: string, readonly role: Role) {
    super(`${tokenName} already holds ${role} tokens: a name is one person or bot, with one role`);
  }
}

/** Stores only the hash; the secret is returned once. A given secret (bootstrap admin) is kept idempotent. */
export async function issueToken(db: Db, t: { name: string; role: Role; products: string[] | null; secret?: string }): Promise<{ token: ApiToken; secret: string }> {
  const secret = t.secret ?? newSecret();
  const secretHash = hashSecret(secret);
  const existing = await db.select().from(apiTokens).where(eq(apiTokens.secretHash, secretHash));
  if (existing[0]) return { token: existing[0], secret };
  const other = (await db.select({ role: apiTokens.role }).from(apiTokens).where(and(eq(apiTokens.name, t.name), isNull(apiTokens.revokedAt))))
    .find((x) => x.role !== t.role);
  if (other) throw new TokenNameTakenError(t.name, other.role as Role);
  const rows = await db.insert(apiTokens)
    .values({ id: randomUUID(), name: t.name, role: t.role, products: t.products, secretHash })
    .returning();
  const token = rows[0];
  if (!token) throw new Error('token insert returned nothing');
  return { token, secret };
}

export async function findToken(db: Db, secret: string): Promise<ApiToken | undefined> {
  const rows = await db.select().from(apiTokens)
    .where(and(eq(apiTokens.secretHash, hashSecret(secret)), isNull(apiTokens.revokedAt)));
  return rows[0];
}
