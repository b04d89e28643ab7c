/**
 * The step runner: runs one product step (an argv array, never a shell string)
 * inside a checkout, appending its output to a log file.
 *
 * Knows nothing about Temporal. The activity that wraps it passes a heartbeat
 * callback and the activity's AbortSignal.
 *
 * Every step is spawned in its own process group, so on timeout or
 * cancellation the whole group — grandchildren included — gets SIGTERM, then
 * SIGKILL after a grace period. When the step's main process exits, anything it
 * left running in its group is killed too: a step must not leave processes
 * behind. Steps are started by the step supervisor (supervisor.ts), which also
 * kills their groups when this process dies, however it dies.
 */
import { constants as fsConstants, fstatSync } from 'node:fs';
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { sandboxedArgv } from './isolation.ts';
import type { StepIsolation } from './isolation.ts';
import { superviseStep, type SupervisedEnding } from './supervisor.ts';

export interface StepSpec {
  /** argv[0] is the program (looked up on PATH if it has no slash); non-empty. */
  argv: string[];
  /** Added to the base environment. */
  env?: Record<string, string>;
  /** Relative to the checkout; must stay inside it. */
  cwd?: string;
  /** Default 3600. */
  timeoutSeconds?: number;
}

export type StepState = 'succeeded' | 'failed' | 'timed_out' | 'cancelled';

export interface StepOutcome {
  state: StepState;
  /** The exit code, or null if the process was killed by a signal or never started. */
  exitCode: number | null;
  /** The signal that ended the process (e.g. 'SIGKILL'), or null. */
  signal: string | null;
  durationMs: number;
  /** Bytes this run appended to the log file (header and trailer lines included). */
  logBytes: number;
}

export interface RunStepOptions {
  /** The checkout. */
  dir: string;
  /** Created with its parent directories if missing; always appended to. */
  logPath: string;
  /** E.g. CULVERT_COMMIT, CULVERT_ENVIRONMENT; wins over spec.env. */
  extraEnv?: Record<string, string>;
  /** Abort → cancel the step. */
  signal?: AbortSignal;
  onHeartbeat?: (progress: { logBytes: number; elapsedMs: number }) => void;
  /** Default 2000. */
  heartbeatMs?: number;
  /** Time between SIGTERM and SIGKILL; default 5000. */
  killGraceMs?: number;
  /**
   * Records the step's process group while it runs (see procs.ts): a later attempt of the same run
   * kills what it names first (stopRecordedStep). Removed when the step ends.
   */
  pidFile?: string;
  /** Runs the step as an unprivileged user (and under bubblewrap when it has one): see isolation.ts. */
  isolation?: StepIsolation;
}

/** The spec is unusable: empty argv, cwd escaping the checkout, bad timeout, ... */
export class StepSpecError extends Error {
  override name = 'StepSpecError';
}

/** The step supervisor died (or could not start) under the step: not the step's doing, so worth a retry. */
export class StepSupervisorError extends Error {
  override name = 'StepSupervisorError';
}

export const DEFAULT_TIMEOUT_SECONDS = 3600;
export const DEFAULT_HEARTBEAT_MS = 2000;
export const DEFAULT_KILL_GRACE_MS = 5000;

/** setTimeout fires immediately for delays above 2^31-1 ms, so cap timeouts below that. */
const MAX_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** Variables copied from the worker's own environment; nothing else leaks into steps (HOME is the checkout). */
const BASE_ENV_KEYS = ['PATH', 'LANG'] as const;

/** Arguments made only of these characters are logged unquoted. */
const SAFE_ARG = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Renders argv for the log's header line: JSON-quoted where needed. */
export function formatArgv(argv: readonly string[]): string {
  return argv.map((a) => (SAFE_ARG.test(a) ? a : JSON.stringify(a))).join(' ');
}

/**
 * Checks the spec and resolves its working directory against `dir`.
 * Throws StepSpecError; does not touch the filesystem.
 */
export function resolveStepSpec(spec: StepSpec, dir: string): { argv: string[]; cwd: string; timeoutMs: number } {
  const { argv } = spec;
  if (!Array.isArray(argv) || argv.length === 0) {
    throw new StepSpecError('argv must be a non-empty array');
  }
  argv.forEach((arg, i) => {
    if (typeof arg !== 'string') throw new StepSpecError(`argv[${i}] is not a string`);
    if (arg.includes('\0')) throw new StepSpecError(`argv[${i}] contains a NUL byte`);
  });
  if (argv[0] === '') throw new StepSpecError('argv[0] (the program) is empty');

  checkEnv(spec.env, 'spec.env');

  const timeoutSeconds = spec.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  if (typeof timeoutSeconds !== 'number' || !Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
    throw new StepSpecError(`timeoutSeconds must be a positive number, got ${String(spec.timeoutSeconds)}`);
  }
  if (timeoutSeconds > MAX_TIMEOUT_SECONDS) {
    throw new StepSpecError(`timeoutSeconds must be at most ${MAX_TIMEOUT_SECONDS}, got ${timeoutSeconds}`);
  }

  const root = path.resolve(dir);
  const cwd = path.resolve(root, spec.cwd ?? '.');
  const rel = path.relative(root, cwd);
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new StepSpecError(`cwd ${JSON.stringify(spec.cwd)} is outside the checkout`);
  }

  return { argv: [...argv], cwd, timeoutMs: timeoutSeconds * 1000 };
}

function checkEnv(env: Record<string, string> | undefined, what: string): void {
  if (env === undefined) return;
  if (typeof env !== 'object' || env === null || Array.isArray(env)) {
    throw new StepSpecError(`${what} must be an object of strings`);
  }
  for (const [key, value] of Object.entries(env)) {
    if (key === '' || key.includes('=') || key.includes('\0')) {
      throw new StepSpecError(`${what} has an invalid variable name ${JSON.stringify(key)}`);
    }
    if (typeof value !== 'string' || value.includes('\0')) {
      throw new StepSpecError(`${what}.${key} must be a string without NUL bytes`);
    }
  }
}

/** The step's environment, from scratch: PATH and LANG, HOME in the checkout, its own variables, Culvert's. */
function buildEnv(spec: StepSpec, extraEnv: Record<string, string> | undefined, dir: string, isolated: StepIsolation | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of BASE_ENV_KEYS) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  env.HOME = path.resolve(dir);
  // Under bubblewrap /tmp is the step's own; otherwise a shared /tmp is all there is.
  env.TMPDIR = isolated?.bwrap ? '/tmp' : (process.env.TMPDIR ?? '/tmp');
  return { ...env, ...spec.env, ...extraEnv };
}

function checkMs(value: number | undefined, fallback: number, name: string, min: number): number {
  const ms = value ?? fallback;
  if (!Number.isFinite(ms) || ms < min) throw new RangeError(`${name} must be a number >= ${min}, got ${String(value)}`);
  return ms;
}

/** The byte at offset size-1 of a file, read through a separate read-only handle. */
async function lastByte(file: string, size: number): Promise<number | undefined> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(1);
    const { bytesRead } = await handle.read(buf, 0, 1, size - 1);
    return bytesRead === 1 ? buf[0] : undefined;
  } finally {
    await handle.close();
  }
}

/** The step's log file, opened for appending; measures what this run appended. */
class StepLog {
  private constructor(
    readonly handle: FileHandle,
    private readonly logPath: string,
    private readonly startSize: number,
  ) {}

  static async open(logPath: string): Promise<StepLog> {
    await mkdir(path.dirname(path.resolve(logPath)), { recursive: true });
    const handle = await open(logPath, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_APPEND, 0o644);
    try {
      const { size } = await handle.stat();
      return new StepLog(handle, logPath, size);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** Bytes appended since open; synchronous so a heartbeat timer can call it. */
  bytesSync(): number {
    return Math.max(0, statSizeSync(this.handle.fd) - this.startSize);
  }

  async bytes(): Promise<number> {
    const { size } = await this.handle.stat();
    return Math.max(0, size - this.startSize);
  }

  async writeLine(line: string): Promise<void> {
    await this.handle.write(`${line}\n`);
  }

  /** Writes a line, first ending the output's last line if it lacks a newline. */
  async writeTrailer(line: string): Promise<void> {
    const { size } = await this.handle.stat();
    const prefix = size > 0 && (await lastByte(this.logPath, size)) !== 0x0a ? '\n' : '';
    await this.handle.write(`${prefix}${line}\n`);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

function statSizeSync(fd: number): number {
  try {
    return fstatSync(fd).size;
  } catch {
    return 0;
  }
}

/**
 * Runs one step. Resolves with the outcome; never rejects because of the step
 * itself (a missing program is a `failed` outcome). Throws StepSpecError for a
 * bad spec, rejects if the log file cannot be written, and rejects with
 * StepSupervisorError if the step supervisor dies under the step (which kills it).
 */
export async function runStep(spec: StepSpec, opts: RunStepOptions): Promise<StepOutcome> {
  const { argv, cwd, timeoutMs } = resolveStepSpec(spec, opts.dir);
  checkEnv(opts.extraEnv, 'extraEnv');
  const heartbeatMs = checkMs(opts.heartbeatMs, DEFAULT_HEARTBEAT_MS, 'heartbeatMs', 1);
  const killGraceMs = checkMs(opts.killGraceMs, DEFAULT_KILL_GRACE_MS, 'killGraceMs', 0);
  const env = buildEnv(spec, opts.extraEnv, opts.dir, opts.isolation);
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);

  const log = await StepLog.open(opts.logPath);
  try {
    await log.writeLine(`$ ${formatArgv(argv)}`);

    if (opts.signal?.aborted) {
      await log.writeTrailer('cancelled');
      return { state: 'cancelled', exitCode: null, signal: null, durationMs: elapsed(), logBytes: await log.bytes() };
    }

    const cwdProblem = await checkCwd(cwd);
    if (cwdProblem !== null) {
      await log.writeTrailer(cwdProblem);
      return { state: 'failed', exitCode: null, signal: null, durationMs: elapsed(), logBytes: await log.bytes() };
    }

    const iso = opts.isolation;
    const step = superviseStep({
      argv: iso ? sandboxedArgv(iso, path.resolve(opts.dir), cwd, argv) : argv, cwd, env, logPath: path.resolve(opts.logPath),
      pidFile: opts.pidFile === undefined ? undefined : path.resolve(opts.pidFile),
      ...(iso ? { uid: iso.uid, gid: iso.gid } : {}),
    });

    let finished = false;
    let stopping: 'timed_out' | 'cancelled' | null = null;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = (why: 'timed_out' | 'cancelled'): void => {
      if (stopping !== null || finished) return;
      stopping = why;
      step.signal('SIGTERM');
      killTimer = setTimeout(() => step.signal('SIGKILL'), killGraceMs);
    };

    const timeoutTimer = setTimeout(() => stop('timed_out'), timeoutMs);
    const onAbort = (): void => stop('cancelled');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const heartbeatTimer = opts.onHeartbeat
      ? setInterval(() => {
          try {
            opts.onHeartbeat?.({ logBytes: log.bytesSync(), elapsedMs: elapsed() });
          } catch {
            // A failing heartbeat must not crash the worker; cancellation arrives via the signal.
          }
        }, heartbeatMs)
      : undefined;

    // The supervisor has killed whatever the step left running in its group by the time it reports.
    let ending: SupervisedEnding;
    try {
      ending = await step.ended;
    } finally {
      finished = true;
      clearTimeout(timeoutTimer);
      clearTimeout(killTimer);
      clearInterval(heartbeatTimer);
      opts.signal?.removeEventListener('abort', onAbort);
    }

    if (ending.kind === 'lost') {
      await log.writeTrailer(`lost: ${ending.message}`);
      throw new StepSupervisorError(ending.message);
    }

    const durationMs = elapsed();
    let state: StepState;
    let exitCode: number | null = null;
    let signal: string | null = null;
    let trailer: string;
    if (ending.kind === 'error') {
      state = 'failed';
      const { code, message } = ending;
      trailer = `failed to start: ${message}${code && !message.includes(code) ? ` (${code})` : ''}`;
    } else {
      exitCode = ending.code;
      signal = ending.signal;
      if (stopping === 'timed_out') {
        state = 'timed_out';
        trailer = `timed out after ${formatSeconds(timeoutMs)}s`;
      } else if (stopping === 'cancelled') {
        state = 'cancelled';
        trailer = 'cancelled';
      } else {
        state = exitCode === 0 ? 'succeeded' : 'failed';
        trailer = `exit ${exitCode ?? signal ?? 'unknown'} after ${durationMs}ms`;
      }
    }
    await log.writeTrailer(trailer);
    return { state, exitCode, signal, durationMs, logBytes: await log.bytes() };
  } finally {
    await log.close();
  }
}

function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return Number.isInteger(s) ? String(s) : s.toFixed(3).replace(/0+$/, '');
}

/** Returns why cwd cannot be used, or null. (spawn would blame the program for a missing cwd.) */
async function checkCwd(cwd: string): Promise<string | null> {
  try {
    const st = await stat(cwd);
    return st.isDirectory() ? null : `failed to start: cwd ${cwd} is not a directory`;
  } catch (err) {
    return `failed to start: cwd ${cwd}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
}
