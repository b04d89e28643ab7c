// The git helper: a small, long-lived Node process that runs git for a large parent (see helper.ts).
// Forking a process of a gigabyte copies its page tables and stalls its event loop for tens of
// milliseconds per spawn; forking this one costs a couple. Plain JavaScript so that it starts with
// nothing but Node: no loader, no TypeScript, no dependencies.
//
// Protocol, over the IPC channel with advanced serialization (Buffers travel as bytes):
//   parent -> helper  { t: 'run', id, args, cwd, env, input: Buffer, maxBuffer }
//                     { t: 'kill', id }          abort that run (git gets SIGTERM, as execFile's signal does)
//   helper -> parent  { t: 'done', id, stdout: Buffer, stderr: Buffer, error: null | ErrorFields }
//                     { t: 'thrown', id, error: ErrorFields }   execFile refused the arguments outright
import { execFile } from 'node:child_process';

/** @type {Map<number, AbortController>} */
const running = new Map();
const EMPTY = Buffer.alloc(0);

/** The fields of an execFile error that git() looks at, as plain data. */
function fieldsOf(err) {
  const e = /** @type {Record<string, unknown>} */ (err ?? {});
  const pick = (v) => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null ? v : undefined);
  return {
    name: typeof e.name === 'string' ? e.name : 'Error',
    message: typeof e.message === 'string' ? e.message : String(err),
    code: pick(e.code),
    errno: pick(e.errno),
    syscall: pick(e.syscall),
    path: pick(e.path),
    killed: pick(e.killed),
    signal: pick(e.signal),
    cmd: pick(e.cmd),
  };
}

function reply(message) {
  // The parent may be gone already; then there is nobody left to tell.
  if (process.connected) process.send(message, undefined, undefined, () => {});
}

function run({ id, args, cwd, env, input, maxBuffer }) {
  const controller = new AbortController();
  running.set(id, controller);
  let child;
  try {
    child = execFile('git', args, { cwd, env, maxBuffer, signal: controller.signal, encoding: 'buffer' }, (error, stdout, stderr) => {
      running.delete(id);
      reply({ t: 'done', id, stdout: stdout ?? EMPTY, stderr: stderr ?? EMPTY, error: error ? fieldsOf(error) : null });
    });
  } catch (err) {
    running.delete(id);
    reply({ t: 'thrown', id, error: fieldsOf(err) });
    return;
  }
  // As in git(): always close stdin, and let an early exit's EPIPE be reported by the exit status.
  child.stdin?.on('error', () => {});
  child.stdin?.end(input && input.length > 0 ? Buffer.from(input.buffer, input.byteOffset, input.byteLength) : EMPTY);
}

process.on('message', (message) => {
  if (message?.t === 'run') run(message);
  else if (message?.t === 'kill') running.get(message.id)?.abort();
});

// The parent is gone (exited, crashed, or dropped us): so is our reason to live. Running git
// processes are left to finish, as they would be had the parent spawned them itself.
process.on('disconnect', () => process.exit(0));
