import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection, WithStartWorkflowOperation } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import { culvertClient } from '../cli/temporal-connection.ts';
import { testCodec } from './helpers/codec.ts';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import { openDatabase } from '../db/client.ts';
import { getChange } from '../db/repos/changes.ts';
import { createProduct } from '../db/repos/products.ts';
import type { Actor, ProductConfig } from '../domain/types.ts';
import { cutUpdate, decideUpdate, fileUpdate, summaryQuery } from '../workflows/release/messages.ts';
import type { ReleaseSummary } from '../workflows/release/messages.ts';
import type { ReleaseInput } from '../workflows/release/state.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { unique } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';
import type { ChildWorkerSpec } from './helpers/worker-main.ts';

const admin: Actor = { name: 'admin', role: 'admin', products: null, tokenId: null };

// A worker SIGKILLed inside the merge activity, or the pick batch activity (before and after its push):
// a new worker finishes the work and the remote ends with every change applied exactly once.
describe('a worker killed while merging', () => {
  let repo: GitFixture;
  const spent: GitFixture[] = [];
  let root: string;
  let client: Client;
  let connection: Connection;
  const children: ChildProcess[] = [];
  const taskQueue = `crash-${randomUUID()}`;

  beforeAll(async () => {
    repo = await createRemote();
    root = await mkdtemp(join(tmpdir(), 'culvert-crash-'));
    connection = await Connection.connect({ address: inject('temporalAddress') });
    client = culvertClient(connection, inject('temporalNamespace'), testCodec());
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await connection?.close();
    for (const r of [repo, ...spent]) await r?.cleanup();
    await rm(root, { recursive: true, force: true });
  });

  const database = (): ChildWorkerSpec['database'] =>
    process.env.DATABASE_URL ? { url: process.env.DATABASE_URL } : { dataDir: join(root, 'pglite') };

  async function startChild(hang?: ChildWorkerSpec['hang']): Promise<ChildProcess> {
    const spec: ChildWorkerSpec = {
      address: inject('temporalAddress'), namespace: inject('temporalNamespace'), taskQueue, dataDir: join(root, 'data'),
      database: database(), bundlePath: inject('workflowBundlePath'), hang,
    };
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'helpers', 'worker-main.ts')], {
      env: { ...process.env, CULVERT_CHILD_WORKER: JSON.stringify(spec) }, stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('worker running')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`child worker exited early with ${code}`)));
    });
    return child;
  }

  async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  /** The release's summary once nothing is approved and waiting, nothing is left to record and no activity runs. */
  async function settled(handle: WorkflowHandle): Promise<ReleaseSummary | undefined> {
    const s = await handle.query(summaryQuery);
    if (s.approved > 0 || s.outbox > 0) return undefined;
    const { raw } = await handle.describe();
    return (raw.pendingActivities?.length ?? 0) === 0 ? s : undefined;
  }

  async function mergeCommitsFor(id: string): Promise<string[]> {
    const out = (await git(['log', '--format=%H', `--grep=Culvert-Change: ${id}`, 'main'], { cwd: repo.remote })).stdout;
    return out.split('\n').filter(Boolean);
  }

  it.each(['beforePush', 'afterPush'] as const)('killed %s: merged exactly once by the next worker', async (at) => {
    const product = unique('crash');
    // A pull-request product owns its repository's trunk: one remote each.
    spent.push(repo);
    repo = await createRemote();
    await repo.commit({ [`${at}/base.txt`]: 'base\n' }, `base for ${at}`);
    await repo.push();
    const branch = `feature-${at}`;
    await repo.branch(branch);
    await repo.commit({ [`${at}/feature.txt`]: 'feature\n' }, `feature ${at}`, branch);
    await repo.push(branch);

    const config: ProductConfig = {
      name: product, repository: repo.remote, flow: 'pull-request', trunk: 'main', owners: [],
      steps: {}, triggers: [], environments: [],
    };
    const seed = await openDatabase(database());
    await seed.migrate();
    await createProduct(seed.db, config);
    await seed.close();

    const marker = join(root, `${at}.marker`);
    const first = await startChild({ at, marker });
    const workflowId = `culvert/${product}/master`;
    const input: ReleaseInput = { product: config, name: 'master', from: null, production: true, createdBy: admin };
    await client.workflow.executeUpdateWithStart(cutUpdate, {
      startWorkflowOperation: new WithStartWorkflowOperation('pullRequestRelease', { workflowId, taskQueue, workflowIdConflictPolicy: 'FAIL', args: [input] }),
    });
    const handle = client.workflow.getHandle(workflowId);
    const base = (await git(['rev-parse', 'main'], { cwd: repo.remote })).stdout.trim();
    const id = randomUUID();
    await handle.executeUpdate(fileUpdate, { args: [{ requests: [{ id, kind: 'merge', branch }], actor: admin }] });
    await handle.executeUpdate(decideUpdate, { args: [{ decisions: [{ id, decision: 'approve' }], actor: admin }] });

    await waitFor('the worker to reach the fault point', async () => existsSync(marker));
    await stopChild(first, 'SIGKILL');
    expect(await mergeCommitsFor(id)).toHaveLength(at === 'afterPush' ? 1 : 0);

    const second = await startChild();
    await waitFor('the merge to finish on the new worker and be recorded', () => settled(handle), 90_000);
    await stopChild(second, 'SIGTERM');

    const merges = await mergeCommitsFor(id);
    expect(merges).toHaveLength(1);
    const head = (await git(['rev-parse', 'main'], { cwd: repo.remote })).stdout.trim();
    expect(merges[0]).toBe(head);
    const parents = (await git(['rev-list', '--parents', '-n', '1', head], { cwd: repo.remote })).stdout.trim().split(' ').slice(1);
    expect(parents[0]).toBe(base);

    const check = await openDatabase(database());
    const row = await getChange(check.db, product, 'master', id);
    await check.close();
    expect(row?.state).toBe('merged');
    expect(row?.resultSha).toBe(head);
  });

  // The cherry-pick flow: ten approved picks go out as one batch with one push; the worker dies around it.
  it.each(['beforePush', 'afterPush'] as const)('picks, killed %s mid-batch: every approved pick applied exactly once', async (at) => {
    const product = unique('crash-picks');
    const release = `picks-${at}`;
    const branch = `releases/${product}/${release}`;
    const cutPoint = await repo.commit({ [`picks-${at}/base.txt`]: 'base\n' }, `pick base for ${at}`);
    const origins: string[] = [];
    for (let i = 0; i < 10; i++) origins.push(await repo.commit({ [`picks-${at}/fix-${i}.txt`]: `fix ${i}\n` }, `pick fix ${i} for ${at}`));
    await repo.push();

    const config: ProductConfig = {
      name: product, repository: repo.remote, flow: 'cherry-pick', trunk: 'main', owners: [], branchTemplate: 'releases/{product}/{name}',
      steps: {}, triggers: [], environments: [],
    };
    const seed = await openDatabase(database());
    await seed.migrate();
    await createProduct(seed.db, config);
    await seed.close();

    const marker = join(root, `picks-${at}.marker`);
    const first = await startChild({ at, marker });
    const workflowId = `culvert/${product}/${release}`;
    const input: ReleaseInput = { product: config, name: release, from: cutPoint, production: false, createdBy: admin };
    const cut = await client.workflow.executeUpdateWithStart(cutUpdate, {
      startWorkflowOperation: new WithStartWorkflowOperation('stableRelease', { workflowId, taskQueue, workflowIdConflictPolicy: 'FAIL', args: [input] }),
    });
    expect(cut.branch).toBe(branch);
    const handle = client.workflow.getHandle(workflowId);
    const ids = origins.map(() => randomUUID());
    // Filed newest first: the batch still applies them in trunk order.
    for (let i = origins.length - 1; i >= 0; i--) {
      await handle.executeUpdate(fileUpdate, {
        args: [{ requests: [{ id: ids[i] as string, kind: 'pick', commits: [(origins[i] as string).slice(0, 12)], reason: `fix ${i}`, severity: 'normal' }], actor: admin }],
      });
    }
    const decided = await handle.executeUpdate(decideUpdate, { args: [{ decisions: ids.map((id) => ({ id, decision: 'approve' as const })), actor: admin }] });
    expect(decided.results.every((r) => r.ok)).toBe(true);

    await waitFor('the worker to reach the fault point', async () => existsSync(marker));
    await stopChild(first, 'SIGKILL');
    // The fault hook names the batch's first pick: the oldest trunk commit, though it was filed last.
    expect(await readFile(marker, 'utf8')).toBe(ids[0]);
    expect(await picksOn(branch, cutPoint)).toHaveLength(at === 'afterPush' ? 10 : 0);

    const second = await startChild();
    const summary = await waitFor('the batch to finish on the new worker and be recorded', () => settled(handle), 90_000);
    await stopChild(second, 'SIGTERM');

    // Each origin exactly once, in trunk order, and nothing else on the branch.
    const picked = await picksOn(branch, cutPoint);
    expect(picked.map((c) => c.origins)).toEqual(origins.map((o) => [o]));
    const head = (await git(['rev-parse', `refs/heads/${branch}`], { cwd: repo.remote })).stdout.trim();
    expect(summary.headSha).toBe(head);

    const check = await openDatabase(database());
    const rows = await Promise.all(ids.map((id) => getChange(check.db, product, release, id)));
    await check.close();
    rows.forEach((row, i) => {
      expect(row?.state, `pick of fix ${i}`).toBe('merged');
      expect(row?.resultSha).toBe(picked[i]?.sha);
    });
  });

  /** Commits on `branch` after `from`, oldest first, with the origins their pick trailers name. */
  async function picksOn(branch: string, from: string): Promise<{ sha: string; origins: string[] }[]> {
    const out = (await git(['log', '--reverse', '--format=%H%x01%B%x00', `${from}..refs/heads/${branch}`], { cwd: repo.remote })).stdout;
    return out.split('\0').map((x) => x.trim()).filter(Boolean).map((entry) => {
      const [sha = '', message = ''] = entry.split('\x01');
      return { sha, origins: [...message.matchAll(/\(cherry picked from commit ([0-9a-f]{40})\)/g)].map((m) => m[1] ?? '') };
    });
  }
});
