// Activity proxies of the release workflows and their children. Each has a few quick attempts of its
// own for a blip; a fault that outlasts them reaches the workflow, which shows it and tries again later
// (faults.ts), so no activity failure ever fails a workflow and no attempt limit ends one.
import { proxyActivities } from '@temporalio/workflow';
import type { CulvertActivities } from '../../activities/index.ts';

const permanentTypes = ['permanent'];

/** Git units that move a branch (a merge, a batch of picks): seconds, heartbeating. */
export const units = proxyActivities<CulvertActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 3, nonRetryableErrorTypes: permanentTypes },
});

/** Database reads and writes: seconds at most, so a dead worker is noticed by the time limit. */
export const records = proxyActivities<CulvertActivities>({
  startToCloseTimeout: '20 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '5 seconds', maximumAttempts: 3, nonRetryableErrorTypes: permanentTypes },
});

/** Someone waits for the answer (filing, cutting): bounded, then the caller hears "unavailable". */
export const answering = proxyActivities<CulvertActivities>({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '4 seconds', maximumAttempts: 2, nonRetryableErrorTypes: permanentTypes },
});

/** Steps (checks, builds, deploys) carry their own time limits; only a dead worker must be noticed fast. */
export const steps = proxyActivities<CulvertActivities>({
  startToCloseTimeout: '12 hours',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 2, nonRetryableErrorTypes: permanentTypes },
});
