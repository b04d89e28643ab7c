import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';
import { processesWith, seconds } from './helpers/faults.ts';

// A fault from the field, on real step processes: a step that hangs is stopped at its timeout and
// leaves nothing running.

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
