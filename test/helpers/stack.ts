import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import type { Faults } from '../../activities/deps.ts';
import { createApp } from '../../api/app.ts';
import { releaseOperations } from '../../api/trains/operations.ts';
import { githubOperations } from '../../api/github/operations.ts';
import type { Database } from '../../db/client.ts';
import { ReleaseFeed } from '../../db/feed.ts';
import { issueToken } from '../../db/repos/tokens.ts';
import type { Role } from '../../domain/types.ts';
import { clientChannelArgs, culvertClient } from '../../cli/temporal-connection.ts';
import { createWorker } from '../../cli/worker.ts';
import { testCodec } from './codec.ts';
import { openTestDatabase } from './db.ts';

export interface Stack {
  app: ReturnType<typeof createApp>;
  database: Database;
  client: Client;
  taskQueue: string;
  dataDir: string;
  adminToken: string;
  token(name: string, role: Role, products?: string[]): Promise<string>;
  // Tests read response bodies loosely and let their assertions check the shape.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  call(method: string, path: string, opts?: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> }): Promise<{ status: number; body: any; text: string }>;
  startWorker(faults?: Faults): Promise<Worker>;
  stopWorker(): Promise<void>;
  stop(): Promise<void>;
}

export const uiUrl = 'http://127.0.0.1:8233';
/** What the test server's GitHub webhooks are signed with. */
export const githubWebhookSecret = 'test-webhook-secret';

/** The whole of Culvert in this process, on the run's dev server, with its own task queue, database and data dir. */
export async function startStack(opts: { worker?: boolean; faults?: Faults; temporal?: { address: string; namespace: string } } = {}): Promise<Stack> {
  const address = opts.temporal?.address ?? inject('temporalAddress');
  const namespace = opts.temporal?.namespace ?? inject('temporalNamespace');
  const taskQueue = `test-${randomUUID()}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'culvert-data-'));
  const database = await openTestDatabase();
  const connection = await Connection.connect({ address, channelArgs: clientChannelArgs });
  const codec = testCodec();
  const client = culvertClient(connection, namespace, codec);
  const feed = new ReleaseFeed(database.listen);
  const appDeps = { db: database.db, feed, temporal: { client, namespace, taskQueue, uiUrl, codec }, repositories: { roots: [tmpdir()], dataDir }, sessionKey: codec.sessionKey(), github: { webhookSecret: githubWebhookSecret } };
  const app = createApp(appDeps);
  const { secret: adminToken } = await issueToken(database.db, { name: 'admin', role: 'admin', products: null });

  let worker: Worker | null = null;
  let running: Promise<void> | null = null;
  let nativeConnection: NativeConnection | null = null;

  const stack: Stack = {
    app, database, client, taskQueue, dataDir, adminToken,
    async token(name, role, products) {
      return (await issueToken(database.db, { name, role, products: products ?? null })).secret;
    },
    async call(method, path, o = {}) {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      const token = o.token === undefined ? adminToken : o.token;
      if (token) headers.authorization = `Bearer ${token}`;
      let body: string | undefined = o.raw;
      if (o.body !== undefined) body = JSON.stringify(o.body);
      if (body !== undefined) headers['content-type'] ??= 'application/json';
      const res = await app.request(path, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = undefined;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: res.status, body: parsed, text };
    },
    async startWorker(faults) {
      nativeConnection ??= await NativeConnection.connect({ address });
      worker = await createWorker({
        connection: nativeConnection, namespace, taskQueue, codec, deps: { db: database.db, dataDir, faults, repositoryRoots: [tmpdir()], releaseOps: releaseOperations(appDeps), githubOps: githubOperations(appDeps) },
        workflowBundle: { codePath: inject('workflowBundlePath') },
      });
      running = worker.run();
      return worker;
    },
    async stopWorker() {
      if (worker && worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      worker = null;
      running = null;
    },
    async stop() {
      await stack.stopWorker();
      await nativeConnection?.close();
      await connection.close();
      await feed.close();
      await database.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  if (opts.worker !== false) await stack.startWorker(opts.faults);
  return stack;
}

export const unique = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;
