import { execFile } from 'node:child_process';
import { resolve as resolvePath } from 'node:path';
import { GitHelper, helperConcurrency, type GitHelperStatus, type GitOutcome, type GitRequest } from './helper.ts';

export type { GitHelperStatus } from './helper.ts';

export interface GitOptions {
  cwd?: string;
  input?: string;
  env?: Record<string, string>;
  signal?: AbortSignal;
  okExitCodes?: number[];
}

export interface GitResult {
  stdout: string;
  /** Kept for callers that accept a non-zero exit and still need git's explanation. */
  stderr: string;
  exitCode: number;
}

export class GitError extends Error {
  override name = 'GitError';
  readonly args: string[];
  readonly exitCode: number | null;
  readonly stderr: string;

  constructor(message: string, args: string[], exitCode: number | null, stderr: string, options?: { cause?: unknown }) {
    super(message, options);
    this.args = args;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

// Diff and object output for real repositories can be large; the default 1 MiB would
// turn a big merge or log into a spurious failure.
const MAX_BUFFER = 256 * 1024 * 1024;

// These point git at some other repository or identity. They leak in when Culvert runs
// under a git hook or a developer's shell, and would silently redirect every call.
const INHERITED_ENV_TO_DROP = [
  'GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_COMMON_DIR', 'GIT_NAMESPACE', 'GIT_PREFIX', 'GIT_CEILING_DIRECTORIES',
  'GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'GIT_AUTHOR_DATE',
  'GIT_COMMITTER_NAME', 'GIT_COMMITTER_EMAIL', 'GIT_COMMITTER_DATE',
];

/** The environment every git child gets: the caller's, minus what would redirect git, plus `extra`. */
export function childEnv(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of INHERITED_ENV_TO_DROP) delete env[name];
  // Culvert runs unattended: a credential prompt would hang the activity forever.
  env.GIT_TERMINAL_PROMPT = '0';
  // Only the transports a repository may use (api/products/repository.ts): never ext:: (runs a
  // command), fd:: or any other remote helper, whatever a stored URL or a submodule says.
  env.GIT_ALLOW_PROTOCOL = 'https:http:ssh:git:file';
  // Some callers match git's English status words (e.g. push porcelain reasons).
  env.LC_ALL = 'C';
  env.LANGUAGE = 'C';
  return { ...env, ...extra };
}

/** The subcommand for error messages, skipping global options such as `-c k=v` and `-C dir`. */
function subcommandOf(args: string[]): string {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-c' || a === '-C') { i++; continue; }
    if (!a.startsWith('-')) return a;
  }
  return args[0] ?? '';
}

/** Spawns git from this process: the CULVERT_GIT_DIRECT=1 path, and the helper's fallback. */
function runDirect(request: GitRequest): Promise<GitOutcome> {
  return new Promise((resolve) => {
    const child = execFile(
      'git',
      request.args,
      { cwd: request.cwd, env: request.env, maxBuffer: request.maxBuffer, signal: request.signal, encoding: 'utf8' },
      (error, stdout, stderr) => resolve({ stdout, stderr, error }),
    );
    // Always close stdin: commands like commit-tree read their message from it and
    // would otherwise wait forever. Early exits can make the write fail with EPIPE,
    // which the exit-status path in git() already reports.
    child.stdin?.on('error', () => {});
    child.stdin?.end(request.input ?? '');
  });
}

let helper: GitHelper | undefined;

/** The process-wide git helper (started on first use), unless CULVERT_GIT_DIRECT=1 asks for direct spawns. */
function helperFor(): GitHelper | null {
  if (process.env.CULVERT_GIT_DIRECT === '1') return null;
  helper ??= new GitHelper(helperConcurrency(), runDirect);
  return helper;
}

/** For tests and benchmarks: the helper's pid and load, or null when git is spawned directly. */
export function gitHelperStatus(): GitHelperStatus | null {
  return helperFor()?.status() ?? null;
}

export function git(args: string[], opts: GitOptions = {}): Promise<GitResult> {
  const okExitCodes = opts.okExitCodes ?? [];
  const runner = helperFor();
  let cwd = opts.cwd;
  if (runner) {
    try {
      // The helper has a working directory of its own: send it ours, as execFile would use it now.
      cwd = resolvePath(opts.cwd ?? '.');
    } catch {
      // Our working directory is gone; only a directly spawned git inherits such a thing.
      return settle(runDirect(request(args, opts, cwd)), args, okExitCodes);
    }
  }
  const req = request(args, opts, cwd);
  return settle(runner ? runner.run(req) : runDirect(req), args, okExitCodes);
}

function request(args: string[], opts: GitOptions, cwd: string | undefined): GitRequest {
  return { args, cwd, env: childEnv(opts.env), input: opts.input, maxBuffer: MAX_BUFFER, signal: opts.signal };
}

async function settle(ran: Promise<GitOutcome>, args: string[], okExitCodes: number[]): Promise<GitResult> {
  const { stdout, stderr, error } = await ran;
  if (!error) return { stdout, stderr, exitCode: 0 };
  // execFile reports the exit status as a number in `code`; a string code means
  // git never ran (ENOENT, maxBuffer, abort, the helper died) and there is no exit status.
  const exitCode = typeof error.code === 'number' ? error.code : null;
  if (exitCode !== null && okExitCodes.includes(exitCode)) return { stdout, stderr, exitCode };
  const detail = stderr.trim() || (exitCode === null ? error.message : `exit code ${exitCode}`);
  throw new GitError(`git ${subcommandOf(args)} failed: ${detail}`, args, exitCode, stderr, { cause: error });
}
