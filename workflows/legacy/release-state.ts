import type { DeployJob } from '../../domain/deploy.ts';
import type { ChangeKind, ChangeState, CheckOutcome, ProductConfig, ReleaseState } from '../../domain/types.ts';

export type { DeployJob } from '../../domain/deploy.ts';
import type { Gate } from './gate.ts';

// What a release workflow carries across continue-as-new. Everything needed to go on without
// losing or repeating a message: open work, and the ids already seen (dedupe).

export interface ChangeMem {
  id: string;
  seq: number;
  kind: ChangeKind;
  /** merge: the branch and its head when requested. */
  branch: string | null;
  sourceSha: string | null;
  /** pick: full SHAs in trunk order. */
  commits: string[];
  /** pick/revert: position in trunk history; approved picks apply in this order. */
  trunkOrder: number;
  dependsOn: string[];
  revertOf: string | null;
  reason: string | null;
  severity: string | null;
  requester: string;
  state: ChangeState;
  check: CheckOutcome;
  votes: { by: string; decision: 'approve' | 'reject' }[];
  decidedBy: string | null;
}


export interface CarriedState {
  product: ProductConfig;
  name: string;
  branch: string;
  production: boolean;
  cutFrom: string;
  createdBy: string;
  state: ReleaseState;
  headSha: string;
  seq: number;
  runs: number;
  open: Record<string, ChangeMem>;
  /** Terminal changes, most recent last; bounded so the carried payload stays small. */
  done: [string, ChangeState][];
  checkQueue: string[];
  mergeQueue: string[];
  deployQueue: DeployJob[];
  deploymentsSeen: string[];
  /** Environments whose release.updated deploy is owed after the current batch of merges. */
  updateDeploysOwed: string[];
  /** binary flow: release candidates built so far, and whether the head needs a new one. */
  candidates: number;
  candidateOwed: boolean;
  /** binary flow: where a frozen release is on its way to publishing. */
  stage: 'changes' | 'final' | 'signoff' | 'publish' | 'done' | 'stopped';
  frozenBy: string | null;
  gate: Gate | null;
}

export const doneLimit = 5000;
export const deploymentsSeenLimit = 2000;

export function rememberDone(st: CarriedState, id: string, state: ChangeState): void {
  st.done.push([id, state]);
  if (st.done.length > doneLimit) st.done.splice(0, st.done.length - doneLimit);
}

export function doneState(st: CarriedState, id: string): ChangeState | undefined {
  for (let i = st.done.length - 1; i >= 0; i--) {
    const entry = st.done[i];
    if (entry && entry[0] === id) return entry[1];
  }
  return undefined;
}
