import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../api/app.ts';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { Actor } from '../domain/types.ts';
import { deployUpdate } from '../workflows/release/messages.ts';
import { deployment } from '../workflows/deploy.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, uiUrl, unique } from './helpers/stack.ts';
import { testCodec } from './helpers/codec.ts';
import { waitFor } from './helpers/wait.ts';
import type { Stack } from './helpers/stack.ts';

const admin: Actor = { name: 'admin', role: 'admin', products: null, tokenId: null };

describe('environments and deployments', () => {
  let stack: Stack;
  let repo: GitFixture;
  let first: string;
  let second: string;

  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
    first = await repo.commit({ 'app.txt': 'v1\n' }, 'v1');
    second = await repo.commit({ 'app.txt': 'v2\n' }, 'v2');
    await repo.push();
  });
  afterAll(async () => {
    await stack?.stop();
    await repo?.cleanup();
  });

  const product = (name: string, extra: Record<string, unknown> = {}) => ({
    name, repository: repo.remote, flow: 'cherry-pick', trunk: 'main',
    steps: {
      deploy: { argv: ['sh', '-c', 'test "$CULVERT_ENVIRONMENT" != broken'] },
      build: { argv: ['sh', '-c', 'mkdir -p dist && cp app.txt dist/app'] },
    },
    triggers: [{ on: 'release.updated', run: 'deploy', environment: 'dev' }, { on: 'release.updated', run: 'deploy', environment: 'production' }],
    environments: [
      { name: 'dev', order: 1, production: false },
      { name: 'broken', order: 2, production: false },
      { name: 'staging', order: 3, production: false, gate: { group: ['sam'], quorum: 1 } },
      { name: 'production', order: 4, production: true },
    ],
    ...extra,
  });
  const envs = async (p: string) => (await stack.call('GET', `/v1/products/${p}/environments`)).body.items as {
    name: string; current: { release: string; commitSha: string } | null; history: { state: string; release: string }[];
  }[];
  const env = async (p: string, name: string) => (await envs(p)).find((e) => e.name === name);

  it('deploys through a gate, records failures without changing what runs, and rolls back', async () => {
    const p = unique('deploy');
    const sam = await stack.token('sam', 'owner', [p]);
    expect((await stack.call('POST', '/v1/products', { body: product(p) })).status).toBe(201);
    expect((await stack.call('POST', `/v1/products/${p}/releases`, { body: { name: 'r1', from: first } })).status).toBe(201);
    expect((await stack.call('POST', `/v1/products/${p}/releases`, { body: { name: 'r2', from: second } })).status).toBe(201);
    const click = (release: string, environment: string) =>
      stack.call('POST', `/v1/products/${p}/releases/${release}/deployments`, { body: { environment } });

    expect((await click('r1', 'dev')).status).toBe(202);
    await waitFor('r1 on dev', async () => (await env(p, 'dev'))?.current?.release === 'r1');
    expect((await click('r2', 'dev')).status).toBe(202);
    await waitFor('r2 on dev', async () => (await env(p, 'dev'))?.current?.release === 'r2');

    // A failed deployment is recorded and changes nothing.
    expect((await click('r1', 'broken')).status).toBe(202);
    await waitFor('the failed deployment', async () => (await env(p, 'broken'))?.history[0]?.state === 'failed');
    expect((await env(p, 'broken'))?.current).toBeNull();

    // Rollback: deploy the earlier release again, even once it is closed.
    expect((await stack.call('POST', `/v1/products/${p}/releases/r1/close`, {})).status).toBe(200);
    expect((await click('r1', 'dev')).status).toBe(202);
    await waitFor('the rollback to r1', async () => (await env(p, 'dev'))?.current?.release === 'r1');
    expect((await env(p, 'dev'))?.current?.commitSha).toBe(first);

    // staging needs sam's approval first.
    const gated = await click('r2', 'staging');
    expect(gated.status).toBe(202);
    const gate = await waitFor('the staging gate', async () =>
      (await stack.call('GET', `/v1/approvals?state=pending&product=${p}`)).body.items[0]);
    expect((await env(p, 'staging'))?.current).toBeNull();
    const vote = await stack.call('POST', `/v1/approvals/${encodeURIComponent(gate.id)}`, { token: sam, body: { decision: 'approve' } });
    expect(vote.status, vote.text).toBe(200);
    await waitFor('r2 on staging', async () => (await env(p, 'staging'))?.current?.release === 'r2');
  });

  it('records what decided a deployment as the click was accepted, and holds to it whatever is patched meanwhile', async () => {
    const p = unique('facts');
    const sam = await stack.token('sam', 'owner', [p]);
    expect((await stack.call('POST', '/v1/products', { body: product(p) })).status).toBe(201);
    expect((await stack.call('POST', `/v1/products/${p}/releases`, { body: { name: 'r1', from: first } })).status).toBe(201);
    expect((await stack.call('POST', `/v1/products/${p}/releases/r1/deployments`, { body: { environment: 'staging' } })).status).toBe(202);
    const gate = await waitFor('the staging gate', async () => (await stack.call('GET', `/v1/approvals?state=pending&product=${p}`)).body.items[0]);

    // An admin takes the gate away and changes the flag while the deployment waits at its gate.
    const environments = product(p).environments.map((e) => (e.name === 'staging' ? { name: 'staging', order: 3, production: true } : e));
    expect((await stack.call('PATCH', `/v1/products/${p}`, { body: { environments } })).status).toBe(200);
    const deploymentsOf = async () => (await stack.call('GET', `/v1/products/${p}/releases/r1`)).body.deployments as { environment: string; state: string; facts: unknown }[];
    const facts = { environmentProduction: false, releaseProduction: true, gate: { group: ['sam'], quorum: 1 } };
    expect(await deploymentsOf()).toEqual([expect.objectContaining({ environment: 'staging', state: 'pending', facts })]);
    expect((await env(p, 'staging'))?.current, 'the gate in force at the click still holds it').toBeNull();

    expect((await stack.call('POST', `/v1/approvals/${encodeURIComponent(gate.id)}`, { token: sam, body: { decision: 'approve' } })).status).toBe(200);
    await waitFor('r1 on staging', async () => (await env(p, 'staging'))?.current?.release === 'r1');
    expect(await deploymentsOf(), 'written once: the patch is not what decided it').toEqual([expect.objectContaining({ state: 'succeeded', facts })]);
  });

  it('never lets a non-production release reach production, by any path', async () => {
    const p = unique('nonprod');
    expect((await stack.call('POST', '/v1/products', { body: product(p) })).status).toBe(201);
    expect((await stack.call('POST', `/v1/products/${p}/releases`, { body: { name: 'exp', from: first, production: false } })).status).toBe(201);
    const rel = (await stack.call('GET', `/v1/products/${p}/releases/exp`)).body;

    // 1. the API
    const click = await stack.call('POST', `/v1/products/${p}/releases/exp/deployments`, { body: { environment: 'production' } });
    expect(click.status).toBe(409);
    expect(click.body.code).toBe('release_not_production');
    // 2. the release workflow's own validator, asked directly
    const asked = await stack.client.workflow.getHandle(rel.workflowId).executeUpdate(deployUpdate, {
      args: [{ deploymentId: unique('direct'), environment: 'production', actor: admin }],
    }).catch((err: unknown) => err);
    expect(asked).toBeInstanceOf(WorkflowUpdateFailedError);
    expect((asked as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'release_not_production' });
    // 3. a deployment workflow started by hand
    const direct = await stack.client.workflow.execute(deployment, {
      workflowId: unique('culvert-deploy/by-hand'), taskQueue: stack.taskQueue,
      args: [{ product: (await stack.call('GET', `/v1/products/${p}`)).body, release: 'exp', production: false,
        job: { deploymentId: unique('by-hand'), environment: 'production', commitSha: first, trigger: 'deploy.clicked', requestedBy: 'admin' } }],
    });
    expect(direct.state).toBe('refused');
    // 4. the release.updated trigger after a pick lands: dev gets it, production does not
    const pick = await stack.call('POST', `/v1/products/${p}/releases/exp/changes`, { body: { kind: 'pick', commits: [second], reason: 'try', severity: 'normal' } });
    expect(pick.status, pick.text).toBe(201);
    expect((await stack.call('POST', `/v1/products/${p}/releases/exp/changes/${pick.body.id}/decision`, { body: { decision: 'approve' } })).status).toBe(200);
    await waitFor('the dev deployment of the pick', async () => (await env(p, 'dev'))?.current?.release === 'exp');
    // 5. a rollback of the closed release
    expect((await stack.call('POST', `/v1/products/${p}/releases/exp/close`, {})).status).toBe(200);
    const late = await stack.call('POST', `/v1/products/${p}/releases/exp/deployments`, { body: { environment: 'production' } });
    expect(late.status).toBe(409);

    const production = await env(p, 'production');
    expect(production?.current).toBeNull();
    expect(production?.history.filter((d) => d.state === 'succeeded')).toHaveLength(0);
  });

  it('answers a click whose deployment was queued but whose answer was lost as the deployment, once; a keyed one as "look again"', async () => {
    const p = unique('lost-answer');
    expect((await stack.call('POST', '/v1/products', { body: product(p, { triggers: [] }) })).status).toBe(201);
    expect((await stack.call('POST', `/v1/products/${p}/releases`, { body: { name: 'r1', from: first } })).status).toBe(201);
    // An API whose every Update is accepted by the release but whose outcome never comes back, as when the
    // worker that took it dies before answering ("workflow update was aborted" until the deadline).
    const lost = Object.assign(new Error('14 UNAVAILABLE: workflow update was aborted'), { code: 14, details: 'workflow update was aborted', metadata: {} });
    const handleOf = (id: string) => {
      const real = stack.client.workflow.getHandle(id);
      return new Proxy(real, {
        get(target, prop, receiver) {
          if (prop !== 'startUpdate') return Reflect.get(target, prop, receiver);
          return async (...args: Parameters<typeof real.startUpdate>) => {
            const update = await real.startUpdate(...args);
            return new Proxy(update, { get: (u, k, r) => (k === 'result' ? () => Promise.reject(lost) : Reflect.get(u, k, r)) });
          };
        },
      });
    };
    const workflow = new Proxy(stack.client.workflow, { get: (w, k, r) => (k === 'getHandle' ? handleOf : Reflect.get(w, k, r)) });
    const client = new Proxy(stack.client, { get: (cl, k, r) => (k === 'workflow' ? workflow : Reflect.get(cl, k, r)) });
    const app = createApp({
      db: stack.database.db, temporal: { client, namespace: inject('temporalNamespace'), taskQueue: stack.taskQueue, uiUrl, codec: testCodec() },
      repositories: { roots: [tmpdir()], dataDir: stack.dataDir },
    });
    const click = async (headers: Record<string, string> = {}) => {
      const res = await app.request(`/v1/products/${p}/releases/r1/deployments`, {
        method: 'POST', headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ environment: 'dev' }),
      });
      return { status: res.status, body: await res.json() as { deploymentId: string; commitSha: string; code?: string; message?: string } };
    };

    // Without a key the click's id is new, so what was queued is exactly what it asked for: it is answered
    // with its deployment, which a look shows at once; a client told "may have taken effect" that could not
    // see it yet would click again and deploy twice.
    const keyless = await click();
    expect(keyless.status, JSON.stringify(keyless.body)).toBe(202);
    expect(keyless.body.commitSha).toBe(first);
    const listed = (await stack.call('GET', `/v1/products/${p}/releases/r1`)).body.deployments as { id: string }[];
    expect(listed.map((d) => d.id)).toContain(keyless.body.deploymentId);
    await waitFor('the deployment it answered to run', async () => (await env(p, 'dev'))?.current?.commitSha === first);
    expect((await env(p, 'dev'))?.history).toHaveLength(1);

    // With a key the client can safely send it again, and is told to.
    const keyed = await click({ 'idempotency-key': 'lost-1' });
    expect(keyed.status, JSON.stringify(keyed.body)).toBe(503);
    expect(keyed.body.code).toBe('unavailable');
    expect(keyed.body.message).toMatch(/may have taken effect/);
  }, 60_000);
});
