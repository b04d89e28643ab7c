import { z } from 'zod';
import { getApproval, listApprovals, recordGate } from '../../db/repos/approvals.ts';
import { executeUpdateWithRetry } from '../temporal-update.ts';
import type { Approval } from '../../db/schema.ts';
import { voteUpdate } from '../../workflows/messages.ts';
import { audited } from '../audit/record.ts';
import { requireView } from '../auth.ts';
import type { Actor } from '../../domain/types.ts';
import type { AppDeps } from '../context.ts';
import { workflowLink } from '../context.ts';
import { ApiError } from '../errors.ts';
import type { Routes } from '../route.ts';
import { doc, param } from '../route.ts';

const listQuery = z.strictObject({
  state: z.enum(['pending', 'approved', 'rejected', 'expired']).optional(),
  product: z.string().max(100).optional(),
});
const voteSchema = z.strictObject({
  decision: doc(z.enum(['approve', 'reject']), 'The vote', 'approve'),
  comment: doc(z.string().max(4000), 'Why, kept with the vote', 'QA passed on 3.11 RC2').optional(),
});

export function approvalRoutes(r: Routes, deps: AppDeps): void {
  const present = (a: Approval) => ({
    id: a.id, product: a.product, release: a.release, subject: a.subject, state: a.state, group: a.group, quorum: a.quorum,
    votes: a.votes, requestedBy: a.requestedBy, excluded: a.excluded, rejectStops: a.rejectStops, deadline: a.deadline,
    reminders: a.reminders, escalatedTo: a.escalatedTo, createdAt: a.createdAt, temporalUrl: workflowLink(deps.temporal, a.workflowId),
  });

  r.add({
    method: 'get', path: '/v1/approvals', tag: 'approvals', summary: 'Approval gates, e.g. those waiting for people (?state=pending)',
    query: listQuery, responses: { 200: 'gates' },
  }, async ({ query, actor, c }) => {
    const all = await listApprovals(deps.db, { state: query.state, product: query.product });
    const visible = all.filter((a) => actor.role === 'admin' || actor.products === null || actor.products.includes(a.product));
    return c.json({ items: visible.map(present) });
  });

  r.add({
    method: 'post', path: '/v1/approvals/:id', tag: 'approvals', summary: 'Vote on a gate: approve or reject (members of its group)',
    body: voteSchema, responses: { 200: 'the gate after the vote', 403: 'not in the group', 404: 'unknown gate', 409: 'closed gate or second vote', 422: 'own vote excluded' },
  }, async ({ body, actor, c }) => {
    return c.json(present(await voteOnGate(deps, actor, param(c, 'id'), body)));
  });
}

/** A vote on a gate (members of its group): the API's route and the web page. Answers the gate after the vote. */
export async function voteOnGate(deps: AppDeps, actor: Actor, id: string, body: z.infer<typeof voteSchema>): Promise<Approval> {
  const gate = await getApproval(deps.db, id);
  if (!gate) throw new ApiError('approval_not_found', `no approval ${id}`);
  requireView(actor, gate.product);
  // Membership is by principal name; a viewer's token never decides, whatever its name.
  if (actor.role === 'viewer') throw new ApiError('forbidden', `${actor.name} holds a viewer token: viewers cannot vote on approvals`, { role: actor.role });
  if (gate.state !== 'pending') throw new ApiError('gate_closed', `approval ${id} is already ${gate.state}`);
  await audited(deps.db, actor, `approval.${body.decision}`, { product: gate.product, release: gate.release ?? undefined, target: id, details: body }, async () => {
    const voted = await executeUpdateWithRetry(deps.temporal.client.workflow.getHandle(gate.workflowId), voteUpdate, { args: [{ gateId: id, ...body, actor }] });
    // A gate workflow answers with the gate itself: stored now, so the caller reads its own vote.
    if (voted.gate && voted.rev !== undefined) {
      await recordGate(deps.db, { product: gate.product, release: gate.release, workflowId: gate.workflowId, gate: voted.gate, rev: voted.rev });
    }
  });
  return (await getApproval(deps.db, id)) ?? gate;
}
