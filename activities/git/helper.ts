// Runs git from a small helper process instead of from this one.
//
// Spawning a child forks the parent: with PGlite and the Temporal worker in process, Culvert is about
// a gigabyte, and each fork copies its page tables while the event loop stands still (10-40 ms per git
// call, against ~2 ms from a small process). So git() hands its calls to one long-lived helper
// (helper-child.mjs: plain Node, no loader, a small heap) over an IPC channel, and that process
// spawns git. The helper starts on first use, never keeps this process alive when idle, is restarted
// when it dies (the calls it was running fail with a GitError, so activities retry), and runs a
// bounded number of git processes at once; more calls wait here, in order.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD_SCRIPT = fileURLToPath(new URL('./helper-child.mjs', import.meta.url));

// The helper holds only small messages on its heap; git's output stays in Buffers outside it.
const HELPER_NODE_FLAGS = ['--max-old-space-size=64', '--max-semi-space-size=2'];

const DEFAULT_CONCURRENCY = 4;
const MAX_CONCURRENCY = 64;

// A helper that dies before answering anything, this many times in a row, is not coming back:
// from then on git is spawned directly, as with CULVERT_GIT_DIRECT=1.
const MAX_FRUITLESS_STARTS = 3;

/** One git run, with its environment already complete (git() builds it). */
export interface GitRequest {
  args: string[];
  cwd: string | undefined;
  env: NodeJS.ProcessEnv;
  input: string | undefined;
  maxBuffer: number;
  signal: AbortSignal | undefined;
}

/** What execFile's callback would have given: `error` is null exactly when git exited 0. */
export interface GitOutcome {
  stdout: string;
  stderr: string;
  error: (Error & { code?: unknown }) | null;
}

/** An execFile error's fields, as they cross the channel. */
interface ErrorFields {
  name: string;
  message: string;
  code?: string | number | null;
  errno?: number;
  syscall?: string;
  path?: string;
  killed?: boolean;
  signal?: string | null;
  cmd?: string;
}

type FromHelper =
  | { t: 'done'; id: number; stdout: Uint8Array; stderr: Uint8Array; error: ErrorFields | null }
  | { t: 'thrown'; id: number; error: ErrorFields };

interface Helper {
  child: ChildProcess;
  jobs: Map<number, Job>;
  answered: boolean;
  gone: boolean;
}

interface Job {
  id: number;
  request: GitRequest;
  resolve(outcome: GitOutcome): void;
  reject(err: unknown): void;
  settled: boolean;
  helper: Helper | null;
  onAbort: (() => void) | null;
}

function rebuildError(f: ErrorFields): Error {
  // execFile refuses bad arguments with a TypeError or RangeError; keep the class so callers can tell.
  const Kind = f.name === 'TypeError' ? TypeError : f.name === 'RangeError' ? RangeError : Error;
  const err = new Kind(f.message) as Error & Record<string, unknown>;
  err.name = f.name;
  for (const key of ['code', 'errno', 'syscall', 'path', 'killed', 'signal', 'cmd'] as const) {
    if (f[key] !== undefined) err[key] = f[key];
  }
  return err;
}

function text(bytes: Uint8Array | undefined): string {
  return bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8') : '';
}

/** What execFile reports for an aborted run: an AbortError without an exit status. */
function abortedOutcome(signal: AbortSignal): GitOutcome {
  const error = new Error('The operation was aborted', { cause: signal.reason }) as Error & { code?: unknown };
  error.name = 'AbortError';
  error.code = 'ABORT_ERR';
  return { stdout: '', stderr: '', error };
}

export interface GitHelperStatus {
  /** Pid of the running helper, or null when none is running (not started yet, or between lives). */
  pid: number | null;
  /** Helpers started so far in this process. */
  starts: number;
  /** Git runs asked of this helper so far (also those that fell back to direct spawns). */
  calls: number;
  /** Git runs handed to the helper and not answered yet. */
  running: number;
  /** Runs waiting for a free slot. */
  queued: number;
  concurrency: number;
  /** True once the helper kept dying and git is spawned directly instead. */
  fellBack: boolean;
}

export class GitHelper {
  private helper: Helper | null = null;
  private readonly queue: Job[] = [];
  private active = 0;
  private nextId = 1;
  private starts = 0;
  private calls = 0;
  private fruitlessStarts = 0;
  private fellBack = false;

  constructor(
    private readonly concurrency: number,
    /** Runs a request in this process: used once the helper is given up on. */
    private readonly direct: (request: GitRequest) => Promise<GitOutcome>,
  ) {}

  run(request: GitRequest): Promise<GitOutcome> {
    this.calls++;
    if (this.fellBack) return this.direct(request);
    return new Promise<GitOutcome>((resolve, reject) => {
      const job: Job = { id: this.nextId++, request, resolve, reject, settled: false, helper: null, onAbort: null };
      const { signal } = request;
      if (signal?.aborted) {
        this.settle(job, abortedOutcome(signal));
        return;
      }
      if (signal) {
        job.onAbort = () => this.abort(job);
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.queue.push(job);
      this.pump();
    });
  }

  status(): GitHelperStatus {
    const child = this.helper?.child;
    return {
      pid: child?.pid ?? null, starts: this.starts, calls: this.calls, running: this.active, queued: this.queue.filter((j) => !j.settled).length,
      concurrency: this.concurrency, fellBack: this.fellBack,
    };
  }

  private pump(): void {
    while (this.queue.length > 0 && (this.fellBack || this.active < this.concurrency)) {
      const job = this.queue.shift() as Job;
      if (job.settled) continue;
      if (this.fellBack) {
        this.direct(job.request).then((outcome) => this.settle(job, outcome), (err: unknown) => this.fail(job, err));
        continue;
      }
      const helper = this.helper ?? this.start();
      if (!helper) {
        // start() gave up on the helper: the next turn of the loop runs this job directly.
        this.queue.unshift(job);
        continue;
      }
      this.send(helper, job);
    }
    this.updateRef();
  }

  private send(helper: Helper, job: Job): void {
    job.helper = helper;
    helper.jobs.set(job.id, job);
    this.active++;
    const { args, cwd, env, input, maxBuffer } = job.request;
    const message = { t: 'run', id: job.id, args, cwd, env, input: input === undefined ? undefined : Buffer.from(input, 'utf8'), maxBuffer };
    try {
      helper.child.send(message, undefined, undefined, (err) => {
        if (err) this.retire(helper, `could not hand git to the helper: ${err.message}`);
      });
    } catch (err) {
      // The channel refused outright (closed, or a value it cannot serialise).
      this.release(helper, job);
      this.fail(job, err);
    }
  }

  private start(): Helper | null {
    let child: ChildProcess;
    try {
      const env: NodeJS.ProcessEnv = { ...process.env };
      // Whatever loaders this process was started with (tsx, a debugger) the helper needs none of.
      delete env.NODE_OPTIONS;
      child = spawn(process.execPath, [...HELPER_NODE_FLAGS, CHILD_SCRIPT], {
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        serialization: 'advanced',
        env,
      });
    } catch (err) {
      this.fruitless(`could not start the git helper: ${(err as Error).message}`);
      return this.fellBack ? null : this.start();
    }
    this.starts++;
    const helper: Helper = { child, jobs: new Map(), answered: false, gone: false };
    this.helper = helper;
    // Never keeps this process alive by itself; the channel is referenced only while git runs.
    child.unref();
    child.on('message', (message: FromHelper) => this.answer(helper, message));
    child.on('exit', (code, signal) => {
      this.retire(helper, signal ? `the git helper process was killed by ${signal}` : `the git helper process exited with code ${code}`);
    });
    child.on('error', (err) => this.retire(helper, `the git helper process failed: ${err.message}`));
    child.on('disconnect', () => this.retire(helper, 'the git helper process closed its channel'));
    return helper;
  }

  private answer(helper: Helper, message: FromHelper): void {
    const job = helper.jobs.get(message.id);
    if (!job) return;
    helper.answered = true;
    this.fruitlessStarts = 0;
    this.release(helper, job);
    if (message.t === 'thrown') {
      this.fail(job, rebuildError(message.error));
    } else {
      this.settle(job, { stdout: text(message.stdout), stderr: text(message.stderr), error: message.error ? rebuildError(message.error) : null });
    }
    this.pump();
  }

  private abort(job: Job): void {
    if (job.settled || !job.request.signal) return;
    this.settle(job, abortedOutcome(job.request.signal));
    const helper = job.helper;
    // Still queued: pump() skips it. Running: the helper kills git (SIGTERM, as execFile's signal
    // does) and answers; the slot stays taken until then.
    if (helper && !helper.gone && helper.jobs.has(job.id)) {
      try {
        helper.child.send({ t: 'kill', id: job.id }, undefined, undefined, () => {});
      } catch {
        // The channel is closing; retire() frees the slot.
      }
    }
  }

  /** The helper is dead or useless: fail what it was running, and let the next call start another. */
  private retire(helper: Helper, why: string): void {
    if (helper.gone) return;
    helper.gone = true;
    if (this.helper === helper) this.helper = null;
    const { child } = helper;
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL');
      } catch {
        // Already gone.
      }
    }
    const lost = [...helper.jobs.values()];
    for (const job of lost) {
      this.release(helper, job);
      if (!job.settled) {
        const error = new Error(`${why} before git finished (it may or may not have run)`) as Error & { code?: unknown };
        error.name = 'GitHelperError';
        error.code = 'CULVERT_GIT_HELPER_DIED';
        this.settle(job, { stdout: '', stderr: '', error });
      }
    }
    if (lost.length > 0 && !helper.answered) this.fruitless(why);
    this.pump();
  }

  private fruitless(why: string): void {
    this.fruitlessStarts++;
    if (this.fruitlessStarts >= MAX_FRUITLESS_STARTS && !this.fellBack) {
      this.fellBack = true;
      process.emitWarning(`${why}, ${this.fruitlessStarts} times in a row: spawning git directly from now on`, { code: 'CULVERT_GIT_HELPER' });
    }
  }

  private release(helper: Helper, job: Job): void {
    if (helper.jobs.delete(job.id)) this.active--;
    this.updateRef();
  }

  private settle(job: Job, outcome: GitOutcome): void {
    if (job.settled) return;
    job.settled = true;
    if (job.onAbort) job.request.signal?.removeEventListener('abort', job.onAbort);
    job.resolve(outcome);
  }

  private fail(job: Job, err: unknown): void {
    if (job.settled) return;
    job.settled = true;
    if (job.onAbort) job.request.signal?.removeEventListener('abort', job.onAbort);
    job.reject(err);
  }

  /** Holds the process open while git runs through the helper, exactly as a directly spawned git would. */
  private updateRef(): void {
    const channel = this.helper?.child.channel;
    if (!channel || this.helper?.gone) return;
    if (this.active > 0) channel.ref();
    else channel.unref();
  }
}

export function helperConcurrency(value = process.env.CULVERT_GIT_HELPER_CONCURRENCY): number {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 ? Math.min(n, MAX_CONCURRENCY) : DEFAULT_CONCURRENCY;
}
