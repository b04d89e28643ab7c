/**
 * Which processes are alive, told apart from later processes that got the same pid (pid_max can be
 * as low as 32768, so pids come round again within hours on a busy host): a process is named by its
 * pid and its start time in clock ticks since boot (field 22 of /proc/<pid>/stat), and records carry
 * the boot id. Without /proc (not Linux) only the pid is checked.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';

export interface ProcStat {
  state: string;
  pgid: number;
  sid: number;
  /** Start time in clock ticks since boot. */
  start: number;
}

/** /proc/<pid>/stat, or null if there is no such process (or no /proc). */
export function procStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may itself contain spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', pgid: Number(fields[2]), sid: Number(fields[3]), start: Number(fields[19]) };
}

let boot: string | null | undefined;

export function bootId(): string | null {
  if (boot === undefined) {
    try {
      boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      boot = null;
    }
  }
  return boot;
}

function hasProc(): boolean {
  return procStat(process.pid) !== null;
}

/** True if the process exists and is not a zombie; with `start`, only if it is that very process. */
export function isAlive(pid: number, start: number | null): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  const stat = procStat(pid);
  if (stat) return stat.state !== 'Z' && (start === null || start === 0 || stat.start === start);
  if (hasProc()) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Live (not zombie) members of process group `pgid`; without /proc, whether the group exists at all. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (!hasProc()) return true;
  return groupMembers(pgid).length > 0;
}

/** Pids of the live members of a process group, found by scanning /proc. */
export function groupMembers(pgid: number): number[] {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  const members: number[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(Number(name));
    if (stat && stat.pgid === pgid && stat.state !== 'Z') members.push(Number(name));
  }
  return members;
}

let ownTag: string | undefined;

/**
 * `@<pid>-<start ticks>` of this process: appended to the names of what it leaves in a shared
 * directory, so that cleanup can tell a live owner's files from a dead one's.
 */
export function ownerTag(): string {
  ownTag ??= `@${process.pid}-${procStat(process.pid)?.start ?? 0}`;
  return ownTag;
}

const TAG = /@(\d+)-(\d+)(?:\.[A-Za-z0-9]+)?$/;

/** The owner a name carries (see ownerTag), or null for a name without one. */
export function parseOwnerTag(name: string): { pid: number; start: number } | null {
  const m = TAG.exec(name);
  return m ? { pid: Number(m[1]), start: Number(m[2]) } : null;
}

/** What the step supervisor writes to a step's pid file while the step runs. */
export interface StepPidRecord {
  /** The step's main process, also its process group (and session) id. */
  pgid: number;
  /** Its start ticks, or null if unknown. */
  start: number | null;
  boot: string | null;
  /** The worker process that asked for the step, and its start ticks. */
  worker: number;
  workerStart: number | null;
  supervisor: number;
}

export async function readPidRecord(file: string): Promise<StepPidRecord | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const r = JSON.parse(text) as Partial<StepPidRecord>;
    if (typeof r.pgid !== 'number' || !Number.isSafeInteger(r.pgid) || r.pgid <= 1) return null;
    return {
      pgid: r.pgid, start: typeof r.start === 'number' ? r.start : null, boot: typeof r.boot === 'string' ? r.boot : null,
      worker: typeof r.worker === 'number' ? r.worker : 0, workerStart: typeof r.workerStart === 'number' ? r.workerStart : null,
      supervisor: typeof r.supervisor === 'number' ? r.supervisor : 0,
    };
  } catch {
    return null;
  }
}

/** True if the record's worker process is still alive (on this boot). */
export function recordOwnerAlive(r: StepPidRecord): boolean {
  if (r.boot !== null && bootId() !== null && r.boot !== bootId()) return false;
  return isAlive(r.worker, r.workerStart);
}

/**
 * True if process group `r.pgid` is still the recorded step's. Its main process is checked by start
 * time; once that is gone, members of a group with that id whose session is the step's too are taken
 * for the step's leftovers (a later, unrelated group of the same id needs the pid to have come round
 * and its new owner to have made itself a session leader and died before its children).
 */
function stillTheStep(r: StepPidRecord): boolean {
  if (r.boot !== null && bootId() !== null && r.boot !== bootId()) return false;
  const leader = procStat(r.pgid);
  if (leader && leader.state !== 'Z') return r.start === null || leader.start === r.start;
  if (!hasProc()) return groupAlive(r.pgid);
  return groupMembers(r.pgid).some((pid) => {
    const stat = procStat(pid);
    return stat !== null && stat.sid === r.pgid && (r.start === null || stat.start >= r.start);
  });
}

export type StopResult = 'none' | 'gone' | 'killed';

/**
 * Kills the step recorded in `file` if it still runs (SIGKILL to its whole process group), waits
 * until no member is left (zombies aside) or `timeoutMs` passes, and removes the file.
 * 'none': no record; 'gone': the step had ended already; 'killed': it was running and is now dead.
 */
export async function stopRecordedStep(file: string, timeoutMs = 10_000): Promise<StopResult> {
  const record = await readPidRecord(file);
  if (record === null) {
    await rm(file, { force: true });
    return 'none';
  }
  if (!stillTheStep(record)) {
    await rm(file, { force: true });
    return 'gone';
  }
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  // Signalled only while a live member holds the group id, so it cannot have passed to anyone else.
  while (groupAlive(record.pgid)) {
    try {
      process.kill(-record.pgid, 'SIGKILL');
    } catch {
      // ESRCH: gone meanwhile.
    }
    if (Date.now() > deadline) throw new Error(`process group ${record.pgid} of ${file} survives SIGKILL`);
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 100);
  }
  await rm(file, { force: true });
  return 'killed';
}
