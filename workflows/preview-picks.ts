import { proxyActivities } from '@temporalio/workflow';
import type { CulvertActivities } from '../activities/index.ts';
import type { PicksPreviewed, PreviewInput } from '../activities/preview.ts';
import { keepTasksEventful } from './interceptors.ts';

// A page waits on nothing here (it shows "pending" meanwhile), but an answer minutes late is no answer:
// a few attempts, each bounded, and the next reading of the page starts another run if all fail.
const acts = proxyActivities<CulvertActivities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 3 },
});

/**
 * Works out, for each pick request of a release still awaiting a decision, whether it would apply on
 * the release's head `head` (activities/preview.ts). One run per head (previewWorkflowId): started by
 * the API when the change list finds a request without an answer on the current head.
 */
export async function previewPicksWorkflow(input: PreviewInput): Promise<PicksPreviewed> {
  keepTasksEventful();
  // A call answers at most previewPerRun requests: call again while some are left (bounded: a release
  // with more undecided picks than this covers is answered on the next reading's run).
  let answered = 0;
  for (let call = 0; call < 100; call++) {
    const done = await acts.previewPicks(input);
    answered += done.answered;
    if (done.skipped || !done.remaining || done.answered === 0) return { ...done, answered };
  }
  return { head: input.head, answered };
}
