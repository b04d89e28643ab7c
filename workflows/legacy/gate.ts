// Approval gates: wait for a quorum of a group. Pure logic, used by the release workflow (QA sign-off)
// and meant for deploy and change-request gates as well.
import { condition, setHandler, workflowInfo } from '@temporalio/workflow';
import { quick } from './proxies.ts';
import { refuse } from '../../domain/errors.ts';
import { tally, voteRefusal } from '../../domain/gate.ts';
import type { Gate, GatePolicy } from '../../domain/gate.ts';

export { gatePolicyOf, openGate } from '../../domain/gate.ts';
export type { Gate, GatePolicy } from '../../domain/gate.ts';
import { voteUpdate } from '../messages.ts';

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
