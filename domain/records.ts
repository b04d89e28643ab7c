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

/**
 * Splits `items` into runs of at most `maxItems` whose `size` adds up to at most `maxBytes` (an item
 * larger than that goes alone). Temporal refuses payloads over 2 MiB, and a workflow task whose
 * commands carry one fails for good: every message, answer and activity input is kept well below.
 */
export function chunkBySize<T>(items: readonly T[], size: (item: T) => number, maxBytes: number, maxItems = Infinity): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const n = size(item);
    if (current.length > 0 && (bytes + n > maxBytes || current.length >= maxItems)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += n;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** The size of a value as Temporal's JSON payload converter writes it (UTF-16 length: close enough, and never less). */
export function jsonSize(value: unknown): number {
  return JSON.stringify(value)?.length ?? 0;
}
