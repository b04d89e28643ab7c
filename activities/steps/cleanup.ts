/**
 * What a dead worker leaves behind in a data dir, cleared when a worker starts: checkouts in
 * `<dataDir>/work/`, pid files of steps that may still run (if the worker and its step supervisor
 * died together), and, from before checkouts were plain copies, stale worktree entries in the mirrors.
 *
 * Only what carries a dead owner's tag (procs.ts ownerTag) is removed, so another worker running on
 * the same data dir keeps its checkouts. Entries without a tag (such as checkouts made by versions
 * that used git worktrees) are left alone: whose they are cannot be told.
 */
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { removeTree } from '../git/mirror.ts';
import { git } from '../git/run.ts';
import { isAlive, parseOwnerTag, readPidRecord, recordOwnerAlive, stopRecordedStep } from './procs.ts';

export interface CleanupReport {
  /** Entries of `<dataDir>/work/` removed because their owner is dead. */
  removed: string[];
  /** Pid files removed, and of those, the ones whose step still ran and was killed. */
  pidFiles: string[];
  killed: string[];
  /** Mirrors in which `git worktree prune` ran. */
  pruned: string[];
  /** What could not be done; cleanup goes on past each. */
  errors: string[];
}

async function list(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export async function cleanStaleWork(dataDir: string): Promise<CleanupReport> {
  const report: CleanupReport = { removed: [], pidFiles: [], killed: [], pruned: [], errors: [] };
  const failed = (what: string, err: unknown): void => {
    report.errors.push(`${what}: ${(err as Error).message}`);
  };

  const work = join(dataDir, 'work');
  const entries = await list(work);
  // Steps first, so that no checkout is taken from under a step that still runs.
  for (const entry of entries.filter((e) => e.isFile() && e.name.endsWith('.pid'))) {
    const path = join(work, entry.name);
    try {
      const record = await readPidRecord(path);
      // A record being written is renamed into place whole, so an unreadable one is garbage.
      if (record !== null && recordOwnerAlive(record)) continue;
      const result = await stopRecordedStep(path);
      report.pidFiles.push(entry.name);
      if (result === 'killed') report.killed.push(entry.name);
    } catch (err) {
      failed(path, err);
    }
  }
  for (const entry of entries) {
    if (entry.name.endsWith('.pid')) continue;
    const owner = parseOwnerTag(entry.name);
    if (owner === null || isAlive(owner.pid, owner.start)) continue;
    const path = join(work, entry.name);
    try {
      await removeTree(path);
      report.removed.push(entry.name);
    } catch (err) {
      failed(path, err);
    }
  }

  // Worktrees are no longer made, but a checkout of an older version that died (or whose directory
  // was deleted) left its entry in the mirror; prune drops entries whose directory is gone.
  const mirrors = join(dataDir, 'mirrors');
  for (const entry of await list(mirrors)) {
    if (!entry.isDirectory() || !entry.name.endsWith('.git')) continue;
    const gitDir = join(mirrors, entry.name);
    if ((await list(join(gitDir, 'worktrees'))).length === 0) continue;
    try {
      await git(['worktree', 'prune'], { cwd: gitDir, env: { GIT_DIR: gitDir } });
      report.pruned.push(entry.name);
    } catch (err) {
      failed(gitDir, err);
    }
  }
  return report;
}
