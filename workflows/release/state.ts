// What a release workflow carries across continue-as-new, besides its Book: all of it small.
import type { Change, ChangeWrite } from '../../domain/changes.ts';
import type { DeployJob } from '../../domain/deploy.ts';
import type { Gate } from '../../domain/gate.ts';
import type { Blocked, ReleaseWrite } from '../../domain/records.ts';
import type { Actor, ProductConfig } from '../../domain/types.ts';
import type { BookState } from './book.ts';

/** A child workflow this release started and waits to hear from (by jobDoneSignal). */
export type JobRef =
  | { kind: 'check'; changeId: string }
  | { kind: 'build'; candidateId: string; final: boolean }
  | { kind: 'deployment'; deploymentId: string }
  | { kind: 'gate'; gateId: string };

/** The binary flow's way from changes to a published release. */
export interface BinaryState {
  stage: 'changes' | 'final' | 'signoff' | 'publish' | 'done' | 'stopped';
  candidates: number;
  /** The head has changes no candidate was built from yet. */
  candidateOwed: boolean;
  /** Why the way stopped (a failed final build, a rejected sign-off, a failed publish). */
  stopped: string | null;
  /** Publishing deployments started, by id, and how each ended. */
  publishing: Record<string, 'running' | 'succeeded' | 'failed' | 'refused'>;
  gateId: string | null;
}

export interface Carried {
  book: BookState;
  /** Writes the database did not have yet when the last run ended. */
  writes: ChangeWrite[];
  /** Changes a running check job will report on (recorded already, but its report needs them in memory). */
  held?: Change[];
  release: ReleaseWrite;
  jobs: Record<string, JobRef>;
  deployQueue: DeployJob[];
  /** Environments whose release.updated deploy is owed after the current work. */
  deploysOwed: string[];
  blocked: Record<string, Blocked>;
  binary: BinaryState | null;
  /** A sign-off gate a legacy release had open: the new run opens it as a gate workflow, votes kept. */
  legacyGate?: Gate;
  /** Heads whose moves are still to be traced, oldest first (runs that trace after the outcome). */
  traceOwed?: string[];
}

export interface ReleaseInput {
  product: ProductConfig;
  name: string;
  from: string | null;
  production: boolean;
  createdBy: Actor;
  carried?: Carried;
}

export function newBinaryState(): BinaryState {
  return { stage: 'changes', candidates: 0, candidateOwed: true, stopped: null, publishing: {}, gateId: null };
}
