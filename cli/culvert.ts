import { serve } from '@hono/node-server';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createApp } from '../api/app.ts';
import { releaseOperations } from '../api/trains/operations.ts';
import { githubOperations } from '../api/github/operations.ts';
import { DatabaseInUseError, openDatabase } from '../db/client.ts';
import type { Database } from '../db/client.ts';
import { ReleaseFeed } from '../db/feed.ts';
import { issueToken, newSecret, revokeOtherBootstrapAdmins } from '../db/repos/tokens.ts';
import { clientUsage } from './client/index.ts';
import { ConfigError, parseConfig } from './config.ts';
import type { Config } from './config.ts';
import { loadDevServerConfig, REPO_ROOT } from './dev-server-config.ts';
import { startDevServer } from './dev-server.ts';
import { PayloadKeyError } from './payload-codec.ts';
import type { CulvertPayloadCodec } from './payload-codec.ts';
import { connectClient, connectWorker, payloadCodecOf } from './temporal-connection.ts';
import { resolveStepIsolation } from '../activities/steps/isolation.ts';
import type { StepIsolation } from '../activities/steps/isolation.ts';
import { createWorker } from './worker.ts';

const usage = `usage: culvert <command> [options]

commands:
  start    the embedded stack: Temporal dev server (unless TEMPORAL_ADDRESS is set), database, one worker and the API
  worker   a worker only (production: run any number, with DATABASE_URL and TEMPORAL_ADDRESS)
  api      the HTTP API only (production: run any number, with DATABASE_URL and TEMPORAL_ADDRESS)

options (each also an environment variable; flags win):
  --data-dir DIR            CULVERT_DATA_DIR       state: mirrors, step logs, PGlite (default .culvert/)
  --database-url URL        DATABASE_URL           Postgres; without it PGlite under the data dir
  --temporal-address H:P    TEMPORAL_ADDRESS       a Temporal cluster or Cloud; without it the dev server of temporal-dev.yaml
  --namespace NS            TEMPORAL_NAMESPACE     (default "default")
                            TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH,
                            TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME
  --temporal-ui-url URL     CULVERT_TEMPORAL_UI_URL  for links to runs
  --task-queue Q            CULVERT_TASK_QUEUE     (default "culvert")
  --host H --port P         CULVERT_HOST, CULVERT_PORT  where the API listens (default 127.0.0.1:8080)
                            CULVERT_ADMIN_TOKEN    bootstrap admin secret (default: generated once, kept in the data dir)

${clientUsage}`;

type Stop = () => Promise<void>;

async function openDb(cfg: Config): Promise<Database> {
  // The data dir holds the admin token, the database, every product's mirrors and logs: its owner's only.
  await mkdir(cfg.dataDir, { recursive: true, mode: 0o700 });
  await chmod(cfg.dataDir, 0o700);
  const database = await openDatabase(cfg.databaseUrl ? { url: cfg.databaseUrl } : { dataDir: join(cfg.dataDir, 'pglite') });
  await database.migrate();
  return database;
}

/** The bootstrap admin secret, and whether it was generated just now (then, and only then, it is printed). */
async function adminSecret(cfg: Config): Promise<{ secret: string; generated: boolean; where: string }> {
  if (cfg.adminToken) return { secret: cfg.adminToken, generated: false, where: 'CULVERT_ADMIN_TOKEN' };
  const file = join(cfg.dataDir, 'admin-token');
  try {
    return { secret: (await readFile(file, 'utf8')).trim(), generated: false, where: file };
  } catch {
    const secret = newSecret();
    await mkdir(cfg.dataDir, { recursive: true });
    await writeFile(file, `${secret}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
    return { secret, generated: true, where: file };
  }
}

function devAddress(): { address: string; uiUrl: string | null } {
  const dev = loadDevServerConfig();
  return { address: `${dev.ip}:${dev.port}`, uiUrl: dev.ui ? `http://${dev.ip}:${dev.uiPort}` : null };
}

/**
 * How this worker runs steps (activities/steps/isolation.ts). A standalone worker that cannot isolate
 * them refuses to start unless told it may; `culvert start` (one user, one machine) says so loudly
 * and runs them as its own user, so that the walk-through works for a newcomer.
 */
async function stepIsolation(cfg: Config, mode: 'start' | 'worker'): Promise<StepIsolation | undefined> {
  const setting = await resolveStepIsolation(process.env, cfg.dataDir);
  if (setting.kind === 'isolated') {
    const { user, bwrap, root } = setting.isolation;
    console.log(`culvert: steps run as ${user}${bwrap ? ' under bubblewrap' : ' (no bubblewrap: same /tmp and process view as the host)'}, in ${root}`);
    return setting.isolation;
  }
  const allowed = ['1', 'true', 'yes'].includes(process.env.CULVERT_ALLOW_UNISOLATED_STEPS ?? '');
  if (mode === 'worker' && !allowed) {
    throw new ConfigError(`culvert: steps cannot be isolated: ${setting.why}.\n  Run the worker as root with the step user present, or set CULVERT_ALLOW_UNISOLATED_STEPS=1 to run steps as this worker's user.`);
  }
  console.warn(`culvert: WARNING: steps are NOT isolated: ${setting.why}. Any step can read what this process can read.`);
  return undefined;
}

/**
 * The payload codec (cli/payload-codec.ts). Separate workers and APIs must share its key: one made here
 * for `culvert worker` or `culvert api` is said loudly, since a process with another key cannot read
 * what this one writes.
 */
function installationCodec(cfg: Config, command: string): CulvertPayloadCodec {
  const made = !process.env.CULVERT_PAYLOAD_KEY && !existsSync(join(cfg.dataDir, 'payload-key'));
  try {
    const codec = payloadCodecOf(cfg);
    if (made && command !== 'start') {
      console.warn(`culvert: made a payload key in ${join(cfg.dataDir, 'payload-key')}; every worker and API must use the same key: give them all CULVERT_PAYLOAD_KEY`);
    }
    return codec;
  } catch (err) {
    if (err instanceof PayloadKeyError) throw new ConfigError(`culvert: ${err.message}`);
    throw err;
  }
}

async function runWorker(cfg: Config, database: Database, address: string, stops: Stop[], mode: 'start' | 'worker', codec: CulvertPayloadCodec): Promise<{ running: Promise<void> }> {
  const isolation = await stepIsolation(cfg, mode);
  const connection = await connectWorker(cfg, address);
  // Trains act on releases through the API's operations, with a client of their own.
  const client = await connectClient(cfg, address, codec);
  const apiDeps = {
    db: database.db, temporal: { client, namespace: cfg.temporalNamespace, taskQueue: cfg.taskQueue, uiUrl: null, codec },
    repositories: { roots: cfg.repositoryRoots, dataDir: cfg.dataDir },
  };
  const releaseOps = releaseOperations(apiDeps);
  // GitHub's deliveries file and decide through the same operations.
  const githubOps = githubOperations(apiDeps);
  const worker = await createWorker({
    connection, namespace: cfg.temporalNamespace, taskQueue: cfg.taskQueue, codec,
    deps: { db: database.db, dataDir: cfg.dataDir, repositoryRoots: cfg.repositoryRoots, releaseOps, githubOps, ...(isolation ? { stepIsolation: isolation } : {}) },
  });
  const running = worker.run();
  stops.push(async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running.catch(() => undefined);
    await connection.close();
    await client.connection.close();
  });
  return { running };
}

async function runApi(cfg: Config, database: Database, address: string, uiUrl: string | null, stops: Stop[], codec: CulvertPayloadCodec): Promise<string> {
  const client = await connectClient(cfg, address, codec);
  const feed = new ReleaseFeed(database.listen);
  const app = createApp({
    db: database.db, feed, temporal: { client, namespace: cfg.temporalNamespace, taskQueue: cfg.taskQueue, uiUrl, codec }, sessionKey: codec.sessionKey(),
    repositories: { roots: cfg.repositoryRoots, dataDir: cfg.dataDir },
    ...(cfg.githubWebhookSecret ? { github: { webhookSecret: cfg.githubWebhookSecret } } : {}),
  });
  const server = serve({ fetch: app.fetch, hostname: cfg.host, port: cfg.port });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  stops.push(async () => {
    // Long polls answer now rather than holding the close for up to a minute.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await feed.close();
    await closed;
    await client.connection.close();
  });
  const where = server.address();
  const port = typeof where === 'object' && where ? where.port : cfg.port;
  return `http://${cfg.host}:${port}`;
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (!command || command === 'help' || command === '--help') {
    process.stdout.write(usage);
    return;
  }
  if (!['start', 'worker', 'api'].includes(command)) throw new ConfigError(`unknown command ${command}\n\n${usage}`);
  const cfg = parseConfig(rest, process.env);
  if (command !== 'start' && !cfg.databaseUrl) {
    console.warn('culvert: no DATABASE_URL: using PGlite in the data dir, which only this one process can open. Set DATABASE_URL to run workers and APIs apart.');
  }
  const stops: Stop[] = [];
  let stopping = false;
  const stopAll = async (code: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      for (const stop of stops.reverse()) await stop().catch((err: unknown) => console.error('culvert: while stopping:', err));
    }
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  let address = cfg.temporalAddress;
  let uiUrl = cfg.temporalUiUrl ?? null;
  if (!address) {
    if (command === 'start') {
      const devCfg = loadDevServerConfig();
      // The UI decodes payloads through this API (api/codec): `api` in temporal-dev.yaml names it.
      const codecEndpoint = devCfg.uiCodecEndpoint === 'api' ? (cfg.port > 0 ? `http://${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${cfg.port}/v1/codec` : null) : undefined;
      const dev = await startDevServer({ root: REPO_ROOT, cfg: devCfg, ...(codecEndpoint !== undefined ? { overrides: { uiCodecEndpoint: codecEndpoint } } : {}) });
      stops.push(() => dev.stop());
      address = dev.address;
      uiUrl = uiUrl ?? dev.uiUrl;
    } else {
      ({ address, uiUrl } = { address: devAddress().address, uiUrl: uiUrl ?? devAddress().uiUrl });
    }
  }
  const database = await openDb(cfg);
  stops.push(() => database.close());

  const codec = installationCodec(cfg, command);

  if (command === 'worker') {
    const { running } = await runWorker(cfg, database, address, stops, 'worker', codec);
    console.log(`culvert worker on task queue ${cfg.taskQueue} at ${address} (${cfg.temporalNamespace})`);
    await running;
    return stopAll(0);
  }
  const admin = await adminSecret(cfg);
  await issueToken(database.db, { name: 'admin', role: 'admin', products: null, secret: admin.secret });
  // A rotated bootstrap secret: the one before it no longer works.
  const revoked = await revokeOtherBootstrapAdmins(database.db, admin.secret);
  if (revoked > 0) console.log(`culvert: the bootstrap admin secret changed; ${revoked} earlier admin token${revoked === 1 ? '' : 's'} named admin revoked`);
  let running: Promise<void> | null = null;
  if (command === 'start') running = (await runWorker(cfg, database, address, stops, 'start', codec)).running;
  const apiUrl = await runApi(cfg, database, address, uiUrl, stops, codec);
  console.log([
    `culvert ${command === 'start' ? 'is running' : 'api is listening'}`,
    `  API:          ${apiUrl}   (docs: ${apiUrl}/docs)`,
    `  Temporal UI:  ${uiUrl ?? '(none)'}`,
    `  Temporal:     ${address}, namespace ${cfg.temporalNamespace}, task queue ${cfg.taskQueue}`,
    `  Database:     ${cfg.databaseUrl ? 'Postgres (DATABASE_URL)' : join(cfg.dataDir, 'pglite')}`,
    `  Admin token:  ${admin.generated ? `${admin.secret}   (new; also in ${admin.where})` : `in ${admin.where}`}`,
    'Ctrl-C stops everything.',
  ].join('\n'));
  if (running) {
    await running.catch((err: unknown) => {
      console.error('culvert: worker stopped:', err);
      return stopAll(1);
    });
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  if (err instanceof DatabaseInUseError) {
    console.error(`culvert: ${err.message}`);
    process.exit(1);
  }
  console.error('culvert:', err);
  process.exit(1);
});
