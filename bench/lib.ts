// Shared helpers for `npm run bench`: statistics, a table printer, an in-process Culvert stack and
// git repositories made to measure. Benchmarks print ratios against a baseline of the same run; none
// of this is a test and nothing here asserts on absolute timings.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Connection } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import { CulvertPayloadCodec } from '../cli/payload-codec.ts';
import { culvertClient } from '../cli/temporal-connection.ts';
import { NativeConnection } from '@temporalio/worker';
import type { Worker } from '@temporalio/worker';
import { git } from '../activities/git/run.ts';
import { createApp } from '../api/app.ts';
import { releaseOperations } from '../api/trains/operations.ts';
import { createWorker } from '../cli/worker.ts';
import { openDatabase } from '../db/client.ts';
import { openFreshDatabase } from '../db/fresh.ts';
import type { Database } from '../db/client.ts';
import { ReleaseFeed } from '../db/feed.ts';
import { issueToken } from '../db/repos/tokens.ts';
import type { Role } from '../domain/types.ts';

// ---------------------------------------------------------------------------------------------------
// What a benchmark module is, and what run.ts hands it.

export interface BenchContext {
  /** The bench's own dev server. */
  address: string;
  namespace: string;
  /** Culvert's workflows, bundled once per run. */
  workflowBundlePath: string;
  /** The no-op workflow of bench/noop-workflow.ts, bundled once per run. */
  noopBundlePath: string;
  /** `--n`, when given: replaces each benchmark's default sample size. */
  n?: number;
  /** Progress for the operator (stderr), not part of the results. */
  progress(message: string): void;
}

export interface ResultRow {
  label: string;
  /** Samples in milliseconds. */
  samples: number[];
  /** Label of the row this one is divided by; a row without it is the baseline or information only. */
  versus?: string;
}

export interface BenchResult {
  title: string;
  rows: ResultRow[];
  notes: string[];
}

export interface Benchmark {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<BenchResult>;
}

// ---------------------------------------------------------------------------------------------------
// Statistics and printing.

/** The p-th percentile (0..100) of `values`, interpolating linearly between closest ranks. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo] ?? Number.NaN;
  const b = sorted[hi] ?? Number.NaN;
  return a + (b - a) * (rank - lo);
}

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  mean: number;
  max: number;
}

export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  return {
    n,
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    mean: n === 0 ? Number.NaN : values.reduce((s, v) => s + v, 0) / n,
    max: n === 0 ? Number.NaN : Math.max(...values),
  };
}

/** Milliseconds since `start` (from `performance.now()`). */
export const since = (start: number): number => performance.now() - start;

export const ms = (v: number): string => (Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v.toFixed(1)) : '-');
export const ratio = (a: number, b: number): string => (Number.isFinite(a / b) && b > 0 ? `${(a / b).toFixed(2)}x` : '-');

/** A plain text table; columns whose header starts with a space are left-aligned, the rest right-aligned. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.trim().length, ...rows.map((r) => (r[i] ?? '').length)));
  const left = header.map((h) => h.startsWith(' '));
  const line = (cells: string[]) => cells
    .map((c, i) => (left[i] ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
    .join('  ')
    .trimEnd();
  return [line(header.map((h) => h.trim())), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** One benchmark's rows: p50/p95 in ms, and each row's ratio to the row it names in `versus`. */
export function formatResult(result: BenchResult): string {
  const byLabel = new Map(result.rows.map((r) => [r.label, summarize(r.samples)]));
  const rows = result.rows.map((r) => {
    const s = byLabel.get(r.label) as Summary;
    const base = r.versus ? byLabel.get(r.versus) : undefined;
    return [
      r.label, String(s.n), ms(s.p50), ms(s.p95), ms(s.max),
      base ? ratio(s.p50, base.p50) : '', base ? ratio(s.p95, base.p95) : '',
    ];
  });
  const table = formatTable([' ' + result.title, 'n', 'p50 ms', 'p95 ms', 'max ms', 'p50 ratio', 'p95 ratio'], rows);
  return [table, ...result.notes.map((n) => `  * ${n}`)].join('\n');
}

/** Polls `probe` every `everyMs` until it returns something other than undefined; fails after `timeoutMs`. */
export async function pollUntil<T>(what: string, probe: () => Promise<T | undefined>, everyMs = 5, timeoutMs = 60_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

// ---------------------------------------------------------------------------------------------------
// An in-process Culvert: API, worker, PGlite in memory, its own task queue and data dir.

export interface CallResult {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON of any route
  text: string;
}

export interface BenchStack {
  app: ReturnType<typeof createApp>;
  database: Database;
  client: Client;
  /** The stack's payload codec (a key of its own): workers a bench starts beside it use it too. */
  codec: CulvertPayloadCodec;
  /** Shared by this stack's worker; benches may start more workers on it. */
  nativeConnection: NativeConnection;
  taskQueue: string;
  dataDir: string;
  adminToken: string;
  token(name: string, role: Role, products?: string[]): Promise<string>;
  /** One request through `app.request`, as an HTTP client would send it (admin token unless `token` is given). */
  call(method: string, path: string, opts?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<CallResult>;
  /** Fails with the response text unless the status is `expected`. */
  expect(expected: number, res: CallResult, what: string): CallResult;
  stop(): Promise<void>;
}

/**
 * PGlite in memory; or, with BENCH_DATABASE_URL, a fresh database on that PostgreSQL server (dropped at
 * the end): the production shape, where the database's work is another process's.
 */
function openBenchDatabase(): Promise<Database> {
  const url = process.env.BENCH_DATABASE_URL;
  return url ? openFreshDatabase(url, 'culvert_bench') : openDatabase({ memory: true });
}

export async function startBenchStack(o: { address: string; namespace: string; workflowBundlePath: string }): Promise<BenchStack> {
  const taskQueue = `bench-${randomUUID()}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'culvert-bench-data-'));
  const database = await openBenchDatabase();
  await database.migrate();
  const connection = await Connection.connect({ address: o.address });
  const codec = new CulvertPayloadCodec(randomBytes(32));
  const client = culvertClient(connection, o.namespace, codec);
  const feed = new ReleaseFeed(database.listen);
  const appDeps = { db: database.db, feed, temporal: { client, namespace: o.namespace, taskQueue, uiUrl: null, codec }, sessionKey: codec.sessionKey() };
  const app = createApp(appDeps);
  const { secret: adminToken } = await issueToken(database.db, { name: 'bench-admin', role: 'admin', products: null });
  const nativeConnection = await NativeConnection.connect({ address: o.address });
  const worker: Worker = await createWorker({
    connection: nativeConnection, namespace: o.namespace, taskQueue, codec, deps: { db: database.db, dataDir, releaseOps: releaseOperations(appDeps) },
    workflowBundle: { codePath: o.workflowBundlePath },
  });
  const running = worker.run();

  const stack: BenchStack = {
    app, database, client, codec, nativeConnection, taskQueue, dataDir, adminToken,
    async token(name, role, products) {
      return (await issueToken(database.db, { name, role, products: products ?? null })).secret;
    },
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = { authorization: `Bearer ${opts.token ?? adminToken}`, ...opts.headers };
      let body: string | undefined;
      if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] = 'application/json';
      }
      const res = await app.request(path, { method, headers, body });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: res.status, body: parsed, text };
    },
    expect(expected, res, what) {
      if (res.status !== expected) throw new Error(`bench: ${what}: expected HTTP ${expected}, got ${res.status}: ${res.text}`);
      return res;
    },
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await nativeConnection.close();
      await connection.close();
      await feed.close();
      await database.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return stack;
}

// ---------------------------------------------------------------------------------------------------
// Git: a bare remote with a trunk and N feature branches, written in one `git fast-import`.

export interface BenchRemote {
  /** Path of the bare repository (what a product's `repository` points at). */
  remote: string;
  trunk: string;
  /** Trunk's head right after generation. */
  base: string;
  /** Feature branches in order; each adds one file of its own, so every merge is clean and real. */
  branches: { name: string; sha: string }[];
  cleanup(): Promise<void>;
}

// Fixed identity and dates: two remotes generated with the same arguments hold the same objects.
const FIXED_COMMITTER = 'Bench <bench@example.com> 946684800 +0000';

function dataBlock(text: string): string {
  return `data ${Buffer.byteLength(text)}\n${text}\n`;
}

/**
 * A bare repository with `trunk` holding `files` files and `branches` feature branches (`f0`, `f1`, ...)
 * off it. Generated with fixed dates, so equal arguments give byte-identical remotes.
 */
export async function createBenchRemote(opts: { branches: number; files?: number; trunk?: string; label?: string }): Promise<BenchRemote> {
  const trunk = opts.trunk ?? 'main';
  const files = opts.files ?? 50;
  const root = await mkdtemp(join(tmpdir(), `culvert-bench-${opts.label ?? 'git'}-`));
  const remote = join(root, 'remote.git');
  await git(['init', '--quiet', '--bare', `--initial-branch=${trunk}`, remote]);

  let stream = `commit refs/heads/${trunk}\nmark :1\ncommitter ${FIXED_COMMITTER}\n${dataBlock('initial')}`;
  for (let i = 0; i < files; i++) {
    stream += `M 100644 inline src/module-${String(i).padStart(3, '0')}.txt\n${dataBlock(`module ${i}\n${'line\n'.repeat(20)}`)}`;
  }
  stream += 'M 100644 inline README.md\n' + dataBlock('bench repository\n');
  for (let i = 0; i < opts.branches; i++) {
    stream += `commit refs/heads/f${i}\nmark :${i + 2}\ncommitter ${FIXED_COMMITTER}\n${dataBlock(`feature ${i}`)}from :1\n`;
    stream += `M 100644 inline features/f${i}.txt\n${dataBlock(`feature ${i}\n`)}`;
  }
  await git(['fast-import', '--quiet'], { cwd: remote, input: stream, env: { GIT_DIR: remote } });

  const refs = (await git(['for-each-ref', '--format=%(refname:short) %(objectname)', 'refs/heads'], { cwd: remote, env: { GIT_DIR: remote } })).stdout;
  const shas = new Map(refs.trim().split('\n').map((l) => l.split(' ') as [string, string]));
  const base = shas.get(trunk);
  if (!base) throw new Error(`bench: fast-import made no ${trunk}`);
  const branches = Array.from({ length: opts.branches }, (_, i) => {
    const sha = shas.get(`f${i}`);
    if (!sha) throw new Error(`bench: fast-import made no f${i}`);
    return { name: `f${i}`, sha };
  });
  return { remote, trunk, base, branches, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/**
 * Head of `branch` in the bare repository `repo`. Reads the loose ref file, which a push writes, so a
 * tight poll costs no process per probe; falls back to `git rev-parse` when the ref is packed.
 */
export async function remoteHead(repo: string, branch: string): Promise<string | null> {
  try {
    return (await readFile(join(repo, 'refs', 'heads', branch), 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const { stdout, exitCode } = await git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], {
    cwd: repo, env: { GIT_DIR: repo }, okExitCodes: [1],
  });
  return exitCode === 0 ? stdout.trim() : null;
}

/** Parents of `commit` in `repo`. */
export async function parentsOf(repo: string, commit: string): Promise<string[]> {
  const { stdout } = await git(['rev-list', '--parents', '-n', '1', commit], { cwd: repo, env: { GIT_DIR: repo } });
  return stdout.trim().split(' ').slice(1);
}
