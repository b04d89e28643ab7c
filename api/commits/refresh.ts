import type { TemporalDeps } from '../context.ts';
import type { ProductRecord } from '../../db/repos/products.ts';
import { trunkIndexWorkflowId } from '../../domain/types.ts';
import { indexTrunkWorkflow } from '../../workflows/index-trunk.ts';

/** A lookup waits this long for fresh trunk indexes before it answers from what it has. */
const refreshWaitMs = 20_000;

/**
 * Brings the trunk index of each product's repository up to date through the worker (the API has no
 * git). Products sharing a repository and trunk are refreshed once. Answers whether every refresh
 * finished; a failure or a slow worker leaves the index as it was, which the caller reports.
 */
export async function refreshTrunks(t: TemporalDeps, products: ProductRecord[]): Promise<boolean> {
  const byTrunk = new Map<string, ProductRecord>();
  for (const p of products) {
    const key = `${p.config.repository}\n${p.config.trunk}`;
    if (!byTrunk.has(key)) byTrunk.set(key, p);
  }
  const runs = [...byTrunk.values()].map(async (p) => {
    const handle = await t.client.workflow.start(indexTrunkWorkflow, {
      workflowId: trunkIndexWorkflowId(p.config.name), taskQueue: t.taskQueue,
      workflowIdConflictPolicy: 'USE_EXISTING', args: [{ product: p.config }],
    });
    await handle.result();
  });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), refreshWaitMs); });
  try {
    return await Promise.race([Promise.all(runs).then(() => true, () => false), late]);
  } finally {
    clearTimeout(timer);
  }
}
