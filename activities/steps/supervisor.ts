/**
 * Starts steps through the step supervisor (supervisor-child.mjs): one small Node process per worker
 * process, started on first use, that spawns each step in a process group of its own and kills every
 * such group when the worker dies, SIGKILL included (it watches a pipe only the worker holds open).
 *
 * One supervisor for all of a worker's steps rather than one per step: a Node process takes 40 ms or
 * more to start (well over 100 ms on a loaded host) and tens of MB of memory, against a step start of
 * about 5 ms; this way that cost is paid once, and steps are forked from a small process instead of
 * from the worker (which forks slowly at its size, see git/helper.ts).
 *
 * If the supervisor itself dies, this side kills the process groups of the steps it had started and
 * reports them as lost; the next step starts a new supervisor.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD_SCRIPT = fileURLToPath(new URL('./supervisor-child.mjs', import.meta.url));

// It holds a few small objects per running step.
const CHILD_NODE_FLAGS = ['--max-old-space-size=32', '--max-semi-space-size=1'];

export interface SupervisedRequest {
  argv: string[];
  /** Absolute. */
  cwd: string;
  /** The step's whole environment. */
  env: Record<string, string>;
  /** Absolute; the supervisor opens it for appending. */
  logPath: string;
  /** Absolute; written while the step runs (see procs.ts StepPidRecord). */
  pidFile?: string;
  /** The unprivileged user and group the step runs as (the supervisor runs as root then). */
  uid?: number;
  gid?: number;
}

export type SupervisedEnding =
  | { kind: 'exit'; code: number | null; signal: NodeJS.Signals | null }
  /** The step never started (the program is missing, ...). */
  | { kind: 'error'; code: string | null; message: string }
  /** The supervisor died or could not be started; the step, if it had started, was killed. */
  | { kind: 'lost'; message: string };

export interface SupervisedStep {
  readonly ended: Promise<SupervisedEnding>;
  /** Signals the step's whole process group; does nothing once it has ended. */
  signal(sig: 'SIGTERM' | 'SIGKILL'): void;
}

type FromSupervisor =
  | { t: 'started'; id: number; pid: number }
  | { t: 'error'; id: number; code: string | null; message: string }
  | { t: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null };

interface Job {
  id: number;
  pid: number | null;
  settled: boolean;
  resolve(ending: SupervisedEnding): void;
}

interface Supervisor {
  child: ChildProcess;
  jobs: Map<number, Job>;
  gone: boolean;
  buffered: string;
}

let current: Supervisor | null = null;
let nextId = 1;

/** Pid of the running supervisor, or null; for tests. */
export function supervisorPid(): number | null {
  return current && !current.gone ? (current.child.pid ?? null) : null;
}

/** Starts the supervisor ahead of the first step (which would otherwise wait for it); never throws. */
export function startStepSupervisor(): void {
  if (current && !current.gone) return;
  try {
    start();
  } catch {
    // The first step will try again, and report why it could not.
  }
}

export function superviseStep(request: SupervisedRequest): SupervisedStep {
  let resolve!: (ending: SupervisedEnding) => void;
  const ended = new Promise<SupervisedEnding>((r) => {
    resolve = r;
  });
  const job: Job = { id: nextId++, pid: null, settled: false, resolve };
  let sup: Supervisor;
  try {
    sup = current && !current.gone ? current : start();
  } catch (err) {
    settle(job, { kind: 'lost', message: `could not start the step supervisor: ${(err as Error).message}` });
    return { ended, signal: () => {} };
  }
  sup.jobs.set(job.id, job);
  updateRef(sup);
  send(sup, {
    t: 'run', id: job.id, argv: request.argv, cwd: request.cwd, env: request.env, log: request.logPath, pidFile: request.pidFile, uid: request.uid, gid: request.gid,
  });
  return {
    ended,
    signal: (sig) => {
      if (!job.settled) send(sup, { t: 'signal', id: job.id, sig });
    },
  };
}

function start(): Supervisor {
  const child = spawn(process.execPath, [...CHILD_NODE_FLAGS, CHILD_SCRIPT], {
    // A session of its own: signals for the worker's process group must not kill it before its steps.
    detached: true,
    stdio: ['pipe', 'pipe', 'inherit'],
    // Nothing of the worker's environment (NODE_OPTIONS loaders above all); steps get theirs per run.
    env: {},
    cwd: '/',
  });
  const sup: Supervisor = { child, jobs: new Map(), gone: false, buffered: '' };
  current = sup;
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => receive(sup, chunk));
  child.stdin?.on('error', () => {
    // EPIPE once it is gone; 'close' below deals with that.
  });
  child.on('error', (err) => retire(sup, `the step supervisor failed: ${err.message}`));
  // 'close', not 'exit': the last reports may still be in the pipe when it exits.
  child.on('close', (code, signal) => {
    retire(sup, signal ? `the step supervisor was killed by ${signal}` : `the step supervisor exited with code ${code}`);
  });
  updateRef(sup);
  return sup;
}

function send(sup: Supervisor, message: object): void {
  if (sup.gone) return;
  try {
    sup.child.stdin?.write(`${JSON.stringify(message)}\n`);
  } catch (err) {
    retire(sup, `could not write to the step supervisor: ${(err as Error).message}`);
  }
}

function receive(sup: Supervisor, chunk: string): void {
  sup.buffered += chunk;
  for (let nl = sup.buffered.indexOf('\n'); nl >= 0; nl = sup.buffered.indexOf('\n')) {
    const line = sup.buffered.slice(0, nl);
    sup.buffered = sup.buffered.slice(nl + 1);
    let message: FromSupervisor;
    try {
      message = JSON.parse(line) as FromSupervisor;
    } catch {
      retire(sup, `the step supervisor wrote something unexpected: ${line.slice(0, 200)}`);
      return;
    }
    const job = sup.jobs.get(message.id);
    if (!job) continue;
    if (message.t === 'started') {
      job.pid = message.pid;
    } else {
      sup.jobs.delete(job.id);
      updateRef(sup);
      settle(job, message.t === 'exit'
        ? { kind: 'exit', code: message.code, signal: message.signal }
        : { kind: 'error', code: message.code, message: message.message });
    }
  }
}

/** The supervisor is dead or unusable: kill what it was running and fail those steps. */
function retire(sup: Supervisor, why: string): void {
  if (sup.gone) return;
  sup.gone = true;
  if (current === sup) current = null;
  // Closing its lifeline makes a supervisor that is still alive kill its steps and exit.
  sup.child.stdin?.destroy();
  for (const job of sup.jobs.values()) {
    // In case it died without doing so. (A step that ended before had its group killed by the
    // supervisor; its id coming round to someone else in these few milliseconds is far-fetched.)
    if (job.pid !== null) {
      try {
        process.kill(-job.pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    settle(job, { kind: 'lost', message: `${why} while the step ran` });
  }
  sup.jobs.clear();
  sup.child.stdout?.destroy();
  sup.child.unref();
}

function settle(job: Job, ending: SupervisedEnding): void {
  if (job.settled) return;
  job.settled = true;
  job.resolve(ending);
}

/** Holds this process open while steps run, as a directly spawned step would; never otherwise. */
function updateRef(sup: Supervisor): void {
  if (sup.gone) return;
  const stdout = sup.child.stdout as (NodeJS.ReadableStream & { ref?(): void; unref?(): void }) | null;
  const stdin = sup.child.stdin as (NodeJS.WritableStream & { unref?(): void }) | null;
  stdin?.unref?.();
  if (sup.jobs.size > 0) {
    sup.child.ref();
    stdout?.ref?.();
  } else {
    sup.child.unref();
    stdout?.unref?.();
  }
}
