import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { and, asc, eq, isNull, lt, or, sql } from 'drizzle-orm';
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
export async function issueToken(
  db: Db, t: { name: string; role: Role; products: string[] | null; secret?: string; expiresAt?: Date | null },
): Promise<{ token: ApiToken; secret: string }> {
  const secret = t.secret ?? newSecret();
  const secretHash = hashSecret(secret);
  const existing = await db.select().from(apiTokens).where(eq(apiTokens.secretHash, secretHash));
  if (existing[0]) return { token: existing[0], secret };
  const other = (await db.select({ role: apiTokens.role }).from(apiTokens).where(and(eq(apiTokens.name, t.name), isNull(apiTokens.revokedAt))))
    .find((x) => x.role !== t.role);
  if (other) throw new TokenNameTakenError(t.name, other.role as Role);
  const rows = await db.insert(apiTokens)
    .values({ id: randomUUID(), name: t.name, role: t.role, products: t.products, secretHash, expiresAt: t.expiresAt ?? null })
    .returning();
  const token = rows[0];
  if (!token) throw new Error('token insert returned nothing');
  return { token, secret };
}

/** The live token with this secret: not revoked, not expired. Notes when it was used (to the minute). */
export async function findToken(db: Db, secret: string, now = new Date()): Promise<ApiToken | undefined> {
  const rows = await db.select().from(apiTokens)
    .where(and(eq(apiTokens.secretHash, hashSecret(secret)), isNull(apiTokens.revokedAt)));
  const token = rows[0];
  if (!token || (token.expiresAt && token.expiresAt <= now)) return undefined;
  if (!token.lastUsedAt || now.getTime() - token.lastUsedAt.getTime() > 60_000) {
    await db.update(apiTokens).set({ lastUsedAt: now })
      .where(and(eq(apiTokens.id, token.id), or(isNull(apiTokens.lastUsedAt), lt(apiTokens.lastUsedAt, new Date(now.getTime() - 60_000)))));
  }
  return token;
}

/** The live token with this id (a browser session names its token by id): not revoked, not expired. */
export async function findLiveTokenById(db: Db, id: string, now = new Date()): Promise<ApiToken | undefined> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
  const rows = await db.select().from(apiTokens).where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt)));
  const token = rows[0];
  return !token || (token.expiresAt && token.expiresAt <= now) ? undefined : token;
}

/** Every token, oldest first (never their secrets: only hashes are stored). */
export async function listTokens(db: Db): Promise<ApiToken[]> {
  return db.select().from(apiTokens).orderBy(asc(apiTokens.createdAt), asc(apiTokens.id));
}

/** Revokes a token at once (a revoked token stays listed, with when); undefined when there is no such token. */
export async function revokeToken(db: Db, id: string): Promise<ApiToken | undefined> {
  const rows = await db.update(apiTokens).set({ revokedAt: sql`coalesce(${apiTokens.revokedAt}, now())` }).where(eq(apiTokens.id, id)).returning();
  return rows[0];
}

/**
 * Bootstrap: the admin secret given at start is the only live token named `admin` issued that way; a
 * rotated secret revokes the one before it.
 */
export async function revokeOtherBootstrapAdmins(db: Db, keep: string): Promise<number> {
  const rows = await db.update(apiTokens).set({ revokedAt: sql`now()` })
    .where(and(eq(apiTokens.name, 'admin'), eq(apiTokens.role, 'admin'), isNull(apiTokens.revokedAt), sql`${apiTokens.secretHash} <> ${hashSecret(keep)}`))
    .returning({ id: apiTokens.id });
  return rows.length;
}
