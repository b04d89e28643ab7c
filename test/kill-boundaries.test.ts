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
import type { DatabaseTarget } from '../db/client.ts';
import { candidatesOfRelease } from '../db/repos/candidates.ts';
import { listChanges } from '../db/repos/changes.ts';
import { deploymentsOfRelease } from '../db/repos/deployments.ts';
import { createProduct } from '../db/repos/products.ts';
import type { Actor, ProductConfig } from '../domain/types.ts';
import { voteUpdate } from '../workflows/messages.ts';
import { cutUpdate, decideUpdate, fileUpdate, freezeUpdate, summaryQuery } from '../workflows/release/messages.ts';
import type { ReleaseInput } from '../workflows/release/state.ts';
import type { ReleaseSummary } from '../workflows/release/messages.ts';
import { startChildWorker, stopChildWorker } from './helpers/child-worker.ts';
import type { ChildWorker } from './helpers/child-worker.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { unique } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';

// A worker SIGKILLed at an activity boundary of each flow's story (before the activity starts, or
// after it finished and before its result reached Temporal): the next worker finishes the story, and
// git, the database and the steps' own side effects show every piece of work done exactly once.

const admin: Actor = { name: 'admin', role: 'admin', products: null, tokenId: null };
const qa: Actor[] = ['quinn', 'quentin'].map((name) => ({ name, role: 'owner', products: null, tokenId: null }));

type Phase = 'before' | 'after';
// traceRelease is not in the default list (time: each boundary adds a scenario to the longest suite);
// CULVERT_KILL_AT=traceRelease runs it. Killed there (and at runDeploy) CI saw histories that did not
// replay, two memos where the replay made one; memos per job (workflows/interceptors.ts) close that.
// CULVERT_KILL_AT=a,b runs only the boundaries at those activities (of either flow), listed or not.
const only = process.env.CULVERT_KILL_AT?.split(',').filter(Boolean);
const boundaries = (listed: string[]): [string, Phase][] => (only ?? listed).flatMap((a) => [[a, 'before'], [a, 'after']] as [string, Phase][]);
const pullRequestBoundaries = boundaries(['resolveCut', 'createRelease', 'inspectRequests', 'recordRelease', 'runCheck', 'mergeApproved', 'recordDeployment', 'runDeploy']);
const binaryBoundaries = boundaries(['applyApprovedPicks', 'buildCandidate', 'recordGate']);

describe('a worker killed at every activity boundary', () => {
  let repo: GitFixture;
  // Scenarios run concurrently; the fixture's work clone takes one change at a time.
  let gitQueue: Promise<unknown> = Promise.resolve();
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = gitQueue.then(fn);
    gitQueue = next.catch(() => undefined);
    return next;
  };
  let root: string;
  let client: Client;
  let connection: Connection;
  const workers: ChildWorker[] = [];

  beforeAll(async () => {
    repo = await createRemote();
    await repo.commit({ 'app.txt': 'v1\n', 'src/main.c': 'int main() { return 0; }\n' }, 'base');
    await repo.push();
    root = await mkdtemp(join(tmpdir(), 'culvert-kill-'));
    connection = await Connection.connect({ address: inject('temporalAddress') });
    client = culvertClient(connection, inject('temporalNamespace'), testCodec());
  });
  afterAll(async () => {
    for (const w of workers) await stopChildWorker(w, 'SIGKILL');
    await connection?.close();
    await repo?.cleanup();
    await rm(root, { recursive: true, force: true });
  });

  /** A database of the scenario's own: PGlite serves one process, so the parent opens it only while no worker does. */
  const databaseOf = (name: string): DatabaseTarget => (process.env.DATABASE_URL ? { url: process.env.DATABASE_URL } : { dataDir: join(root, name, 'pglite') });

  async function withDatabase<T>(target: DatabaseTarget, fn: (db: Awaited<ReturnType<typeof openDatabase>>['db']) => Promise<T>): Promise<T> {
    const database = await openDatabase(target);
    await database.migrate();
    try {
      return await fn(database.db);
    } finally {
      await database.close();
    }
  }

  /**
   * Runs `story` with a first worker armed to die at the boundary and a second one started when it
   * does; returns once the story is done and the second worker stopped.
   */
  async function scenario(name: string, config: ProductConfig, boundary: [string, Phase], story: (handle: WorkflowHandle, taskQueue: string) => Promise<void>) {
    const target = databaseOf(name);
    await withDatabase(target, async (db) => createProduct(db, config));
    const taskQueue = `kill-${randomUUID()}`;
    const marker = join(root, name, 'killed');
    const base = { taskQueue, dataDir: join(root, name, 'data'), database: 'url' in target ? { url: target.url } : { dataDir: join(root, name, 'pglite') } };
    const first = await startChildWorker({ ...base, kill: { activity: boundary[0], phase: boundary[1], marker } });
    workers.push(first);
    let second: ChildWorker | undefined;
    const takeOver = first.exited.then(async () => {
      second = await startChildWorker(base);
      workers.push(second);
    });
    const handle = client.workflow.getHandle(`culvert/${config.name}/r`);
    await story(handle, taskQueue);
    expect(existsSync(marker), `the worker was killed at ${boundary.join(' ')}`).toBe(true);
    await takeOver;
    if (second) await stopChildWorker(second, 'SIGTERM');
    return target;
  }

  async function settled(handle: WorkflowHandle, done: (s: ReleaseSummary) => boolean) {
    return waitFor('the release to settle', async () => {
      const s = await handle.query(summaryQuery);
      if (s.approved > 0 || s.outbox > 0 || s.jobs > 0 || !done(s)) return undefined;
      const { raw } = await handle.describe();
      return (raw.pendingActivities?.length ?? 0) === 0 ? s : undefined;
    }, 150_000);
  }

  const cut = (taskQueue: string, type: string, input: ReleaseInput) => client.workflow.executeUpdateWithStart(cutUpdate, {
    startWorkflowOperation: new WithStartWorkflowOperation(type, { workflowId: `culvert/${input.product.name}/r`, taskQueue, workflowIdConflictPolicy: 'FAIL', args: [input] }),
  });

  it.concurrent.each(pullRequestBoundaries)('pull-request flow, killed %s %s: merged, checked and deployed once', async (activity, phase) => {
    const product = unique(`k-${activity.toLowerCase()}-${phase}`);
    const out = join(root, product, 'deploys.log');
    // Each scenario on a trunk of its own: they run at the same time on one remote.
    const trunk = `trunk-${product}`;
    const branch = `feature-${product}`;
    await serially(async () => {
      await repo.branch(trunk);
      await repo.push(trunk);
      await repo.branch(branch);
      await repo.commit({ [`${product}.txt`]: 'feature\n' }, `feature of ${product}`, branch);
      await repo.push(branch);
    });
    const config: ProductConfig = {
      name: product, repository: repo.remote, flow: 'pull-request', trunk, owners: [],
      steps: {
        test: { argv: ['sh', '-c', 'test -f app.txt'] },
        deploy: { argv: ['sh', '-c', 'mkdir -p "$(dirname "$OUT")" && echo "$CULVERT_DEPLOYMENT_ID $CULVERT_COMMIT" >> "$OUT"'], env: { OUT: out } },
      },
      triggers: [{ on: 'change.requested', run: 'test' }, { on: 'release.updated', run: 'deploy', environment: 'production' }],
      environments: [{ name: 'production', order: 1, production: true }],
    };
    const id = randomUUID();
    const target = await scenario(product, config, [activity, phase], async (handle, taskQueue) => {
      await cut(taskQueue, 'pullRequestRelease', { product: config, name: 'r', from: null, production: true, createdBy: admin });
      await handle.executeUpdate(fileUpdate, { args: [{ requests: [{ id, kind: 'merge', branch }], actor: admin }] });
      await waitFor('the check', async () => (await handle.query(summaryQuery)).jobs === 0, 150_000);
      const decided = await handle.executeUpdate(decideUpdate, { args: [{ decisions: [{ id, decision: 'approve' }], actor: admin }] });
      expect(decided.results[0]).toMatchObject({ ok: true, state: 'approved' });
      await settled(handle, (s) => s.headSha !== s.cutFrom);
    });

    const merges = (await git(['log', '--format=%H', `--grep=Culvert-Change: ${id}`, trunk], { cwd: repo.remote })).stdout.split('\n').filter(Boolean);
    expect((await git(['rev-parse', trunk], { cwd: repo.remote })).stdout.trim()).toBe(merges[0]);
    expect(merges).toHaveLength(1);
    const deployed = (await readFile(out, 'utf8')).trim().split('\n');
    expect(deployed).toHaveLength(1);
    expect(deployed[0]).toContain(merges[0]);
    await withDatabase(target, async (db) => {
      const changes = (await listChanges(db, product, 'r', { limit: 10, offset: 0 })).items;
      expect(changes.map((c) => [c.state, c.checkOutcome, c.resultSha])).toEqual([['merged', 'passed', merges[0]]]);
      expect(changes[0]?.history.map((e) => e.state)).toEqual(['checking', 'checking', 'awaiting-decision', 'approved', 'merged']);
      const deployments = await deploymentsOfRelease(db, product, 'r');
      expect(deployments.map((d) => [d.environment, d.state, d.commitSha])).toEqual([['production', 'succeeded', merges[0]]]);
    });
  }, 240_000);

  it.concurrent.each(binaryBoundaries)('binary flow, killed %s %s: picked, built, signed off and published once', async (activity, phase) => {
    const product = unique(`kb-${activity.toLowerCase()}-${phase}`);
    const out = join(root, product, 'published.log');
    const trunk = `trunk-${product}`;
    const fix = await serially(async () => {
      await repo.branch(trunk);
      const sha = await repo.commit({ [`fixes/${product}.c`]: '/* fix */\n' }, `fix for ${product}`, trunk);
      await repo.push(trunk);
      return sha;
    });
    const config: ProductConfig = {
      name: product, repository: repo.remote, flow: 'binary', trunk, owners: [], branchTemplate: `releases/${product}/{name}`,
      steps: {
        build: { argv: ['sh', '-c', 'mkdir -p dist && cat src/*.c > dist/app.bin'] },
        publish: { argv: ['sh', '-c', 'mkdir -p "$(dirname "$OUT")" && echo "published $CULVERT_COMMIT" >> "$OUT"'], env: { OUT: out } },
      },
      triggers: [{ on: 'release.final', run: 'publish', environment: 'production' }],
      environments: [{ name: 'production', order: 1, production: true }],
      artifacts: [{ name: 'app', path: 'dist/app.bin' }],
      signoff: { group: qa.map((a) => a.name), quorum: 2 },
    };
    const id = randomUUID();
    const cutAt = (await git(['rev-parse', `${fix}~1`], { cwd: repo.remote })).stdout.trim();
    const target = await scenario(product, config, [activity, phase], async (handle, taskQueue) => {
      await cut(taskQueue, 'binaryRelease', { product: config, name: 'r', from: cutAt, production: true, createdBy: admin });
      await handle.executeUpdate(fileUpdate, { args: [{ requests: [{ id, kind: 'pick', commits: [fix], reason: 'fix', severity: 'normal' }], actor: admin }] });
      await handle.executeUpdate(decideUpdate, { args: [{ decisions: [{ id, decision: 'approve' }], actor: admin }] });
      await settled(handle, (s) => s.headSha !== s.cutFrom);
      await handle.executeUpdate(freezeUpdate, { args: [{ actor: admin }] });
      await waitFor('the sign-off gate', async () => (await handle.query(summaryQuery)).stage === 'signoff', 150_000);
      const gate = client.workflow.getHandle(`culvert-gate/${product}/r/signoff`);
      for (const voter of qa) {
        await waitFor(`${voter.name}'s vote`, () => gate.executeUpdate(voteUpdate, { args: [{ gateId: `${product}/r/signoff`, decision: 'approve', actor: voter }] }).then(() => true, () => false), 150_000);
      }
      await waitFor('the release published and closed', async () => (await handle.query(summaryQuery).catch(() => undefined))?.state === 'closed'
        || (await handle.describe()).status.name === 'COMPLETED', 150_000);
      await handle.result();
    });

    const picks = (await git(['log', '--format=%H', `--grep=Culvert-Change: ${id}`, `releases/${product}/r`], { cwd: repo.remote })).stdout.split('\n').filter(Boolean);
    expect(picks).toHaveLength(1);
    expect((await readFile(out, 'utf8')).trim().split('\n')).toEqual([`published ${picks[0]}`]);
    await withDatabase(target, async (db) => {
      const candidates = await candidatesOfRelease(db, product, 'r');
      expect(candidates.map((c) => [c.label, c.state])).toEqual([['r RC1', 'built'], ['r RC2', 'built'], ['r', 'built']]);
      expect(candidates.at(-1)?.commitSha).toBe(picks[0]);
      const changes = (await listChanges(db, product, 'r', { limit: 10, offset: 0 })).items;
      expect(changes.map((c) => [c.state, c.resultSha])).toEqual([['merged', picks[0]]]);
    });
  }, 240_000);
});
