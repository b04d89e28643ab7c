// Runs the local Temporal dev server (`temporal server start-dev`) as a child process.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { startDevArgs, type DevServerConfig, type StartDevOverrides } from './dev-server-config.ts';
import { requireTemporalCli } from './temporal-cli.ts';

export interface StartDevServerOptions {
  /** Repo root: relative dbFile and .culvert/ are resolved against it; also the CLI's cwd. */
  root: string;
  cfg: DevServerConfig;
  /** Receives every output line of the server (also written to .culvert/temporal.log). */
  log?: (line: string) => void;
  /** Per-run changes to cfg (port, uiPort, headless, dbFile, dynamicConfig). */
  overrides?: StartDevOverrides;
  /** CLI binary; default requireTemporalCli(root). */
  cli?: string;
  /** How long to wait for the frontend port to accept connections; default 60 s. */
  readyTimeoutMs?: number;
}

export interface DevServerHandle {
  /** host:port of the frontend gRPC service, for Connection/NativeConnection. */
  address: string;
  uiUrl: string | null;
  namespace: string;
  pid: number;
  logFile: string;
  /** SIGTERM, wait for exit (SIGKILL after 10 s). Idempotent. */
  stop(): Promise<void>;
}

interface PidFile {
  pid: number;
  address: string;
  startedAt: string;
}

const STOP_GRACE_MS = 10_000;
/**
 * The frontend port accepts connections ~0.3 s before `start-dev` has started every service and printed its banner
 * ("Temporal Server: host:port"); after the port opens we also wait for that banner, but at most this long, so that a
 * CLI version with a different banner only costs a few seconds.
 */
const BANNER_GRACE_MS = 5_000;
const BANNER = /^Temporal Server:/;
const TAIL_LINES = 30;

function clientHost(ip: string): string {
  if (ip === '0.0.0.0') return '127.0.0.1';
  if (ip === '::') return '::1';
  return ip;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Resolves true when something accepts TCP connections on host:port. */
export function portAcceptsConnections(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.removeAllListeners();
      socket.destroy();
      resolvePromise(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPidFile(path: string): PidFile | null {
  try {
    const data = JSON.parse(readFileSync(path, 'utf8')) as Partial<PidFile>;
    if (typeof data.pid === 'number' && typeof data.address === 'string') {
      return { pid: data.pid, address: data.address, startedAt: String(data.startedAt ?? '?') };
    }
  } catch {
    // missing or unreadable: no earlier server known
  }
  return null;
}

function portInUseMessage(what: string, address: string, pidFilePath: string, earlier: PidFile | null): string {
  if (earlier && earlier.address === address && isAlive(earlier.pid)) {
    return (
      `Cannot start the Temporal dev server: ${what} ${address} is taken by a dev server started earlier ` +
      `(pid ${earlier.pid}, since ${earlier.startedAt}, see ${pidFilePath}). ` +
      `Use that one, stop it with \`kill ${earlier.pid}\`, or change the port in temporal-dev.yaml.`
    );
  }
  return (
    `Cannot start the Temporal dev server: ${what} ${address} is already in use by another process ` +
    `(perhaps a \`temporal server start-dev\` started by hand; \`ss -ltnp | grep ${address.split(':').pop()}\` shows which). ` +
    `Stop it or change the port in temporal-dev.yaml.`
  );
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function startDevServer(opts: StartDevServerOptions): Promise<DevServerHandle> {
  const { root, cfg, overrides = {} } = opts;
  const cli = opts.cli ?? requireTemporalCli(root);
  const stateDir = join(root, '.culvert');
  const logFile = join(stateDir, 'temporal.log');
  mkdirSync(stateDir, { recursive: true });

  const port = overrides.port ?? cfg.port;
  // One pid file per port, so servers on different ports (dev + tests) don't clobber each other's.
  const pidFilePath = join(stateDir, `temporal-${port}.pid`);
  const host = clientHost(cfg.ip);
  const address = hostPort(host, port);
  const headless = overrides.headless ?? !cfg.ui;
  const uiPort = overrides.uiPort ?? cfg.uiPort;
  const uiHostPort = hostPort(clientHost(cfg.uiIp ?? cfg.ip), uiPort);
  const uiUrl = headless ? null : `http://${uiHostPort}`;

  const earlier = readPidFile(pidFilePath);
  if (await portAcceptsConnections(host, port)) {
    throw new Error(portInUseMessage('frontend port', address, pidFilePath, earlier));
  }
  if (!headless && (await portAcceptsConnections(clientHost(cfg.uiIp ?? cfg.ip), uiPort))) {
    throw new Error(portInUseMessage('UI port', uiHostPort, pidFilePath, null));
  }

  const dbFileSetting = overrides.dbFile !== undefined ? overrides.dbFile : cfg.dbFile;
  const dbFile = dbFileSetting === null ? null : resolve(root, dbFileSetting);
  if (dbFile !== null) mkdirSync(dirname(dbFile), { recursive: true });

  const args = startDevArgs(cfg, { ...overrides, dbFile });
  const logStream = createWriteStream(logFile, { flags: 'a' });
  logStream.write(`\n--- ${new Date().toISOString()} ${cli} ${args.join(' ')}\n`);

  const child = spawn(cli, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  const stdoutTail: string[] = [];
  const stderrTail: string[] = [];
  let bannerSeen = false;
  const pipeLines = (stream: NodeJS.ReadableStream, tail: string[]) => {
    const rl = createInterface({ input: stream, crlfDelay: Infinity });
    rl.on('line', (line) => {
      if (BANNER.test(line)) bannerSeen = true;
      logStream.write(`${line}\n`);
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      opts.log?.(line);
    });
    return new Promise<void>((r) => rl.once('close', () => r()));
  };
  const outputDone = Promise.all([pipeLines(child.stdout, stdoutTail), pipeLines(child.stderr, stderrTail)]);

  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  let spawnError: Error | null = null;
  const exited = new Promise<void>((r) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      r();
    });
    child.once('error', (err) => {
      spawnError = err;
      if (child.pid === undefined) r(); // never started: no 'exit' will follow
    });
  });
  const finished = exited.then(() => outputDone).finally(() => logStream.end());

  // Don't leave an orphaned server behind if this process exits without calling stop().
  const onParentExit = () => {
    if (exitInfo === null) child.kill('SIGTERM');
  };
  process.once('exit', onParentExit);

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (exitInfo === null && child.pid !== undefined) {
        child.kill('SIGTERM');
        const graceful = await Promise.race([exited.then(() => true), delay(STOP_GRACE_MS).then(() => false)]);
        if (!graceful) {
          logStream.write(`--- no exit ${STOP_GRACE_MS} ms after SIGTERM, sending SIGKILL\n`);
          child.kill('SIGKILL');
          await exited;
        }
      }
      await finished;
      process.removeListener('exit', onParentExit);
      const current = readPidFile(pidFilePath);
      if (current && current.pid === child.pid) rmSync(pidFilePath, { force: true });
    })();
    return stopping;
  };

  const tail = () => {
    const lines = stderrTail.length > 0 ? stderrTail : stdoutTail;
    return lines.length > 0 ? `\n${lines.map((l) => `  | ${l}`).join('\n')}` : ' (no output)';
  };

  // Wait for the frontend port (and the banner, see BANNER_GRACE_MS).
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  let portOpenAt: number | null = null;
  for (;;) {
    if (spawnError !== null) {
      await stop();
      throw new Error(`Cannot run the Temporal CLI ${cli}: ${(spawnError as Error).message}`);
    }
    if (exitInfo !== null) {
      await finished;
      process.removeListener('exit', onParentExit);
      const { code, signal } = exitInfo as { code: number | null; signal: NodeJS.Signals | null };
      throw new Error(
        `Temporal dev server exited before it was ready (${signal ?? `exit code ${code}`}); ` +
          `command: ${cli} ${args.join(' ')}; full log: ${logFile}; last output:${tail()}`,
      );
    }
    if (portOpenAt === null && (await portAcceptsConnections(host, port, 500))) portOpenAt = Date.now();
    if (portOpenAt !== null && (bannerSeen || Date.now() - portOpenAt > BANNER_GRACE_MS)) break;
    if (portOpenAt === null && Date.now() > deadline) {
      await stop();
      throw new Error(
        `Temporal dev server did not accept connections on ${address} within ${Math.round((opts.readyTimeoutMs ?? 60_000) / 1000)} s; ` +
          `full log: ${logFile}; last output:${tail()}`,
      );
    }
    await delay(100);
  }

  const pidInfo: PidFile = { pid: child.pid as number, address, startedAt: new Date().toISOString() };
  writeFileSync(pidFilePath, `${JSON.stringify(pidInfo)}\n`);

  return { address, uiUrl, namespace: cfg.namespace, pid: pidInfo.pid, logFile, stop };
}
