// Approval gates: wait for a quorum of a group. Pure logic, used by the release workflow (QA sign-off)
// and meant for deploy and change-request gates as well.
import { condition, setHandler, workflowInfo } from '@temporalio/workflow';
import { quick } from './proxies.ts';
import type { Actor, GatePolicyConfig } from './domain.ts';
import { refuse } from './errors.ts';
import { voteUpdate } from './messages.ts';

export interface GatePolicy {
  group: string[];
  quorum: number;
  /** Whoever started the action may not vote on it. */
  excludeRequester?: boolean;
  /** One rejection from the group stops the gate. */
  rejectStops?: boolean;
  /** ms until the gate expires; none: it waits as long as it takes. */
  timeoutMs?: number;
  /** ms between reminders while it waits. */
  remindEveryMs?: number;
  /** On expiry: fail, or hand the gate to another group (once). */
  onTimeout?: { escalateTo: string[] } | 'fail';
}

export type GateState = 'pending' | 'approved' | 'rejected' | 'expired';

export interface Gate {
  id: string;
  subject: string;
  group: string[];
  quorum: number;
  excluded: string | null;
  rejectStops: boolean;
  votes: { by: string; decision: 'approve' | 'reject'; at: string; comment?: string }[];
  state: GateState;
  deadline: string | null;
  reminders: number;
  escalatedTo: string[] | null;
  requestedBy: string;
}

export function openGate(id: string, subject: string, policy: GatePolicy, requestedBy: string, now: Date): Gate {
  return {
    id, subject, group: [...policy.group], quorum: policy.quorum, excluded: policy.excludeRequester ? requestedBy : null,
    rejectStops: policy.rejectStops ?? true, votes: [], state: 'pending',
    deadline: policy.timeoutMs ? new Date(now.getTime() + policy.timeoutMs).toISOString() : null,
    reminders: 0, escalatedTo: null, requestedBy,
  };
}

/** Who may vote now: the group, or after escalation the group it was handed to. */
export function voters(gate: Gate): string[] {
  return gate.escalatedTo ?? gate.group;
}

/** Why `actor` may not vote on `gate` now, or null when the vote counts. */
export function voteRefusal(gate: Gate, actor: Actor): { code: 'gate_closed' | 'not_in_group' | 'own_vote_excluded' | 'already_voted'; message: string } | null {
  if (gate.state !== 'pending') return { code: 'gate_closed', message: `approval ${gate.id} is already ${gate.state}` };
  if (!voters(gate).includes(actor.name)) {
    return { code: 'not_in_group', message: `${actor.name} is not in the group that approves ${gate.subject} (${voters(gate).join(', ')})` };
  }
  if (gate.excluded === actor.name) return { code: 'own_vote_excluded', message: `${actor.name} started ${gate.subject}; their own vote does not count` };
  if (gate.votes.some((v) => v.by === actor.name)) return { code: 'already_voted', message: `${actor.name} has already voted on ${gate.subject}` };
  return null;
}

export function tally(gate: Gate): GateState {
  const counted = gate.votes.filter((v) => v.by !== gate.excluded && voters(gate).includes(v.by));
  if (gate.rejectStops && counted.some((v) => v.decision === 'reject')) return 'rejected';
  if (counted.filter((v) => v.decision === 'approve').length >= gate.quorum) return 'approved';
  return 'pending';
}

export function gatePolicyOf(c: GatePolicyConfig): GatePolicy {
  return {
    group: c.group, quorum: c.quorum, excludeRequester: c.excludeRequester, rejectStops: c.rejectStops,
    timeoutMs: c.timeoutSeconds ? c.timeoutSeconds * 1000 : undefined,
    remindEveryMs: c.remindEverySeconds ? c.remindEverySeconds * 1000 : undefined, onTimeout: c.onTimeout,
  };
}


/**
 * Runs beside the owning workflow's main code while a gate waits: reminders every so often, and at the
 * deadline either fails the gate or hands it to the escalation group (once). Timers cost nothing while
 * waiting; the deadline is absolute, so a continued-as-new run picks up where the last one stopped.
 */
export async function watchGate(holder: { gate: Gate | null }, policy: GatePolicy, where: { product: string; release: string }): Promise<void> {
  for (;;) {
    const gate = holder.gate;
    if (!gate || gate.state !== 'pending') return;
    const now = Date.now();
    const deadline = gate.deadline ? Date.parse(gate.deadline) : Infinity;
    const wake = Math.min(deadline, policy.remindEveryMs ? now + policy.remindEveryMs : Infinity);
    if (wake === Infinity) {
      await condition(() => gate.state !== 'pending');
      return;
    }
    if (await condition(() => gate.state !== 'pending', Math.max(1, wake - now))) return;
    if (Date.now() >= deadline) {
      const onTimeout = policy.onTimeout ?? 'fail';
      if (onTimeout !== 'fail' && !gate.escalatedTo) {
        gate.escalatedTo = onTimeout.escalateTo;
        gate.deadline = policy.timeoutMs ? new Date(Date.now() + policy.timeoutMs).toISOString() : null;
      } else {
        gate.state = 'expired';
      }
    } else {
      gate.reminders++;
    }
    await quick.recordGate({ ...where, workflowId: workflowInfo().workflowId, gate, reminded: gate.state === 'pending' });
  }
}

/**
 * Takes votes on the gate `holder` has (none yet, or a closed one, refuses them): the validator checks
 * group, exclusion and second votes synchronously, so a refused vote leaves no trace in history.
 */
export function handleGateVotes(holder: { readonly gate: Gate | null }, where: () => { product: string; release: string }): void {
  const find = (gateId: string): Gate => {
    const gate = holder.gate;
    if (!gate || gate.id !== gateId) throw refuse('approval_not_found', `no approval ${gateId} here`);
    return gate;
  };
  setHandler(voteUpdate, async ({ gateId, decision, comment, actor }) => {
    const gate = find(gateId);
    gate.votes.push({ by: actor.name, decision, at: new Date().toISOString(), ...(comment ? { comment } : {}) });
    gate.state = tally(gate);
    await quick.recordGate({ ...where(), workflowId: workflowInfo().workflowId, gate });
    return { gateId, state: gate.state, votes: gate.votes.length };
  }, {
    validator: ({ gateId, actor }) => {
      const refusal = voteRefusal(find(gateId), actor);
      if (refusal) throw refuse(refusal.code, refusal.message);
    },
  });
}
