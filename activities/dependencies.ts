// Dependency waits (domain/dependencies.ts): a waiting deployment's rows, and the signal a dependency's
// deployment sends its waiters when it ends.
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { endWaits, isPublished, noteWaiters, registerWaits, waitersOn, waitsOfDeployment } from '../db/repos/dependency-waits.ts';
import type { DependencyCheck, DependencyEvent } from '../domain/dependencies.ts';
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

    /** Tells every deployment waiting on this product, version and environment that a deployment of it ended. */
    async notifyDependents(e: DependencyEvent): Promise<{ told: number }> {
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
