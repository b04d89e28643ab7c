import { getProduct } from '../db/repos/products.ts';
import { getRelease, listReleases } from '../db/repos/releases.ts';
import { fillTemplate } from '../domain/types.ts';
import type { ProductConfig } from '../domain/types.ts';
import type { ActivityDeps } from './deps.ts';

export function scheduleActivities(deps: ActivityDeps) {
  return {
    /** The next release a schedule should cut (null when that release already exists) and the one before it. */
    async planScheduledCut(i: { product: string; at: string }): Promise<{ config: ProductConfig; name: string; previous: string | null } | null> {
      const product = await getProduct(deps.db, i.product);
      if (!product) return null;
      const config = product.config;
      const name = fillTemplate(config.nameTemplate ?? '{gggg}-w{ww}', '', new Date(i.at));
      if (await getRelease(deps.db, i.product, name)) return null;
      const open = (await listReleases(deps.db, i.product)).filter((r) => r.state !== 'closed' && r.name !== name);
      return { config, name, previous: open.at(-1)?.name ?? null };
    },
  };
}
