// How a step is kept from the worker (issue 10): steps are untrusted code (a branch's test script, a
// product's deploy command), so they run as an unprivileged OS user, in a scratch checkout outside the
// data dir, with an environment built from scratch; with bubblewrap, also in a private /tmp, with no
// view of other processes and with the data dir hidden.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface StepIsolation {
  /** The unprivileged user steps run as. */
  user: string;
  uid: number;
  gid: number;
  /** bubblewrap's path, or null to run without it (still as `user`). */
  bwrap: string | null;
  /** Where checkouts for steps are made: outside the data dir. */
  root: string;
  /** Paths a step must not see (the data dir): hidden behind an empty tmpfs under bubblewrap. */
  hide: string[];
}

/** What the worker does with steps: isolated, or (said loudly) as its own user. */
export type StepIsolationSetting = { kind: 'isolated'; isolation: StepIsolation } | { kind: 'unisolated'; why: string };

const bwrapCandidates = ['/usr/bin/bwrap', '/usr/local/bin/bwrap'];

/** The user's uid and gid, or null when there is no such user. */
async function lookupUser(user: string): Promise<{ uid: number; gid: number } | null> {
  try {
    const [u, g] = await Promise.all([run('id', ['-u', '--', user]), run('id', ['-g', '--', user])]);
    return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
  } catch {
    return null;
  }
}

/**
 * Decides how steps run on this worker. Isolation needs root (to switch users) and the step user
 * (`CULVERT_STEP_USER`, default `culvert-step`); bubblewrap is used when present unless
 * `CULVERT_STEP_SANDBOX=none`, and required when it is `bwrap`. When isolation is not possible the
 * answer says why.
 */
export async function resolveStepIsolation(env: NodeJS.ProcessEnv, dataDir: string): Promise<StepIsolationSetting> {
  const user = env.CULVERT_STEP_USER || 'culvert-step';
  const sandbox = env.CULVERT_STEP_SANDBOX || 'auto';
  if (!['auto', 'bwrap', 'none'].includes(sandbox)) throw new Error(`CULVERT_STEP_SANDBOX must be auto, bwrap or none, not ${sandbox}`);
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return { kind: 'unisolated', why: `the worker does not run as root, so steps run as its own user (uid ${process.getuid?.() ?? '?'})` };
  }
  const ids = await lookupUser(user);
  if (!ids) return { kind: 'unisolated', why: `there is no user ${user} to run steps as (create it: useradd --system ${user}, or set CULVERT_STEP_USER)` };
  if (ids.uid === 0) return { kind: 'unisolated', why: `CULVERT_STEP_USER ${user} is root` };
  const bwrap = sandbox === 'none' ? null : bwrapCandidates.find((p) => existsSync(p)) ?? null;
  if (sandbox === 'bwrap' && !bwrap) throw new Error('CULVERT_STEP_SANDBOX=bwrap, but bubblewrap (bwrap) is not installed');
  const root = env.CULVERT_STEP_ROOT || join(tmpdir(), 'culvert-steps');
  return { kind: 'isolated', isolation: { user, ...ids, bwrap, root, hide: [dataDir] } };
}

/**
 * The argv that runs `argv` in `cwd` under bubblewrap: the whole filesystem read-only, the checkout
 * writable, a private /tmp, /dev and /proc of its own (no view of the worker or other steps), the
 * hidden paths empty, and nothing left running when the step's main process ends.
 */
export function sandboxedArgv(iso: StepIsolation, checkout: string, cwd: string, argv: string[]): string[] {
  if (!iso.bwrap) return argv;
  return [
    // No --new-session: the step stays in bwrap's process group, so stopping the group reaches it (it has
    // no terminal to abuse: stdin is /dev/null).
    iso.bwrap, '--die-with-parent', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
    '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp',
    ...iso.hide.flatMap((p) => ['--tmpfs', p]),
    '--bind', checkout, checkout, '--chdir', cwd, '--', ...argv,
  ];
}
