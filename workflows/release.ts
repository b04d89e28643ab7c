import {
  ApplicationFailure, allHandlersFinished, condition, continueAsNew, proxyActivities, setHandler,
  upsertSearchAttributes, uuid4, workflowInfo, log,
} from '@temporalio/workflow';
import type { CulvertActivities } from '../activities/index.ts';
import { isTerminal, mayDecide, mayRequest } from './domain.ts';
import type { Actor, ChangeState, EnvironmentConfig, ProductConfig } from './domain.ts';
import { refuse } from './errors.ts';
import {
  closeUpdate, cutUpdate, decideUpdate, deployUpdate, productUpdatedSignal, requestChangeUpdate, summaryQuery,
} from './messages.ts';
import type { ChangeView, DecideInput, DecisionResult, ReleaseView } from './messages.ts';
import { deploymentsSeenLimit, doneState, rememberDone } from './release-state.ts';
import type { CarriedState, ChangeMem, DeployJob } from './release-state.ts';
import { flowKey, productKey, releaseKey, releaseStateKey } from './search-attributes.ts';

export interface ReleaseInput {
  product: ProductConfig;
  name: string;
  from: string | null;
  production: boolean;
  createdBy: Actor;
  carried?: CarriedState;
}

const quick = proxyActivities<CulvertActivities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '15 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

// Steps carry their own timeout; the activity only has to notice a dead worker fast.
const steps = proxyActivities<CulvertActivities>({
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 5 },
});

const maxConcurrentChecks = 4;

export async function releaseWorkflow(input: ReleaseInput): Promise<void> {
  let st: CarriedState | undefined = input.carried;
  let cutFailure: ApplicationFailure | undefined;
  let runningChecks = 0;

  const view = (s: CarriedState): ReleaseView => ({
    product: s.product.name, name: s.name, flow: s.product.flow, branch: s.branch, state: s.state,
    production: s.production, headSha: s.headSha, cutFrom: s.cutFrom,
  });
  const ready = (): CarriedState => {
    if (!st) throw refuse('release_not_ready', `release ${input.product.name}/${input.name} is still being cut`);
    return st;
  };
  const changeView = (c: ChangeMem): ChangeView => ({
    id: c.id, seq: c.seq, kind: c.kind, state: c.state, check: c.check, branch: c.branch,
    sourceSha: c.sourceSha, requester: c.requester,
  });
  const mustBeOpen = (s: CarriedState): void => {
    const where = `${s.product.name}/${s.name}`;
    switch (s.state) {
      case 'open':
        return;
      case 'frozen':
        throw refuse('release_frozen', `release ${where} is frozen; request the change on the next release`, { release: where });
      case 'closed':
        throw refuse('release_closed', `release ${where} is closed and accepts nothing`, { release: where });
    }
  };

  setHandler(cutUpdate, async () => {
    await condition(() => st !== undefined || cutFailure !== undefined);
    if (cutFailure) throw cutFailure;
    return view(ready());
  });

  setHandler(summaryQuery, () => {
    const s = ready();
    return {
      ...view(s),
      pendingChanges: Object.values(s.open).map(changeView),
      mergeQueue: [...s.mergeQueue],
      runsSoFar: s.runs,
    };
  });

  setHandler(productUpdatedSignal, (product) => {
    if (st && product.name === st.product.name) st.product = product;
  });

  setHandler(requestChangeUpdate, async (req) => {
    const s = ready();
    const known = s.open[req.id];
    if (known) return changeView(known);
    const { sha } = await quick.resolveMergeSource({ product: s.product, branch: req.branch });
    const again = s.open[req.id];
    if (again) return changeView(again);
    const seq = ++s.seq;
    const hasCheck = s.product.triggers.some((t) => t.on === 'change.requested');
    const change: ChangeMem = {
      id: req.id, seq, kind: 'merge', branch: req.branch, sourceSha: sha, requester: req.actor.name,
      state: hasCheck ? 'checking' : 'awaiting-decision', check: hasCheck ? 'running' : 'none', decidedBy: null,
    };
    s.open[req.id] = change;
    await quick.recordChanges({
      product: s.product.name, release: s.name,
      changes: [{ ...change, note: `requested by ${req.actor.name}`, by: req.actor.name }],
    });
    if (hasCheck) s.checkQueue.push(req.id);
    return changeView(change);
  }, {
    validator: (req) => {
      const s = ready();
      if (!mayRequest(req.actor, s.product.name)) {
        throw refuse('forbidden', `${req.actor.name} may not request changes on ${s.product.name}`);
      }
      const finished = doneState(s, req.id);
      if (finished) throw refuse('change_not_decidable', `change ${req.id} was already ${finished}`);
      if (s.open[req.id]) return;
      mustBeOpen(s);
      if (s.product.flow !== 'pull-request') {
        throw refuse('flow_mismatch', `product ${s.product.name} uses the ${s.product.flow} flow; merge requests need pull-request`);
      }
    },
  });

  const judge = (s: CarriedState, actor: Actor, d: DecideInput['decisions'][number]): DecisionResult => {
    const change = s.open[d.id];
    if (!change) {
      const finished = doneState(s, d.id);
      return finished
        ? { id: d.id, ok: false, code: 'change_not_decidable', message: `change ${d.id} is already ${finished}` }
        : { id: d.id, ok: false, code: 'change_not_found', message: `no change ${d.id} on ${s.product.name}/${s.name}` };
    }
    if (change.state !== 'awaiting-decision') {
      return { id: d.id, ok: false, code: 'change_not_decidable', message: `change #${change.seq} is ${change.state}, not awaiting a decision` };
    }
    if (d.decision === 'approve' && change.check === 'failed') {
      return { id: d.id, ok: false, code: 'checks_failed', message: `change #${change.seq} failed its checks and cannot be approved` };
    }
    if (!mayDecide(actor, s.product.name)) {
      return { id: d.id, ok: false, code: 'forbidden', message: `${actor.name} may not decide on ${s.product.name}` };
    }
    return { id: d.id, ok: true, state: d.decision === 'approve' ? 'approved' : 'rejected' };
  };

  setHandler(decideUpdate, async ({ decisions, actor }) => {
    const s = ready();
    const results = decisions.map((d) => judge(s, actor, d));
    const records = [];
    for (let i = 0; i < decisions.length; i++) {
      const d = decisions[i];
      const r = results[i];
      if (!d || !r || !r.ok) continue;
      const change = s.open[d.id];
      if (!change) continue;
      change.state = r.state;
      change.decidedBy = actor.name;
      if (r.state === 'approved') s.mergeQueue.push(change.id);
      records.push({ ...change, decisionComment: d.comment ?? null, by: actor.name, note: d.comment });
      if (isTerminal(change.state)) {
        delete s.open[change.id];
        rememberDone(s, change.id, change.state);
      }
    }
    if (records.length > 0) await quick.recordChanges({ product: s.product.name, release: s.name, changes: records });
    return { results };
  }, {
    validator: ({ decisions, actor }: DecideInput) => {
      const s = ready();
      mustBeOpen(s);
      if (!mayDecide(actor, s.product.name)) {
        throw refuse('forbidden', `${actor.name} (${actor.role}) may not approve or reject on ${s.product.name}`);
      }
      const ids = new Set<string>();
      for (const d of decisions) {
        if (ids.has(d.id)) throw refuse('bad_request', `change ${d.id} appears twice in one call`);
        ids.add(d.id);
      }
      // Refuse the whole call when nothing in it could change anything: history stays clean.
      const results: DecisionResult[] = decisions.map((d) => judge(s, actor, d));
      if (!results.some((r) => r.ok)) {
        const first = results[0];
        if (first && !first.ok) {
          throw refuse(first.code as Parameters<typeof refuse>[0], first.message, { results });
        }
        throw refuse('bad_request', 'no decisions given');
      }
    },
  });

  const environment = (s: CarriedState, name: string): EnvironmentConfig | undefined =>
    s.product.environments.find((e) => e.name === name);

  setHandler(deployUpdate, async ({ deploymentId, environment: envName, actor }) => {
    const s = ready();
    if (!s.deploymentsSeen.includes(deploymentId)) {
      const job: DeployJob = {
        deploymentId, environment: envName, commitSha: s.headSha, trigger: 'deploy.clicked', requestedBy: actor.name,
      };
      s.deploymentsSeen.push(deploymentId);
      if (s.deploymentsSeen.length > deploymentsSeenLimit) s.deploymentsSeen.shift();
      await quick.recordDeployment({ product: s.product.name, release: s.name, job, state: 'pending' });
      s.deployQueue.push(job);
    }
    const queued = s.deployQueue.find((j) => j.deploymentId === deploymentId);
    return { deploymentId, environment: envName, commitSha: queued?.commitSha ?? s.headSha, state: 'pending' as const };
  }, {
    validator: ({ environment: envName, actor }) => {
      const s = ready();
      if (!mayDecide(actor, s.product.name)) throw refuse('forbidden', `${actor.name} may not deploy ${s.product.name}`);
      if (s.state === 'closed') throw refuse('release_closed', `release ${s.product.name}/${s.name} is closed`);
      const env = environment(s, envName);
      if (!env) throw refuse('unknown_environment', `product ${s.product.name} has no environment ${envName}`);
      if (env.production && !s.production) {
        throw refuse('release_not_production', `release ${s.product.name}/${s.name} is not a production release and can never reach ${envName}`);
      }
      if (!s.product.triggers.some((t) => t.on === 'deploy.clicked') && !s.product.steps.deploy) {
        throw refuse('bad_request', `product ${s.product.name} has no deploy step`);
      }
    },
  });

  setHandler(closeUpdate, async () => {
    const s = ready();
    s.state = 'closed';
    await quick.recordReleaseState({ product: s.product.name, release: s.name, state: 'closed' });
    setSearchAttributes(s);
    return view(s);
  }, {
    validator: ({ actor }) => {
      const s = ready();
      if (!mayDecide(actor, s.product.name)) throw refuse('forbidden', `${actor.name} may not close ${s.product.name}/${s.name}`);
      if (s.state === 'closed') throw refuse('release_closed', `release ${s.product.name}/${s.name} is already closed`);
    },
  });

  if (!st) {
    try {
      const cut = await quick.cutRelease({
        product: input.product, name: input.name, from: input.from, production: input.production,
        createdBy: input.createdBy.name, workflowId: workflowInfo().workflowId,
      });
      st = {
        product: input.product, name: input.name, branch: cut.branch, production: input.production,
        cutFrom: cut.cutFrom, createdBy: input.createdBy.name, state: 'open', headSha: cut.headSha, seq: 0, runs: 1,
        open: {}, done: [], checkQueue: [], mergeQueue: [], deployQueue: [], deploymentsSeen: [], updateDeploysOwed: [],
      };
    } catch (err) {
      cutFailure = err instanceof ApplicationFailure ? err : refuse('internal', `cutting failed: ${String(err)}`);
      await condition(allHandlersFinished);
      return;
    }
  }
  const s: CarriedState = st;
  setSearchAttributes(s);

  const startCheck = (id: string): void => {
    const change = s.open[id];
    if (!change) return;
    runningChecks++;
    const runId = uuid4();
    steps.runCheck({
      product: s.product, release: s.name, changeId: id, runId, baseSha: s.headSha, sourceSha: change.sourceSha,
    }).then(async (res) => {
      change.check = res.outcome === 'passed' ? 'passed' : 'failed';
      change.state = 'awaiting-decision';
      await quick.recordChanges({
        product: s.product.name, release: s.name,
        changes: [{ ...change, checkRunId: res.runId, conflictPaths: res.conflicts ?? null, note: `checks ${res.outcome}` }],
      });
    }).catch((err: unknown) => {
      log.warn('check failed to run', { id, err: String(err) });
      change.check = 'failed';
      change.state = 'awaiting-decision';
    }).finally(() => {
      runningChecks--;
    });
  };

  const settle = async (change: ChangeMem, state: ChangeState, extra: { resultSha?: string; conflictPaths?: string[]; note: string }): Promise<void> => {
    change.state = state;
    await quick.recordChanges({
      product: s.product.name, release: s.name,
      changes: [{ ...change, resultSha: extra.resultSha ?? null, conflictPaths: extra.conflictPaths ?? null, note: extra.note }],
    });
    delete s.open[change.id];
    rememberDone(s, change.id, state);
  };

  const mergeNext = async (): Promise<void> => {
    const id = s.mergeQueue[0];
    const change = id ? s.open[id] : undefined;
    if (!change) {
      s.mergeQueue.shift();
      return;
    }
    const res = await quick.mergeChange({
      product: s.product, release: s.name, branch: s.branch, expectedHead: s.headSha,
      change: { id: change.id, seq: change.seq, branch: change.branch, sourceSha: change.sourceSha, decidedBy: change.decidedBy ?? '' },
    });
    switch (res.kind) {
      case 'stale':
        // Someone else moved the branch: adopt their head and merge onto it (the change stays queued).
        s.headSha = res.actual;
        return;
      case 'merged':
        s.headSha = res.sha;
        await settle(change, 'merged', { resultSha: res.sha, note: `merged as ${res.sha.slice(0, 12)}` });
        for (const t of s.product.triggers) {
          if (t.on === 'release.updated' && t.environment && !s.updateDeploysOwed.includes(t.environment)) {
            s.updateDeploysOwed.push(t.environment);
          }
        }
        break;
      case 'already-present':
        await settle(change, 'already-present', { note: 'the branch is already in the release' });
        break;
      case 'conflict':
        await settle(change, 'conflict', { conflictPaths: res.paths, note: `conflicts in ${res.paths.join(', ')}` });
        break;
      default: {
        const never: never = res;
        throw new Error(`unexpected merge result ${JSON.stringify(never)}`);
      }
    }
    s.mergeQueue.shift();
  };

  // One release.updated deploy per batch of merges, never per merge, and never to production from a non-production release.
  const owedDeploys = async (): Promise<void> => {
    const owed = s.updateDeploysOwed.splice(0);
    for (const envName of owed) {
      const env = environment(s, envName);
      if (!env || (env.production && !s.production)) {
        log.warn('release.updated deploy skipped', { envName, production: s.production });
        continue;
      }
      const job: DeployJob = {
        deploymentId: uuid4(), environment: envName, commitSha: s.headSha, trigger: 'release.updated', requestedBy: 'culvert',
      };
      await quick.recordDeployment({ product: s.product.name, release: s.name, job, state: 'pending' });
      s.deployQueue.push(job);
    }
  };

  const deployNext = async (): Promise<void> => {
    const job = s.deployQueue[0];
    if (!job) return;
    const env = environment(s, job.environment);
    if (env && env.production && !s.production) {
      await quick.recordDeployment({ product: s.product.name, release: s.name, job, state: 'failed' });
    } else {
      await steps.runDeploy({ product: s.product, release: s.name, job, runId: uuid4() });
    }
    s.deployQueue.shift();
  };

  for (;;) {
    await condition(() =>
      (s.checkQueue.length > 0 && runningChecks < maxConcurrentChecks) ||
      s.mergeQueue.length > 0 || s.updateDeploysOwed.length > 0 || s.deployQueue.length > 0 ||
      workflowInfo().continueAsNewSuggested);
    while (s.checkQueue.length > 0 && runningChecks < maxConcurrentChecks) {
      const id = s.checkQueue.shift();
      if (id) startCheck(id);
    }
    if (s.mergeQueue.length > 0) {
      await mergeNext();
      continue;
    }
    if (s.updateDeploysOwed.length > 0) {
      await owedDeploys();
      continue;
    }
    if (s.deployQueue.length > 0) {
      await deployNext();
      continue;
    }
    if (workflowInfo().continueAsNewSuggested) {
      // Handlers in flight and running checks must settle into the carried state first.
      await condition(() => allHandlersFinished() && runningChecks === 0);
      const carried: CarriedState = { ...s, runs: s.runs + 1 };
      await continueAsNew<typeof releaseWorkflow>({ ...input, carried });
    }
  }

  function setSearchAttributes(x: CarriedState): void {
    upsertSearchAttributes([
      { key: productKey, value: x.product.name },
      { key: releaseKey, value: x.name },
      { key: flowKey, value: x.product.flow },
      { key: releaseStateKey, value: x.state },
    ]);
  }
}
