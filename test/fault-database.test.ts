import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import { culvertClient } from '../cli/temporal-connection.ts';
import { testCodec } from './helpers/codec.ts';
import { NativeConnection } from '@temporalio/worker';
import type { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../api/app.ts';
import { createWorker } from '../cli/worker.ts';
import type { Database } from '../db/client.ts';
import { issueToken } from '../db/repos/tokens.ts';
import type { Blocked } from '../domain/records.ts';
import { summaryQuery } from '../workflows/release/messages.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { unique } from './helpers/stack.ts';
import { databaseBehindProxy } from './helpers/pg-behind-proxy.ts';
import type { DatabaseBehindProxy } from './helpers/pg-behind-proxy.ts';
import type { TcpProxy } from './helpers/tcp-proxy.ts';
import { waitFor } from './helpers/wait.ts';
import { commitsMentioning, gitIn, request, seconds } from './helpers/faults.ts';
import type { App } from './helpers/faults.ts';

// A fault from the field, on a real PostgreSQL cut off by a TCP proxy: the API answers 503 with
// Retry-After and changes nothing, the release waits the outage out, and the merge it held is done once.

describe('the database unreachable for 30 s', () => {
  const url = process.env.DATABASE_URL;
  let pg: DatabaseBehindProxy | undefined;
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
    // Culvert (API and worker) reaches its database only through the proxy.
    pg = await databaseBehindProxy(url);
    ({ database, proxy } = pg);

    const address = inject('temporalAddress');
    const namespace = inject('temporalNamespace');
    const taskQueue = `test-${randomUUID()}`;
    dataDir = await mkdtemp(join(tmpdir(), 'culvert-data-'));
    connection = await Connection.connect({ address });
    client = culvertClient(connection, namespace, testCodec());
    app = createApp({ db: database.db, temporal: { client, namespace, taskQueue, uiUrl: null } });
    token = (await issueToken(database.db, { name: 'admin', role: 'admin', products: null })).secret;
    native = await NativeConnection.connect({ address });
    worker = await createWorker({
      connection: native, namespace, taskQueue, codec: testCodec(), workflowBundle: { codePath: inject('workflowBundlePath') },
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
    await pg?.drop();
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

