// The handlers of a release workflow: each changes the run's state and answers at once (filing alone
// first waits on a bounded git inspection); the loop (run.ts) does the work.
import { setHandler } from '@temporalio/workflow';
import type { ChangeWrite } from '../../domain/changes.ts';
import type { DeployJob } from '../../domain/deploy.ts';
import { refuse } from '../../domain/errors.ts';
import { jsonSize } from '../../domain/records.ts';
import type { CommitDetail } from '../../domain/changes.ts';
import type { Inspected, InspectedWire } from '../../domain/requests.ts';
import { mayDecide, mayRequest } from '../../domain/types.ts';
import type { Actor } from '../../domain/types.ts';
import { answering } from './acts.ts';
import type { FileRequest, Known } from './book.ts';
import { outcomeOf } from './faults.ts';
import {
  closeUpdate, decideUpdate, deployUpdate, fileUpdate, freezeUpdate, jobBlockedSignal, jobDoneSignal, productUpdatedSignal, retryStageUpdate,
  retryUpdate, scheduledCloseSignal, summaryQuery,
} from './messages.ts';
import type { FileResult, ReleaseSummary } from './messages.ts';
import type { ReleaseRun } from './run.ts';

export function registerHandlers(run: ReleaseRun): void {
const b = run.book;
const s = run.s;
  setHandler(summaryQuery, (): ReleaseSummary => ({
    ...b.view(), epoch: s.epoch, seq: s.seq, rev: s.rev, blocked: Object.values(run.blocked),
    approved: b.approved.length, checksRunning: run.checksRunning(), jobs: Object.keys(run.jobs).length, outbox: b.outbox.size, stage: run.binary?.stage ?? null,
  }));

  setHandler(productUpdatedSignal, (product) => {
    if (product.name === s.product.name) s.product = product;
  });

  setHandler(fileUpdate, async ({ requests, actor, known }) => fileRequests(run, requests, actor, known), {
    validator: ({ requests, actor, known }) => {
      if (requests.length === 0) throw refuse('bad_request', 'no requests given');
      // A run about to continue as new takes no filing (it would hold it up); the API sends it again.
      if (run.drainingNow) throw refuse('stale_snapshot', `release ${b.where} is starting a new run; send the request again`);
      if (!mayRequest(actor, s.product.name)) throw refuse('forbidden', `${actor.name} may not request changes on ${s.product.name}`);
      const ids = new Set<string>();
      for (const r of requests) {
        if (ids.has(r.id)) throw refuse('bad_request', `request ${r.id} appears twice in one call`);
        ids.add(r.id);
      }
      // One request alone is refused outright (no trace in history); a batch answers each.
      if (requests.length === 1) {
        const refusal = b.refusal(actor, requests[0] as FileRequest, known);
        if (refusal) throw refuse(refusal.code as Parameters<typeof refuse>[0], refusal.message, refusal.details);
      } else {
        for (const r of requests) b.refusal(actor, r, known);
      }
    },
  });

  setHandler(decideUpdate, ({ decisions, actor, known }) => {
    const { results, changed } = b.decide(actor, decisions, known, run.now());
    const writes = changed.map((c) => b.writeOf(c.id)).filter((w): w is ChangeWrite => w !== undefined);
    // Too large an answer would fail the workflow task for good: the recorder writes them all anyway.
    const answered = jsonSize(writes) <= answerBytes ? writes : [];
    b.handedOver(answered);
    return { results, writes: answered };
  }, { validator: ({ decisions, actor, known }) => b.checkDecisions(actor, decisions, known) });

  setHandler(retryUpdate, ({ changeId, actor, known }) => {
    b.retry(actor, changeId, known, run.now());
    const write = b.writeOf(changeId) as ChangeWrite;
    b.handedOver([write]);
    return { write };
  }, { validator: ({ changeId, actor, known }) => void b.retryKind(actor, changeId, known) });

  setHandler(retryStageUpdate, () => {
    if (run.binary) {
      run.binary.stage = 'final';
      run.binary.stopped = null;
    }
    return b.view();
  }, {
    validator: ({ actor }) => {
      if (!mayDecide(actor, s.product.name)) throw refuse('forbidden', `${actor.name} may not retry work on ${s.product.name}`);
      if (run.binary?.stage !== 'stopped' || s.state !== 'frozen') {
        throw refuse('change_not_decidable', `release ${b.where} is not stopped on its way to publishing; nothing to retry`);
      }
    },
  });

  setHandler(deployUpdate, ({ deploymentId, environment, commitSha, candidateId, actor }) => {
    const queued = run.deployQueue.find((j) => j.deploymentId === deploymentId) ?? run.deploying.get(deploymentId);
    if (queued) return { job: queued };
    const job: DeployJob = {
      deploymentId, environment, commitSha: commitSha ?? s.headSha, trigger: 'deploy.clicked', requestedBy: actor.name,
      ...(candidateId ? { candidateId } : {}),
    };
    run.queueDeploy(job);
    return { job };
  }, {
    validator: ({ environment, actor }) => {
      if (!mayDecide(actor, s.product.name)) throw refuse('forbidden', `${actor.name} may not deploy ${s.product.name}`);
      if (s.state === 'closed') throw refuse('release_closed', `release ${b.where} is closed`);
      const env = s.product.environments.find((e) => e.name === environment);
      if (!env) throw refuse('unknown_environment', `product ${s.product.name} has no environment ${environment}`);
      if (env.production && !s.production) {
        throw refuse('release_not_production', `release ${b.where} is not a production release and can never reach ${environment}`);
      }
    },
  });

  setHandler(freezeUpdate, ({ actor }) => {
    run.release.bulk.push({ rev: b.reserveRev(), at: run.now(), from: ['requested', 'checking', 'awaiting-decision'], to: 'rejected', note: `release frozen by ${actor.name} before a decision`, except: [...b.applying] });
    for (const c of b.freeze(actor, run.now())) run.cancelCheckOf(c.id);
    if (run.binary) run.binary.stage = 'final';
    run.setState('frozen');
    return b.view();
  }, {
    validator: ({ actor }) => {
      if (!mayDecide(actor, s.product.name)) throw refuse('forbidden', `${actor.name} (${actor.role}) may not freeze ${b.where}: owners only`);
      if (s.product.flow === 'pull-request') throw refuse('flow_mismatch', `${b.where} uses the pull-request flow and never freezes`);
      b.mustBeOpen();
    },
  });

  setHandler(closeUpdate, ({ actor }) => {
    run.close(actor.name);
    return b.view();
  }, {
    validator: ({ actor }) => {
      if (!mayDecide(actor, s.product.name)) throw refuse('forbidden', `${actor.name} may not close ${b.where}`);
      if (s.state === 'closed') throw refuse('release_closed', `release ${b.where} is already closed`);
    },
  });

  setHandler(scheduledCloseSignal, () => {
    if (s.state !== 'closed') run.close('culvert-schedule');
  });

  setHandler(jobDoneSignal, ({ jobId, result }) => {
    const job = run.jobs[jobId];
    if (!job) return;
    delete run.jobs[jobId];
    run.unblock(`job:${jobId}`);
    if (result.kind === 'check') {
      b.checked(result.changeId, result, run.now());
    } else {
      run.flow.onJob?.(run, result);
    }
  });

  setHandler(jobBlockedSignal, ({ jobId, blocked }) => {
    if (!run.jobs[jobId]) return;
    if (blocked) run.setBlocked(`job:${jobId}`, blocked);
    else run.unblock(`job:${jobId}`);
  });
}

/** Commits git is asked about per inspection: its answer (subjects, authors, touched paths) stays small. */
const inspectCommits = 200;
/** An Update's answer larger than this leaves out what the API would store (the recorder writes it all). */
const answerBytes = 1024 * 1024;

/** Files requests (inspected by git first, in bounded time) and answers each. */
async function fileRequests(run: ReleaseRun, requests: FileRequest[], actor: Actor, known: Known | undefined): Promise<{ results: FileResult[] }> {
  const b = run.book;
  const results: (FileResult | undefined)[] = requests.map((req) => {
    const existing = b.find(req.id, known);
    if (existing) return { id: req.id, ok: true, write: b.writeOf(req.id) ?? { change: existing, events: [] }, filedBefore: true };
    const refusal = b.refusal(actor, req, known);
    return refusal ? { id: req.id, ok: false, ...refusal } : undefined;
  });
  const todo = requests.filter((_, i) => results[i] === undefined);
  for (const chunk of byDistinctCommits(todo, inspectCommits)) {
    const inspected = await outcomeOf(answering.inspectRequests({
      product: run.s.product, head: run.s.headSha, cutFrom: run.s.cutFrom, branch: run.s.branch, requests: chunk,
    }));
    if (!inspected.ok) {
      if (inspected.permanent) throw refuse(inspected.code as Parameters<typeof refuse>[0], inspected.reason);
      throw refuse('unavailable', `the repository of ${run.s.product.name} could not be read (${inspected.reason}); nothing more was filed, try again`);
    }
    const { answers, details } = inspected.value;
    chunk.forEach((req, k) => {
      const i = requests.indexOf(req);
      const wire = answers[k];
      if (!wire) return;
      const answer = wire.ok ? { ok: true as const, inspected: expand(wire.inspected, details) } : wire;
      // The release may have been frozen or closed, or the same id filed, while git was asked.
      const refusal = b.refusal(actor, req, known);
      if (!answer.ok) results[i] = { id: req.id, ok: false, code: answer.code, message: answer.message, ...(answer.details ? { details: answer.details } : {}) };
      else if (refusal) results[i] = { id: req.id, ok: false, ...refusal };
      else {
        const filedBefore = b.changes.has(req.id);
        const change = b.file(actor, req, answer.inspected, known, run.now());
        results[i] = { id: req.id, ok: true, write: b.writeOf(change.id) ?? { change, events: [] }, filedBefore };
      }
    });
  }
  const answer = bounded(results.map((r, i) => r ?? { id: requests[i]?.id ?? '', ok: false, code: 'internal', message: 'not answered' }));
  b.handedOver(answer.flatMap((r) => (r.ok && r.write ? [r.write] : [])));
  return { results: answer };
}

/** Requests in runs that name at most `max` distinct commits between them (one request alone may name more). */
function byDistinctCommits(requests: FileRequest[], max: number): FileRequest[][] {
  const chunks: FileRequest[][] = [];
  let current: FileRequest[] = [];
  let seen = new Set<string>();
  for (const req of requests) {
    const shas = req.kind === 'pick' ? req.commits.map((c) => c.toLowerCase()) : [`${req.kind}:${req.id}`];
    const added = shas.filter((x) => !seen.has(x)).length;
    if (current.length > 0 && seen.size + added > max) {
      chunks.push(current);
      current = [];
      seen = new Set();
    }
    current.push(req);
    for (const x of shas) seen.add(x);
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function expand(wire: InspectedWire, details: Record<string, CommitDetail>): Inspected {
  if (wire.kind !== 'pick') return wire;
  return {
    kind: 'pick', commits: wire.shas.map((sha) => details[sha] as CommitDetail), trunkOrder: wire.trunkOrder, alreadyPresent: wire.alreadyPresent,
    ...(wire.presentAs ? { presentAs: wire.presentAs } : {}),
  };
}

/** Keeps an answer under `answerBytes`: first without commit details, then without the writes. */
function bounded(results: FileResult[]): FileResult[] {
  if (jsonSize(results) <= answerBytes) return results;
  const lean = results.map((r) => (r.ok && r.write?.details ? { ...r, write: { change: r.write.change, events: r.write.events } } : r));
  if (jsonSize(lean) <= answerBytes) return lean;
  return lean.map((r) => (r.ok ? { id: r.id, ok: true, filedBefore: r.filedBefore } : r));
}
