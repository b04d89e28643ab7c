// The Temporal server itself killed (SIGKILL) while a release is mid-merge, then started again on
// the same database file: the worker and the API reconnect on their own, the merge lands exactly once,
// and the database and git agree.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import { loadDevServerConfig } from '../cli/dev-server-config.ts';
import type { DevServerConfig } from '../cli/dev-server-config.ts';
import { startDevServer } from '../cli/dev-server.ts';
import type { DevServerHandle } from '../cli/dev-server.ts';
import { requireTemporalCli } from '../cli/temporal-cli.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';
import { freePort } from './helpers/free-port.ts';

describe('a Temporal server killed mid-release', () => {
  let root: string;
  let repo: GitFixture;
  let cfg: DevServerConfig;
  let server: DevServerHandle | undefined;
  let stack: Stack | undefined;

  const start = async (): Promise<DevServerHandle> =>
    startDevServer({ root, cfg, cli: requireTemporalCli(), overrides: { dbFile: join(root, 'temporal.db') } });

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'culvert-temporal-restart-'));
    repo = await createRemote();
    cfg = { ...loadDevServerConfig(), port: await freePort(), ui: false };
  });
  afterAll(async () => {
    await stack?.stop();
    await server?.stop();
    await repo?.cleanup();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('finishes the merge once after the server comes back on the same database', async () => {
    server = await start();
    // The merge activity stops just before its push until the server has been killed and restarted.
    let reached!: () => void;
    const atPush = new Promise<void>((resolve) => { reached = resolve; });
    let resume!: () => void;
    const restarted = new Promise<void>((resolve) => { resume = resolve; });
    stack = await startStack({
      temporal: { address: server.address, namespace: server.namespace },
      faults: { beforePush: async () => { reached(); await restarted; } },
    });
    const product = unique('restart');
    await repo.commit({ 'README.md': 'app\n' }, 'base');
    await repo.push();
    await repo.branch('feature');
    await repo.commit({ 'feature.txt': 'feature\n' }, 'the feature', 'feature');
    await repo.push('feature');
    expect((await stack.call('POST', '/v1/products', { body: { name: product, repository: repo.remote, flow: 'pull-request' } })).status).toBe(201);
    expect((await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: 'master' } })).status).toBe(201);
    const changes = `/v1/products/${product}/releases/master/changes`;
    const filed = await stack.call('POST', changes, { body: { kind: 'merge', branch: 'feature' } });
    expect(filed.status, filed.text).toBe(201);
    const id = filed.body.id as string;
    await waitFor('the request to await a decision', async () => (await stack?.call('GET', `${changes}/${id}`))?.body.state === 'awaiting-decision');
    const approved = await stack.call('POST', `${changes}/${id}/decision`, { body: { decision: 'approve' } });
    expect(approved.status, approved.text).toBe(200);

    // Killed with the merge activity running; nothing is shut down cleanly.
    await atPush;
    process.kill(server.pid, 'SIGKILL');
    await waitFor('the server to be gone', async () => {
      try {
        process.kill(server?.pid ?? 0, 0);
        return false;
      } catch {
        return true;
      }
    });
    server = await start();
    resume();

    const merged = await waitFor('the merge to land after the restart', async () => {
      const res = await stack?.call('GET', `${changes}/${id}`);
      return res?.body.state === 'merged' ? res.body : undefined;
    }, 120_000);
    const log = (await git(['log', '--format=%H', '--grep', `Culvert-Change: ${id}`, 'main'], { cwd: repo.remote })).stdout.split('\n').filter(Boolean);
    expect(log).toHaveLength(1);
    expect(merged.resultSha).toBe(log[0]);
    expect((await git(['rev-parse', 'main'], { cwd: repo.remote })).stdout.trim()).toBe(log[0]);
    // The API answers through the same client as before the crash.
    const release = await stack.call('GET', `/v1/products/${product}/releases/master`);
    expect(release.body.headSha).toBe(log[0]);
  }, 240_000);
});
