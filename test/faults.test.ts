import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Worker } from '@temporalio/worker';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import { createApp } from '../api/app.ts';
import { createWorker } from '../cli/worker.ts';
import { openDatabase } from '../db/client.ts';
import type { Database } from '../db/client.ts';
import { issueToken } from '../db/repos/tokens.ts';
import type { Blocked } from '../domain/records.ts';
import { summaryQuery } from '../workflows/release/messages.ts';
import { blockedKey } from '../workflows/search-attributes.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';
import { startTcpProxy } from './helpers/tcp-proxy.ts';
import type { TcpProxy } from './helpers/tcp-proxy.ts';
import { waitFor } from './helpers/wait.ts';

// Faults from the field, on real things (git, a real PostgreSQL cut off by a TCP proxy, real step
// processes): a transient fault is waited out and shown as `blocked`, never turned into a failure, and
// everything it held up is done exactly once when it ends; a step that hangs is stopped at its timeout.

type App = ReturnType<typeof createApp>;
interface Answer {
  status: number;
  // Tests read response bodies loosely and let their assertions check the shape.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  text: string;
  retryAfter: string | null;
}

/** One HTTP request to the in-process API, with the headers the Stack helper does not return. */
async function request(app: App, token: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await app.request(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text, retryAfter: res.headers.get('retry-after') };
}

const gitIn = async (dir: string, args: string[]): Promise<string> => (await git(args, { cwd: dir })).stdout.trim();
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const lines = async (file: string): Promise<string[]> => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);

/** Pids of live processes whose command line contains `command` and whose environment has `envEntry` (read from /proc). */
async function processesWith(command: string, envEntry: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = (await readFile(`/proc/${name}/cmdline`)).toString().split('\0').join(' ');
      if (!cmdline.includes(command)) continue;
      const status = await readFile(`/proc/${name}/status`, 'utf8');
      if (/^State:\s+Z/m.test(status)) continue; // a zombie runs nothing
      const environ = (await readFile(`/proc/${name}/environ`)).toString().split('\0');
      if (environ.includes(envEntry)) found.push(Number(name));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** Commits reachable from `ref` in `repo` whose message contains `needle` (git log --grep, fixed string). */
async function commitsMentioning(repo: string, ref: string, needle: string): Promise<string[]> {
  const out = await gitIn(repo, ['log', '--format=%H', '--fixed-strings', `--grep=${needle}`, ref]);
  return out.split('\n').filter(Boolean);
}

// --------------------------------------------------------------------------------------------------

describe('the git remote unreachable for 90 s', () => {
  let stack: Stack;
  let repo: GitFixture;
  let out: string;

  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
    out = await mkdtemp(join(tmpdir(), 'culvert-faults-'));
  });
  afterAll(async () => {
    // A failure mid-outage leaves the remote away: put it back so the fixture removes it.
    if (repo) await rename(`${repo.remote}.away`, repo.remote).catch(() => undefined);
    await stack?.stop();
    await repo?.cleanup();
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('blocks picks, a merge, a candidate build and a deployment while the remote is gone, refuses a cut with 503, and finishes each exactly once after', async () => {
    const outageMs = 90_000;
    const api = (method: string, path: string, body?: unknown) => request(stack.app, stack.adminToken, method, path, body);
    const names = { a: unique('flt-picks'), b: unique('flt-pr'), c: unique('flt-bin'), d: unique('flt-deploy'), e: unique('flt-cut') };
    const buildLog = join(out, 'builds.log');
    const deployLog = join(out, 'deploys.log');

    // One remote; each product on a trunk of its own.
    await repo.commit({ 'README.md': 'faults\n' }, 'base');
    await repo.push();
    await repo.branch('trunk-a');
    const cutPointA = await repo.commit({ 'a/base.txt': 'a\n' }, 'a: before the cut', 'trunk-a');
    const picksA: string[] = [];
    for (let i = 0; i < 10; i++) picksA.push(await repo.commit({ [`a/fix-${i}.txt`]: `fix ${i}\n` }, `a: fix ${i}`, 'trunk-a'));
    await repo.push('trunk-a');
    await repo.branch('trunk-b');
    await repo.commit({ 'b/app.txt': 'v1\n' }, 'b: base', 'trunk-b');
    await repo.push('trunk-b');
    await repo.branch('feature-b', 'trunk-b');
    await repo.commit({ 'b/feature.txt': 'feature\n' }, 'b: feature', 'feature-b');
    await repo.push('feature-b');
    for (const t of ['c', 'd', 'e']) {
      await repo.branch(`trunk-${t}`);
      await repo.commit({ [`${t}/base.txt`]: `${t}\n` }, `${t}: base`, `trunk-${t}`);
      await repo.push(`trunk-${t}`);
    }
    const trunkE = await gitIn(repo.remote, ['rev-parse', 'refs/heads/trunk-e']);

    const products = [
      { name: names.a, repository: repo.remote, flow: 'cherry-pick', trunk: 'trunk-a', branchTemplate: 'stable-a/{name}' },
      {
        name: names.b, repository: repo.remote, flow: 'pull-request', trunk: 'trunk-b',
        steps: { test: { argv: ['sh', '-c', 'test -e b/feature.txt'], timeoutSeconds: 60 } }, triggers: [{ on: 'change.requested', run: 'test' }],
      },
      {
        name: names.c, repository: repo.remote, flow: 'binary', trunk: 'trunk-c', branchTemplate: 'bin-c/{name}', versioning: { scheme: 'major.minor', initial: '1.0' },
        steps: { build: { argv: ['sh', '-c', 'echo "$CULVERT_CANDIDATE $CULVERT_COMMIT" >> "$OUT"'], env: { OUT: buildLog } } },
      },
      {
        name: names.d, repository: repo.remote, flow: 'pull-request', trunk: 'trunk-d',
        steps: { deploy: { argv: ['sh', '-c', 'echo "$CULVERT_ENVIRONMENT $CULVERT_COMMIT" >> "$OUT"'], env: { OUT: deployLog } } },
        triggers: [{ on: 'deploy.clicked', run: 'deploy' }], environments: [{ name: 'staging', order: 1, production: false }],
      },
      { name: names.e, repository: repo.remote, flow: 'cherry-pick', trunk: 'trunk-e', branchTemplate: 'stable-e/{name}' },
    ];
    for (const p of products) {
      const created = await api('POST', '/v1/products', p);
      expect(created.status, created.text).toBe(201);
    }
    const rel = { a: `/v1/products/${names.a}/releases/a-1`, b: `/v1/products/${names.b}/releases/b`, c: `/v1/products/${names.c}/releases/1.0`, d: `/v1/products/${names.d}/releases/d` };
    const cuts = await Promise.all([
      api('POST', `/v1/products/${names.a}/releases`, { name: 'a-1', from: cutPointA }),
      api('POST', `/v1/products/${names.b}/releases`, { name: 'b' }),
      api('POST', `/v1/products/${names.c}/releases`, { name: '1.0' }),
      api('POST', `/v1/products/${names.d}/releases`, { name: 'd' }),
    ]);
    for (const cut of cuts) expect(cut.status, cut.text).toBe(201);
    const headD = cuts[3]?.body.headSha as string;

    // (a) ten picks filed (filing reads git, so before the outage), to be approved during it.
    const filed = await api('POST', `${rel.a}/changes/batch`, { requests: picksA.map((sha, i) => ({ kind: 'pick', commits: [sha], reason: `fix ${i}`, severity: 'normal' })) });
    expect(filed.status, filed.text).toBe(200);
    expect(filed.body.results.map((r: { ok: boolean; change: { state: string } }) => r.ok && r.change.state)).toEqual(picksA.map(() => 'awaiting-decision'));
    const pickIds = filed.body.results.map((r: { id: string }) => r.id) as string[];
    // (b) a merge request filed and checked.
    const mergeReq = await api('POST', `${rel.b}/changes`, { kind: 'merge', branch: 'feature-b' });
    expect(mergeReq.status, mergeReq.text).toBe(201);
    const checked = await waitFor('the merge request to be checked', async () => {
      const r = await api('GET', `${rel.b}/changes/${mergeReq.body.id}`);
      return r.body.state === 'awaiting-decision' ? r.body : undefined;
    });
    expect(checked.check).toBe('passed');
    const headB = await gitIn(repo.remote, ['rev-parse', 'refs/heads/trunk-b']);
    // (c) RC1 built before the outage; the final build will start during it.
    await waitFor('RC1 of the binary release', async () => (await api('GET', rel.c)).body.candidates[0]?.state === 'built');
    expect(await lines(buildLog)).toHaveLength(1);
    for (const path of Object.values(rel)) expect((await api('GET', path)).body.blocked).toEqual([]);

    // ---------------------------------------------------------------- the remote goes away
    const away = `${repo.remote}.away`;
    await rename(repo.remote, away);
    const t0 = Date.now();

    const actedAt: Record<string, number> = {};
    const decided = await api('POST', `${rel.a}/changes/decisions`, { decisions: pickIds.map((id) => ({ id, decision: 'approve' })) });
    actedAt.a = Date.now();
    expect(decided.status, decided.text).toBe(200);
    expect(decided.body.results.every((r: { ok: boolean }) => r.ok)).toBe(true);
    const approved = await api('POST', `${rel.b}/changes/${mergeReq.body.id}/decision`, { decision: 'approve' });
    actedAt.b = Date.now();
    expect(approved.status, approved.text).toBe(200);
    const frozen = await api('POST', `${rel.c}/freeze`);
    actedAt.c = Date.now();
    expect(frozen.status, frozen.text).toBe(200);
    const click = await api('POST', `${rel.d}/deployments`, { environment: 'staging' });
    actedAt.d = Date.now();
    expect(click.status, click.text).toBe(202);
    const deploymentId = click.body.deploymentId as string;

    // (e) a cut during the outage: refused promptly, nothing left behind.
    const cutAttempt = (async () => {
      const started = Date.now();
      const res = await api('POST', `/v1/products/${names.e}/releases`, { name: 'e-1' });
      const latency = Date.now() - started;
      const after = await api('GET', `/v1/products/${names.e}/releases/e-1`);
      const listed = await api('GET', `/v1/products/${names.e}/releases`);
      return { res, latency, after, listed };
    })();

    interface Watch {
      key: 'a' | 'b' | 'c' | 'd';
      path: string;
      workflowId: string;
      firstBlockedMs?: number;
      firstAttempts?: number;
      maxAttempts: number;
      reasons: Set<string>;
      summaryBlocked?: string;
      searchAttribute?: string;
    }
    const watches: Watch[] = (['a', 'b', 'c', 'd'] as const).map((key) => ({
      key, path: rel[key], workflowId: `culvert/${names[key]}/${rel[key].split('/').at(-1) ?? ''}`, maxAttempts: 0, reasons: new Set<string>(),
    }));
    const remoteGone = /the git remote cannot be reached/;
    let polls = 0;
    await waitFor('the end of the 90 s outage', async () => {
      polls++;
      for (const w of watches) {
        const r = await api('GET', w.path);
        // The API answers throughout, and nothing is marked failed.
        expect(r.status, r.text).toBe(200);
        const release = r.body;
        switch (w.key) {
          case 'a':
            expect(release.state).toBe('open');
            expect(release.changes.map((c: { state: string }) => c.state)).toEqual(pickIds.map(() => 'approved'));
            break;
          case 'b':
            expect(release.changes.map((c: { state: string }) => c.state)).toEqual(['approved']);
            expect(release.headSha).toBe(headB);
            break;
          case 'c':
            expect(release.state).toBe('frozen');
            expect(release.candidates.filter((c: { state: string }) => c.state === 'failed')).toEqual([]);
            break;
          case 'd':
            expect(release.deployments.map((x: { id: string; state: string }) => `${x.id}:${x.state}`)).toEqual([expect.stringMatching(new RegExp(`^${deploymentId}:(pending|running)$`))]);
            break;
        }
        const blocked = release.blocked as Blocked[];
        for (const b of blocked) {
          w.reasons.add(`${b.what}: ${b.reason}`);
          if (!remoteGone.test(b.reason)) continue;
          w.firstBlockedMs ??= Date.now() - (actedAt[w.key] ?? t0);
          w.firstAttempts ??= b.attempts;
          w.maxAttempts = Math.max(w.maxAttempts, b.attempts);
        }
        if (w.summaryBlocked === undefined) {
          const summary = await stack.client.workflow.getHandle(w.workflowId).query(summaryQuery);
          const hit = summary.blocked.find((b) => remoteGone.test(b.reason));
          if (hit) w.summaryBlocked = `${hit.what}: ${hit.reason}`;
        }
        if (w.searchAttribute === undefined) {
          const shown = (await stack.client.workflow.getHandle(w.workflowId).describe()).typedSearchAttributes.get(blockedKey);
          if (shown && remoteGone.test(shown)) w.searchAttribute = shown;
        }
      }
      return Date.now() - t0 >= outageMs;
    }, outageMs + 60_000);

    // Still nothing failed in Temporal either: every release workflow runs on, waiting.
    for (const w of watches) expect((await stack.client.workflow.getHandle(w.workflowId).describe()).status.name, w.workflowId).toBe('RUNNING');
    const cut = await cutAttempt;
    // The remote is put back only now, after the cut's answer: it was refused while the remote was away.
    await rename(away, repo.remote);
    const restoredAt = Date.now();
    const outageLasted = restoredAt - t0;

    for (const w of watches) {
      console.log(`faults: remote away: ${w.key} (${names[w.key]}) blocked ${w.firstBlockedMs === undefined ? 'never' : `after ${seconds(w.firstBlockedMs)}`}, ` +
        `attempts ${w.firstAttempts ?? '-'} -> ${w.maxAttempts}; shown: ${[...w.reasons].join(' | ')}`);
    }
    console.log(`faults: remote away for ${seconds(outageLasted)}, ${polls} polls of the API; cut refused in ${cut.latency} ms with ${cut.res.status} ${cut.res.body?.code} (Retry-After ${cut.res.retryAfter}): ${cut.res.body?.message}`);

    for (const w of watches) {
      expect(w.firstBlockedMs, `${w.key}: blocked on the remote in the release row`).toBeDefined();
      expect(w.maxAttempts, `${w.key}: attempts grew while the remote was away`).toBeGreaterThanOrEqual(3);
      expect(w.maxAttempts).toBeGreaterThan(w.firstAttempts ?? 0);
      expect(w.summaryBlocked, `${w.key}: summaryQuery shows blocked`).toBeDefined();
      expect(w.searchAttribute, `${w.key}: CulvertBlocked shows the remote`).toBeDefined();
    }
    expect(cut.res.status, cut.res.text).toBe(503);
    expect(cut.res.body.code).toBe('unavailable');
    expect(cut.res.retryAfter).not.toBeNull();
    expect(cut.latency).toBeLessThan(60_000);
    expect(cut.after.status, cut.after.text).toBe(404);
    expect(cut.listed.body.items).toEqual([]);
    expect(outageLasted).toBeGreaterThanOrEqual(outageMs);

    // ---------------------------------------------------------------- the remote is back
    const finishedAt: Record<string, number> = {};
    const settled = (key: string, what: string, probe: () => Promise<boolean>) =>
      waitFor(what, async () => {
        if (!(await probe())) return false;
        finishedAt[key] = Date.now() - restoredAt;
        return true;
      }, 180_000);
    await Promise.all([
      settled('a', 'the ten picks applied', async () => (await api('GET', `${rel.a}/changes?state=merged&limit=1`)).body.total === pickIds.length),
      settled('b', 'the merge', async () => (await api('GET', `${rel.b}/changes/${mergeReq.body.id}`)).body.state === 'merged'),
      settled('c', 'the final build and the release closed', async () => {
        const r = (await api('GET', rel.c)).body;
        return r.state === 'closed' && r.candidates.some((c: { final: boolean; state: string }) => c.final && c.state === 'built');
      }),
      settled('d', 'the deployment', async () => (await api('GET', rel.d)).body.deployments[0]?.state === 'succeeded'),
    ]);
    await waitFor('blocked to be empty everywhere', async () => {
      for (const path of Object.values(rel)) if ((await api('GET', path)).body.blocked.length !== 0) return false;
      return true;
    });
    finishedAt.unblocked = Date.now() - restoredAt;
    console.log(`faults: after the remote came back: ${Object.entries(finishedAt).map(([k, ms]) => `${k} done in ${seconds(ms)}`).join(', ')}`);

    // (a) each approved pick applied exactly once, nothing else on the branch.
    const branchA = 'refs/heads/stable-a/a-1';
    const bodies = await gitIn(repo.remote, ['log', '--format=%B%x00', `${cutPointA}..${branchA}`]);
    expect(bodies.split('\0').map((x) => x.trim()).filter(Boolean)).toHaveLength(picksA.length);
    for (const sha of picksA) expect(bodies.split(`(cherry picked from commit ${sha})`).length - 1, sha).toBe(1);
    const changesA = (await api('GET', `${rel.a}/changes?limit=100`)).body.items as { state: string }[];
    expect(changesA.map((c) => c.state)).toEqual(pickIds.map(() => 'merged'));
    expect((await api('GET', rel.a)).body.headSha).toBe(await gitIn(repo.remote, ['rev-parse', branchA]));

    // (b) the merge exactly once, on the head it was checked against.
    const mergedB = (await api('GET', `${rel.b}/changes/${mergeReq.body.id}`)).body;
    const trunkB = await gitIn(repo.remote, ['rev-parse', 'refs/heads/trunk-b']);
    expect(await commitsMentioning(repo.remote, 'refs/heads/trunk-b', `Culvert-Change: ${mergeReq.body.id}`)).toEqual([trunkB]);
    expect(mergedB.resultSha).toBe(trunkB);
    expect((await gitIn(repo.remote, ['rev-list', '--parents', '-n', '1', trunkB])).split(' ')[1]).toBe(headB);

    // (c) the final built once, RC1 not again; the release went on to close.
    const releaseC = (await api('GET', rel.c)).body;
    expect(releaseC.candidates.map((c: { label: string; state: string }) => `${c.label}:${c.state}`)).toEqual(['1.0 RC1:built', '1.0:built']);
    const builds = await lines(buildLog);
    expect(builds.map((l) => l.split(' ').slice(0, -1).join(' '))).toEqual(['1.0 RC1', '1.0']);
    expect(releaseC.runs.filter((x: { step: string }) => x.step === 'build').map((x: { state: string }) => x.state)).toEqual(['succeeded', 'succeeded']);

    // (d) the deployment ran its step exactly once.
    expect(await lines(deployLog)).toEqual([`staging ${headD}`]);
    const releaseD = (await api('GET', rel.d)).body;
    expect(releaseD.deployments.map((x: { id: string; state: string }) => `${x.id}:${x.state}`)).toEqual([`${deploymentId}:succeeded`]);
    expect(releaseD.runs.filter((x: { step: string }) => x.step === 'deploy')).toHaveLength(1);

    // blocked is gone from the workflows too: their summary and the search attribute.
    for (const w of watches.filter((x) => x.key !== 'c')) {
      const handle = stack.client.workflow.getHandle(w.workflowId);
      await waitFor(`${w.key}: nothing blocked in the workflow`, async () => (await handle.query(summaryQuery)).blocked.length === 0 &&
        !(await handle.describe()).typedSearchAttributes.get(blockedKey));
    }
    expect((await stack.client.workflow.getHandle(watches[2]?.workflowId ?? '').describe()).status.name).toBe('COMPLETED');

    // (e) the refused cut left no branch; cut again, it succeeds.
    expect((await git(['rev-parse', '--verify', '--quiet', 'refs/heads/stable-e/e-1'], { cwd: repo.remote, okExitCodes: [1] })).exitCode).toBe(1);
    const started = Date.now();
    const recut = await api('POST', `/v1/products/${names.e}/releases`, { name: 'e-1' });
    expect(recut.status, recut.text).toBe(201);
    expect(recut.body).toMatchObject({ branch: 'stable-e/e-1', cutFrom: trunkE, blocked: [] });
    expect(await gitIn(repo.remote, ['rev-parse', 'refs/heads/stable-e/e-1'])).toBe(trunkE);
    console.log(`faults: the cut tried again after the outage succeeded in ${Date.now() - started} ms`);
  }, 420_000);
});

// --------------------------------------------------------------------------------------------------

describe('the database unreachable for 30 s', () => {
  const url = process.env.DATABASE_URL;
  const quiet = (): void => undefined;
  let admin: postgres.Sql;
  let dbName: string;
  let direct: Database;
  let database: Database;
  let proxy: TcpProxy;
  let connection: Connection;
  let client: Client;
  let native: NativeConnection;
  let worker: Worker;
  let running: Promise<void>;
  let app: App;
  let token: string;
  let dataDir: string;
  let repo: GitFixture;
  /** Holds a merge right before its push until the outage has begun (ordering only: the push and what follows run as they would). */
  let beginOutage!: () => void;
  const outageBegun = new Promise<void>((resolve) => {
    beginOutage = resolve;
  });

  beforeAll(async () => {
    if (!url) return;
    // A fresh database on the server of DATABASE_URL, reached by Culvert (API and worker) only through the proxy.
    dbName = `culvert_t_${randomBytes(6).toString('hex')}`;
    admin = postgres(url, { max: 1, onnotice: quiet });
    await admin.unsafe(`create database ${dbName}`);
    const target = new URL(url);
    target.pathname = `/${dbName}`;
    direct = await openDatabase({ url: target.toString() });
    await direct.migrate();
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    const viaProxy = new URL(target);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    database = await openDatabase({ url: viaProxy.toString() });

    const address = inject('temporalAddress');
    const namespace = inject('temporalNamespace');
    const taskQueue = `test-${randomUUID()}`;
    dataDir = await mkdtemp(join(tmpdir(), 'culvert-data-'));
    connection = await Connection.connect({ address });
    client = new Client({ connection, namespace });
    app = createApp({ db: database.db, temporal: { client, namespace, taskQueue, uiUrl: null } });
    token = (await issueToken(database.db, { name: 'admin', role: 'admin', products: null })).secret;
    native = await NativeConnection.connect({ address });
    worker = await createWorker({
      connection: native, namespace, taskQueue, workflowBundle: { codePath: inject('workflowBundlePath') },
      deps: { db: database.db, dataDir, faults: { beforePush: () => outageBegun } },
    });
    running = worker.run();
    repo = await createRemote();
  });
  afterAll(async () => {
    if (!url) return;
    proxy?.restore();
    beginOutage();
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    await native?.close();
    await connection?.close();
    await database?.close();
    await proxy?.close();
    await direct?.close();
    await admin?.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin?.end({ timeout: 5 });
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    await repo?.cleanup();
  });

  it.skipIf(!url)('merges an approved request exactly once across the outage, answers 503 with Retry-After meanwhile, and shows the database as blocked', async () => {
    const outageMs = 30_000;
    const api = (method: string, path: string, body?: unknown) => request(app, token, method, path, body);
    const product = unique('flt-db');
    await repo.commit({ 'README.md': 'db outage\n' }, 'base');
    await repo.push();
    await repo.branch('feature');
    await repo.commit({ 'feature.txt': 'feature\n' }, 'feature', 'feature');
    await repo.push('feature');
    const created = await api('POST', '/v1/products', {
      name: product, repository: repo.remote, flow: 'pull-request', trunk: 'main',
      steps: { test: { argv: ['sh', '-c', 'test -e feature.txt'], timeoutSeconds: 60 } }, triggers: [{ on: 'change.requested', run: 'test' }],
    });
    expect(created.status, created.text).toBe(201);
    const cut = await api('POST', `/v1/products/${product}/releases`, { name: 'main' });
    expect(cut.status, cut.text).toBe(201);
    const base = cut.body.headSha as string;
    const rel = `/v1/products/${product}/releases/main`;
    const filed = await api('POST', `${rel}/changes`, { kind: 'merge', branch: 'feature' });
    expect(filed.status, filed.text).toBe(201);
    const id = filed.body.id as string;
    const checked = await waitFor('the checks', async () => {
      const r = await api('GET', `${rel}/changes/${id}`);
      return r.body.state === 'awaiting-decision' ? r.body : undefined;
    });
    expect(checked.check).toBe('passed');
    const handle = client.workflow.getHandle(`culvert/${product}/main`);
    const trailer = `Culvert-Change: ${id}`;

    // Approved just before the cut: the merge (held right before its push until then) and the recorder run during the outage.
    const approved = await api('POST', `${rel}/changes/${id}/decision`, { decision: 'approve' });
    expect(approved.status, approved.text).toBe(200);
    expect(approved.body.state).toBe('approved');
    proxy.cut();
    const t0 = Date.now();
    beginOutage();

    let firstBlockedMs: number | undefined;
    let maxAttempts = 0;
    let pushedMs: number | undefined;
    const shown = new Set<string>();
    const answers = new Map<string, number>();
    let slowest503 = 0;
    let firstBlockedSince: number | undefined;
    await waitFor('the end of the 30 s outage', async () => {
      const asked = Date.now();
      const r = await api('GET', rel);
      slowest503 = Math.max(slowest503, Date.now() - asked);
      answers.set(`${r.status} ${r.body?.code} Retry-After ${r.retryAfter}`, (answers.get(`${r.status} ${r.body?.code} Retry-After ${r.retryAfter}`) ?? 0) + 1);
      expect(r.status, r.text).toBe(503);
      expect(r.body.code).toBe('unavailable');
      expect(r.retryAfter).toBe('5');
      const summary = await handle.query(summaryQuery);
      for (const b of summary.blocked) {
        shown.add(`${b.what}: ${b.reason}`);
        if (!/database/.test(b.reason)) continue;
        firstBlockedMs ??= Date.now() - t0;
        firstBlockedSince = Math.min(firstBlockedSince ?? Infinity, new Date(b.since).getTime() - t0);
        maxAttempts = Math.max(maxAttempts, b.attempts);
      }
      if (pushedMs === undefined && (await commitsMentioning(repo.remote, 'refs/heads/main', trailer)).length > 0) pushedMs = Date.now() - t0;
      return Date.now() - t0 >= outageMs;
    }, outageMs + 30_000);
    const health = await api('GET', '/healthz');
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ database: 'down' });
    proxy.restore();
    const restoredAt = Date.now();
    console.log(`faults: database away for ${seconds(restoredAt - t0)}; API answered ${[...answers].map(([a, n]) => `${a} x${n}`).join(', ')}; ` +
      `slowest 503 took ${seconds(slowest503)}; summary showed blocked after ${firstBlockedMs === undefined ? 'never' : seconds(firstBlockedMs)} ` +
      `(blocked since ${firstBlockedSince === undefined ? '-' : seconds(firstBlockedSince)}), attempts up to ${maxAttempts}; ` +
      `merge pushed ${pushedMs === undefined ? 'not during the outage' : `${seconds(pushedMs)} into it`}; shown: ${[...shown].join(' | ')}`);
    expect(firstBlockedMs, 'the summary showed the database blocking').toBeDefined();

    const merged = await waitFor('the change merged', async () => {
      const r = await api('GET', `${rel}/changes/${id}`);
      return r.status === 200 && r.body.state === 'merged' ? r.body : undefined;
    }, 120_000);
    const mergedAfter = Date.now() - restoredAt;
    const head = await gitIn(repo.remote, ['rev-parse', 'refs/heads/main']);
    expect(await commitsMentioning(repo.remote, 'refs/heads/main', trailer)).toEqual([head]);
    expect((await gitIn(repo.remote, ['rev-list', '--count', `${base}..refs/heads/main`]))).toBe('2'); // the merge and the feature commit
    expect(merged.resultSha).toBe(head);
    expect((await gitIn(repo.remote, ['rev-list', '--parents', '-n', '1', head])).split(' ').slice(1)).toEqual([base, checked.sourceSha]);
    const rowShowed = new Set<string>();
    await waitFor('nothing blocked in the workflow and in the release row', async () => {
      const summary = await handle.query(summaryQuery);
      const row = await api('GET', rel);
      for (const b of row.body.blocked as Blocked[]) rowShowed.add(`${b.what} (${b.attempts} attempts)`);
      return summary.blocked.length === 0 && summary.outbox === 0 && row.body.blocked.length === 0 && row.body.headSha === head;
    }, 120_000);
    console.log(`faults: after the database came back: merged in the API after ${seconds(mergedAfter)}, all unblocked after ${seconds(Date.now() - restoredAt)}; ` +
      `the release row showed blocked after the restore: ${rowShowed.size > 0 ? [...rowShowed].join(', ') : 'nothing (already cleared when read)'}`);
    expect((await handle.describe()).status.name).toBe('RUNNING');
  }, 240_000);
});

// --------------------------------------------------------------------------------------------------

describe('a step that hangs past its timeout', () => {
  let stack: Stack;
  let repo: GitFixture;

  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
  });
  afterAll(async () => {
    await stack?.stop();
    await repo?.cleanup();
  });

  it('times the check out, leaves no process behind, refuses the approval, and does the same again on retry', async () => {
    const product = unique('flt-hang');
    await repo.commit({ 'README.md': 'hangs\n' }, 'base');
    await repo.push();
    await repo.branch('feature');
    await repo.commit({ 'feature.txt': 'x\n' }, 'feature', 'feature');
    await repo.push('feature');
    const created = await stack.call('POST', '/v1/products', {
      body: {
        name: product, repository: repo.remote, flow: 'pull-request', trunk: 'main',
        steps: { test: { argv: ['sh', '-c', 'sleep 600'], timeoutSeconds: 2 } }, triggers: [{ on: 'change.requested', run: 'test' }],
      },
    });
    expect(created.status, created.text).toBe(201);
    expect((await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: 'main' } })).status).toBe(201);
    const changes = `/v1/products/${product}/releases/main/changes`;
    const filed = await stack.call('POST', changes, { body: { kind: 'merge', branch: 'feature' } });
    expect(filed.status, filed.text).toBe(201);
    expect(filed.body.state).toBe('checking');
    const id = filed.body.id as string;
    const marker = `CULVERT_CHANGE_ID=${id}`;

    const timesOut = async (round: string, previousRun: string | null) => {
      const started = Date.now();
      // The step really runs (so the check below that none is left could see one).
      const pids = await waitFor(`${round}: the sleep 600 process`, async () => {
        const found = await processesWith('sleep 600', marker);
        return found.length > 0 ? found : undefined;
      }, 20_000);
      const seenAfter = Date.now() - started;
      const change = await waitFor(`${round}: the check to fail`, async () => {
        const r = await stack.call('GET', `${changes}/${id}`);
        return r.body.state === 'awaiting-decision' && r.body.checkRunId !== previousRun ? r.body : undefined;
      }, 20_000);
      const endedAfter = Date.now() - started;
      expect(change.check).toBe('failed');
      expect(change.checks).toHaveLength(1);
      expect(change.checks[0]).toMatchObject({ id: change.checkRunId, step: 'test', state: 'timed_out' });
      const left = await processesWith('sleep 600', marker);
      expect(left, `sleep 600 processes of change ${id} still running`).toEqual([]);
      const refused = await stack.call('POST', `${changes}/${id}/decision`, { body: { decision: 'approve' } });
      expect(refused.status, refused.text).toBe(422);
      expect(refused.body.code).toBe('checks_failed');
      console.log(`faults: hanging step, ${round}: process ${pids.join(',')} seen after ${seconds(seenAfter)}, check failed (timed_out, ${change.checks[0].durationMs} ms) after ${seconds(endedAfter)}, no process left`);
      return change.checkRunId as string;
    };

    const firstRun = await timesOut('first check', null);
    const retried = await stack.call('POST', `${changes}/${id}/retry`);
    expect(retried.status, retried.text).toBe(200);
    expect(retried.body.state).toBe('checking');
    const secondRun = await timesOut('after retry', firstRun);
    expect(secondRun).not.toBe(firstRun);
    const release = (await stack.call('GET', `/v1/products/${product}/releases/main`)).body;
    expect(release.runs.filter((r: { step: string }) => r.step === 'test').map((r: { state: string }) => r.state)).toEqual(['timed_out', 'timed_out']);
    expect(release.blocked).toEqual([]);
  }, 120_000);
});
