// What Culvert's workflows take and answer: the payload types of every Update, Signal and Query.
import type { Actor, ChangeKind, ChangeState, CheckOutcome, ProductConfig, ReleaseState } from './types.ts';

export interface ReleaseView {
  product: string;
  name: string;
  flow: ProductConfig['flow'];
  branch: string;
  state: ReleaseState;
  production: boolean;
  headSha: string;
  cutFrom: string;
}

export interface ChangeView {
  id: string;
  seq: number;
  kind: ChangeKind;
  state: ChangeState;
  check: CheckOutcome;
  branch: string | null;
  sourceSha: string | null;
  commits: string[];
  requester: string;
}

export type RequestChangeInput =
  | { id: string; kind: 'merge'; branch: string; actor: Actor }
  | { id: string; kind: 'pick'; commits: string[]; reason: string; severity: string; dependsOn?: string[]; actor: Actor }
  | { id: string; kind: 'revert'; revertOf: string; reason: string; actor: Actor };

export type Decision = 'approve' | 'reject';

export interface DecideInput {
  decisions: { id: string; decision: Decision; comment?: string }[];
  actor: Actor;
}

export type DecisionResult =
  | { id: string; ok: true; state: ChangeState }
  | { id: string; ok: false; code: string; message: string };

export interface DeployInput {
  deploymentId: string;
  environment: string;
  /** A rollback: an earlier candidate's commit of this release; default the head. */
  commitSha?: string;
  candidateId?: string;
  actor: Actor;
}

export interface DeployAccepted {
  deploymentId: string;
  environment: string;
  commitSha: string;
  state: 'pending';
}

export interface ReleaseSummary extends ReleaseView {
  pendingChanges: ChangeView[];
  mergeQueue: string[];
  runsSoFar: number;
}

export interface VoteInput { gateId: string; decision: 'approve' | 'reject'; comment?: string; actor: Actor }
