// The step supervisor: a small, long-lived Node process that starts a worker's steps and makes sure
// none of them outlives the worker (see supervisor.ts). Plain JavaScript so that it starts with
// nothing but Node: no loader, no TypeScript, no dependencies.
//
// Its stdin is a pipe from the worker and nobody else holds the other end, so it reads end-of-file
// exactly when the worker is gone, however it died (SIGKILL included). Then every step's process group
// gets SIGKILL, and the supervisor exits once the steps are reaped. The supervisor runs in a session
// of its own, so signals meant for the worker's process group (a terminal's ^C, `kill -- -pgid`)
// do not take it down before it has done that.
//
// Protocol, JSON lines:
//   worker -> supervisor (stdin)   { t: 'run', id, argv, cwd, env, log, pidFile?, uid?, gid? }   uid/gid: the user the step runs as
//                                  { t: 'signal', id, sig }   signal the step's whole process group
//   supervisor -> worker (stdout)  { t: 'started', id, pid }  pid is also the step's process group id
//                                  { t: 'error', id, code, message }   the step never started
//                                  { t: 'exit', id, code, signal }     the step ended; its group is killed
//
// Each step runs in a new session and process group (detached), with stdin from /dev/null and
// stdout and stderr appended to its log file. While it runs, `pidFile` (if given) records its group,
// so that a later attempt, or a worker starting after a crash, can kill it if both this process and
// the worker die at once; a step whose pid file cannot be written is not started.
import { spawn } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';

/** @type {Map<number, { id: number, pid: number, pidFile: string | null, exited: boolean, refused: { code: string | null, message: string } | null }>} */
const steps = new Map();
let lifelineLost = false;

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot; null if unknown. */
function startTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isSafeInteger(ticks) ? ticks : null;
  } catch {
    return null;
  }
}

function readBootId() {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
  } catch {
    return null;
  }
}

const bootId = readBootId();
const worker = process.ppid;
const workerStart = startTicks(worker);
const ownTag = `@${process.pid}-${startTicks(process.pid) ?? 0}`;

function report(message) {
  try {
    writeSync(1, `${JSON.stringify(message)}\n`);
  } catch {
    // The worker is gone (EPIPE); the lifeline tells us so too.
  }
}

function killGroup(pgid, sig) {
  try {
    process.kill(-pgid, sig);
  } catch {
    // ESRCH: nothing left. EPERM: a member we may not signal; nothing more we can do.
  }
}

function errorFields(err) {
  const e = /** @type {NodeJS.ErrnoException} */ (err ?? {});
  return { code: typeof e.code === 'string' ? e.code : null, message: typeof e.message === 'string' ? e.message : String(err) };
}

/**
 * Opens the pid file's temporary twin before the step starts, so that a pid file that cannot be
 * written (no such directory, no permission) stops the step before it runs.
 */
function preparePidFile(pidFile) {
  // Named like the worker's own leftovers (`@<pid>-<ticks>`), so cleanup can tell whose it is.
  const tmp = `${pidFile}${ownTag}.tmp`;
  return { tmp, fd: openSync(tmp, 'w', 0o644) };
}

function writePidFile(step, prepared) {
  const record = { pgid: step.pid, start: startTicks(step.pid), boot: bootId, worker, workerStart, supervisor: process.pid };
  try {
    writeSync(prepared.fd, `${JSON.stringify(record)}\n`);
    closeSync(prepared.fd);
    prepared.fd = null;
    renameSync(prepared.tmp, step.pidFile);
  } catch (err) {
    if (prepared.fd !== null) closeSync(prepared.fd);
    rmSync(prepared.tmp, { force: true });
    throw err;
  }
}

/** Removes the pid file if it still describes this step (a later attempt may have replaced it). */
function removePidFile(step) {
  if (!step.pidFile) return;
  try {
    const record = JSON.parse(readFileSync(step.pidFile, 'utf8'));
    if (record.pgid === step.pid && record.supervisor === process.pid) unlinkSync(step.pidFile);
  } catch {
    // Gone already, or not ours.
  }
}

function run({ id, argv, cwd, env, log, pidFile, uid, gid }) {
  if (lifelineLost) return;
  let fd;
  try {
    fd = openSync(log, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o644);
  } catch (err) {
    report({ t: 'error', id, ...errorFields(err) });
    return;
  }
  let prepared = null;
  if (typeof pidFile === 'string') {
    try {
      prepared = preparePidFile(pidFile);
    } catch (err) {
      closeSync(fd);
      const { code, message } = errorFields(err);
      report({ t: 'error', id, code, message: `could not record the step's process group in ${pidFile}: ${message}` });
      return;
    }
  }
  const dropPidFile = () => {
    if (prepared === null) return;
    closeSync(prepared.fd);
    rmSync(prepared.tmp, { force: true });
  };
  let child;
  try {
    // The log is opened here (as the worker's user) and handed over: a step as another user writes it all the same.
    const as = Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : {};
    child = spawn(argv[0], argv.slice(1), { cwd, env, detached: true, stdio: ['ignore', fd, fd], ...as });
  } catch (err) {
    dropPidFile();
    report({ t: 'error', id, ...errorFields(err) });
    return;
  } finally {
    // spawn returns after the child has exec'd (or failed to), holding its own copy by then.
    closeSync(fd);
  }
  if (child.pid === undefined) {
    dropPidFile();
    // The program could not be started (ENOENT, EACCES, ...): spawn says so on its 'error' event.
    child.once('error', (err) => report({ t: 'error', id, ...errorFields(err) }));
    return;
  }
  const step = { id, pid: child.pid, pidFile: prepared === null ? null : pidFile, exited: false, refused: null };
  steps.set(id, step);
  child.on('error', () => {
    // Only spawn failures and child.kill() report here; neither happens once the step runs.
  });
  child.once('exit', (code, signal) => {
    step.exited = true;
    // Whatever the step left running in its group goes too. The group id cannot be reused while any
    // member is alive, so this cannot hit an unrelated process.
    killGroup(step.pid, 'SIGKILL');
    removePidFile(step);
    steps.delete(id);
    report(step.refused ? { t: 'error', id, ...step.refused } : { t: 'exit', id, code, signal });
    if (lifelineLost && steps.size === 0) process.exit(0);
  });
  if (prepared !== null) {
    try {
      writePidFile(step, prepared);
    } catch (err) {
      // Without the record a later attempt could overlap this step: it must not go on.
      const { code, message } = errorFields(err);
      step.refused = { code, message: `could not record the step's process group in ${step.pidFile}: ${message}` };
      killGroup(step.pid, 'SIGKILL');
      return;
    }
  }
  report({ t: 'started', id, pid: step.pid });
}

function signalStep({ id, sig }) {
  const step = steps.get(id);
  // Once the step's main process is reaped its group has been killed, and its id may be reused.
  if (step && !step.exited && (sig === 'SIGTERM' || sig === 'SIGKILL')) killGroup(step.pid, sig);
}

function handle(line) {
  let message;
  try {
    message = JSON.parse(line);
  } catch {
    process.stderr.write(`culvert step supervisor: ignoring a line that is not JSON: ${line.slice(0, 200)}\n`);
    return;
  }
  if (message?.t === 'run') run(message);
  else if (message?.t === 'signal') signalStep(message);
}

/** The worker is gone (or told us to stop): every step goes, and then this process. */
function loseLifeline() {
  if (lifelineLost) return;
  lifelineLost = true;
  for (const step of steps.values()) killGroup(step.pid, 'SIGKILL');
  if (steps.size === 0) process.exit(0);
  // Each step's 'exit' (SIGKILL is not long in coming) removes its pid file, and the last one exits.
  // Should one never be reaped (stuck in the kernel), its pid file stays for cleanup to find.
  setTimeout(() => process.exit(0), 10_000).unref();
}

let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
    const line = buffered.slice(0, nl);
    buffered = buffered.slice(nl + 1);
    if (line !== '') handle(line);
  }
});
process.stdin.on('end', loseLifeline);
process.stdin.on('error', loseLifeline);
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, loseLifeline);
