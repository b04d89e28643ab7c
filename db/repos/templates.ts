import { asc, eq, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { productTemplates, products } from '../schema.ts';
import type { ProductTemplate } from '../schema.ts';

export async function createTemplate(db: Db, name: string, config: Record<string, unknown>): Promise<boolean> {
  const rows = await db.insert(productTemplates).values({ name, config }).onConflictDoNothing().returning({ name: productTemplates.name });
  return rows.length > 0;
}

export async function getTemplate(db: Db, name: string): Promise<ProductTemplate | undefined> {
  return (await db.select().from(productTemplates).where(eq(productTemplates.name, name)))[0];
}

export async function listTemplates(db: Db): Promise<ProductTemplate[]> {
  return db.select().from(productTemplates).orderBy(asc(productTemplates.name));
}

export async function updateTemplate(db: Db, name: string, config: Record<string, unknown>): Promise<void> {
  await db.update(productTemplates).set({ config, updatedAt: sql`now()` }).where(eq(productTemplates.name, name));
}

export async function productsUsing(db: Db, template: string): Promise<{ name: string; own: unknown }[]> {
  return db.select({ name: products.name, own: products.own }).from(products).where(eq(products.template, template));
}
