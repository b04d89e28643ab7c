import { asc, eq, inArray, sql } from 'drizzle-orm';
import type { ProductConfig } from '../../domain/types.ts';
import type { Db } from '../client.ts';
import { environments, products } from '../schema.ts';
import { claimBranches } from './branch-claims.ts';

export interface ProductRecord {
  config: ProductConfig;
  /** The settings the product gave itself, on top of its template (the whole config when it has none). */
  own: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}

const toRecord = (row: typeof products.$inferSelect): ProductRecord => ({
  config: row.config as ProductConfig, own: (row.own ?? row.config) as Record<string, unknown>, createdAt: row.createdAt, updatedAt: row.updatedAt,
});

/** Inserts the product, its branch claim and environments; returns false when the name is taken (BranchesTakenError: its branches are). */
export async function createProduct(db: Db, config: ProductConfig, own?: Record<string, unknown>): Promise<boolean> {
  return db.transaction(async (tx) => {
    const inserted = await tx.insert(products)
      .values({ name: config.name, flow: config.flow, config, template: config.template ?? null, own: own ?? config, partOf: config.partOf ?? null })
      .onConflictDoNothing().returning({ name: products.name });
    if (inserted.length === 0) return false;
    await claimBranches(tx, config);
    await replaceEnvironments(tx as unknown as Db, config);
    return true;
  });
}

export async function updateProduct(db: Db, config: ProductConfig, own?: Record<string, unknown>): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.update(products).set({ config, flow: config.flow, ...(own ? { own } : {}), partOf: config.partOf ?? null, updatedAt: sql`now()` }).where(eq(products.name, config.name));
    await claimBranches(tx, config);
    await replaceEnvironments(tx as unknown as Db, config);
  });
}

async function replaceEnvironments(db: Db, config: ProductConfig): Promise<void> {
  await db.delete(environments).where(eq(environments.product, config.name));
  if (config.environments.length > 0) {
    await db.insert(environments).values(config.environments.map((e) => ({ product: config.name, ...e })));
  }
}

export async function getProduct(db: Db, name: string): Promise<ProductRecord | undefined> {
  const rows = await db.select().from(products).where(eq(products.name, name));
  return rows[0] ? toRecord(rows[0]) : undefined;
}

export async function listProducts(db: Db): Promise<ProductRecord[]> {
  return (await db.select().from(products).orderBy(asc(products.name))).map(toRecord);
}

/** The component products of `parents` (domain/components.ts): a token of a product reaches its components. */
export async function componentProductsOf(db: Db, parents: readonly string[]): Promise<string[]> {
  if (parents.length === 0) return [];
  return (await db.select({ name: products.name }).from(products).where(inArray(products.partOf, [...parents]))).map((r) => r.name);
}
