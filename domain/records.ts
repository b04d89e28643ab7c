// What a release workflow writes to the database besides its change requests, in the same transaction.
import type { DeployJob } from './deploy.ts';
import type { ChangeState, ReleaseState } from './types.ts';

/** Something a release waits on while a transient fault lasts (an unreachable remote, database, worker). */
export interface Blocked {
  /** What is held up: `merge`, `picks`, `record`, `check #12`, `build 3.11 RC2`, ... */
  what: string;
  reason: string;
  since: string;
  attempts: number;
}

/**
 * Ends every request of the release still in one of `from` (freeze, close) at revision `rev`, but
 * those in `except` (a unit of work holds them) and those written at a later revision.
 */
export interface BulkWrite {
  rev: number;
  at: string;
  from: ChangeState[];
  to: ChangeState;
  note: string;
  except: string[];
}

export interface ReleaseWrite {
  state?: ReleaseState;
  /** The run's epoch (see the release workflows); also marks the release as run by the current workflow types. */
  epoch?: number;
  /** The whole list, whenever it changed. */
  blocked?: Blocked[];
  bulk: BulkWrite[];
  /** Deployments the release queued (pending) or gave up before they started (failed, with why). */
  deployments: { job: DeployJob; state: 'pending' | 'failed'; failure?: string }[];
  /** Once, when a release moves from the legacy workflow: its waiting checks are queued again. */
  requeueChecks?: boolean;
}

export function emptyReleaseWrite(): ReleaseWrite {
  return { bulk: [], deployments: [] };
}

export function isEmptyReleaseWrite(w: ReleaseWrite): boolean {
  return w.state === undefined && w.epoch === undefined && w.blocked === undefined && w.bulk.length === 0 && w.deployments.length === 0 && !w.requeueChecks;
}
