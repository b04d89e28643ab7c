// An approval gate as a workflow of its own: "wait for N approvals from group G", votes as Updates
// with a synchronous validator, reminders and escalation on timers, the outcome recorded and reported
// to whoever opened it (a release's QA sign-off, a deployment's environment gate).
import { allHandlersFinished, condition, setHandler, workflowInfo } from '@temporalio/workflow';
import { refuse } from '../domain/errors.ts';
import { openGate, tally, voteRefusal } from '../domain/gate.ts';
import type { Gate, GatePolicy } from '../domain/gate.ts';
import { reportDone, untilOutcome } from './jobs.ts';
import { voteUpdate } from './messages.ts';
import { records } from './release/acts.ts';
import { keepTasksEventful } from './interceptors.ts';

export interface GateInput {
  id: string;
  subject: string;
  policy: GatePolicy;
  requestedBy: string;
  product: string;
  release: string;
  /** Told when the gate is decided (jobDoneSignal); null when the opener awaits this workflow's result. */
  parent: string | null;
  /** Votes cast before (a gate carried over from an older workflow). */
  votes?: Gate['votes'];
}

export async function gate(input: GateInput): Promise<{ state: 'approved' | 'rejected' | 'expired' }> {
  keepTasksEventful();
  const g: Gate = { ...openGate(input.id, input.subject, input.policy, input.requestedBy, new Date(workflowInfo().startTime)), votes: input.votes ?? [] };
  g.state = tally(g);
  let recorded = 0;
  let changes = 1;
  let reminded = false;
  const where = { product: input.product, release: input.release };

  setHandler(voteUpdate, ({ decision, comment, actor }) => {
    g.votes.push({ by: actor.name, decision, at: new Date().toISOString(), ...(comment ? { comment } : {}) });
    g.state = tally(g);
    changes++;
    return { gateId: g.id, state: g.state, votes: g.votes.length, gate: { ...g, votes: [...g.votes] }, rev: changes };
  }, {
    validator: ({ gateId, actor }) => {
      if (gateId !== g.id) throw refuse('approval_not_found', `no approval ${gateId} here`);
      const refusal = voteRefusal(g, actor);
      if (refusal) throw refuse(refusal.code, refusal.message);
    },
  });

  // Records every change of the gate (votes, reminders, escalation), one write at a time, until it is decided and recorded.
  const recorder = (async () => {
    for (;;) {
      await condition(() => recorded < changes);
      const upTo = changes;
      const remind = reminded;
      reminded = false;
      await untilOutcome(null, `recording approval ${g.id}`, () => records.recordGate({ ...where, workflowId: workflowInfo().workflowId, gate: { ...g, votes: [...g.votes] }, reminded: remind, rev: upTo }));
      recorded = upTo;
      if (g.state !== 'pending' && recorded >= changes) return;
    }
  })();

  const policy = input.policy;
  while (g.state === 'pending') {
    const now = Date.now();
    const deadline = g.deadline ? Date.parse(g.deadline) : Infinity;
    const wake = Math.min(deadline, policy.remindEveryMs ? now + policy.remindEveryMs : Infinity);
    if (wake === Infinity) {
      await condition(() => g.state !== 'pending');
      break;
    }
    if (await condition(() => g.state !== 'pending', Math.max(1, wake - now))) break;
    if (Date.now() >= deadline) {
      const onTimeout = policy.onTimeout ?? 'fail';
      if (onTimeout !== 'fail' && !g.escalatedTo) {
        g.escalatedTo = onTimeout.escalateTo;
        g.deadline = policy.timeoutMs ? new Date(Date.now() + policy.timeoutMs).toISOString() : null;
      } else {
        g.state = 'expired';
      }
    } else {
      g.reminders++;
      reminded = true;
    }
    changes++;
  }
  await recorder;
  await condition(allHandlersFinished);
  const state = g.state as 'approved' | 'rejected' | 'expired';
  if (input.parent) await reportDone(input.parent, { kind: 'gate', gateId: g.id, state });
  return { state };
}
