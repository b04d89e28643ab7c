// A deployment waiting for the versions of other products it depends on (domain/dependencies.ts):
// registered in the database, woken by a dependency's deployment (signal dependencyEvent), ended by an
// owner (signal dependencyOverride) or by its timeout.
import { condition, defineSignal, setHandler } from '@temporalio/workflow';
import type { DependencyCheck, DependencyEvent, DependencyOverride } from '../domain/dependencies.ts';
import { defaultDependencyTimeoutSeconds } from '../domain/dependencies.ts';
import { untilOutcome } from './jobs.ts';
import { records } from './release/acts.ts';

export const dependencyEventSignal = defineSignal<[DependencyEvent]>('dependencyEvent');
export const dependencyOverrideSignal = defineSignal<[DependencyOverride]>('dependencyOverride');

export interface DependencyWaitInput extends DependencyCheck {
  /** The release workflow to show a blocked database to; null for a deployment of its own. */
  parent: string | null;
}

/** Resolves once every dependency is published, or an owner overrode the wait; otherwise why not. */
export async function awaitDependencies(i: DependencyWaitInput): Promise<{ ok: true } | { ok: false; reason: string }> {
  let events = 0;
  let override: DependencyOverride | null = null;
  setHandler(dependencyEventSignal, () => {
    events += 1;
  });
  setHandler(dependencyOverrideSignal, (o) => {
    override ??= o;
  });
  const timeoutMs = Math.min(...i.needs.map((d) => (d.timeoutSeconds ?? defaultDependencyTimeoutSeconds) * 1000));
  const deadline = Date.now() + timeoutMs;
  const check = { deploymentId: i.deploymentId, workflowId: i.workflowId, product: i.product, release: i.release, environment: i.environment, needs: i.needs };
  for (;;) {
    const seen = events;
    const o = await untilOutcome(i.parent, `checking the dependencies of deployment ${i.deploymentId}`, () => records.checkDependencies(check));
    if (!o.ok) return { ok: false, reason: o.reason };
    const waiting = o.value.waiting;
    if (waiting.length === 0) return { ok: true };
    const left = deadline - Date.now();
    const woken = left > 0 && await condition(() => events !== seen || override !== null, left);
    const by = (override as DependencyOverride | null)?.by;
    if (by !== undefined) {
      await untilOutcome(i.parent, 'recording an overridden wait', () => records.endDependencyWaits({ deploymentId: i.deploymentId, state: 'overridden', by }));
      return { ok: true };
    }
    if (!woken) {
      await untilOutcome(i.parent, 'recording a timed-out wait', () => records.endDependencyWaits({ deploymentId: i.deploymentId, state: 'timed-out', by: null }));
      return { ok: false, reason: `waited ${Math.round(timeoutMs / 1000)} s for ${waiting.join(', ')}; timed out` };
    }
  }
}
