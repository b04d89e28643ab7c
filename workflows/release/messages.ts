// Messages of the release workflows (pullRequestRelease, stableRelease, binaryRelease) and of the
// child workflows that report back to them. The API imports these definitions.
//
// Every handler changes the release's state and answers at once, with the writes it made, so the API
// stores them before it answers its caller; the workflow's recorder writes them too (whichever comes
// second finds the row at that revision already). Only filing waits, on a bounded git inspection.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ChangeWrite } from '../../domain/changes.ts';
import type { DeployJob } from '../../domain/deploy.ts';
import type { Blocked } from '../../domain/records.ts';
import type { Actor, ProductConfig } from '../../domain/types.ts';
import type { Decision, DecisionResult, FileRequest, Known } from './book.ts';

export type { Decision, DecisionResult, FileRequest, Known } from './book.ts';

export interface ReleaseView {
  product: string;
  name: string;
  flow: ProductConfig['flow'];
  branch: string;
  state: 'open' | 'frozen' | 'closed';
  production: boolean;
  headSha: string;
  cutFrom: string;
}

export type { Blocked } from '../../domain/records.ts';

export type FileResult =
  /** `write` is what the API stores at once; absent when the answer would be too large (the recorder writes it). */
  | { id: string; ok: true; write?: ChangeWrite; filedBefore: boolean }
  | { id: string; ok: false; code: string; message: string; details?: Record<string, unknown> };

export interface FileInput { requests: FileRequest[]; actor: Actor; known?: Known }
export interface DecideInput { decisions: Decision[]; actor: Actor; known?: Known }

export interface DeployClick {
  deploymentId: string;
  environment: string;
  /** A rollback: an earlier candidate's commit of this release; default the head. */
  commitSha?: string;
  candidateId?: string;
  actor: Actor;
}

export interface ReleaseSummary extends ReleaseView {
  epoch: number;
  seq: number;
  rev: number;
  blocked: Blocked[];
  approved: number;
  checksRunning: number;
  /** Child workflows (checks, builds, deployments, gates) not yet reported back. */
  jobs: number;
  outbox: number;
  stage: string | null;
}

export const cutUpdate = defineUpdate<ReleaseView, []>('culvert.cut');
export const fileUpdate = defineUpdate<{ results: FileResult[] }, [FileInput]>('culvert.file');
export const decideUpdate = defineUpdate<{ results: DecisionResult[]; writes: ChangeWrite[] }, [DecideInput]>('culvert.decide2');
export const retryUpdate = defineUpdate<{ write: ChangeWrite }, [{ changeId: string; actor: Actor; known?: Known }]>('culvert.retry');
export const retryStageUpdate = defineUpdate<ReleaseView, [{ actor: Actor }]>('culvert.retryStage');
export const deployUpdate = defineUpdate<{ job: DeployJob }, [DeployClick]>('culvert.deploy2');
export const freezeUpdate = defineUpdate<ReleaseView, [{ actor: Actor }]>('culvert.freeze2');
export const closeUpdate = defineUpdate<ReleaseView, [{ actor: Actor }]>('culvert.close2');
export const summaryQuery = defineQuery<ReleaseSummary>('culvert.summary2');

/** Closing by automation (a schedule that cut the next release). */
export const scheduledCloseSignal = defineSignal<[]>('culvert.scheduledClose');
export const productUpdatedSignal = defineSignal<[ProductConfig]>('culvert.productUpdated');

// ---------------------------------------------------------------------- children reporting back

export type JobResult =
  | { kind: 'check'; changeId: string; outcome: 'passed' | 'failed' | 'conflict'; runId: string | null; conflicts?: string[]; failure?: string }
  | { kind: 'build'; candidateId: string; final: boolean; state: 'built' | 'failed'; failure: string | null }
  | { kind: 'deployment'; deploymentId: string; state: 'succeeded' | 'failed' | 'refused' }
  | { kind: 'gate'; gateId: string; state: 'approved' | 'rejected' | 'expired' };

/** A child workflow (check, build, deployment, gate) ended; `jobId` is its workflow id. */
export const jobDoneSignal = defineSignal<[{ jobId: string; result: JobResult }]>('culvert.jobDone');
/** A child workflow waits on a transient fault (null: no longer). */
export const jobBlockedSignal = defineSignal<[{ jobId: string; blocked: Blocked | null }]>('culvert.jobBlocked');
