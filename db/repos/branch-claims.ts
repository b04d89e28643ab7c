// A product's claim on the branches it moves (domain/repositories.ts), written in the transaction that
// stores the product. The check reads every product's configuration (the truth, including products
// stored before claims existed) under a lock that makes two writers take turns, and the unique index
// refuses two equal claims even past it.
import { eq, sql } from 'drizzle-orm';
import { branchConflict, branchNamespace, repositoryKey } from '../../domain/repositories.ts';
import type { ProductConfig } from '../../domain/types.ts';
import type { Db } from '../client.ts';
import { productBranches, products } from '../schema.ts';

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export class BranchesTakenError extends Error {
  constructor(readonly product: string, readonly other: string, readonly branches: string) {
    super(`product ${product} would move branches ${branches} of its repository, which product ${other} moves too: give it another repository or branchTemplate (e.g. releases/{product}/{name})`);
  }
}

async function allConfigs(db: Db | Tx): Promise<ProductConfig[]> {
  return (await db.select({ config: products.config }).from(products)).map((r) => r.config as ProductConfig);
}

/** Throws BranchesTakenError when one of `changed` would share branches with another product. */
export async function checkBranches(db: Db | Tx, changed: ProductConfig[]): Promise<void> {
  const conflict = branchConflict(await allConfigs(db), changed);
  if (conflict) throw new BranchesTakenError(conflict.product, conflict.other, conflict.branches);
}

/** Claims `config`'s branches for it, or throws BranchesTakenError naming the product that has them. */
export async function claimBranches(tx: Tx, config: ProductConfig): Promise<void> {
  await tx.execute(sql`lock table ${productBranches} in exclusive mode`);
  await checkBranches(tx, [config]);
  const space = branchNamespace(config);
  await tx.delete(productBranches).where(eq(productBranches.product, config.name));
  await tx.insert(productBranches).values({ product: config.name, repository: repositoryKey(config.repository), prefix: space.prefix, exact: space.exact });
}
