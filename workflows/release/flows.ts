// The three release workflow types, one per flow, on the shared run (run.ts): pullRequestRelease,
// stableRelease (the cherry-pick flow) and binaryRelease. A first run cuts the release: the cut is
// checked against git once, in bounded time, and a cut that cannot proceed ends the workflow cleanly
// with the refusal as the cut's answer, leaving nothing behind (its name is free again).
import { ApplicationFailure, allHandlersFinished, condition, makeContinueAsNewFunc, patched, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { CulvertActivities } from '../../activities/index.ts';
import { refuse } from '../../domain/errors.ts';
import { gatePolicyOf } from '../../domain/gate.ts';
import { emptyReleaseWrite } from '../../domain/records.ts';
import { releaseSearchAttributes, releaseStateKey } from '../search-attributes.ts';
import { upsertSearchAttributes } from '@temporalio/workflow';
import { answering } from './acts.ts';
import { binaryHooks, picksHooks } from './binary.ts';
import type { BookState } from './book.ts';
import { outcomeOf } from './faults.ts';
import { cutUpdate } from './messages.ts';
import type { ReleaseView } from './messages.ts';
import { registerHandlers } from './handlers.ts';
import { ReleaseRun } from './run.ts';
import type { FlowHooks } from './run.ts';
import { newBinaryState } from './state.ts';
import type { Carried, ReleaseInput } from './state.ts';
import { hasMerge, startMerge } from './units.ts';
import { keepTasksEventful } from '../interceptors.ts';

const pullRequestHooks: FlowHooks = { startUnit: startMerge, hasUnit: hasMerge };

export async function pullRequestRelease(input: ReleaseInput): Promise<void> {
  await runRelease('pullRequestRelease', input, pullRequestHooks);
}

export async function stableRelease(input: ReleaseInput): Promise<void> {
  await runRelease('stableRelease', input, picksHooks);
}

export async function binaryRelease(input: ReleaseInput): Promise<void> {
  await runRelease('binaryRelease', input, binaryHooks);
}

/** The workflow type that runs releases of a flow. */
export function releaseWorkflowType(flow: 'pull-request' | 'cherry-pick' | 'binary'): 'pullRequestRelease' | 'stableRelease' | 'binaryRelease' {
  return flow === 'pull-request' ? 'pullRequestRelease' : flow === 'binary' ? 'binaryRelease' : 'stableRelease';
}

/** From this patch on, a release of a product with components cuts theirs (domain/components.ts). */
const componentsPatch = 'culvert-release-components';

/**
 * The cut of the components: each waits for a component's own cut, so minutes at most; an outage is
 * waited out (no attempt limit), a refusal is that component's recorded outcome.
 */
const componentCuts = proxyActivities<CulvertActivities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** From this patch on, a refused cut says so in CulvertReleaseState (before: it stayed `open`). */
const refusedCutPatch = 'culvert-refused-cut-state';

async function runRelease(type: string, input: ReleaseInput, hooks: FlowHooks): Promise<void> {
  keepTasksEventful();
  let carried = input.carried;
  let cutFailure: ApplicationFailure | undefined;
  // Set once the release is cut (or was, in an earlier run): the cut's caller waits for it.
  const cut: { view?: ReleaseView } = {};
  setHandler(cutUpdate, async () => {
    await condition(() => cut.view !== undefined || cutFailure !== undefined);
    if (cutFailure) throw cutFailure;
    return cut.view as ReleaseView;
  });
  if (!carried) {
    const outcome = await cutRelease(input);
    if (!outcome.ok) {
      cutFailure = outcome.failure;
      // The run started saying `open` (the API sets that at start); a refused cut has no release, so the
      // Temporal UI must not count it as one. Patched: refused cuts of earlier code replay as they ran.
      if (patched(refusedCutPatch)) upsertSearchAttributes([{ key: releaseStateKey, value: 'refused' }]);
      await condition(allHandlersFinished);
      return;
    }
    carried = outcome.carried;
  }
  const run = new ReleaseRun(carried, hooks);
  registerHandlers(run);
  cut.view = run.book.view();
  const legacyGate = carried.legacyGate;
  if (legacyGate && run.binary && run.s.product.signoff) {
    // A sign-off a legacy release had open goes on as a gate workflow, its votes kept.
    const jobId = `culvert-gate/${legacyGate.id}`;
    run.jobs[jobId] = { kind: 'gate', gateId: legacyGate.id };
    run.startJob('gate', jobId, [{
      id: legacyGate.id, subject: legacyGate.subject, policy: gatePolicyOf(run.s.product.signoff), requestedBy: legacyGate.requestedBy,
      product: run.s.product.name, release: run.s.name, parent: workflowInfo().workflowId, votes: legacyGate.votes,
    }]);
  }
  if (!input.carried && (input.product.components?.length ?? 0) > 0 && patched(componentsPatch)) {
    // The components are cut beside the loop: picks into the product's own branch need not wait for them.
    run.holds += 1;
    void componentCuts.cutComponents({
      product: input.product, release: input.name, production: input.production, actor: input.createdBy, workflowId: workflowInfo().workflowId,
    }).catch(() => undefined).finally(() => {
      run.holds -= 1;
    });
  }
  // The cut wrote this run's epoch with the release row; a continued run writes its own first thing.
  if (!input.carried) run.book.epochRecorded = true;
  upsertSearchAttributes(releaseSearchAttributes({ product: run.s.product.name, release: run.s.name, flow: run.s.product.flow, state: run.s.state }));
  const next = makeContinueAsNewFunc<(i: ReleaseInput) => Promise<void>>({ workflowType: type });
  await run.loop((c: Carried) => next({ ...input, carried: c }));
}

type Cut = { ok: true; carried: Carried } | { ok: false; failure: ApplicationFailure };

/** Resolves where to cut, creates the branch and the release row; on any failure, leaves nothing behind. */
async function cutRelease(input: ReleaseInput): Promise<Cut> {
  const at = new Date(workflowInfo().startTime).toISOString();
  const where = { product: input.product, name: input.name };
  // A ci token cuts production releases from trunk's history only (the activity checks it with git).
  const trunkOnly = input.createdBy.role === 'ci' && input.production;
  const resolved = await outcomeOf(answering.resolveCut({ ...where, from: input.from, at, ...(trunkOnly ? { trunkOnly } : {}) }));
  if (!resolved.ok) return { ok: false, failure: cutRefusal(input, resolved) };
  const { branch, sha } = resolved.value;
  const created = await outcomeOf(answering.createRelease({
    ...where, branch, sha, production: input.production, createdBy: input.createdBy.name, workflowId: workflowInfo().workflowId, at,
  }));
  if (!created.ok) {
    // Bounded too: a cut that cannot finish must not hang; whatever it left is removed if it can be.
    await outcomeOf(answering.abandonCut({ ...where, branch, sha }));
    return { ok: false, failure: cutRefusal(input, created) };
  }
  const book: BookState = {
    product: input.product, name: input.name, branch, production: input.production, cutFrom: sha, createdBy: input.createdBy.name,
    state: 'open', headSha: sha, seq: 0, rev: 0, epoch: 1, frozenBy: null, backlog: { approved: false, checks: false },
  };
  return {
    ok: true,
    carried: {
      book, writes: [], release: emptyReleaseWrite(), jobs: {}, deployQueue: [], deploysOwed: [], blocked: {},
      binary: input.product.flow === 'binary' ? newBinaryState() : null,
    },
  };
}

function cutRefusal(input: ReleaseInput, o: { ok: false; permanent: boolean; reason: string; code?: string }): ApplicationFailure {
  if (o.permanent && 'code' in o && o.code && o.code !== 'permanent') return refuse(o.code as Parameters<typeof refuse>[0], o.reason);
  if (o.permanent) return refuse('bad_request', `release ${input.product.name}/${input.name} cannot be cut: ${o.reason}`);
  return refuse('unavailable', `release ${input.product.name}/${input.name} was not cut: ${o.reason}; nothing was left behind, try again`);
}
