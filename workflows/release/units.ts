// The units of work that move a release branch: one merge (pull-request flow) or one batch of picks
// (cherry-pick and binary flows). The activity records the outcome itself, in the transaction that
// moves the release's head, at a revision reserved here; a retry after a crash finds its own push.
import type { Change } from '../../domain/changes.ts';
import { units } from './acts.ts';
import { outcomeOf } from './faults.ts';
import type { ReleaseRun } from './run.ts';

/** Pull-request flow: the first approved merge, if nothing else is in flight. */
export function startMerge(run: ReleaseRun): boolean {
  const b = run.book;
  const change = b.nextMerge();
  if (!change || !run.mayTry('merge')) return false;
  const rev = b.reserveRev();
  b.applying.add(change.id);
  run.unit = 'merge';
  const at = run.now();
  void outcomeOf(units.mergeApproved({
    product: run.s.product, release: run.s.name, branch: run.s.branch, expectedHead: run.s.headSha, change: { ...change }, rev, at,
    ...(run.traceLater ? { traceLater: true } : {}),
  })).then((o) => {
    run.unit = null;
    b.applying.delete(change.id);
    if (!o.ok && !o.permanent) {
      run.failedAgain('merge', `merge of #${change.seq}`, o.reason);
      return;
    }
    run.unblock('merge');
    if (!o.ok) {
      b.settle(change, 'failed', at, { failure: o.reason, note: `merge failed: ${o.reason}` });
      return;
    }
    const res = o.value;
    if (res.kind === 'stale') {
      // Someone else moved the branch: adopt their head and merge onto it (the change stays queued).
      run.s.headSha = res.actual;
      run.oweTrace(res.actual);
      return;
    }
    b.settledElsewhere(res.written);
    if (res.kind === 'merged') {
      run.s.headSha = res.head;
      run.oweTrace(res.head);
      run.owePublish();
    }
  });
  return true;
}

export function hasMerge(run: ReleaseRun): boolean {
  return run.book.nextMerge() !== undefined && run.mayTry('merge');
}

/** Cherry-pick and binary flows: every ready pick in one batch, in trunk order, one push. */
export function startPicks(run: ReleaseRun): boolean {
  const b = run.book;
  const at = run.now();
  const { ready, blocked } = b.nextBatch();
  for (const { change, dependency, state } of blocked) {
    b.settle(change, 'failed', at, { failure: `depends on ${dependency}, which ended ${state}`, note: `depends on ${dependency}, which ended ${state}` });
  }
  if (ready.length === 0 || !run.mayTry('picks')) return blocked.length > 0;
  const rev = b.reserveRev();
  for (const c of ready) b.applying.add(c.id);
  run.unit = 'picks';
  void outcomeOf(units.applyApprovedPicks({
    product: run.s.product, release: run.s.name, branch: run.s.branch, expectedHead: run.s.headSha, cutFrom: run.s.cutFrom,
    committedAt: at, items: ready.map((c): Change => ({ ...c })), rev, at,
    ...(run.traceLater ? { traceLater: true } : {}),
  })).then((o) => {
    run.unit = null;
    for (const c of ready) b.applying.delete(c.id);
    if (!o.ok && !o.permanent) {
      run.failedAgain('picks', `picks of ${ready.map((c) => `#${c.seq}`).slice(0, 5).join(', ')}${ready.length > 5 ? ', ...' : ''}`, o.reason);
      return;
    }
    run.unblock('picks');
    if (!o.ok) {
      for (const c of ready) b.settle(c, 'failed', at, { failure: o.reason, note: `picks failed: ${o.reason}` });
      return;
    }
    const res = o.value;
    if (res.kind === 'stale') {
      run.s.headSha = res.actual;
      run.oweTrace(res.actual);
      return;
    }
    if (res.head !== run.s.headSha) run.oweTrace(res.head);
    run.s.headSha = res.head;
    for (const w of res.written) b.settledElsewhere(w);
    if (res.written.some((w) => w.state === 'merged')) {
      run.owePublish();
      if (run.binary) run.binary.candidateOwed = true;
    }
  });
  return true;
}

export function hasPicks(run: ReleaseRun): boolean {
  if (!run.mayTry('picks')) return false;
  const { ready, blocked } = run.book.nextBatch();
  return ready.length > 0 || blocked.length > 0;
}
