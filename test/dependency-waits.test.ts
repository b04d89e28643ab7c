import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog } from '../db/schema.ts';
import { deploymentWorkflowId } from '../domain/types.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';

// Issue 13: B's deployment waits until the version of A it depends on is published to an environment,
// resumed by A's deployment there (a signal), not by polling; an owner may let it go ahead; a timeout ends it.
describe('dependency waits', () => {
  let stack: Stack;
  let repoA: GitFixture;
  let repoB: GitFixture;

  beforeAll(async () => {
    stack = await startStack();
    repoA = await createRemote();
    repoB = await createRemote();
    for (const r of [repoA, repoB]) {
      await r.commit({ 'README.md': 'x\n' }, 'initial');
      await r.push();
    }
  });
  afterAll(async () => {
    await stack?.stop();
    await repoA?.cleanup();
    await repoB?.cleanup();
  });

  const environments = [{ name: 'staging', order: 1, production: false }, { name: 'production', order: 2, production: true }];
  const deploySettings = { steps: { deploy: { argv: ['true'] } }, triggers: [{ on: 'deploy.clicked', run: 'deploy' }], environments };
  const deploymentOf = async (product: string, release: string, id: string) => {
    const r = await stack.call('GET', `/v1/products/${product}/releases/${release}`);
    return { release: r.body, deployment: (r.body.deployments as { id: string; state: string; failure: string | null }[]).find((d) => d.id === id) };
  };
  const settled = (product: string, release: string, id: string) => waitFor(`deployment ${id}`, async () => {
    const { deployment } = await deploymentOf(product, release, id);
    return deployment && ['succeeded', 'failed'].includes(deployment.state) ? deployment : undefined;
  });

  it('holds B until A 1.4 reaches production, not staging; lets an owner go ahead; times out saying what it waited for', async () => {
    const a = unique('core');
    const b = unique('app');
    const owner = await stack.token(unique('olivia'), 'owner', [a, b]);
    const viewer = await stack.token(unique('vic'), 'viewer', [b]);
    expect((await stack.call('POST', '/v1/products', { body: { name: a, repository: repoA.remote, flow: 'cherry-pick', trunk: 'main', ...deploySettings } })).status).toBe(201);
    const selfish = await stack.call('POST', '/v1/products', { body: { name: b, repository: repoB.remote, flow: 'cherry-pick', ...deploySettings, dependencies: [{ product: b, version: '1', environment: 'production' }] } });
    expect(selfish.status).toBe(400);
    const made = await stack.call('POST', '/v1/products', {
      body: {
        name: b, repository: repoB.remote, flow: 'cherry-pick', trunk: 'main', ...deploySettings,
        dependencies: [{ product: a, version: '1.4', environment: 'production', for: ['staging'] }],
      },
    });
    expect(made.status, made.text).toBe(201);
    for (const [p, r] of [[a, '1.4'], [b, 'b1']] as const) expect((await stack.call('POST', `/v1/products/${p}/releases`, { body: { name: r } })).status).toBe(201);
    const deploy = async (p: string, r: string, environment: string) => {
      const res = await stack.call('POST', `/v1/products/${p}/releases/${r}/deployments`, { token: owner, body: { environment } });
      expect(res.status, res.text).toBe(202);
      return res.body.deploymentId as string;
    };

    // B to staging waits for A 1.4 in production, and says so.
    const held = await deploy(b, 'b1', 'staging');
    const shown = await waitFor('the wait', async () => {
      const { release } = await deploymentOf(b, 'b1', held);
      return release.waits.find((w: { deploymentId: string; state: string }) => w.deploymentId === held && w.state === 'waiting');
    });
    expect(shown.summary).toMatch(new RegExp(`^waiting for ${a} 1.4 in production since `));
    // And on the release's web page.
    const signIn = await stack.app.request('/ui/sign-in', {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin' }, body: new URLSearchParams({ token: owner, next: '/ui/' }).toString(),
    });
    expect(signIn.status, await signIn.text()).toBe(303);
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const page = await (await stack.app.request(`/ui/p/${b}/r/b1`, { headers: { cookie } })).text();
    expect(page).toContain(`deployment to staging waiting for ${a} 1.4 in production since`);
    // B to production does not need it (for: staging only).
    expect((await settled(b, 'b1', await deploy(b, 'b1', 'production'))).state).toBe('succeeded');

    // A 1.4 reaches staging: B still waits (nothing told it; its deployment is still pending).
    const aStaging = await deploy(a, '1.4', 'staging');
    await stack.client.workflow.getHandle(deploymentWorkflowId(aStaging)).result();
    expect((await deploymentOf(b, 'b1', held)).deployment?.state).toBe('pending');
    // A 1.4 reaches production: B goes on, woken by A's deployment.
    await deploy(a, '1.4', 'production');
    expect((await settled(b, 'b1', held)).state).toBe('succeeded');
    expect((await deploymentOf(b, 'b1', held)).release.waits.find((w: { deploymentId: string }) => w.deploymentId === held).state).toBe('met');

    // A version never published: an owner lets it go ahead (audited); only once; not a viewer.
    expect((await stack.call('PATCH', `/v1/products/${b}`, { body: { dependencies: [{ product: a, version: '2.0', environment: 'production' }] } })).status).toBe(200);
    const second = await deploy(b, 'b1', 'staging');
    await waitFor('the second wait', async () => (await deploymentOf(b, 'b1', second)).release.waits.some((w: { deploymentId: string; state: string }) => w.deploymentId === second && w.state === 'waiting'));
    const goAhead = `/v1/products/${b}/releases/b1/deployments/${second}/go-ahead`;
    expect((await stack.call('POST', goAhead, { token: viewer })).status).toBe(403);
    expect((await stack.call('POST', `/v1/products/${b}/releases/b1/deployments/nope/go-ahead`, { token: owner })).status).toBe(404);
    const went = await stack.call('POST', goAhead, { token: owner });
    expect(went.status, went.text).toBe(202);
    expect(went.body.skipped).toEqual([`${a} 2.0 in production`]);
    expect((await settled(b, 'b1', second)).state).toBe('succeeded');
    const ended = (await deploymentOf(b, 'b1', second)).release.waits.find((w: { deploymentId: string }) => w.deploymentId === second);
    expect(ended).toMatchObject({ state: 'overridden' });
    expect((await stack.call('POST', goAhead, { token: owner })).status).toBe(409);
    const audited = await stack.database.db.select().from(auditLog).where(and(eq(auditLog.action, 'deploy.go-ahead'), eq(auditLog.target, second)));
    expect(audited.map((x) => x.outcome)).toEqual(['done']);

    // A timeout ends the deployment as failed, naming what it waited for.
    expect((await stack.call('PATCH', `/v1/products/${b}`, { body: { dependencies: [{ product: a, version: '9.9', environment: 'production', timeoutSeconds: 1 }] } })).status).toBe(200);
    const late = await settled(b, 'b1', await deploy(b, 'b1', 'staging'));
    expect(late.state).toBe('failed');
    expect(late.failure).toMatch(new RegExp(`for ${a} 9.9 in production; timed out`));

    // The version the commit names, read by the product's own step (its last JSON line): 1.4 is in production, so it goes on.
    const versions = (json: string) => ({ versions: { argv: ['sh', '-c', `echo reading the lock file; echo '${json}'`] } });
    const reading = (json: string) => stack.call('PATCH', `/v1/products/${b}`, {
      body: { steps: { ...deploySettings.steps, ...versions(json) }, dependencies: [{ product: a, versionFrom: { step: 'versions' }, environment: 'production' }] },
    });
    expect((await stack.call('PATCH', `/v1/products/${b}`, { body: { dependencies: [{ product: a, versionFrom: { step: 'nope' }, environment: 'production' }] } })).status).toBe(400);
    expect((await reading(JSON.stringify({ [a]: '1.4' }))).status).toBe(200);
    const named = await deploy(b, 'b1', 'staging');
    expect((await settled(b, 'b1', named)).state).toBe('succeeded');
    expect((await deploymentOf(b, 'b1', named)).release.waits.find((w: { deploymentId: string }) => w.deploymentId === named)).toMatchObject({ on: `${a} 1.4 in production`, state: 'met' });
    // A step that names nothing usable fails the deployment, saying so.
    expect((await reading('{"other": "1.0"}')).status).toBe(200);
    const unnamed = await settled(b, 'b1', await deploy(b, 'b1', 'staging'));
    expect(unnamed.state).toBe('failed');
    expect(unnamed.failure).toContain(`step versions does not say which ${a} to wait for`);
  });

  it('escalates a timed-out wait instead of failing: the view says so, those named may go ahead, and the wait goes on until met', async () => {
    const a = unique('core');
    const b = unique('app');
    const head = unique('head-of-release');
    const owner = await stack.token(unique('olivia'), 'owner', [a, b]);
    const headToken = await stack.token(head, 'ci', [b]);
    const other = await stack.token(unique('otto'), 'ci', [b]);
    const viewer = await stack.token(unique('vic'), 'viewer', [b]);
    const escalating = (timeoutSeconds: number) => [{ product: a, version: '1.4', environment: 'production', timeoutSeconds, onTimeout: { escalateTo: [head] } }];
    expect((await stack.call('POST', '/v1/products', { body: { name: a, repository: repoA.remote, flow: 'cherry-pick', trunk: 'main', ...deploySettings } })).status).toBe(201);
    const nobody = await stack.call('POST', '/v1/products', {
      body: { name: b, repository: repoB.remote, flow: 'cherry-pick', ...deploySettings, dependencies: [{ product: a, version: '1.4', environment: 'production', onTimeout: { escalateTo: [] } }] },
    });
    expect(nobody.status, nobody.text).toBe(400);
    const made = await stack.call('POST', '/v1/products', {
      body: { name: b, repository: repoB.remote, flow: 'cherry-pick', trunk: 'main', ...deploySettings, dependencies: escalating(3600) },
    });
    expect(made.status, made.text).toBe(201);
    for (const [p, r] of [[a, '1.3'], [a, '1.4'], [b, 'b1']] as const) expect((await stack.call('POST', `/v1/products/${p}/releases`, { body: { name: r } })).status).toBe(201);
    const deploy = async (p: string, r: string, environment: string) => {
      const res = await stack.call('POST', `/v1/products/${p}/releases/${r}/deployments`, { token: owner, body: { environment } });
      expect(res.status, res.text).toBe(202);
      return res.body.deploymentId as string;
    };
    type Wait = { deploymentId: string; state: string; summary?: string; note: string | null; escalatedTo: string[] | null; escalatedAt: string | null; endedBy: string | null };
    const waitOf = async (id: string) => ((await deploymentOf(b, 'b1', id)).release.waits as Wait[]).find((w) => w.deploymentId === id);
    const goAhead = (id: string, token: string) => stack.call('POST', `/v1/products/${b}/releases/b1/deployments/${id}/go-ahead`, { token });

    // Before its timeout nobody but an owner may let it go ahead.
    const early = await deploy(b, 'b1', 'staging');
    await waitFor('the early wait', async () => (await waitOf(early))?.state === 'waiting');
    expect((await goAhead(early, headToken)).status).toBe(403);
    expect((await goAhead(early, owner)).status).toBe(202);
    expect((await settled(b, 'b1', early)).state).toBe('succeeded');

    // A 1-second timeout escalates: the deployment is not failed, it waits on, handed to head-of-release (audited once).
    expect((await stack.call('PATCH', `/v1/products/${b}`, { body: { dependencies: escalating(1) } })).status).toBe(200);
    const held = await deploy(b, 'b1', 'staging');
    const escalated = await waitFor('the escalation', async () => {
      const w = await waitOf(held);
      return w?.escalatedAt ? w : undefined;
    });
    expect(escalated).toMatchObject({ state: 'waiting', escalatedTo: [head] });
    const iso = '\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z';
    expect(escalated.summary).toMatch(new RegExp(`^waiting for ${a} 1\\.4 in production since ${iso}; escalated to ${head} at ${iso}$`));
    expect(escalated.summary).toContain(`at ${escalated.escalatedAt}`);
    expect((await deploymentOf(b, 'b1', held)).deployment?.state).toBe('pending');
    const escalations = await stack.database.db.select().from(auditLog).where(and(eq(auditLog.action, 'deploy.wait-escalated'), eq(auditLog.target, held)));
    expect(escalations.map((x) => [x.actor, x.product, (x.details as { escalatedTo: string[] }).escalatedTo])).toEqual([['culvert', b, [head]]]);
    // Neither a viewer nor a principal it was not escalated to may let it go ahead; head-of-release may.
    expect((await goAhead(held, viewer)).status).toBe(403);
    const refused = await goAhead(held, other);
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('forbidden');
    const went = await goAhead(held, headToken);
    expect(went.status, went.text).toBe(202);
    expect(went.body.skipped).toEqual([`${a} 1.4 in production`]);
    expect((await settled(b, 'b1', held)).state).toBe('succeeded');
    expect(await waitOf(held)).toMatchObject({ state: 'overridden', endedBy: head, escalatedTo: [head] });
    const byHead = await stack.database.db.select().from(auditLog).where(and(eq(auditLog.action, 'deploy.go-ahead'), eq(auditLog.target, held)));
    expect(byHead.map((x) => [x.actor, x.outcome])).toEqual([[head, 'done']]);

    // Escalated, it still goes on when A 1.4 reaches production.
    const met = await deploy(b, 'b1', 'staging');
    await waitFor('the second escalation', async () => (await waitOf(met))?.escalatedAt);
    expect((await settled(a, '1.4', await deploy(a, '1.4', 'production'))).state).toBe('succeeded');
    expect((await settled(b, 'b1', met)).state).toBe('succeeded');
    expect(await waitOf(met)).toMatchObject({ state: 'met', note: null });

    // A 1.3 replaces 1.4 in production (a rollback): B, which went ahead on 1.4, is told.
    const rollback = await deploy(a, '1.3', 'production');
    expect((await settled(a, '1.3', rollback)).state).toBe('succeeded');
    const replaced = await waitFor('the replaced note', async () => (await waitOf(met))?.note ?? undefined);
    expect(replaced).toMatch(new RegExp(`^${a} 1\\.4 in production was replaced by 1\\.3 at ${iso}$`));
    // A later deployment of 1.4 to production that fails is noted too.
    expect((await stack.call('PATCH', `/v1/products/${a}`, { body: { steps: { deploy: { argv: ['false'] } } } })).status).toBe(200);
    expect((await settled(a, '1.4', await deploy(a, '1.4', 'production'))).state).toBe('failed');
    const failed = await waitFor('the failed note', async () => {
      const note = (await waitOf(met))?.note;
      return note && note !== replaced ? note : undefined;
    });
    expect(failed).toMatch(new RegExp(`^${a} 1\\.4 in production: a later deployment of it failed at ${iso}$`));
  });
});
