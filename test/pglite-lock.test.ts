import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseInUseError, openDatabase } from '../db/client.ts';
import type { Database } from '../db/client.ts';

// PGlite serves one process: a second process (or a second open in this one) on the same directory is refused,
// through a lock file in the directory; a lock whose process is gone is taken over. Real processes, real files.

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const openScript = fileURLToPath(new URL('./helpers/open-pglite.ts', import.meta.url));
const lockName = 'culvert-pglite.lock';

let root: string;
let n = 0;
/** A fresh directory under this file's temp root. */
function newDir(): string {
  const dir = join(root, `d${++n}`);
  mkdirSync(dir);
  return dir;
}

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs test/helpers/open-pglite.ts on `dir` in a child process; resolves when it has exited. */
function openInChild(dir: string, mode = 'read'): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', openScript, dir, mode], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The pid of a process that has exited. */
function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('true', { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => (child.pid === undefined ? reject(new Error('true did not start')) : resolve(child.pid)));
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

async function probeRows(database: Database): Promise<string[]> {
  const result = (await database.db.execute(sql`select v from lock_probe order by v`)) as unknown as { rows: { v: string }[] };
  return result.rows.map((r) => r.v);
}

async function openWithProbe(dir: string, ...values: string[]): Promise<Database> {
  const database = await openDatabase({ dataDir: dir });
  await database.db.execute(sql`create table lock_probe (v text not null)`);
  for (const v of values) await database.db.execute(sql`insert into lock_probe (v) values (${v})`);
  return database;
}

function lockOf(dir: string): unknown {
  return JSON.parse(readFileSync(join(dir, lockName), 'utf8'));
}

beforeAll(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'culvert-pglite-lock-')));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('a PGlite directory is one process\'s', () => {
  it('refuses a second process while this one has it open, and changes nothing', async () => {
    const dir = newDir();
    const database = await openWithProbe(dir, 'parent');
    try {
      expect(lockOf(dir)).toMatchObject({ pid: process.pid, hostname: hostname() });

      const child = await openInChild(dir);
      expect(child.code).toBe(3);
      expect(child.stderr).toContain('DATABASE_URL');
      expect(child.stderr).toContain(`already open in process ${process.pid} `);
      expect(child.stderr).toContain(dir);
      expect(child.stdout).toBe('');

      // The refused process left our lock and our data alone.
      expect(lockOf(dir)).toMatchObject({ pid: process.pid });
      expect(await probeRows(database)).toEqual(['parent']);
      await database.db.execute(sql`insert into lock_probe (v) values ('after')`);
      expect(await probeRows(database)).toEqual(['after', 'parent']);
    } finally {
      await database.close();
    }
  });

  it('lets another process open it after close, with this one\'s data', async () => {
    const dir = newDir();
    const database = await openWithProbe(dir, 'parent');
    await database.close();
    expect(existsSync(join(dir, lockName))).toBe(false);

    const child = await openInChild(dir);
    expect(child.stderr).not.toContain('DATABASE_URL');
    expect(child.code).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual([{ v: 'parent' }]);
    expect(existsSync(join(dir, lockName))).toBe(false);
  });

  it('releases the lock when a process exits without closing', async () => {
    const dir = newDir();
    const child = await openInChild(dir, 'exit-without-close');
    expect(child.code).toBe(0);
    expect(existsSync(join(dir, 'PG_VERSION'))).toBe(true);
    expect(existsSync(join(dir, lockName))).toBe(false);
  });

  it('takes over a lock whose process has exited', async () => {
    const dir = newDir();
    const pid = await deadPid();
    expect(isAlive(pid)).toBe(false);
    writeFileSync(join(dir, lockName), JSON.stringify({ pid, hostname: hostname(), startedAt: '2020-01-01T00:00:00.000Z' }));

    const database = await openDatabase({ dataDir: dir });
    try {
      expect(lockOf(dir)).toMatchObject({ pid: process.pid });
      expect(await database.ping()).toBe(true);
    } finally {
      await database.close();
    }
    expect(existsSync(join(dir, lockName))).toBe(false);
  });

  it('takes over a garbage lock file', async () => {
    const dir = newDir();
    writeFileSync(join(dir, lockName), '');
    const database = await openDatabase({ dataDir: dir });
    try {
      expect(lockOf(dir)).toMatchObject({ pid: process.pid });
    } finally {
      await database.close();
    }
  });

  it('refuses a lock it cannot check: another host\'s, or our own pid not opened here, naming the file to delete', async () => {
    const dir = newDir();
    const pid = await deadPid();
    const lock = join(dir, lockName);
    const foreign = JSON.stringify({ pid, hostname: `not-${hostname()}`, startedAt: '2020-01-01T00:00:00.000Z' });
    writeFileSync(lock, foreign);
    const refusal = await openDatabase({ dataDir: dir }).then(() => null, (err: unknown) => err);
    expect(refusal).toBeInstanceOf(DatabaseInUseError);
    expect((refusal as Error).message).toContain(`already open in process ${pid} on not-${hostname()}`);
    expect((refusal as Error).message).toContain(`delete ${lock}`);
    expect(readFileSync(lock, 'utf8')).toBe(foreign);

    const mine = JSON.stringify({ pid: process.pid, hostname: hostname(), startedAt: '2020-01-01T00:00:00.000Z' });
    writeFileSync(lock, mine);
    const again = await openDatabase({ dataDir: dir }).then(() => null, (err: unknown) => err);
    expect(again).toBeInstanceOf(DatabaseInUseError);
    expect((again as Error).message).toContain(`delete ${lock}`);
    expect(readFileSync(lock, 'utf8')).toBe(mine);
    expect(existsSync(join(dir, 'PG_VERSION'))).toBe(false);
  });

  it('refuses a second open in this process while the first is open', async () => {
    const dir = newDir();
    const first = await openWithProbe(dir, 'first');
    try {
      const refusal = await openDatabase({ dataDir: dir }).then(() => null, (err: unknown) => err);
      expect(refusal).toBeInstanceOf(DatabaseInUseError);
      expect((refusal as Error).message).toContain(`already open in process ${process.pid} `);
      expect((refusal as Error).message).toContain('DATABASE_URL');
      expect((refusal as Error).message).not.toContain('delete');
      expect(await probeRows(first)).toEqual(['first']);
      expect(lockOf(dir)).toMatchObject({ pid: process.pid });
    } finally {
      await first.close();
    }
    const reopened = await openDatabase({ dataDir: dir });
    try {
      expect(await probeRows(reopened)).toEqual(['first']);
    } finally {
      await reopened.close();
    }
  });

  it('releases the lock when PGlite fails to open', async () => {
    const dir = newDir();
    writeFileSync(join(dir, 'PG_VERSION'), 'not a version\n');
    for (let i = 0; i < 2; i++) {
      const failure = await openDatabase({ dataDir: dir }).then(() => null, (err: unknown) => err);
      expect(failure).toBeInstanceOf(Error);
      expect(failure).not.toBeInstanceOf(DatabaseInUseError);
      expect(existsSync(join(dir, lockName))).toBe(false);
    }
  });

  it('leaves in-memory databases alone: two at once', async () => {
    const a = await openDatabase({ memory: true });
    const b = await openDatabase({ memory: true });
    try {
      await a.db.execute(sql`create table lock_probe (v text not null)`);
      await a.db.execute(sql`insert into lock_probe (v) values ('a')`);
      await b.db.execute(sql`create table lock_probe (v text not null)`);
      expect(await probeRows(a)).toEqual(['a']);
      expect(await probeRows(b)).toEqual([]);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
