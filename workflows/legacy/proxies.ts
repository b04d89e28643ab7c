import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { CulvertActivities } from '../../activities/index.ts';

/** Git and database work: short, and retried until it succeeds; the heartbeat notices a dead worker fast. */
export const quick = proxyActivities<CulvertActivities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '15 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

/** Steps and batches of picks carry their own time limits; only a dead worker must be noticed fast. */
export const long = proxyActivities<CulvertActivities>({
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 5 },
});

/**
 * Database writes a waiting caller's answer depends on: run in the worker that runs the workflow task,
 * so an Update completes in one workflow task instead of waiting for an activity task and a second
 * workflow task. Retried by the worker; the writes are upserts.
 */
export const local = proxyLocalActivities<CulvertActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '10 seconds' },
});
