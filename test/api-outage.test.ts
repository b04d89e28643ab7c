import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection, WorkflowNotFoundError, WorkflowUpdateFailedError, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../api/app.ts';
import { ApiError, databaseFailure, isDatabaseUnreachable, toApiError, updateNotTaken } from '../api/errors.ts';
import { UpdateAcceptedUnread, executeUpdateWithRetry } from '../api/temporal-update.ts';
import { sealingInterceptor } from '../cli/temporal-connection.ts';
import { workflowInterceptorModules } from '../cli/worker.ts';
import type { UpdateRetry } from '../api/temporal-update.ts';
import type { Database, Db } from '../db/client.ts';
import { issueToken } from '../db/repos/tokens.ts';
import { auditLog, products } from '../db/schema.ts';
import { openTestDatabase } from './helpers/db.ts';
import { freePort } from './helpers/free-port.ts';
import { databaseBehindProxy } from './helpers/pg-behind-proxy.ts';
import { startTcpProxy } from './helpers/tcp-proxy.ts';
import type { DatabaseBehindProxy } from './helpers/pg-behind-proxy.ts';
import { waitFor } from './helpers/wait.ts';
import type { TcpProxy } from './helpers/tcp-proxy.ts';
import { applyUpdate, appliedQuery, continuingWorkflow, countingWorkflow, finishSignal } from './fixtures/update-retry-workflows.ts';

// Outages answer 503 `unavailable` with Retry-After, never 500: a database that cannot be reached (also
// while authenticating), a Temporal that cannot be reached, and Updates that Temporal turned away
// without running them (re-sent by executeUpdateWithRetry under the same update id).

interface Answer { status: number; retryAfter: string | null; body: { code?: string; message?: string; [k: string]: unknown }; text: string }

async function call(app: ReturnType<typeof createApp>, method: string, path: string, token: string | null, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await app.request(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed: Answer['body'] = {};
  try {
    parsed = JSON.parse(text) as Answer['body'];
  } catch {
    // Left empty: the assertions on status say what went wrong.
  }
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: parsed, text };
}

/** A 503 `unavailable` with a Retry-After, a plain message, and no stack, host, port or path in its body. */
function expectUnavailable(res: Answer, retryAfter: string, message: RegExp): void {
  expect(res.status, res.text).toBe(503);
  expect(res.body.code, res.text).toBe('unavailable');
  expect(res.body.message, res.text).toMatch(message);
  expect(res.retryAfter, res.text).toBe(retryAfter);
  expect(Object.keys(res.body).every((k) => ['code', 'message', 'details'].includes(k)), res.text).toBe(true);
  expect(res.text).not.toMatch(/\bat \S+ \(|node_modules|\/work\/|\/tmp\/|127\.0\.0\.1|localhost|:\d{2,5}\b|ECONN|CONNECTION_/);
}

const productBody = (name: string) => ({ name, repository: `https://git.example.com/${name}.git`, flow: 'pull-request', trunk: 'main' });
const unique = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;
const quiet = (): void => undefined;

/** A Temporal client that gives up on an unreachable server after two tries (the default is ten, about 20 s). */
async function impatientClient(address: string): Promise<{ connection: Connection; client: Client }> {
  const connection = await Connection.connect({ address, interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 2 }))] });
  return { connection, client: new Client({ connection, namespace: inject('temporalNamespace') }) };
}

describe('database unreachable, as errors', () => {
  let port: number;
  let sql: postgres.Sql;
  beforeAll(async () => {
    port = await freePort(); // nothing listens on it
    sql = postgres(`postgres://culvert@127.0.0.1:${port}/culvert`, { max: 1, connect_timeout: 5, onnotice: quiet });
  });
  afterAll(async () => {
    await sql?.end({ timeout: 1 });
  });

  it('recognises a refused connection of the postgres driver, bare and wrapped by drizzle, as 503 with Retry-After 5', async () => {
    const bare = await sql`select 1`.then(() => undefined, (err: unknown) => err);
    expect((bare as { code?: string }).code).toBe('ECONNREFUSED');
    const wrapped = await drizzle(sql).execute('select 1').then(() => undefined, (err: unknown) => err);
    expect((wrapped as Error).constructor.name).toBe('DrizzleQueryError');
    expect(((wrapped as Error).cause as { code?: string }).code).toBe('ECONNREFUSED');

    for (const err of [bare, wrapped]) {
      expect(isDatabaseUnreachable(err)).toBe(true);
      expect(databaseFailure(err)).toBe('not_reached');
      const read = toApiError(err, { mayHaveChanged: false });
      expect([read.status, read.code, read.retryAfterSeconds]).toEqual([503, 'unavailable', 5]);
      expect(read.message).toMatch(/database cannot be reached.*nothing was changed/);
      // A write request may have written before this statement failed: it does not claim nothing changed.
      const write = toApiError(err);
      expect([write.status, write.retryAfterSeconds]).toEqual([503, 5]);
      expect(write.message).toMatch(/may not have been done/);
      expect(write.message).not.toMatch(/nothing was changed/);
      for (const e of [read, write]) expect(e.message).not.toMatch(new RegExp(`${port}|127\\.0\\.0\\.1|ECONN`));
    }
  });

  it('recognises a pool that was ended (CONNECTION_ENDED)', async () => {
    const ended = postgres(`postgres://culvert@127.0.0.1:${port}/culvert`, { max: 1, onnotice: quiet });
    await ended.end();
    const err = await ended`select 1`.then(() => undefined, (e: unknown) => e);
    expect((err as { code?: string }).code).toBe('CONNECTION_ENDED');
    expect(databaseFailure(err)).toBe('not_reached');
    expect(toApiError(err).status).toBe(503);
  });

  it('maps SQLSTATEs of an unavailable server, and only those', () => {
    const pgError = (code: string, message: string) => new postgres.PostgresError({ code, message, severity: 'FATAL' } as unknown as string);
    expect(databaseFailure(pgError('57P03', 'the database system is starting up'))).toBe('not_reached');
    expect(databaseFailure(pgError('53300', 'sorry, too many clients already'))).toBe('not_reached');
    expect(databaseFailure(pgError('08006', 'connection failure'))).toBe('lost');
    expect(databaseFailure(pgError('57P01', 'terminating connection due to administrator command'))).toBe('lost');
    expect(databaseFailure(pgError('57P02', 'terminating connection because of crash of another server process'))).toBe('lost');
    expect(databaseFailure(pgError('23505', 'duplicate key value violates unique constraint'))).toBeUndefined();
    expect(databaseFailure(pgError('40001', 'could not serialize access'))).toBeUndefined();
    expect(toApiError(pgError('23505', 'duplicate key')).status).toBe(500);
  });

  it('does not take other failures for the database', async () => {
    const missingFile = await readFile('/nonexistent/culvert').then(() => undefined, (e: unknown) => e);
    const httpRefused = await fetch(`http://127.0.0.1:${port}/`).then(() => undefined, (e: unknown) => e);
    expect(((httpRefused as Error).cause as { code?: string }).code).toBe('ECONNREFUSED');
    for (const err of [new Error('boom'), missingFile, httpRefused, 'a string', undefined]) {
      expect(isDatabaseUnreachable(err), String(err)).toBe(false);
      expect(toApiError(err).status).toBe(500);
    }
  });
});

describe('database unreachable, through the API', () => {
  // A real postgres.js database on a port nothing listens on: every query, the token lookup first, fails.
  let sql: postgres.Sql;
  let connection: Connection;
  let app: ReturnType<typeof createApp>;
  beforeAll(async () => {
    sql = postgres(`postgres://culvert@127.0.0.1:${await freePort()}/culvert`, { max: 2, connect_timeout: 5, onnotice: quiet });
    connection = await Connection.connect({ address: inject('temporalAddress') });
    const db = drizzle(sql) as unknown as Db;
    app = createApp({ db, temporal: { client: new Client({ connection, namespace: inject('temporalNamespace') }), namespace: inject('temporalNamespace'), taskQueue: unique('q'), uiUrl: null } });
  });
  afterAll(async () => {
    await connection?.close();
    await sql?.end({ timeout: 1 });
  });

  it('answers 503 with Retry-After, not 500, when authenticating cannot read the tokens', async () => {
    expectUnavailable(await call(app, 'GET', '/v1/products', 'cvt_whatever'), '5', /database cannot be reached, so nothing was changed/);
    expectUnavailable(await call(app, 'POST', '/v1/products', 'cvt_whatever', productBody(unique('p'))), '5', /nothing was changed/);
  });

  it('reports the database down on /healthz with a Retry-After', async () => {
    const res = await call(app, 'GET', '/healthz', null);
    expect(res.status, res.text).toBe(503);
    expect(res.body).toMatchObject({ ok: false, database: 'down', temporal: 'up' });
    expect(res.retryAfter).toBe('5');
  });
});

describe('PostgreSQL cut off and back', () => {
  const url = process.env.DATABASE_URL;
  let pg: DatabaseBehindProxy | undefined;
  let direct: Database;
  let database: Database;
  let proxy: TcpProxy;
  let connection: Connection;
  let app: ReturnType<typeof createApp>;
  let token: string;

  beforeAll(async () => {
    if (!url) return;
    pg = await databaseBehindProxy(url);
    ({ database, direct, proxy } = pg);
    connection = await Connection.connect({ address: inject('temporalAddress') });
    const namespace = inject('temporalNamespace');
    app = createApp({ db: database.db, temporal: { client: new Client({ connection, namespace }), namespace, taskQueue: unique('q'), uiUrl: null } });
    token = (await issueToken(database.db, { name: 'admin', role: 'admin', products: null })).secret;
  });
  afterAll(async () => {
    if (!url) return;
    await connection?.close();
    await pg?.drop();
  });

  it.skipIf(!url)('answers 503 with Retry-After while the database is cut off, changes nothing, and recovers', async () => {
    const before = unique('before');
    const during = unique('during');
    const after = unique('after');
    expect((await call(app, 'POST', '/v1/products', token, productBody(before))).status).toBe(201);
    expect((await call(app, 'GET', '/v1/products', token)).status).toBe(200);

    proxy.cut();
    const list = await call(app, 'GET', '/v1/products', token);
    expectUnavailable(list, '5', /database cannot be reached, so nothing was changed/);
    const create = await call(app, 'POST', '/v1/products', token, productBody(during));
    expectUnavailable(create, '5', /database/);
    const health = await call(app, 'GET', '/healthz', null);
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ database: 'down' });
    expect(health.retryAfter).toBe('5');

    proxy.restore();
    const created = await call(app, 'POST', '/v1/products', token, productBody(after));
    expect(created.status, created.text).toBe(201);
    const listed = await call(app, 'GET', '/v1/products', token);
    expect(listed.status, listed.text).toBe(200);
    const names = (listed.body.items as { name: string }[]).map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining([before, after]));
    expect(names).not.toContain(during);
    // Read past the proxy: nothing of the refused request reached the database.
    expect(await direct.db.select().from(products).where(eq(products.name, during))).toEqual([]);
    expect(await direct.db.select().from(auditLog).where(eq(auditLog.product, during))).toEqual([]);
    expect((await call(app, 'GET', '/healthz', null)).status).toBe(200);
  });
});

describe('Temporal unreachable', () => {
  let proxy: TcpProxy;
  let database: Database;
  let connection: Connection;
  let app: ReturnType<typeof createApp>;
  let token: string;

  beforeAll(async () => {
    const [host, port] = inject('temporalAddress').split(':');
    proxy = await startTcpProxy(host ?? '127.0.0.1', Number(port));
    database = await openTestDatabase();
    const temporal = await impatientClient(`127.0.0.1:${proxy.port}`);
    connection = temporal.connection;
    const namespace = inject('temporalNamespace');
    app = createApp({ db: database.db, temporal: { client: temporal.client, namespace, taskQueue: unique('q'), uiUrl: null } });
    token = (await issueToken(database.db, { name: 'admin', role: 'admin', products: null })).secret;
  });
  afterAll(async () => {
    await connection?.close();
    await proxy?.close();
    await database?.close();
  });

  it('answers 503 with Retry-After on /healthz and on a cut, and creates no release', async () => {
    const product = unique('p');
    expect((await call(app, 'POST', '/v1/products', token, productBody(product))).status).toBe(201);
    expect((await call(app, 'GET', '/healthz', null)).status).toBe(200);

    proxy.cut();
    const health = await call(app, 'GET', '/healthz', null);
    expect(health.status, health.text).toBe(503);
    expect(health.body).toMatchObject({ ok: false, database: 'up', temporal: 'down' });
    expect(health.retryAfter).toBe('2');
    const cut = await call(app, 'POST', `/v1/products/${product}/releases`, token, {});
    expectUnavailable(cut, '2', /Temporal is not reachable/);

    proxy.restore();
    const releases = await call(app, 'GET', `/v1/products/${product}/releases`, token);
    expect(releases.status, releases.text).toBe(200);
    expect(releases.body.items).toEqual([]);
    // gRPC reconnects to a server it lost with a backoff of its own.
    await waitFor('Temporal to be reachable again', async () => (await call(app, 'GET', '/healthz', null)).status === 200, 30_000);
  });
});

describe('executeUpdateWithRetry', () => {
  const namespace = (): string => inject('temporalNamespace');
  let code: string;
  let connection: Connection;
  let client: Client;
  /** A client whose gRPC calls are not retried: every "workflow update was aborted" reaches the helper. */
  let bareConnection: Connection;
  let bareClient: Client;
  const natives: NativeConnection[] = [];

  beforeAll(async () => {
    const workflowsPath = fileURLToPath(new URL('./fixtures/update-retry-workflows.ts', import.meta.url));
    ({ code } = await bundleWorkflowCode({ workflowsPath, workflowInterceptorModules, logger: { trace: quiet, debug: quiet, info: quiet, warn: quiet, error: console.error, log: quiet } }));
    connection = await Connection.connect({ address: inject('temporalAddress') });
    // Starts sealed as Culvert's are (workflows/seals.ts); these workers have no payload key, so the seal is read in clear.
    client = new Client({ connection, namespace: namespace(), interceptors: { workflow: [sealingInterceptor] } });
    bareConnection = await Connection.connect({ address: inject('temporalAddress'), interceptors: [] });
    bareClient = new Client({ connection: bareConnection, namespace: namespace(), interceptors: { workflow: [sealingInterceptor] } });
  });
  afterAll(async () => {
    for (const n of natives) await n.close();
    await connection?.close();
    await bareConnection?.close();
  });

  /** Workers on one task queue, each on a connection of its own; stop() shuts them all down. */
  async function startWorkers(taskQueue: string, count: number, bundle = code): Promise<{ stop(): Promise<void> }> {
    const running: { worker: Worker; done: Promise<void> }[] = [];
    for (let i = 0; i < count; i++) {
      const native = await NativeConnection.connect({ address: inject('temporalAddress') });
      natives.push(native);
      const worker = await Worker.create({ connection: native, namespace: namespace(), taskQueue, workflowBundle: { code: bundle } });
      running.push({ worker, done: worker.run() });
    }
    return {
      async stop() {
        for (const r of running) r.worker.shutdown();
        await Promise.all(running.map((r) => r.done));
      },
    };
  }

  /** The handle, counting the attempts executeUpdateWithRetry makes through it. */
  function counted(handle: WorkflowHandle): { handle: WorkflowHandle; attempts: () => number } {
    let attempts = 0;
    const proxied = new Proxy(handle, {
      get(target, prop, receiver) {
        if (prop === 'startUpdate') {
          return (...args: Parameters<WorkflowHandle['startUpdate']>) => {
            attempts++;
            return target.startUpdate(...args);
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    return { handle: proxied, attempts: () => attempts };
  }

  it.each([
    // The SDK retries UNAVAILABLE and RESOURCE_EXHAUSTED itself (up to 10 tries), so the helper may see none.
    { grpcRetries: 'the SDK\'s gRPC retries', of: () => client, mustRetry: false },
    // Without them, 50 Updates against the server's 10 in flight per workflow must be re-sent by the helper.
    { grpcRetries: 'no gRPC retries', of: () => bareClient, mustRetry: true },
  ])('applies 50 concurrent Updates on one workflow, served by two workers, each exactly once ($grpcRetries)', async ({ grpcRetries, of, mustRetry }) => {
    const taskQueue = unique('updates');
    const workers = await startWorkers(taskQueue, 2);
    try {
      const handle = await of().workflow.start(countingWorkflow, { taskQueue, workflowId: unique('counting') });
      const retries: UpdateRetry[] = [];
      const started = Date.now();
      const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) =>
        // A minute, not the default 15 s: the suite shares two cores with other files running at the same time.
        executeUpdateWithRetry(handle, applyUpdate, { args: [{ id: `u${i}`, n: 1 }], updateId: `apply-u${i}`, maxElapsedMs: 60_000, onRetry: (r) => retries.push(r) })));
      const elapsed = Date.now() - started;
      const failed = results.filter((r) => r.status === 'rejected');
      const failure = (r: PromiseRejectedResult): string => {
        const cause = (r.reason as Error).cause as { code?: number; details?: string } | undefined;
        return `${String(r.reason)} ${cause?.code ?? ''} ${cause?.details ?? ''}`;
      };
      expect(failed.map((r) => failure(r as PromiseRejectedResult))).toEqual([]);
      const totals = results.map((r) => (r as PromiseFulfilledResult<number>).value).sort((a, b) => a - b);
      expect(totals).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));

      const applied = await handle.query(appliedQuery);
      expect(Object.keys(applied)).toHaveLength(50);
      expect(Object.values(applied).every((n) => n === 1)).toBe(true);

      // Re-sending an Update with an id the workflow has seen returns its first result and applies nothing.
      const again = await executeUpdateWithRetry(handle, applyUpdate, { args: [{ id: 'u7', n: 1 }], updateId: 'apply-u7' });
      expect(again).toBe((results[7] as PromiseFulfilledResult<number>).value);
      expect((await handle.query(appliedQuery)).u7).toBe(1);

      if (mustRetry) expect(retries.length).toBeGreaterThan(0);
      const reasons = retries.reduce<Record<string, number>>((acc, r) => ({ ...acc, [r.reason]: (acc[r.reason] ?? 0) + 1 }), {});
      console.log(`50 concurrent updates on two workers, ${grpcRetries}: ${elapsed} ms, ${retries.length} retries ${JSON.stringify(reasons)}`);
      await handle.signal(finishSignal);
      await handle.result();
    } finally {
      await workers.stop();
    }
  });

  it('re-sends an Update refused while the workflow task is failing, until a fixed worker takes it', async () => {
    // A build whose countingWorkflow fails every workflow task, as a bad deploy would.
    const dir = await mkdtemp(join(tmpdir(), 'culvert-broken-'));
    await writeFile(join(dir, 'broken.ts'), "export async function countingWorkflow(): Promise<never> { throw new Error('a broken build'); }\n");
    const broken = await bundleWorkflowCode({
      workflowsPath: join(dir, 'broken.ts'), logger: { trace: quiet, debug: quiet, info: quiet, warn: quiet, error: console.error, log: quiet },
      // The SDK's own modules, which the bundle adds, resolve from this repository, not from the temp dir.
      webpackConfigHook: (config) => ({ ...config, resolve: { ...config.resolve, modules: [fileURLToPath(new URL('../node_modules', import.meta.url)), 'node_modules'] } }),
    }).finally(() => rm(dir, { recursive: true, force: true }));
    const taskQueue = unique('failing');
    let workers = await startWorkers(taskQueue, 1, broken.code);
    try {
      const handle = await client.workflow.start(countingWorkflow, { taskQueue, workflowId: unique('counting'), workflowTaskTimeout: '1s' });
      // The server turns Updates away once the workflow task has failed its third attempt.
      await waitFor('the workflow task to be failing', async () => {
        const { raw } = await handle.describe();
        return (raw.pendingWorkflowTask?.attempt ?? 0) >= 3;
      }, 30_000);
      const retries: UpdateRetry[] = [];
      let fixed: Promise<void> | null = null;
      const started = Date.now();
      const total = await executeUpdateWithRetry(handle, applyUpdate, {
        args: [{ id: 'after-fix', n: 5 }], maxElapsedMs: 30_000,
        onRetry: (r) => {
          retries.push(r);
          // Deploy the fix once the first refusal is in.
          fixed ??= (async () => {
            await workers.stop();
            workers = await startWorkers(taskQueue, 1);
          })();
        },
      });
      const elapsed = Date.now() - started;
      expect(total).toBe(5);
      expect(retries.length).toBeGreaterThan(0);
      expect(new Set(retries.map((r) => r.reason))).toEqual(new Set(['workflow_task_failed']));
      expect(toApiError(retries[0]?.error)).toMatchObject({ status: 503, code: 'unavailable', retryAfterSeconds: 2 });
      expect(await handle.query(appliedQuery)).toEqual({ 'after-fix': 1 });
      console.log(`failing workflow task: applied after ${retries.length} retries in ${elapsed} ms`);
      await handle.signal(finishSignal);
    } finally {
      await workers.stop();
    }
  });

  it('rethrows a validator refusal and a missing workflow at once, without a retry', async () => {
    const taskQueue = unique('updates');
    const workers = await startWorkers(taskQueue, 1);
    try {
      const started = await client.workflow.start(countingWorkflow, { taskQueue, workflowId: unique('counting') });
      const { handle, attempts } = counted(started);
      const retries: UpdateRetry[] = [];
      const refused = await executeUpdateWithRetry(handle, applyUpdate, { args: [{ id: 'neg', n: -1 }], onRetry: (r) => retries.push(r) })
        .then(() => undefined, (e: unknown) => e);
      expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
      expect((refused as WorkflowUpdateFailedError).cause).toBeInstanceOf(ApplicationFailure);
      expect(((refused as WorkflowUpdateFailedError).cause as ApplicationFailure).type).toBe('bad_request');
      expect(updateNotTaken(refused)).toBeUndefined();
      expect(toApiError(refused).status).toBe(400);
      expect(attempts()).toBe(1);
      expect(retries).toEqual([]);
      expect(await started.query(appliedQuery)).toEqual({});

      const missing = counted(client.workflow.getHandle(unique('no-such-workflow')));
      const notFound = await executeUpdateWithRetry(missing.handle, applyUpdate, { args: [{ id: 'x', n: 1 }] }).then(() => undefined, (e: unknown) => e);
      expect(notFound).toBeInstanceOf(WorkflowNotFoundError);
      expect(missing.attempts()).toBe(1);
      await started.signal(finishSignal);
    } finally {
      await workers.stop();
    }
  });

  it('answers "nothing was done" as soon as a worker that comes after the deadline refuses the Update', async () => {
    const taskQueue = unique('late-worker');
    const handle = await client.workflow.start(countingWorkflow, { taskQueue, workflowId: unique('counting') });
    const updateId = `apply-expired-${randomUUID()}`;
    const started = Date.now();
    // Its deadline passes at once; the worker started next is the first to see it.
    const call = executeUpdateWithRetry(handle, applyUpdate, { args: [{ id: 'expired', n: 1 }], updateId, maxElapsedMs: 1 }).then(() => undefined, (e: unknown) => e);
    const workers = await startWorkers(taskQueue, 1);
    try {
      const err = await call;
      const elapsed = Date.now() - started;
      expect(err).toBeInstanceOf(ApiError);
      expect([(err as ApiError).status, (err as ApiError).code]).toEqual([503, 'unavailable']);
      expect((err as ApiError).message).toMatch(/will not take it later; nothing was done/);
      // Told when the workflow refused it, not after the 12 s it would otherwise wait.
      expect(elapsed).toBeLessThan(10_000);
      expect(await handle.query(appliedQuery)).toEqual({});
      await handle.signal(finishSignal);
      await handle.result();
    } finally {
      await workers.stop();
    }
  });

  it('answers an Update that a run took before continuing as new as taken, not as "nothing was done"', async () => {
    const taskQueue = unique('continuing');
    let workers = await startWorkers(taskQueue, 1);
    try {
      const workflowId = unique('continuing');
      await client.workflow.start(continuingWorkflow, { taskQueue, workflowId, args: [0] });
      const handle = client.workflow.getHandle(workflowId);
      const firstRun = (await handle.describe()).runId;
      const updateId = `apply-once-${randomUUID()}`;
      expect(await executeUpdateWithRetry(handle, applyUpdate, { args: [{ id: 'once', n: 1 }], updateId })).toBe(1);
      await waitFor('the run to continue as new', async () => ((await handle.describe()).runId !== firstRun ? true : undefined));
      // The same Update again, as after a call that timed out just before the first run took it: the
      // workflow id now names the second run, whose next task (a worker that comes after the deadline)
      // refuses it as too late. The first run had taken it: "nothing was done" would be false.
      await workers.stop();
      const call = executeUpdateWithRetry(handle, applyUpdate, { args: [{ id: 'once', n: 1 }], updateId, maxElapsedMs: 1 }).then(() => undefined, (e: unknown) => e);
      workers = await startWorkers(taskQueue, 1);
      const err = await call;
      expect(err).toBeInstanceOf(UpdateAcceptedUnread);
      expect((err as ApiError).message).toMatch(/may have taken effect/);
      // The restarted worker answers queries once it polls; on a loaded machine the first may time out.
      expect(await waitFor('the second run to answer a query', () => handle.query(appliedQuery).catch(() => undefined))).toEqual({});
      await handle.signal(finishSignal);
      await handle.result();
    } finally {
      await workers.stop();
    }
  });

  it('gives up when no worker takes the Update by its deadline, and the Update is never taken later', async () => {
    const taskQueue = unique('idle');
    const handle = await client.workflow.start(countingWorkflow, { taskQueue, workflowId: unique('counting'), workflowTaskTimeout: '1s' });
    const updateId = `apply-late-${randomUUID()}`;
    const started = Date.now();
    const err = await executeUpdateWithRetry(handle, applyUpdate, { args: [{ id: 'late', n: 1 }], updateId, maxElapsedMs: 1_000 })
      .then(() => undefined, (e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(err).toBeInstanceOf(ApiError);
    const apiError = err as ApiError;
    expect([apiError.status, apiError.code, apiError.retryAfterSeconds]).toEqual([503, 'unavailable', 2]);
    expect(apiError.message).toMatch(/will not take it later; nothing was done/);
    expect(apiError.details).toEqual({ updateId });
    // The deadline and the clock margin, then one look more: no task is running (none that started by
    // the deadline could take it), so not the task timeout (10 s) on top.
    expect(elapsed).toBeGreaterThanOrEqual(3_900);
    expect(elapsed).toBeLessThan(8_000);
    console.log(`no worker: gave up after ${elapsed} ms`);

    // A worker comes: the Update the server had admitted reaches the workflow after its deadline and is
    // refused, so "nothing was done" stays true. A later Update is taken; by then the first was handled.
    const workers = await startWorkers(taskQueue, 1);
    try {
      expect(await executeUpdateWithRetry(handle, applyUpdate, { args: [{ id: 'after', n: 2 }], updateId: `apply-after-${randomUUID()}` })).toBe(2);
      expect(await handle.query(appliedQuery)).toEqual({ after: 1 });
      // Sent again under the same id, it carries a new deadline and is taken, once.
      expect(await executeUpdateWithRetry(handle, applyUpdate, { args: [{ id: 'late', n: 1 }], updateId })).toBe(3);
      expect(await handle.query(appliedQuery)).toEqual({ after: 1, late: 1 });
      await handle.signal(finishSignal);
      await handle.result();
    } finally {
      await workers.stop();
    }
  });

});
