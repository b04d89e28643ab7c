// Approval gates: wait for a quorum of a group. Pure rules, shared by the gate workflow, the API and
// the database records.
import type { Actor, GatePolicyConfig } from './types.ts';

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
