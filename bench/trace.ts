// Commit tracing and release notes on a synthetic repository of 50,000 commits and 1,000 releases:
// GET /v1/commits/:sha against `git tag --contains` (tags at the release heads) with and without a
// commit-graph, and GET .../notes against `git log from..to`, all in the same run, over real HTTP.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { serve } from '@hono/node-server';
import { randomBytes } from 'node:crypto';
import { Connection } from '@temporalio/client';
import { CulvertPayloadCodec } from '../cli/payload-codec.ts';
import { culvertClient } from '../cli/temporal-connection.ts';
import { Mirror } from '../activities/git/index.ts';
import { git } from '../activities/git/run.ts';
import { indexTrunk, recordCut, traceMove } from '../activities/trace/index.ts';
import { createApp } from '../api/app.ts';
import { openDatabase } from '../db/client.ts';
import { upsertDeployment } from '../db/repos/deployments.ts';
import { createProduct } from '../db/repos/products.ts';
import { upsertRelease } from '../db/repos/releases.ts';
import { seededRandom } from '../test/helpers/seeded-random.ts';
import { issueToken } from '../db/repos/tokens.ts';
import type { ProductConfig } from '../domain/types.ts';
import type { Benchmark, BenchContext, BenchResult, ResultRow } from './lib.ts';
import { since, summarize } from './lib.ts';

const FIRST_PARENT = 40_000;
const MERGE_EVERY = 20;
const FEATURE_COMMITS = 5;
const RELEASES = 1_000;
const RELEASE_SPACING = 38;
const FIRST_CUT = 1_000;
const DEFAULT_SAMPLES = 150;
/** Without a commit-graph git is slow; it gets fewer samples so the run stays short. */
const NO_GRAPH_SAMPLES = 60;
const NOTES_RUNS = 30;

const GRAPH = 'git tag --contains X (commit-graph)';
const NO_GRAPH = 'git tag --contains X (no commit-graph)';
const API = 'GET /v1/commits/X over HTTP';
const LOG = 'git log from..to (~1,000 commits)';
const NOTES = 'GET notes?from=&to= over HTTP (JSON)';

const releaseName = (i: number): string => `r${String(i).padStart(4, '0')}`;
const T0 = 1_600_000_000;
const data = (text: string): string => `data ${Buffer.byteLength(text)}\n${text}\n`;


function timed(cmd: string, args: string[], cwd: string): Promise<{ ms: number; stdout: string }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, GIT_DIR: cwd, LC_ALL: 'C' } }, (err, stdout) => {
      if (err) reject(err);
      else resolve({ ms: since(start), stdout });
    });
  });
}

interface Repo {
  remote: string;
  /** First-parent commits of main, oldest first (position = index + 1). */
  firstParent: string[];
  /** What each first-parent non-merge commit changed (for picks). */
  change: Map<number, { path: string; content: string }>;
  releases: { name: string; cut: string; head: string; picks: number }[];
  commits: number;
}

async function generate(root: string, progress: (m: string) => void): Promise<Repo> {
  const remote = join(root, 'remote.git');
  await git(['init', '--quiet', '--bare', '--initial-branch=main', remote]);
  const env = { GIT_DIR: remote };
  const marksFile = join(root, 'marks');
  const parts: string[] = [];
  let mark = 0;
  let time = T0;
  const fpMarks: number[] = [];
  const change = new Map<number, { path: string; content: string }>();
  let prev = 0;
  let commits = 0;
  const committer = () => `committer Bench <bench@example.com> ${time++} +0000\n`;
  for (let j = 1; j <= FIRST_PARENT; j++) {
    if (j % MERGE_EVERY === 0 && prev !== 0) {
      let tip = prev;
      const path = `features/f${j}.txt`;
      for (let k = 0; k < FEATURE_COMMITS; k++) {
        mark++;
        parts.push(`commit refs/heads/feature\nmark :${mark}\n${committer()}${data(`feature ${j} step ${k}`)}from :${tip}\nM 100644 inline ${path}\n${data(`feature ${j}\nstep ${k}\n`)}`);
        tip = mark;
        commits++;
      }
      mark++;
      parts.push(`commit refs/heads/main\nmark :${mark}\n${committer()}${data(`Merge feature ${j}`)}from :${prev}\nmerge :${tip}\nM 100644 inline ${path}\n${data(`feature ${j}\nstep ${FEATURE_COMMITS - 1}\n`)}`);
    } else {
      mark++;
      const path = `src/d${j % 50}/f${j % 500}.txt`;
      const content = `line ${j}\n`;
      change.set(j, { path, content });
      parts.push(`commit refs/heads/main\nmark :${mark}\n${committer()}${data(`change ${j}`)}${prev ? `from :${prev}\n` : ''}M 100644 inline ${path}\n${data(content)}`);
    }
    commits++;
    prev = mark;
    fpMarks.push(mark);
  }
  await git(['fast-import', '--quiet', `--export-marks=${marksFile}`], { cwd: remote, env, input: parts.join('') });
  await git(['update-ref', '-d', 'refs/heads/feature'], { cwd: remote, env });
  const shaOf = new Map<number, string>();
  for (const line of (await readFile(marksFile, 'utf8')).split('\n')) {
    const [m, sha] = line.split(' ');
    if (m && sha) shaOf.set(Number(m.slice(1)), sha);
  }
  const firstParent = fpMarks.map((m) => shaOf.get(m) as string);
  progress(`trunk: ${commits} commits (${FIRST_PARENT} first-parent, ${FIRST_PARENT / MERGE_EVERY} merges)`);

  // Releases: cut every RELEASE_SPACING first-parent commits; some get picks (git cherry-pick -x style).
  const rel: string[] = [];
  const releases: Repo['releases'] = [];
  let relMark = 0;
  for (let i = 0; i < RELEASES; i++) {
    const cutIndex = FIRST_CUT + i * RELEASE_SPACING;
    const cut = firstParent[cutIndex - 1] as string;
    const name = releaseName(i);
    const picks = i % 3;
    let head = `${cut}`;
    let from = cut;
    for (let k = 0; k < picks; k++) {
      let origin = cutIndex + 3 + k * 7;
      if (origin % MERGE_EVERY === 0) origin++;
      const what = change.get(origin) as { path: string; content: string };
      relMark++;
      rel.push(`commit refs/heads/rel/${name}\nmark :${relMark}\n${committer()}${data(`change ${origin}\n\n(cherry picked from commit ${firstParent[origin - 1]})\n`)}from ${from}\nM 100644 inline ${what.path}\n${data(what.content)}`);
      from = `:${relMark}`;
      head = from;
      commits++;
    }
    if (picks === 0) rel.push(`reset refs/heads/rel/${name}\nfrom ${cut}\n`);
    rel.push(`reset refs/tags/${name}\nfrom ${head}\n`);
    releases.push({ name, cut, head, picks });
  }
  const relMarks = join(root, 'rel-marks');
  await git(['fast-import', '--quiet', `--export-marks=${relMarks}`], { cwd: remote, env, input: rel.join('') });
  const relSha = new Map<string, string>();
  for (const line of (await readFile(relMarks, 'utf8')).split('\n')) {
    const [m, sha] = line.split(' ');
    if (m && sha) relSha.set(m, sha);
  }
  for (const r of releases) if (r.head.startsWith(':')) r.head = relSha.get(r.head) as string;
  return { remote, firstParent, change, releases, commits };
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const root = await mkdtemp(join(tmpdir(), 'culvert-bench-trace-'));
  // The API process alone, as `culvert api` runs in production: no worker polling beside it. The
  // index is written by calling the activities' functions directly (no workflows needed for that).
  const database = await openDatabase({ memory: true });
  await database.migrate();
  const connection = await Connection.connect({ address: ctx.address });
  const client = culvertClient(connection, ctx.namespace, new CulvertPayloadCodec(randomBytes(32)));
  const app = createApp({ db: database.db, temporal: { client, namespace: ctx.namespace, taskQueue: 'bench-trace', uiUrl: null } });
  const { secret: adminToken } = await issueToken(database.db, { name: 'bench-admin', role: 'admin', products: null });
  const dataDir = join(root, 'data');
  const notes: string[] = [];
  const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
  try {
    let start = performance.now();
    const repo = await generate(root, ctx.progress);
    notes.push(`repository: ${repo.commits} commits, ${repo.releases.length} releases (${repo.releases.filter((r) => r.picks > 0).length} with picks), generated in ${(since(start) / 1000).toFixed(1)}s with git fast-import`);

    // Culvert's side: the product, its trunk index, the 1,000 cuts and the moves that brought in picks.
    const product: ProductConfig = {
      name: 'bench-trace', repository: repo.remote, flow: 'cherry-pick', trunk: 'main', owners: [], steps: {}, triggers: [],
      environments: [{ name: 'dev', order: 1, production: false }, { name: 'staging', order: 2, production: false }, { name: 'prod', order: 3, production: true }],
    };
    const db = database.db;
    const deps = { db, dataDir };
    await createProduct(db, product);
    const mirror = await Mirror.open(join(dataDir, 'mirrors'), repo.remote);
    start = performance.now();
    await mirror.fetch();
    const fetchMs = since(start);
    start = performance.now();
    const line = await indexTrunk(deps, mirror, repo.remote, 'main');
    const indexMs = since(start);
    ctx.progress(`indexed ${line?.commits} trunk commits in ${(indexMs / 1000).toFixed(1)}s`);
    start = performance.now();
    for (const r of repo.releases) {
      await upsertRelease(db, {
        product: product.name, name: r.name, flow: 'cherry-pick', branch: `rel/${r.name}`, production: true, cutFrom: r.cut, headSha: r.cut,
        workflowId: `bench/${r.name}`, createdBy: 'bench', state: 'open',
      });
      await recordCut(deps, mirror, product, r.name, r.cut, new Date());
    }
    const cutMs = since(start);
    start = performance.now();
    for (const r of repo.releases) if (r.picks > 0) await traceMove(deps, mirror, product.name, r.name, r.cut, r.head);
    const moveMs = since(start);
    notes.push(`Culvert: mirror fetch ${(fetchMs / 1000).toFixed(1)}s, trunk index ${(indexMs / 1000).toFixed(1)}s (${line?.commits} commits), `
      + `${repo.releases.length} cuts ${(cutMs / 1000).toFixed(1)}s, ${repo.releases.filter((r) => r.picks > 0).length} moves with picks ${(moveMs / 1000).toFixed(1)}s`);
    // What the environments run: the answer covers them too.
    const rel = (i: number) => repo.releases[i] as Repo['releases'][number];
    for (const [i, env, state] of [[980, 'prod', 'succeeded'], [985, 'prod', 'failed'], [990, 'staging', 'succeeded'], [999, 'dev', 'succeeded']] as const) {
      await upsertDeployment(db, {
        id: `bench-${i}-${env}`, product: product.name, release: rel(i).name, environment: env, commitSha: rel(i).head,
        trigger: 'deploy.clicked', requestedBy: 'bench', state, runId: null,
      });
    }

    await git(['commit-graph', 'write', '--reachable'], { cwd: repo.remote, env: { GIT_DIR: repo.remote } });
    const port = (server.address() as AddressInfo).port;
    const headers = { authorization: `Bearer ${adminToken}` };
    const get = async (path: string): Promise<{ ms: number; body: unknown }> => {
      const t = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
      const text = await res.text();
      const ms = since(t);
      if (res.status !== 200) throw new Error(`bench: GET ${path}: ${res.status} ${text.slice(0, 300)}`);
      return { ms, body: JSON.parse(text) };
    };

    // A random sample of the repository's commits (trunk and picks).
    const all = (await git(['rev-list', '--all'], { cwd: repo.remote, env: { GIT_DIR: repo.remote } })).stdout.split('\n').filter(Boolean);
    const rnd = seededRandom(42);
    const n = ctx.n ?? DEFAULT_SAMPLES;
    const sample = Array.from({ length: n }, () => all[Math.floor(rnd() * all.length)] as string);
    const api: number[] = [];
    const graph: number[] = [];
    const noGraph: number[] = [];
    let mismatches = 0;
    let holding = 0;
    for (const sha of sample.slice(0, 3)) {
      await get(`/v1/commits/${sha}`);
      await timed('git', ['tag', '--contains', sha], repo.remote);
    }
    ctx.progress(`tracing: ${n} commits, API and git with a commit-graph (and ${Math.min(n, NO_GRAPH_SAMPLES)} without one)`);
    for (const [k, sha] of sample.entries()) {
      const answer = await get(`/v1/commits/${sha}`);
      api.push(answer.ms);
      const withGraph = await timed('git', ['tag', '--contains', sha], repo.remote);
      graph.push(withGraph.ms);
      if (k < NO_GRAPH_SAMPLES) noGraph.push((await timed('git', ['-c', 'core.commitGraph=false', 'tag', '--contains', sha], repo.remote)).ms);
      const body = answer.body as { releases: { release: string; how: string }[] };
      const direct = body.releases.filter((r) => r.how === 'direct').map((r) => r.release).sort();
      const tags = withGraph.stdout.split('\n').filter(Boolean).sort();
      holding += tags.length;
      if (direct.join(',') !== tags.join(',')) mismatches++;
    }
    notes.push(`tracing sample: ${n} random commits, ${(holding / n).toFixed(0)} releases hold each on average; answers that differ from git tag --contains: ${mismatches}`);

    // Notes between two releases about 1,000 commits apart.
    const from = rel(500);
    let toIndex = 501;
    let count = 0;
    for (; toIndex < RELEASES; toIndex++) {
      count = Number((await git(['rev-list', '--count', `${rel(toIndex).head}`, `^${from.head}`], { cwd: repo.remote, env: { GIT_DIR: repo.remote } })).stdout.trim());
      if (count >= 1000) break;
    }
    const to = rel(toIndex);
    const notesPath = `/v1/products/${product.name}/notes?from=${from.name}&to=${to.name}`;
    const first = (await get(notesPath)).body as { count: number };
    if (first.count !== count) notes.push(`!! notes list ${first.count} commits, git ${count}`);
    await timed('git', ['log', `${from.name}..${to.name}`], repo.remote);
    const api2: number[] = [];
    const log: number[] = [];
    for (let k = 0; k < NOTES_RUNS; k++) {
      api2.push((await get(notesPath)).ms);
      log.push((await timed('git', ['log', `${from.name}..${to.name}`], repo.remote)).ms);
    }
    notes.push(`notes: ${from.name}..${to.name}, ${count} commits (git log with a commit-graph)`);

    const s = { api: summarize(api), graph: summarize(graph), noGraph: summarize(noGraph), notes: summarize(api2), log: summarize(log) };
    const x = (a: number, b: number) => (b / a).toFixed(1);
    notes.push(`API vs git without a commit-graph: ${x(s.api.p50, s.noGraph.p50)}x faster at p50, ${x(s.api.p95, s.noGraph.p95)}x at p95 (target >= 15x)`);
    notes.push(`API vs git with a commit-graph: ${(s.api.p50 / s.graph.p50).toFixed(2)}x the time at p50, ${(s.api.p95 / s.graph.p95).toFixed(2)}x at p95 (target <= 1x)`);
    notes.push(`notes vs git log: ${(s.notes.p50 / s.log.p50).toFixed(2)}x the time at p50, ${(s.notes.p95 / s.log.p95).toFixed(2)}x at p95 (target <= 1.3x)`);
    const rows: ResultRow[] = [
      { label: GRAPH, samples: graph },
      { label: NO_GRAPH, samples: noGraph, versus: GRAPH },
      { label: API, samples: api, versus: GRAPH },
      { label: LOG, samples: log },
      { label: NOTES, samples: api2, versus: LOG },
    ];
    return { title: 'commit tracing and notes (50k commits, 1,000 releases)', rows, notes };
  } finally {
    server.close();
    await connection.close();
    await database.close();
    await rm(root, { recursive: true, force: true });
  }
}

export const traceBench: Benchmark = {
  name: 'trace',
  description: 'GET /v1/commits/:sha vs git tag --contains (with and without commit-graph); notes vs git log',
  run,
};
