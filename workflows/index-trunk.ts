import { proxyActivities } from '@temporalio/workflow';
import type { CulvertActivities } from '../activities/index.ts';
import type { ProductConfig } from '../domain/types.ts';
import { keepTasksEventful } from './interceptors.ts';

// Someone is waiting on the answer: a repository that cannot be fetched fails the lookup soon
// instead of being retried for hours.
const acts = proxyActivities<CulvertActivities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '15 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 3 },
});

export interface TrunkIndexed {
  line: number | null;
  head: string | null;
  anchors: number;
}

/**
 * Brings a product's trunk index up to date. Trunks of cherry-pick and binary products move outside
 * Culvert, so a lookup of a commit Culvert has not seen yet starts this before it answers "unknown".
 */
export async function indexTrunkWorkflow(input: { product: ProductConfig }): Promise<TrunkIndexed> {
  keepTasksEventful();
  return acts.indexTrunk(input);
}
