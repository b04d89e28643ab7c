// Pure decisions about change requests, shared by the release workflow's handlers and main loop.
import { mayDecide } from '../../domain/types.ts';
import type { Actor } from '../../domain/types.ts';
import type { DecideInput, DecisionResult } from '../messages.ts';
import { castVote, verdict } from '../../domain/policy.ts';
import { doneState } from './release-state.ts';
import type { CarriedState, ChangeMem } from './release-state.ts';

/**
 * `applying`: changes in the batch (or merge) being applied right now. Until then an approved change can
 * still be passed: under either policy none may pass it, so a pass takes it back out of the queue.
 */
export function judge(s: CarriedState, actor: Actor, d: DecideInput['decisions'][number], applying: ReadonlySet<string> = new Set()): DecisionResult {
  const change = s.open[d.id];
  if (!change) {
    const finished = doneState(s, d.id);
    return finished
      ? { id: d.id, ok: false, code: 'change_not_decidable', message: `change ${d.id} is already ${finished}` }
      : { id: d.id, ok: false, code: 'change_not_found', message: `no change ${d.id} on ${s.product.name}/${s.name}` };
  }
  if (!mayDecide(actor, s.product.name)) {
    return { id: d.id, ok: false, code: 'forbidden', message: `${actor.name} may not decide on ${s.product.name}` };
  }
  const passQueued = change.state === 'approved' && d.decision === 'reject' && !applying.has(change.id);
  if (change.state !== 'awaiting-decision' && !passQueued) {
    return { id: d.id, ok: false, code: 'change_not_decidable', message: `change #${change.seq} is ${change.state}, not awaiting a decision` };
  }
  if (d.decision === 'approve' && change.check === 'failed') {
    return { id: d.id, ok: false, code: 'checks_failed', message: `change #${change.seq} failed its checks and cannot be approved` };
  }
  if (s.product.approval?.excludeRequester && actor.name === change.requester) {
    return { id: d.id, ok: false, code: 'own_vote_excluded', message: `${actor.name} requested change #${change.seq}; their own vote does not count` };
  }
  const votes = castVote(change.votes, { by: actor.name, decision: d.decision });
  const outcome = verdict(s.product.approval, votes, change.requester);
  return { id: d.id, ok: true, state: outcome === 'pending' ? 'awaiting-decision' : outcome };
}

/** Records a vote the judge accepted; returns the change's new state. */
export function applyVote(s: CarriedState, change: ChangeMem, actor: Actor, decision: 'approve' | 'reject'): ChangeMem['state'] {
  change.votes = castVote(change.votes, { by: actor.name, decision });
  const outcome = verdict(s.product.approval, change.votes, change.requester);
  if (outcome === 'pending') return change.state;
  change.state = outcome;
  change.decidedBy = actor.name;
  return outcome;
}

const settledOk = (state: string | undefined): boolean => state === 'merged' || state === 'already-present';

export interface Batch {
  ready: ChangeMem[];
  /** Approved changes that can never apply because a dependency ended badly. */
  blocked: { change: ChangeMem; dependency: string; state: string }[];
}

/**
 * The approved picks that can apply now, in trunk order of their original commits, each after the
 * changes it depends on (which must have landed already or come earlier in the same batch).
 */
export function nextBatch(s: CarriedState): Batch {
  const queued = s.mergeQueue.map((id) => s.open[id]).filter((c): c is ChangeMem => c !== undefined && c.state === 'approved');
  queued.sort((a, b) => a.trunkOrder - b.trunkOrder || a.seq - b.seq);
  const ready: ChangeMem[] = [];
  const blocked: Batch['blocked'] = [];
  const inBatch = new Set<string>();
  let progressed = true;
  const pending = [...queued];
  while (progressed) {
    progressed = false;
    for (let i = 0; i < pending.length; i++) {
      const change = pending[i];
      if (!change) continue;
      let ok = true;
      for (const dep of change.dependsOn) {
        if (inBatch.has(dep)) continue;
        const open = s.open[dep];
        const finished = open ? undefined : doneState(s, dep);
        if (settledOk(finished)) continue;
        if (finished) {
          blocked.push({ change, dependency: dep, state: finished });
          pending.splice(i--, 1);
        }
        ok = false;
        break;
      }
      if (!ok) continue;
      ready.push(change);
      inBatch.add(change.id);
      pending.splice(i--, 1);
      progressed = true;
    }
  }
  return { ready, blocked };
}
