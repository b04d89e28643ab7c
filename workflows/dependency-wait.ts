// A deployment waiting for the versions of other products it depends on (domain/dependencies.ts):
// registered in the database, woken by a dependency's deployment (signal dependencyEvent), ended by an
// owner (signal dependencyOverride) or by its timeout; a dependency whose onTimeout escalates is handed
// to others at its timeout and waited for on (since patch culvert-dependency-escalation).
import { condition, defineSignal, patched, setHandler } from '@temporalio/workflow';
import type { DependencyCheck, DependencyEvent, DependencyOverride, ResolvedDependency } from '../domain/dependencies.ts';
import { defaultDependencyTimeoutSeconds, describeDependency, escalationOf } from '../domain/dependencies.ts';
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
  // Only a wait that may escalate takes the newer path, so the waits started before it replay as they ran.
  if (i.needs.some((d) => escalationOf(d) !== null) && patched('culvert-dependency-escalation')) {
    return awaitEscalating(i, () => events, () => override);
  }
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

/**
 * Each dependency has its own deadline: one that fails at its timeout fails the deployment, naming what it
 * still waits for; one that escalates is handed to its escalateTo (rows and audit) and waited for on, until
 * met or overridden.
 */
async function awaitEscalating(
  i: DependencyWaitInput, events: () => number, override: () => DependencyOverride | null,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const started = Date.now();
  const timeoutMsOf = (d: ResolvedDependency) => (d.timeoutSeconds ?? defaultDependencyTimeoutSeconds) * 1000;
  const escalated = new Set<string>();
  const check = { deploymentId: i.deploymentId, workflowId: i.workflowId, product: i.product, release: i.release, environment: i.environment, needs: i.needs };
  for (;;) {
    const seen = events();
    const o = await untilOutcome(i.parent, `checking the dependencies of deployment ${i.deploymentId}`, () => records.checkDependencies(check));
    if (!o.ok) return { ok: false, reason: o.reason };
    const waiting = o.value.waiting;
    if (waiting.length === 0) return { ok: true };
    const pending = i.needs.filter((d) => waiting.includes(describeDependency(d)) && !escalated.has(d.product));
    const now = Date.now();
    const due = pending.filter((d) => started + timeoutMsOf(d) <= now);
    const failing = due.filter((d) => escalationOf(d) === null);
    if (failing.length > 0) {
      await untilOutcome(i.parent, 'recording a timed-out wait', () => records.endDependencyWaits({ deploymentId: i.deploymentId, state: 'timed-out', by: null }));
      return { ok: false, reason: `waited ${Math.round(Math.min(...failing.map(timeoutMsOf)) / 1000)} s for ${waiting.join(', ')}; timed out` };
    }
    if (due.length > 0) {
      const escalations = due.map((d) => ({ onProduct: d.product, on: describeDependency(d), escalateTo: escalationOf(d) ?? [] }));
      await untilOutcome(i.parent, `escalating the wait of deployment ${i.deploymentId}`, () => records.escalateDependencyWaits({
        deploymentId: i.deploymentId, product: i.product, release: i.release, environment: i.environment, escalations,
      }));
      for (const d of due) escalated.add(d.product);
    }
    const next = Math.min(...pending.filter((d) => !escalated.has(d.product)).map((d) => started + timeoutMsOf(d)));
    const woken = () => events() !== seen || override() !== null;
    if (next === Infinity) await condition(woken);
    else await condition(woken, Math.max(1, next - Date.now()));
    const by = override()?.by;
    if (by !== undefined) {
      await untilOutcome(i.parent, 'recording an overridden wait', () => records.endDependencyWaits({ deploymentId: i.deploymentId, state: 'overridden', by }));
      return { ok: true };
    }
  }
}
