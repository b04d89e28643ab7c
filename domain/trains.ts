// Trains: one release of many products (40 apps from one plan) cut, deployed, picked into, frozen and
// closed together. Each action first asks every member whether it can take it now (the pre-flight);
// the owner confirms for the ready ones, and the train records every member's outcome. A member that
// fails does not stop the others.
import type { Actor, ProductConfig } from './types.ts';

export type TrainAction =
  | { kind: 'cut' }
  | { kind: 'deploy'; environment: string }
  | { kind: 'freeze' }
  | { kind: 'close' }
  | { kind: 'pick'; commits: string[]; reason: string; severity: string };

export type TrainActionKind = TrainAction['kind'];

/** What the pre-flight knows of one member: read from the database when the action is asked for. */
export interface MemberFacts {
  product: string;
  config: ProductConfig | null;
  release: { name: string; state: 'open' | 'frozen' | 'closed'; production: boolean; headSha: string } | null;
  /** Per environment, the commit its latest succeeded deployment put there (absent: never deployed). */
  current: Record<string, string>;
}

export interface MemberCheck {
  product: string;
  release: string | null;
  ready: boolean;
  /** Why it cannot (when not ready), or what it will wait for (a gate's sign-off) when it can. */
  reasons: string[];
}

export interface Preflight {
  action: TrainAction;
  ready: MemberCheck[];
  cannot: MemberCheck[];
  /** One line: "37 ready, 3 cannot: app-x has no staging environment, ...". */
  summary: string;
}

/** Whether `actor` may do the action on the product (the API's own rule, asked per member). */
export type MayAct = (product: string, action: TrainActionKind) => boolean;

/** Asks every member whether it can take `action` now, without doing anything. */
export function preflight(action: TrainAction, members: MemberFacts[], may: MayAct): Preflight {
  const checks = members.map((m) => checkMember(action, m, may));
  const ready = checks.filter((c) => c.ready);
  const cannot = checks.filter((c) => !c.ready);
  const why = cannot.map((c) => `${c.product} ${c.reasons.join(' and ')}`);
  const summary = `${ready.length} ready, ${cannot.length} cannot${why.length ? `: ${why.join('; ')}` : ''}`;
  return { action, ready, cannot, summary };
}

function checkMember(action: TrainAction, m: MemberFacts, may: MayAct): MemberCheck {
  const reasons: string[] = [];
  const notes: string[] = [];
  const check = (ready: boolean): MemberCheck => ({ product: m.product, release: m.release?.name ?? null, ready, reasons: ready ? notes : reasons });
  if (!m.config) return { product: m.product, release: null, ready: false, reasons: ['no longer exists'] };
  if (!may(m.product, action.kind)) reasons.push(`is not yours to ${action.kind}`);
  if (action.kind === 'cut') {
    if (m.release) reasons.push(`already has release ${m.release.name}`);
    return check(reasons.length === 0);
  }
  const rel = m.release;
  if (!rel) {
    reasons.push('has no release in this train (its cut failed)');
    return check(false);
  }
  switch (action.kind) {
    case 'deploy': {
      const envs = [...m.config.environments].sort((a, b) => a.order - b.order);
      const env = envs.find((e) => e.name === action.environment);
      if (!env) {
        reasons.push(`has no ${action.environment} environment`);
        break;
      }
      if (env.production && !rel.production) reasons.push(`release ${rel.name} is not a production release`);
      const step = m.config.triggers.find((t) => t.on === 'deploy.clicked' && (!t.environment || t.environment === env.name));
      if (!step) reasons.push(`has no deploy step for ${env.name}`);
      // The way to production goes through every earlier environment with the same head.
      const before = envs.filter((e) => e.order < env.order);
      const behind = before.filter((e) => m.current[e.name] !== rel.headSha);
      if (behind.length > 0) reasons.push(`has not reached ${behind.map((e) => e.name).join(', ')} with its head ${rel.headSha.slice(0, 12)}`);
      if (env.gate) notes.push(`waits for the ${env.name} gate (${env.gate.quorum} of ${env.gate.group.join(', ')})`);
      break;
    }
    case 'pick':
      if (m.config.flow === 'pull-request') reasons.push('takes merges of branches, not picks (pull-request flow)');
      if (rel.state !== 'open') reasons.push(`release ${rel.name} is ${rel.state}`);
      break;
    case 'freeze':
      if (rel.state !== 'open') reasons.push(`release ${rel.name} is already ${rel.state}`);
      break;
    case 'close':
      if (rel.state === 'closed') reasons.push(`release ${rel.name} is already closed`);
      break;
  }
  return check(reasons.length === 0);
}

/** What happened to one member when the train acted: done, or why not. */
export interface MemberOutcome {
  ok: boolean;
  /** done: what it did ("deployment 3f2a… to staging", "pick #4 filed", "already present"). */
  detail: string;
  /** Refused: the API's error code and message, as a caller would have got them. */
  code?: string;
  deploymentId?: string;
  /** A deploy's deployment: how it ended, once it has. */
  deploymentState?: 'succeeded' | 'failed';
  changeId?: string;
}

/**
 * What a worker uses to act on a member release: the API's own operations (cut, deploy click, file,
 * freeze, close) with their checks, so a train does nothing a person could not. Refusals (4xx) come back
 * as outcomes; outages throw, and the activity retries them.
 */
export interface ReleaseOps {
  act(actor: Actor, product: string, release: string, action: TrainAction, key: string, production: boolean): Promise<MemberOutcome>;
}

export const trainWorkflowId = (train: string): string => `culvert-train/${train}`;
