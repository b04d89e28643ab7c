import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ActivityFailure, ApplicationFailure, ParentClosePolicy, allHandlersFinished, startChild, condition, continueAsNew, log, patched, setHandler,
  makeContinueAsNewFunc, upsertSearchAttributes, uuid4, workflowInfo,
} from '@temporalio/workflow';
import { local, long, quick } from './proxies.ts';
import type { ChangeRecord } from '../../domain/changes.ts';
import { binaryHasWork, binaryStep, gatePolicy } from './binary.ts';
import { deploymentWorkflow } from './deployment.ts';
import { defaultSeverities, deploymentWorkflowId, mayDecide, mayRequest, nextVersion } from '../../domain/types.ts';
import { handleGateVotes, watchGate } from './gate.ts';
import type { Actor, ChangeState, EnvironmentConfig, ProductConfig } from '../../domain/types.ts';
import { refuse } from '../../domain/errors.ts';
import {
  closeUpdate, cutUpdate, decideUpdate, deployUpdate, freezeUpdate, productUpdatedSignal, requestChangeUpdate, scheduledCloseSignal,
  summaryQuery,
} from '../messages.ts';
import type { ChangeView, DecideInput, DecisionResult, ReleaseView, RequestChangeInput } from '../messages.ts';
import { applyVote, judge, nextBatch } from './release-changes.ts';
import { deploymentsSeenLimit, doneState, rememberDone } from './release-state.ts';
import type { CarriedState, ChangeMem, DeployJob } from './release-state.ts';
import { releaseSearchAttributes } from '../search-attributes.ts';
import { releaseWorkflowType } from '../release/flows.ts';
import type { ReleaseInput as FlowInput } from '../release/state.ts';
import { carriedFromLegacy, migrateSignal } from './migrate.ts';

export interface ReleaseInput {
  product: ProductConfig;
  name: string;
  from: string | null;
  production: boolean;
  createdBy: Actor;
  carried?: CarriedState;
}



const maxConcurrentChecks = 4;

const record = (c: ChangeMem, extra: Partial<ChangeRecord> = {}): ChangeRecord => ({
  id: c.id, seq: c.seq, kind: c.kind, state: c.state, check: c.check, branch: c.branch, sourceSha: c.sourceSha,
  commits: c.commits, reason: c.reason, severity: c.severity, requester: c.requester, decidedBy: c.decidedBy,
  votes: c.votes, dependsOn: c.dependsOn, revertOf: c.revertOf, trunkOrder: c.trunkOrder, ...extra,
});

export async function releaseWorkflow(input: ReleaseInput): Promise<void> {
  let st: CarriedState | undefined = input.carried;
  let cutFailure: ApplicationFailure | undefined;
  let runningChecks = 0;
  // Changes handed to applyPicks/mergeChange and not yet settled: no longer open to a pass.
  const applying = new Set<string>();

  const where = (s: CarriedState): string => `${s.product.name}/${s.name}`;
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
    sourceSha: c.sourceSha, commits: c.commits, requester: c.requester,
  });
  const mustBeOpen = (s: CarriedState): void => {
    switch (s.state) {
      case 'open':
        return;
      case 'frozen': {
        const next = s.product.flow === 'binary' ? nextVersion([s.name]) : 'the next release';
        throw refuse('release_frozen', `release ${where(s)} is frozen; request the change on ${next}`, { release: where(s), next });
      }
      case 'closed':
        throw refuse('release_closed', `release ${where(s)} is closed and accepts nothing`, { release: where(s) });
    }
  };
  const save = async (s: CarriedState, changes: ChangeRecord[]): Promise<void> => {
    if (changes.length === 0) return;
    // Runs started before records went local keep replaying their activity.
    const record = patched('record-changes-locally') ? local : quick;
    await record.recordChanges({ product: s.product.name, release: s.name, changes });
  };
  const finish = (s: CarriedState, change: ChangeMem): void => {
    delete s.open[change.id];
    rememberDone(s, change.id, change.state);
  };

  setHandler(cutUpdate, async () => {
    await condition(() => st !== undefined || cutFailure !== undefined);
    if (cutFailure) throw cutFailure;
    return view(ready());
  });

  setHandler(summaryQuery, () => {
    const s = ready();
    return { ...view(s), pendingChanges: Object.values(s.open).map(changeView), mergeQueue: [...s.mergeQueue], runsSoFar: s.runs };
  });

  setHandler(productUpdatedSignal, (product) => {
    if (st && product.name === st.product.name) st.product = product;
  });

  const validateRequest = (req: RequestChangeInput): void => {
    const s = ready();
    if (!mayRequest(req.actor, s.product.name)) throw refuse('forbidden', `${req.actor.name} may not request changes on ${s.product.name}`);
    const finished = doneState(s, req.id);
    if (finished || s.open[req.id]) return;
    mustBeOpen(s);
    switch (req.kind) {
      case 'merge':
        if (s.product.flow !== 'pull-request') {
          throw refuse('flow_mismatch', `product ${s.product.name} uses the ${s.product.flow} flow: request picks, not merges`);
        }
        return;
      case 'pick': {
        if (s.product.flow === 'pull-request') {
          throw refuse('flow_mismatch', `product ${s.product.name} uses the pull-request flow: request merges, not picks`);
        }
        const severities = s.product.severities ?? defaultSeverities;
        if (!severities.includes(req.severity)) {
          throw refuse('unknown_severity', `severity ${req.severity} is not one of ${severities.join(', ')}`);
        }
        for (const dep of req.dependsOn ?? []) {
          if (!s.open[dep] && !doneState(s, dep)) throw refuse('dependency_unknown', `change ${dep} is not a request on ${where(s)}`, { dependsOn: dep });
        }
        return;
      }
      case 'revert':
        if (doneState(s, req.revertOf) !== 'merged') {
          throw refuse('change_not_decidable', `change ${req.revertOf} is not a merged pick of ${where(s)}; only those can be reverted`);
        }
        return;
      default: {
        const never: never = req;
        throw refuse('bad_request', `unknown change kind ${JSON.stringify(never)}`);
      }
    }
  };

  setHandler(requestChangeUpdate, async (req) => {
    const s = ready();
    const seen = s.open[req.id];
    if (seen) return changeView(seen);
    const finished = doneState(s, req.id);
    if (finished) return { id: req.id, seq: 0, kind: req.kind, state: finished, check: 'none', branch: null, sourceSha: null, commits: [], requester: req.actor.name };
    const hasCheck = req.kind !== 'revert' && s.product.triggers.some((t) => t.on === 'change.requested');
    const base: Omit<ChangeMem, 'seq'> = {
      id: req.id, kind: req.kind, branch: null, sourceSha: null, commits: [], trunkOrder: 0, dependsOn: [], revertOf: null,
      reason: null, severity: null, requester: req.actor.name, state: hasCheck ? 'checking' : 'awaiting-decision',
      check: hasCheck ? 'running' : 'none', votes: [], decidedBy: null,
    };
    let details: ChangeRecord['commitDetails'] = [];
    switch (req.kind) {
      case 'merge': {
        const { sha } = await quick.resolveMergeSource({ product: s.product, branch: req.branch });
        Object.assign(base, { branch: req.branch, sourceSha: sha });
        break;
      }
      case 'pick': {
        const inspected = await quick.inspectPicks({ product: s.product, head: s.headSha, cutFrom: s.cutFrom, commits: req.commits });
        details = inspected.commits;
        Object.assign(base, {
          commits: inspected.commits.map((c) => c.sha), trunkOrder: inspected.trunkOrder, reason: req.reason,
          severity: req.severity, dependsOn: req.dependsOn ?? [],
        });
        if (inspected.alreadyPresent) Object.assign(base, { state: 'already-present', check: 'none' });
        break;
      }
      case 'revert':
        // After every pick, and still within the Postgres integer column it is recorded in.
        Object.assign(base, { revertOf: req.revertOf, reason: req.reason, trunkOrder: 2 ** 31 - 1 });
        break;
    }
    // Another handler may have taken the same id while this one waited on an activity.
    const again = s.open[req.id] ?? (doneState(s, req.id) ? undefined : null);
    if (again) return changeView(again);
    // A freeze or close that came in meanwhile wins: nothing of this request is recorded.
    mustBeOpen(s);
    const change: ChangeMem = { ...base, seq: ++s.seq };
    s.open[change.id] = change;
    await save(s, [record(change, { commitDetails: details, by: req.actor.name, note: `requested by ${req.actor.name}` })]);
    if (change.state === 'already-present') finish(s, change);
    else if (hasCheck) s.checkQueue.push(change.id);
    return changeView(change);
  }, { validator: validateRequest });

  setHandler(decideUpdate, async ({ decisions, actor }) => {
    const s = ready();
    const results = decisions.map((d) => judge(s, actor, d, applying));
    const changed: ChangeRecord[] = [];
    decisions.forEach((d, i) => {
      const change = s.open[d.id];
      const result = results[i];
      if (!change || !result?.ok) return;
      const before = change.state;
      const after = applyVote(s, change, actor, d.decision);
      if (after === 'approved' && before !== 'approved') s.mergeQueue.push(change.id);
      changed.push(record(change, {
        decisionComment: d.comment ?? null, by: actor.name, note: `${actor.name} ${d.decision === 'approve' ? 'wants' : 'passes'} it${d.comment ? `: ${d.comment}` : ''}`,
      }));
      if (after === 'rejected') {
        finish(s, change);
        s.mergeQueue = s.mergeQueue.filter((id) => id !== change.id);
      }
    });
    await save(s, changed);
    return { results };
  }, {
    validator: ({ decisions, actor }: DecideInput) => {
      const s = ready();
      mustBeOpen(s);
      if (!mayDecide(actor, s.product.name)) throw refuse('forbidden', `${actor.name} (${actor.role}) may not approve or reject on ${s.product.name}`);
      const ids = new Set<string>();
      for (const d of decisions) {
        if (ids.has(d.id)) throw refuse('bad_request', `change ${d.id} appears twice in one call`);
        ids.add(d.id);
      }
      // Refuse the whole call when nothing in it could change anything: history stays clean.
      const results: DecisionResult[] = decisions.map((d) => judge(s, actor, d, applying));
      if (!results.some((r) => r.ok)) {
        const first = results[0];
        if (first && !first.ok) throw refuse(first.code as Parameters<typeof refuse>[0], first.message, { results });
        throw refuse('bad_request', 'no decisions given');
      }
    },
  });

  const environment = (s: CarriedState, name: string): EnvironmentConfig | undefined => s.product.environments.find((e) => e.name === name);

  setHandler(deployUpdate, async ({ deploymentId, environment: envName, commitSha, candidateId, actor }) => {
    const s = ready();
    if (!s.deploymentsSeen.includes(deploymentId)) {
      const job: DeployJob = {
        deploymentId, environment: envName, commitSha: commitSha ?? s.headSha, trigger: 'deploy.clicked', requestedBy: actor.name,
        ...(candidateId ? { candidateId } : {}),
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
      if (s.state === 'closed') throw refuse('release_closed', `release ${where(s)} is closed`);
      const env = environment(s, envName);
      if (!env) throw refuse('unknown_environment', `product ${s.product.name} has no environment ${envName}`);
      if (env.production && !s.production) {
        throw refuse('release_not_production', `release ${where(s)} is not a production release and can never reach ${envName}`);
      }
    },
  });

  const close = async (s: CarriedState): Promise<void> => {
    if (s.state === 'closed') return;
    s.state = 'closed';
    await quick.recordReleaseState({ product: s.product.name, release: s.name, state: 'closed' });
    setSearchAttributes(s);
  };

  setHandler(scheduledCloseSignal, async () => {
    if (st) await close(st);
  });

  setHandler(closeUpdate, async () => {
    const s = ready();
    await close(s);
    return view(s);
  }, {
    validator: ({ actor }) => {
      const s = ready();
      if (!mayDecide(actor, s.product.name)) throw refuse('forbidden', `${actor.name} may not close ${where(s)}`);
      if (s.state === 'closed') throw refuse('release_closed', `release ${where(s)} is already closed`);
    },
  });

  setHandler(freezeUpdate, async ({ actor }) => {
    const s = ready();
    s.state = 'frozen';
    s.frozenBy = actor.name;
    if (s.product.flow === 'binary') s.stage = 'final';
    // Requests still waiting for a decision can no longer get one: nothing is left half-way.
    const undecided = Object.values(s.open).filter((c) => c.state === 'awaiting-decision' || c.state === 'checking');
    const changed = undecided.map((c) => {
      c.state = 'rejected';
      finish(s, c);
      s.checkQueue = s.checkQueue.filter((id) => id !== c.id);
      return record(c, { note: `release frozen by ${actor.name} before a decision` });
    });
    await save(s, changed);
    await quick.recordReleaseState({ product: s.product.name, release: s.name, state: 'frozen' });
    setSearchAttributes(s);
    return view(s);
  }, {
    validator: ({ actor }) => {
      const s = ready();
      if (!mayDecide(actor, s.product.name)) throw refuse('forbidden', `${actor.name} (${actor.role}) may not freeze ${where(s)}: owners only`);
      if (s.product.flow === 'pull-request') throw refuse('flow_mismatch', `${where(s)} uses the pull-request flow and never freezes`);
      mustBeOpen(s);
    },
  });

  handleGateVotes({ get gate() { return st?.gate ?? null; } }, () => ({ product: input.product.name, release: input.name }));

  // Today's workflow types take over a running legacy release at its next step, or when asked.
  let migrate = false;
  setHandler(migrateSignal, () => {
    migrate = true;
  });

  if (!st) {
    try {
      const cut = await quick.cutRelease({
        product: input.product, name: input.name, from: input.from, production: input.production,
        createdBy: input.createdBy.name, workflowId: workflowInfo().workflowId, at: new Date(workflowInfo().startTime).toISOString(),
      });
      st = {
        product: input.product, name: input.name, branch: cut.branch, production: input.production,
        cutFrom: cut.cutFrom, createdBy: input.createdBy.name, state: 'open', headSha: cut.headSha, seq: 0, runs: 1,
        open: {}, done: [], checkQueue: [], mergeQueue: [], deployQueue: [], deploymentsSeen: [], updateDeploysOwed: [],
        candidates: 0, candidateOwed: input.product.flow === 'binary', stage: 'changes', frozenBy: null, gate: null,
      };
    } catch (err) {
      const cause = err instanceof ActivityFailure ? err.cause : err;
      cutFailure = cause instanceof ApplicationFailure ? cause : refuse('internal', `cutting failed: ${String(err)}`);
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
    long.runCheck({
      product: s.product, release: s.name, changeId: id, runId: uuid4(), baseSha: s.headSha,
      source: change.kind === 'merge' ? { kind: 'merge', sha: change.sourceSha ?? '' } : { kind: 'pick', commits: change.commits },
    }).then(async (res) => {
      change.check = res.outcome === 'passed' ? 'passed' : 'failed';
      if (change.state === 'checking') change.state = 'awaiting-decision';
      await save(s, [record(change, { checkRunId: res.runId, conflictPaths: res.conflicts ?? null, note: `checks ${res.outcome}` })]);
    }).catch((err: unknown) => {
      log.warn('check failed to run', { id, err: String(err) });
      change.check = 'failed';
      if (change.state === 'checking') change.state = 'awaiting-decision';
    }).finally(() => {
      runningChecks--;
    });
  };

  const owePublish = (): void => {
    for (const t of s.product.triggers) {
      if (t.on === 'release.updated' && t.environment && !s.updateDeploysOwed.includes(t.environment)) s.updateDeploysOwed.push(t.environment);
    }
  };

  const settle = (change: ChangeMem, state: ChangeState, extra: Partial<ChangeRecord>): ChangeRecord => {
    change.state = state;
    finish(s, change);
    return record(change, extra);
  };

  const dequeue = (ids: Set<string>): void => {
    s.mergeQueue = s.mergeQueue.filter((id) => !ids.has(id));
  };

  // Pull-request flow: one merge at a time, in approval order.
  const mergeNext = async (): Promise<void> => {
    const id = s.mergeQueue[0];
    const change = id ? s.open[id] : undefined;
    if (!change || change.state !== 'approved') {
      s.mergeQueue.shift();
      return;
    }
    applying.add(change.id);
    const res = await quick.mergeChange({
      product: s.product, release: s.name, branch: s.branch, expectedHead: s.headSha,
      change: { id: change.id, seq: change.seq, branch: change.branch ?? '', sourceSha: change.sourceSha ?? '', decidedBy: change.decidedBy ?? '' },
    }).finally(() => applying.delete(change.id));
    let saved: ChangeRecord;
    switch (res.kind) {
      case 'stale':
        // Someone else moved the branch: adopt their head and merge onto it (the change stays queued).
        s.headSha = res.actual;
        return;
      case 'merged':
        s.headSha = res.sha;
        saved = settle(change, 'merged', { resultSha: res.sha, note: `merged as ${res.sha.slice(0, 12)}` });
        owePublish();
        break;
      case 'already-present':
        saved = settle(change, 'already-present', { note: 'the branch is already in the release' });
        break;
      case 'conflict':
        saved = settle(change, 'conflict', { conflictPaths: res.paths, note: `conflicts in ${res.paths.join(', ')}` });
        break;
      default: {
        const never: never = res;
        throw new Error(`unexpected merge result ${JSON.stringify(never)}`);
      }
    }
    s.mergeQueue.shift();
    await save(s, [saved]);
  };

  // Cherry-pick and binary flows: every ready pick in one batch, in trunk order, one push.
  const applyBatch = async (): Promise<void> => {
    const { ready: batch, blocked } = nextBatch(s);
    const saved: ChangeRecord[] = blocked.map(({ change, dependency, state }) =>
      settle(change, 'failed', { note: `depends on ${dependency}, which ended ${state}` }));
    dequeue(new Set(blocked.map((b) => b.change.id)));
    if (batch.length > 0) {
      for (const c of batch) applying.add(c.id);
      const res = await long.applyPicks({
        product: s.product, release: s.name, branch: s.branch, expectedHead: s.headSha, cutFrom: s.cutFrom,
        committedAt: new Date().toISOString(),
        items: batch.map((c) => ({ changeId: c.id, seq: c.seq, kind: c.kind === 'revert' ? 'revert' as const : 'pick' as const, commits: c.commits, revertOf: c.revertOf })),
      }).finally(() => applying.clear());
      if (res.kind === 'stale') {
        s.headSha = res.actual;
        await save(s, saved);
        return;
      }
      s.headSha = res.head;
      for (const item of res.results) {
        const change = s.open[item.changeId];
        if (!change) continue;
        switch (item.outcome) {
          case 'merged':
            saved.push(settle(change, 'merged', { resultSha: item.resultSha, note: `applied as ${item.resultSha.slice(0, 12)}` }));
            break;
          case 'already-present':
            saved.push(settle(change, 'already-present', { note: 'its commits are already in the release' }));
            break;
          case 'conflict':
            saved.push(settle(change, 'conflict', { conflictPaths: item.paths, note: `conflicts in ${item.paths.join(', ')}` }));
            break;
        }
      }
      dequeue(new Set(batch.map((c) => c.id)));
      if (res.results.some((r) => r.outcome === 'merged')) {
        owePublish();
        if (s.product.flow === 'binary') s.candidateOwed = true;
      }
    }
    await save(s, saved);
  };

  // One release.updated deploy per batch, never per change, and never to production from a non-production release.
  const owedDeploys = async (): Promise<void> => {
    const owed = s.updateDeploysOwed.splice(0);
    for (const envName of owed) {
      const env = environment(s, envName);
      if (!env || (env.production && !s.production)) {
        log.warn('release.updated deploy skipped', { envName, production: s.production });
        continue;
      }
      const job: DeployJob = { deploymentId: uuid4(), environment: envName, commitSha: s.headSha, trigger: 'release.updated', requestedBy: 'culvert' };
      await quick.recordDeployment({ product: s.product.name, release: s.name, job, state: 'pending' });
      s.deployQueue.push(job);
    }
  };

  const deployNext = async (): Promise<void> => {
    const job = s.deployQueue[0];
    if (!job) return;
    const env = environment(s, job.environment);
    if (!env || (env.production && !s.production)) {
      await quick.recordDeployment({ product: s.product.name, release: s.name, job, state: 'failed' });
    } else {
      // A deployment is a workflow of its own (it may wait days at its environment's gate).
      await startChild(deploymentWorkflow, {
        workflowId: deploymentWorkflowId(job.deploymentId), parentClosePolicy: ParentClosePolicy.ABANDON,
        args: [{ product: s.product, release: s.name, production: s.production, job }],
      }).catch((err: unknown) => {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      });
    }
    s.deployQueue.shift();
  };

  const picksFlow = s.product.flow !== 'pull-request';
  const hasMergeWork = (): boolean => {
    if (s.mergeQueue.length === 0) return false;
    if (!picksFlow) return true;
    const b = nextBatch(s);
    return b.ready.length > 0 || b.blocked.length > 0;
  };

  const binaryWork = (): boolean => binaryHasWork(s, s.mergeQueue.length === 0);
  const hooks = {
    close: () => close(s),
    record: async () => {
      if (s.gate) await quick.recordGate({ product: s.product.name, release: s.name, workflowId: workflowInfo().workflowId, gate: s.gate });
    },
  };
  let watching = false;
  const watch = (): void => {
    const policy = gatePolicy(s);
    if (watching || !policy || !s.gate || s.gate.state !== 'pending') return;
    watching = true;
    watchGate(s, policy, { product: s.product.name, release: s.name }).catch((err: unknown) => log.error('gate watcher failed', { err: String(err) })).finally(() => {
      watching = false;
    });
  };
  const finished = (): boolean => s.state === 'closed' && s.mergeQueue.length === 0 && s.deployQueue.length === 0 &&
    s.updateDeploysOwed.length === 0 && runningChecks === 0 && !binaryWork();

  for (;;) {
    watch();
    await condition(() =>
      (s.checkQueue.length > 0 && runningChecks < maxConcurrentChecks) || hasMergeWork() || binaryWork() ||
      s.updateDeploysOwed.length > 0 || s.deployQueue.length > 0 || workflowInfo().continueAsNewSuggested || finished() || migrate);
    if (finished()) {
      await condition(allHandlersFinished);
      if (finished()) return;
    }
    if (migrate || patched('culvert-flow-workflows')) {
      // Running checks are not waited for: today's workflow runs them again from the database.
      await condition(allHandlersFinished);
      const next = makeContinueAsNewFunc<(i: FlowInput) => Promise<void>>({ workflowType: releaseWorkflowType(s.product.flow) });
      await next({ product: s.product, name: s.name, from: input.from, production: s.production, createdBy: input.createdBy, carried: carriedFromLegacy(s) });
    }
    // Checks started now would hold up a continue-as-new the server already asks for.
    while (!workflowInfo().continueAsNewSuggested && s.checkQueue.length > 0 && runningChecks < maxConcurrentChecks) {
      const id = s.checkQueue.shift();
      if (id) startCheck(id);
    }
    if (hasMergeWork()) {
      await (picksFlow ? applyBatch() : mergeNext());
    } else if (binaryWork()) {
      await binaryStep(s, hooks);
      watch();
    } else if (s.updateDeploysOwed.length > 0) {
      await owedDeploys();
    } else if (s.deployQueue.length > 0) {
      await deployNext();
    }
    // Between any two units of work, not only when idle: a long queue (it is carried) must not grow
    // one run's history without bound.
    if (workflowInfo().continueAsNewSuggested) {
      // Handlers in flight and running checks must settle into the carried state first.
      await condition(() => allHandlersFinished() && runningChecks === 0);
      await continueAsNew<typeof releaseWorkflow>({ ...input, carried: { ...s, runs: s.runs + 1 } });
    }
  }

  function setSearchAttributes(x: CarriedState): void {
    upsertSearchAttributes(releaseSearchAttributes({ product: x.product.name, release: x.name, flow: x.product.flow, state: x.state }));
  }
}
