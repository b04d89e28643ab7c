// Talking to a release workflow from the API: its reading of the database goes with every message
// (see workflows/release/book.ts, Known), is read again when the workflow finds it stale, and a release
// still on the legacy workflow type is moved to today's first.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { readKnown, writeChanges } from '../db/repos/change-writes.ts';
import { getRelease } from '../db/repos/releases.ts';
import type { Release } from '../db/schema.ts';
import type { ChangeWrite } from '../domain/changes.ts';
import { migrateSignal } from '../workflows/legacy/migrate.ts';
import type { Known } from '../workflows/release/book.ts';
import type { AppDeps } from './context.ts';
import { ApiError } from './errors.ts';

/** How long the API keeps re-reading for a release that is between runs (it takes a moment). */
const staleForMs = 30_000;
const migrateWaitMs = 20_000;

function isStale(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof ApplicationFailure && e.type === 'stale_snapshot') return true;
    if (!(e instanceof WorkflowUpdateFailedError) && !(e instanceof ApplicationFailure)) break;
  }
  return false;
}

/** Waits until a legacy release runs today's workflow type (it moves at once when asked). */
async function current(deps: AppDeps, rel: Release): Promise<Release> {
  if (rel.engine >= 2 || rel.state === 'closed') return rel;
  const handle = deps.temporal.client.workflow.getHandle(rel.workflowId);
  await handle.signal(migrateSignal).catch(() => undefined);
  const deadline = Date.now() + migrateWaitMs;
  for (let delay = 20; Date.now() < deadline; delay = Math.min(delay * 2, 500)) {
    const now = await getRelease(deps.db, rel.product, rel.name);
    if (now && (now.engine >= 2 || now.state === 'closed')) return now;
    await sleep(delay);
  }
  throw new ApiError('unavailable', `release ${rel.product}/${rel.name} is moving to the current workflow; nothing was done, try again`, undefined, { retryAfterSeconds: 2 });
}

/**
 * Sends one message to the release workflow with the database's reading of the changes it names;
 * a reading from an earlier run of the release is refused by the workflow, read again and re-sent.
 */
export async function withRelease<T>(deps: AppDeps, rel: Release, ids: string[], send: (handle: WorkflowHandle, known: Known) => Promise<T>): Promise<T> {
  const release = await current(deps, rel);
  const handle = deps.temporal.client.workflow.getHandle(release.workflowId);
  const deadline = Date.now() + staleForMs;
  for (let delay = 10; ; delay = Math.min(delay * 2, 250)) {
    const read = await readKnown(deps.db, release.product, release.name, ids);
    if (!read) throw new ApiError('release_not_found', `no release ${release.product}/${release.name}`);
    try {
      return await send(handle, { epoch: read.epoch, changes: read.changes });
    } catch (err) {
      if (!isStale(err)) throw err;
      if (Date.now() > deadline) {
        throw new ApiError('unavailable', `release ${release.product}/${release.name} is busy starting a new run; nothing was done, try again`, undefined, { retryAfterSeconds: 1 });
      }
      await sleep(delay);
    }
  }
}

/** Stores what an Update answered (the workflow records it as well; the later of the two changes nothing). */
export async function storeWrites(deps: AppDeps, rel: Release, writes: ChangeWrite[]): Promise<void> {
  await writeChanges(deps.db, rel.product, rel.name, writes);
}

/**
 * An Update id for this exact input: the same request sent twice (two retries of one HTTP call, or two
 * calls with one Idempotency-Key) shares it and Temporal runs it once, while a request re-read after a
 * stale reading gets a new one. One id must never carry two different inputs: the server records the
 * first input it was given under that id even when the workflow validated a later one (seen under load:
 * a history whose accepted Update held a reading its workflow had refused, which then did not replay).
 */
export function updateIdFor(prefix: string, input: unknown): string {
  return `${prefix}-${createHash('sha256').update(JSON.stringify(input)).digest('hex').slice(0, 24)}`;
}

/** Adds what the caller needs to look its request up (its change or deployment id) to an outage's answer. */
export async function naming<T>(ids: Record<string, string>, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ApiError && err.code === 'unavailable') {
      const details = typeof err.details === 'object' && err.details !== null ? err.details : {};
      throw new ApiError(err.code, err.message, { ...details, ...ids }, { cause: err, ...(err.retryAfterSeconds !== undefined ? { retryAfterSeconds: err.retryAfterSeconds } : {}) });
    }
    throw err;
  }
}
