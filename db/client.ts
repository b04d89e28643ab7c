import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, realpathSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import * as schema from './schema.ts';

export type Schema = typeof schema;
/** Both drivers' databases: repositories take this, never a concrete driver. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;

export interface Database {
  db: Db;
  kind: 'pglite' | 'postgres';
  migrate(): Promise<void>;
  ping(): Promise<boolean>;
  /**
   * Calls `onNotify` with the payload of every NOTIFY on `channel` (from any process on PostgreSQL; from
   * this one on PGlite); the returned function stops it.
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

const migrationsFolder = fileURLToPath(new URL('./migrations', import.meta.url));

export type DatabaseTarget = { url: string } | { dataDir: string } | { memory: true };

export async function openDatabase(target: DatabaseTarget): Promise<Database> {
  if ('url' in target) {
    // A database that went away is asked again soon (the driver's default backoff grows to 20 s and
    // holds every request of the pool meanwhile), and a connection that cannot be made fails in 5 s.
    const client = postgres(target.url, { max: 10, onnotice: () => {}, connect_timeout: 5, backoff: (attempt: number) => Math.min(0.05 * 2 ** attempt, 1) });
    const db = drizzlePostgres(client, { schema });
    return {
      db: db as unknown as Db,
      kind: 'postgres',
      migrate: () => migratePostgres(db, { migrationsFolder }),
      ping: () => ping(db as unknown as Db),
      // postgres.js keeps one connection for its listeners and listens again after reconnecting.
      listen: async (channel, onNotify) => {
        const { unlisten } = await client.listen(channel, onNotify);
        return unlisten;
      },
      close: () => client.end({ timeout: 5 }),
    };
  }
  let client: PGlite;
  let lock: DirLock | null = null;
  if ('dataDir' in target) {
    mkdirSync(target.dataDir, { recursive: true });
    lock = lockDataDir(target.dataDir);
    try {
      client = new PGlite(target.dataDir);
      await client.waitReady;
    } catch (err) {
      lock.release();
      throw err;
    }
  } else {
    client = new PGlite();
    await client.waitReady;
  }
  const db = drizzlePglite(client, { schema });
  return {
    db: db as unknown as Db,
    kind: 'pglite',
    migrate: () => migratePglite(db, { migrationsFolder }),
    ping: () => ping(db as unknown as Db),
    listen: async (channel, onNotify) => {
      const unlisten = await client.listen(channel, onNotify);
      return () => unlisten();
    },
    close: async () => {
      try {
        await client.close();
      } finally {
        lock?.release();
      }
    },
  };
}

// PGlite is one process's database: a second process on the same directory would open its own copy
// of the files and see different data. A lock file in the directory refuses it at open.

const lockFileName = 'culvert-pglite.lock';
/** Attempts at taking over stale lock files before giving up (other starters racing for the same directory). */
const lockAttempts = 5;

interface LockOwner {
  pid: number;
  hostname: string;
  startedAt: string;
}

/** Another process (or this one, already) has the PGlite directory open. */
export class DatabaseInUseError extends Error {
  override name = 'DatabaseInUseError';
  constructor(
    readonly dataDir: string,
    readonly owner: LockOwner,
    readonly lockFile: string,
    openHere: boolean,
  ) {
    const where = owner.hostname === hostname() ? '' : ` on ${owner.hostname}`;
    super(
      `PGlite at ${dataDir} is already open in process ${owner.pid}${where} (started ${owner.startedAt}): PGlite serves one process. ` +
        'To run workers and APIs as separate processes, set DATABASE_URL to a PostgreSQL database.' +
        (openHere ? '' : ` If process ${owner.pid}${where} is not running Culvert, delete ${lockFile}.`),
    );
  }
}

interface DirLock {
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void;
}

/** Lock files this process holds, with their owners: to tell "opened twice here" from a leftover of an earlier process with our pid. */
const heldLocks = new Map<string, LockOwner>();

function lockDataDir(dataDir: string): DirLock {
  const dir = realpathSync(dataDir);
  const file = join(dir, lockFileName);
  const ours = heldLocks.get(file);
  if (ours) throw new DatabaseInUseError(dir, ours, file, true);
  const owner: LockOwner = { pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString() };
  const content = `${JSON.stringify(owner)}\n`;
  for (let attempt = 0; attempt < lockAttempts; attempt++) {
    if (createExclusive(file, content)) {
      heldLocks.set(file, owner);
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        heldLocks.delete(file);
        process.off('exit', releaseOnExit);
        if (readIfExists(file) === content) unlinkSync(file);
      };
      // Best effort: a process that exits without close() leaves no lock behind (a killed one does: it is stale).
      const releaseOnExit = (): void => {
        try {
          release();
        } catch {
          // Exiting anyway; the next open finds the pid dead.
        }
      };
      process.once('exit', releaseOnExit);
      return { release };
    }
    const raw = readIfExists(file);
    if (raw === null) continue; // Released between our create and read: try again.
    const found = parseOwner(raw);
    if (found && !isStale(found)) throw new DatabaseInUseError(dir, found, file, false);
    removeStale(file, raw);
  }
  throw new Error(`Could not take the PGlite lock ${file} in ${lockAttempts} attempts: other processes keep taking it.`);
}

/**
 * Creates `file` holding `content`, or returns false if it exists. Written aside and hard-linked into place,
 * so no other process ever reads it half-written (and takes an empty lock file for a stale one).
 */
function createExclusive(file: string, content: string): boolean {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temp, content, { flag: 'wx', mode: 0o600 });
  try {
    linkSync(temp, file);
    return true;
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return false;
    if (!['EPERM', 'ENOTSUP', 'ENOSYS'].includes(errorCode(err) ?? '')) throw err;
  } finally {
    unlinkSync(temp);
  }
  // A file system without hard links: an exclusive create, then the content.
  try {
    writeFileSync(file, content, { flag: 'wx', mode: 0o600 });
    return true;
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return false;
    throw err;
  }
}

function readIfExists(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return null;
    throw err;
  }
}

/** The lock's owner, or null for an empty or garbage file. */
function parseOwner(raw: string): LockOwner | null {
  try {
    const v = JSON.parse(raw) as Partial<LockOwner> | null;
    if (v && Number.isSafeInteger(v.pid) && (v.pid ?? 0) > 0 && typeof v.hostname === 'string' && typeof v.startedAt === 'string') {
      return { pid: v.pid as number, hostname: v.hostname, startedAt: v.startedAt };
    }
  } catch {
    // Not JSON.
  }
  return null;
}

/**
 * Whether the owner is gone. Only a process of this host can be checked; another host's lock counts as held.
 * Our own pid counts as held too: a leftover of an earlier process that had our pid (a container's pid 1) cannot
 * be told from another container sharing the directory, so the message names the file to delete instead.
 */
function isStale(owner: LockOwner): boolean {
  if (owner.hostname !== hostname() || owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (err) {
    return errorCode(err) === 'ESRCH';
  }
}

/**
 * Removes the stale lock file that read `raw`. Moved aside first and checked, so that a fresh lock another
 * starter put there in the meantime is put back rather than deleted.
 */
function removeStale(file: string, raw: string): void {
  const aside = `${file}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    renameSync(file, aside);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return;
    throw err;
  }
  try {
    if (readFileSync(aside, 'utf8') !== raw) linkSync(aside, file);
  } catch (err) {
    if (errorCode(err) !== 'EEXIST') throw err;
  } finally {
    unlinkSync(aside);
  }
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

async function ping(db: Db): Promise<boolean> {
  try {
    await db.execute(sql`select 1`);
    return true;
  } catch {
    return false;
  }
}
