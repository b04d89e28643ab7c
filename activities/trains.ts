// A train's work on its members (workflows/train.ts): each member's action through the API's own
// operations (deps.releaseOps), its outcome recorded once.
import { Context } from '@temporalio/activity';
import { getDeployment } from '../db/repos/deployments.ts';
import { closeTrain, finishTrainAction, getTrainAction, outcomeOf, outcomesOf, recordMemberOutcome, recordTrainAction, settleMemberOutcome } from '../db/repos/trains.ts';
import type { MemberOutcome, TrainAction } from '../domain/trains.ts';
import type { Actor } from '../domain/types.ts';
import type { ActivityDeps } from './deps.ts';

export interface MemberActInput {
  train: string;
  seq: number;
  product: string;
  release: string;
  production: boolean;
  action: TrainAction;
  actor: Actor;
}

export function trainActivities(deps: ActivityDeps) {
  return {
    async trainActionStarted(i: { train: string; seq: number; action: TrainAction; actor: Actor; members: string[]; report: Record<string, unknown> }): Promise<void> {
      await recordTrainAction(deps.db, { train: i.train, seq: i.seq, action: i.action as unknown as Record<string, unknown>, requestedBy: i.actor.name, report: i.report, members: i.members });
    },

    /**
     * One member's part of an action. Done once: an outcome recorded for this action is returned as it is;
     * the operation itself is keyed by train and action, so a retry after a crash between it and the record
     * finds it done (the same deployment, the same pick request) rather than doing it again.
     */
    async trainMemberAct(i: MemberActInput): Promise<MemberOutcome> {
      const recorded = await outcomeOf(deps.db, i.train, i.seq, i.product);
      if (recorded) {
        const { seq: _s, kind: _k, at: _a, ...outcome } = recorded;
        return outcome;
      }
      let outcome: MemberOutcome;
      if (!deps.releaseOps) {
        outcome = { ok: false, code: 'internal', detail: 'this worker was started without the API\'s operations and cannot act on releases' };
      } else {
        outcome = await deps.releaseOps.act(i.actor, i.product, i.release, i.action, `train:${i.train}:${i.seq}`, i.production);
      }
      const cut = i.action.kind === 'cut' && outcome.ok;
      await recordMemberOutcome(deps.db, i.train, i.product, { seq: i.seq, kind: i.action.kind, at: new Date().toISOString(), ...outcome }, cut ? i.release : undefined);
      return outcome;
    },

    /**
     * Follows the deployments a deploy action started until each has ended, and makes its end the member's
     * outcome (succeeded, or failed with the reason). Returns after a few minutes with what still runs, so
     * the workflow calls again rather than one activity living as long as the slowest deployment.
     */
    async trainAwaitDeployments(i: { train: string; seq: number }): Promise<{ running: number }> {
      const ctx = Context.current();
      const until = Date.now() + 4 * 60_000;
      for (;;) {
        const outcomes = [...(await outcomesOf(deps.db, i.train, i.seq))].filter(([, o]) => o.deploymentId && !o.deploymentState);
        let running = 0;
        for (const [product, o] of outcomes) {
          const d = await getDeployment(deps.db, o.deploymentId as string);
          if (d?.state === 'succeeded') await settleMemberOutcome(deps.db, i.train, product, { ...o, deploymentState: 'succeeded', detail: `deployed ${d.commitSha.slice(0, 12)} to ${d.environment} (deployment ${d.id})` });
          else if (d?.state === 'failed') await settleMemberOutcome(deps.db, i.train, product, { ...o, ok: false, deploymentState: 'failed', code: 'deployment_failed', detail: `deployment ${d.id} to ${d.environment} failed: ${d.failure ?? 'no reason recorded'}` });
          else running += 1;
        }
        ctx.heartbeat({ running });
        if (running === 0 || Date.now() > until) return { running };
        await ctx.sleep(500);
      }
    },

    async trainActionFinished(i: { train: string; seq: number; close: boolean }): Promise<{ done: number; failed: number }> {
      await finishTrainAction(deps.db, i.train, i.seq);
      if (i.close) await closeTrain(deps.db, i.train);
      const row = await getTrainAction(deps.db, i.train, i.seq);
      return { done: row?.done ?? 0, failed: row?.failed ?? 0 };
    },
  };
}
