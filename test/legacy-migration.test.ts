import { randomUUID } from 'node:crypto';
import { WithStartWorkflowOperation } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import { upsertChanges } from '../db/repos/changes.ts';
import { getRelease } from '../db/repos/releases.ts';
import type { Actor, ProductConfig } from '../domain/types.ts';
import type { ReleaseInput as LegacyInput } from '../workflows/legacy/release.ts';
import type { CarriedState } from '../workflows/legacy/release-state.ts';
import { cutUpdate } from '../workflows/messages.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';

// Releases started on the workflow type of 2026-11 (releaseWorkflow) move to today's type of their
// flow at their next step or when the API first talks to them, carrying what they hold; the API
// waits for the move and goes on as if nothing happened.

const admin: Actor = { name: 'admin', role: 'admin', products: null, tokenId: null };

describe('a release on the legacy workflow type', () => {
  let stack: Stack;
  let repo: GitFixture;
  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
    await repo.commit({ 'README.md': 'legacy\n' }, 'base');
    await repo.push();
  });
  afterAll(async () => {
    await stack?.stop();
    await repo?.cleanup();
  });

  async function product(flow: ProductConfig['flow']): Promise<ProductConfig> {
    // Legacy releases were cut before products named themselves in their branches (releases/{name}).
    const name = unique(`legacy-${flow}`);
    const res = await stack.call('POST', '/v1/products', { body: { name, repository: repo.remote, flow, trunk: 'main', branchTemplate: 'releases/{name}' } });
    expect(res.status, res.text).toBe(201);
    return res.body as ProductConfig;
  }

  const startLegacy = (input: LegacyInput) => stack.client.workflow.executeUpdateWithStart(cutUpdate, {
    startWorkflowOperation: new WithStartWorkflowOperation('releaseWorkflow', {
      workflowId: `culvert/${input.product.name}/${input.name}`, taskQueue: stack.taskQueue, workflowIdConflictPolicy: 'FAIL', args: [input],
    }),
  });

  async function runTypes(workflowId: string): Promise<string[]> {
    const types: { type: string; start: number }[] = [];
    for await (const wf of stack.client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) types.push({ type: wf.type, start: wf.startTime.getTime() });
    return types.sort((a, b) => a.start - b.start).map((t) => t.type);
  }

  it('an idle one is moved when the API first talks to it; requests then work as ever', async () => {
    const config = await product('pull-request');
    await repo.branch(`f-${config.name}`);
    await repo.commit({ [`${config.name}.txt`]: 'x\n' }, 'feature', `f-${config.name}`);
    await repo.push(`f-${config.name}`);
    await startLegacy({ product: config, name: 'master', from: null, production: true, createdBy: admin });
    expect((await getRelease(stack.database.db, config.name, 'master'))?.engine).toBe(1);

    const changes = `/v1/products/${config.name}/releases/master/changes`;
    const filed = await stack.call('POST', changes, { body: { kind: 'merge', branch: `f-${config.name}` } });
    expect(filed.status, filed.text).toBe(201);
    expect((await getRelease(stack.database.db, config.name, 'master'))?.engine).toBe(2);
    expect(await runTypes(`culvert/${config.name}/master`)).toEqual(['releaseWorkflow', 'pullRequestRelease']);

    expect((await stack.call('POST', `${changes}/${filed.body.id}/decision`, { body: { decision: 'approve' } })).status).toBe(200);
    const merged = await waitFor('the merge', async () => {
      const r = await stack.call('GET', `${changes}/${filed.body.id}`);
      return r.body.state === 'merged' ? r.body : undefined;
    });
    expect(merged.resultSha).toBe((await git(['rev-parse', 'main'], { cwd: repo.remote })).stdout.trim());
  });

  it('one with approved picks and an open request carries them over: the picks land, the request can still be decided', async () => {
    const config = await product('cherry-pick');
    const cutAt = (await git(['rev-parse', 'main'], { cwd: repo.remote })).stdout.trim();
    const fixes = [await repo.commit({ [`${config.name}-1.txt`]: '1\n' }, 'fix 1'), await repo.commit({ [`${config.name}-2.txt`]: '2\n' }, 'fix 2')];
    await repo.push();
    // Cut by the legacy code, nothing else yet: it waits idle for work.
    const name = 'stable-1';
    await startLegacy({ product: config, name, from: cutAt, production: true, createdBy: admin });
    const handle = stack.client.workflow.getHandle(`culvert/${config.name}/${name}`);
    // What a legacy run holds mid-way: two requests it recorded (one approved and queued, one waiting) ...
    const ids = [randomUUID(), randomUUID()];
    const legacy = (i: number, state: 'approved' | 'awaiting-decision') => ({
      id: ids[i] as string, seq: i + 1, kind: 'pick' as const, state, check: 'none' as const, commits: [fixes[i] as string], reason: 'fix', severity: 'normal',
      requester: 'admin', trunkOrder: i + 10, votes: state === 'approved' ? [{ by: 'admin', decision: 'approve' as const }] : [], decidedBy: state === 'approved' ? 'admin' : null,
    });
    await upsertChanges(stack.database.db, config.name, name, [legacy(0, 'approved'), legacy(1, 'awaiting-decision')]);
    // ... and the carried state of its next run, as continue-as-new would hand it over: a fresh legacy
    // run started with it moves on at once, before doing any of its work the old way.
    await handle.terminate('replaced by a run carrying state, as its continue-as-new would');
    const state: CarriedState = {
      product: config, name, branch: `releases/${name}`, production: true, cutFrom: cutAt, createdBy: 'admin', state: 'open', headSha: cutAt, seq: 2, runs: 2,
      open: Object.fromEntries([legacy(0, 'approved'), legacy(1, 'awaiting-decision')].map((c) => [c.id, {
        ...c, branch: null, sourceSha: null, dependsOn: [], revertOf: null,
      }])),
      done: [], checkQueue: [], mergeQueue: [ids[0] as string], deployQueue: [], deploymentsSeen: [], updateDeploysOwed: [], candidates: 0,
      candidateOwed: false, stage: 'changes', frozenBy: null, gate: null,
    };
    await stack.client.workflow.start('releaseWorkflow', {
      workflowId: `culvert/${config.name}/${name}`, taskQueue: stack.taskQueue, args: [{ product: config, name, from: cutAt, production: true, createdBy: admin, carried: state }],
    });
    const base = `/v1/products/${config.name}/releases/${name}/changes`;
    await waitFor('the approved pick applied by the new workflow type', async () => (await stack.call('GET', `${base}/${ids[0]}`)).body.state === 'merged', 60_000);
    const types = await runTypes(`culvert/${config.name}/${name}`);
    expect(types.at(-1)).toBe('stableRelease');
    const decided = await stack.call('POST', `${base}/${ids[1]}/decision`, { body: { decision: 'approve' } });
    expect(decided.status, decided.text).toBe(200);
    await waitFor('the second pick', async () => (await stack.call('GET', `${base}/${ids[1]}`)).body.state === 'merged', 60_000);
    const log = (await git(['log', '--format=%B', `releases/${name}`], { cwd: repo.remote })).stdout;
    for (const fix of fixes) expect(log.split(`(cherry picked from commit ${fix})`)).toHaveLength(2);
    const seqs = (await stack.call('GET', `${base}?limit=10`)).body.items.map((c: { seq: number }) => c.seq);
    expect(seqs).toEqual([1, 2]);
  });
});
