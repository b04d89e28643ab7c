import { defineSearchAttributeKey } from '@temporalio/common';

// Registered by the dev server from temporal-dev.yaml; on a cluster, register them once with
// `temporal operator search-attribute create`.
export const productKey = defineSearchAttributeKey('CulvertProduct', 'KEYWORD');
export const releaseKey = defineSearchAttributeKey('CulvertRelease', 'KEYWORD');
export const flowKey = defineSearchAttributeKey('CulvertFlow', 'KEYWORD');
export const releaseStateKey = defineSearchAttributeKey('CulvertReleaseState', 'KEYWORD');
