// Domain types shared by workflows, activities and the API. Pure types and pure functions only:
// this module is bundled into the workflow sandbox.

export type Flow = 'pull-request' | 'cherry-pick' | 'binary';
export type ReleaseState = 'open' | 'frozen' | 'closed';
export type Role = 'admin' | 'owner' | 'ci' | 'viewer';

export interface StepConfig {
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
  timeoutSeconds?: number;
}

export type TriggerEvent = 'release.cut' | 'change.requested' | 'release.updated' | 'deploy.clicked' | 'release.frozen' | 'release.final';

export interface TriggerConfig {
  on: TriggerEvent;
  run: string;
  /** For deploy-like steps: which environment the step targets (release.updated); deploy.clicked takes it from the click. */
  environment?: string;
}

export interface EnvironmentConfig {
  name: string;
  order: number;
  production: boolean;
}

export interface ProductConfig {
  name: string;
  repository: string;
  flow: Flow;
  trunk: string;
  owners: string[];
  steps: Record<string, StepConfig>;
  triggers: TriggerConfig[];
  environments: EnvironmentConfig[];
}

/** Who acts, as the API authenticated them; the workflow checks it again in its validators. */
export interface Actor {
  name: string;
  role: Role;
  products: string[] | null;
  tokenId: string | null;
}

export function mayDecide(actor: Actor, product: string): boolean {
  switch (actor.role) {
    case 'admin':
      return true;
    case 'owner':
      return actor.products === null || actor.products.includes(product);
    case 'ci':
    case 'viewer':
      return false;
    default: {
      const never: never = actor.role;
      return never;
    }
  }
}

export function mayRequest(actor: Actor, product: string): boolean {
  switch (actor.role) {
    case 'admin':
      return true;
    case 'owner':
    case 'ci':
      return actor.products === null || actor.products.includes(product);
    case 'viewer':
      return false;
    default: {
      const never: never = actor.role;
      return never;
    }
  }
}

export type ChangeKind = 'merge' | 'pick' | 'revert';
export type ChangeState =
  | 'requested' | 'checking' | 'awaiting-decision' | 'approved' | 'rejected'
  | 'merged' | 'conflict' | 'failed' | 'already-present';
export type CheckOutcome = 'none' | 'running' | 'passed' | 'failed';

export const terminalChangeStates: readonly ChangeState[] = ['rejected', 'merged', 'conflict', 'failed', 'already-present'];

export function isTerminal(state: ChangeState): boolean {
  return terminalChangeStates.includes(state);
}

export function releaseWorkflowId(product: string, release: string): string {
  return `culvert/${product}/${release}`;
}

export function taskQueueDefault(): string {
  return 'culvert';
}
