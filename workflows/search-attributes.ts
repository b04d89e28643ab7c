import { defineSearchAttributeKey } from '@temporalio/common';
import type { SearchAttributePair } from '@temporalio/common';

// Registered by the dev server from temporal-dev.yaml; on a cluster, register them once with
// `temporal operator search-attribute create`.
export const productKey = defineSearchAttributeKey('CulvertProduct', 'KEYWORD');
export const releaseKey = defineSearchAttributeKey('CulvertRelease', 'KEYWORD');
export const flowKey = defineSearchAttributeKey('CulvertFlow', 'KEYWORD');
export const releaseStateKey = defineSearchAttributeKey('CulvertReleaseState', 'KEYWORD');
/** What a release waits on while a transient fault lasts (a remote, the database, a worker); empty when nothing. */
/** The train a train workflow is (workflows/train.ts). */
export const trainKey = defineSearchAttributeKey('CulvertTrain', 'KEYWORD');
export const blockedKey = defineSearchAttributeKey('CulvertBlocked', 'KEYWORD');

/** What every release workflow carries, from its start on, so the Temporal UI can filter releases. */
export function releaseSearchAttributes(r: { product: string; release: string; flow: string; state: string }): SearchAttributePair[] {
  return [
    { key: productKey, value: r.product },
    { key: releaseKey, value: r.release },
    { key: flowKey, value: r.flow },
    { key: releaseStateKey, value: r.state },
  ];
}
