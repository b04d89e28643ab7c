// Child workflows of a release for the long work: a change's checks and a candidate's build. Each runs
// its step activity until it ends in an outcome (transient faults wait with capped backoff and are
// reported to the release as `blocked`), then tells the release. The release never waits on them to
// continue-as-new; they report to whichever run is current, and outlive a closed release harmlessly.
import { CancellationScope, ParentClosePolicy, getExternalWorkflowHandle, isCancellation, patched, sleep, startChild, uuid4, workflowInfo } from '@temporalio/workflow';
import { githubBuildWorkflow } from './github.ts';
import type { ProductConfig } from '../domain/types.ts';
import { steps } from './release/acts.ts';
import { backoffMs, blockedAgain, outcomeOf } from './release/faults.ts';
import type { Outcome } from './release/faults.ts';
import { jobBlockedSignal, jobDoneSignal } from './release/messages.ts';
import type { Blocked, JobResult } from './release/messages.ts';
import { keepTasksEventful } from './interceptors.ts';

/** Tells the release (by workflow id, so whichever run is current); a release that has ended is not told. */
async function tell(parent: string, signal: () => Promise<void>): Promise<void> {
  try {
    await signal();
  } catch {
    // The release has ended (closed): nobody waits for this any more.
  }
  void parent;
}

export function reportDone(parent: string, result: JobResult): Promise<void> {
  return tell(parent, () => getExternalWorkflowHandle(parent).signal(jobDoneSignal, { jobId: workflowInfo().workflowId, result }));
}

function reportBlocked(parent: string, blocked: Blocked | null): Promise<void> {
  return tell(parent, () => getExternalWorkflowHandle(parent).signal(jobBlockedSignal, { jobId: workflowInfo().workflowId, blocked }));
}

/**
 * Runs `attempt` until it succeeds or fails for good; each transient failure is reported as blocked and
 * waited out (5 s doubling to 30 s). `attempt` gets a fresh run id per try, so logs never mix.
 */
export async function untilOutcome<T>(parent: string | null, what: string, attempt: (runId: string) => Promise<T>): Promise<Outcome<T>> {
  let blocked: Blocked | undefined;
  for (;;) {
    const o = await outcomeOf(attempt(uuid4()));
    if (o.ok || o.permanent) {
      if (blocked && parent) await reportBlocked(parent, null);
      return o;
    }
    blocked = blockedAgain(blocked, what, o.reason, new Date());
    if (parent) await reportBlocked(parent, blocked);
    await sleep(backoffMs(blocked.attempts));
  }
}

export interface CheckInput {
  product: ProductConfig;
  release: string;
  parent: string;
  changeId: string;
  baseSha: string;
  source: { kind: 'merge'; sha: string } | { kind: 'pick'; commits: string[] };
}

/** The change.requested steps of one request, on its merge result. Cancelled when the request ends first. */
export async function releaseCheck(input: CheckInput): Promise<void> {
  keepTasksEventful();
  try {
    const o = await untilOutcome(input.parent, `check of change ${input.changeId}`, (runId) => steps.runCheck({
      product: input.product, release: input.release, changeId: input.changeId, runId, baseSha: input.baseSha, source: input.source,
    }));
    const result: JobResult = o.ok
      ? { kind: 'check', changeId: input.changeId, outcome: o.value.outcome, runId: o.value.runId, ...(o.value.conflicts ? { conflicts: o.value.conflicts } : {}) }
      : { kind: 'check', changeId: input.changeId, outcome: 'failed', runId: null, failure: o.reason };
    await reportDone(input.parent, result);
  } catch (err) {
    // Cancelled: the request was frozen out or withdrawn; nobody waits for this check.
    if (isCancellation(err)) return;
    throw err;
  }
}

export interface BuildInput {
  product: ProductConfig;
  release: string;
  parent: string;
  candidateId: string;
  number: number;
  final: boolean;
  label: string;
  commit: string;
}

/** One release candidate (or the final) built from exactly `commit`, its artifacts collected. */
export async function candidateBuild(input: BuildInput): Promise<void> {
  keepTasksEventful();
  if (input.product.github && patched('culvert-github-build-statuses')) {
    // GitHub shows the build on its commit: a follower of its own, which this never waits for.
    // A build done again (a final retried) while the first's follower still runs leaves that one on it.
    await startChild(githubBuildWorkflow, {
      workflowId: `culvert-github-build/${input.candidateId}`, parentClosePolicy: ParentClosePolicy.ABANDON,
      args: [{ product: input.product.name, candidateId: input.candidateId, label: input.label, commit: input.commit }],
    }).catch(() => undefined);
  }
  const o = await untilOutcome(input.parent, `build of ${input.label}`, (runId) => steps.buildCandidate({
    product: input.product, release: input.release, candidateId: input.candidateId, number: input.number, final: input.final,
    label: input.label, commit: input.commit, runId,
  }));
  const result: JobResult = o.ok
    ? { kind: 'build', candidateId: input.candidateId, final: input.final, state: o.value.state, failure: o.value.failure }
    : { kind: 'build', candidateId: input.candidateId, final: input.final, state: 'failed', failure: o.reason };
  // Reported even if this workflow is being cancelled: the build happened.
  await CancellationScope.nonCancellable(() => reportDone(input.parent, result));
}
