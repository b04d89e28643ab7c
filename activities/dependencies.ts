// Dependency waits (domain/dependencies.ts): a waiting deployment's rows, and the signal a dependency's
// deployment sends its waiters when it ends.
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { endWaits, escalateWaits, isPublished, noteMetWaits, noteWaiters, registerWaits, waitersOn, waitsOfDeployment } from '../db/repos/dependency-waits.ts';
import type { DependencyCheck, DependencyEscalation, DependencyEvent } from '../domain/dependencies.ts';
import { describeDependency } from '../domain/dependencies.ts';
import type { ActivityDeps } from './deps.ts';

export function dependencyActivities(deps: ActivityDeps) {
  return {
    /**
     * Registers the deployment's waits (first), then marks those whose version is published: a dependency
     * that finishes meanwhile either finds the row and signals, or is found published here.
     */
    async checkDependencies(i: DependencyCheck): Promise<{ waiting: string[] }> {
      await registerWaits(deps.db, i.needs.map((d) => ({
        deploymentId: i.deploymentId, workflowId: i.workflowId, product: i.product, release: i.release, environment: i.environment,
        onProduct: d.product, onVersion: d.version, onEnvironment: d.environment,
      })));
      const rows = await waitsOfDeployment(deps.db, i.deploymentId);
      const met: string[] = [];
      for (const r of rows.filter((x) => x.state === 'waiting')) {
        if (await isPublished(deps.db, r.onProduct, r.onVersion, r.onEnvironment)) met.push(r.onProduct);
      }
      if (met.length > 0) await endWaits(deps.db, i.deploymentId, met, 'met', null);
      return {
        waiting: rows.filter((r) => r.state === 'waiting' && !met.includes(r.onProduct))
          .map((r) => describeDependency({ product: r.onProduct, version: r.onVersion, environment: r.onEnvironment })),
      };
    },

    async endDependencyWaits(i: { deploymentId: string; state: 'overridden' | 'timed-out'; by: string | null }): Promise<void> {
      await endWaits(deps.db, i.deploymentId, null, i.state, i.by);
    },

    /** At the timeout of waits that escalate: hands them to others (audited once); the deployment goes on waiting. */
    async escalateDependencyWaits(i: DependencyEscalation): Promise<{ escalated: number }> {
      const done = await escalateWaits(deps.db, i, i.escalations);
      return { escalated: done.length };
    },

    /**
     * Tells every deployment waiting on this product, version and environment that a deployment of it ended,
     * and notes those that went ahead on an earlier deployment when it no longer stands: another release of
     * the product replaced it there, or a later deployment of it there failed.
     */
    async notifyDependents(e: DependencyEvent): Promise<{ told: number }> {
      await noteMetWaits(deps.db, e, (onVersion) => (e.state === 'succeeded'
        ? `${describeDependency({ product: e.product, version: onVersion, environment: e.environment })} was replaced by ${e.version} at ${e.at}`
        : `${describeDependency({ product: e.product, version: onVersion, environment: e.environment })}: a later deployment of it failed at ${e.at}`));
      const waiters = await waitersOn(deps.db, e.product, e.version, e.environment);
      if (waiters.length === 0) return { told: 0 };
      if (e.state === 'failed') await noteWaiters(deps.db, e.product, e.version, e.environment, `its deployment to ${e.environment} failed at ${e.at}`);
      const { client } = Context.current();
      for (const w of waiters) {
        await client.workflow.getHandle(w.workflowId).signal('dependencyEvent', e).catch((err: unknown) => {
          // A waiter that ended (overridden, timed out) needs no word.
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        });
      }
      return { told: waiters.length };
    },
  };
}
