import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import { createTrain } from '../db/repos/trains.ts';
import { trainWorkflowId } from '../domain/trains.ts';
import type { TrainAction } from '../domain/trains.ts';
import { releaseOperations } from '../api/trains/operations.ts';
import { trainWorkflow } from '../workflows/train.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';

// Issue 13: a train of 40 apps made from one plan, each in its own repository (copies of one history,
// so that one commit can be picked into all of them). The pre-flight names exactly the members that
// cannot take an action and why; the owner confirms for the ready ones; one member's failure does not
// stop the others.
describe('trains', () => {
  let stack: Stack;
  let seed: GitFixture;
  let root: string;

  beforeAll(async () => {
    stack = await startStack();
    seed = await createRemote();
    await seed.commit({ 'README.md': 'apps\n' }, 'initial');
    await seed.push();
    root = await mkdtemp(join(tmpdir(), 'culvert-train-repos-'));
  });
  afterAll(async () => {
    await stack?.stop();
    await seed?.cleanup();
    await rm(root, { recursive: true, force: true });
  });

  const train = (name: string) => `/v1/trains/${name}`;
  const actionDone = (name: string, seq: number) => waitFor(`action ${seq} of ${name}`, async () => {
    const r = await stack.call('GET', `${train(name)}/actions/${seq}`);
    return r.status === 200 && r.body.state === 'done' ? r.body : undefined;
  }, 120_000);

  it('cuts 40 releases at once, names the 3 that cannot deploy to staging, deploys the 37, picks into every member, freezes and closes', async () => {
    const plan = unique('apps');
    const log = join(root, 'deploys.log');
    expect((await stack.call('POST', '/v1/plans', {
      body: {
        name: plan, flow: 'cherry-pick', trunk: 'main',
        steps: { deploy: { argv: ['sh', '-c', 'echo "{name} $CULVERT_ENVIRONMENT $CULVERT_COMMIT" >> "$DEPLOY_LOG"'], env: { DEPLOY_LOG: log } } },
        triggers: [{ on: 'deploy.clicked', run: 'deploy' }],
        environments: [{ name: 'staging', order: 1, production: false }, { name: 'production', order: 2, production: true }],
      },
    })).status).toBe(201);
    const apps = Array.from({ length: 40 }, (_, i) => unique(`app${String(i).padStart(2, '0')}`));
    const noStaging = new Set([apps[5], apps[17], apps[33]]);
    const repos = new Map<string, string>();
    for (const app of apps) {
      const repo = join(root, `${app}.git`);
      await git(['clone', '--quiet', '--bare', seed.remote, repo]);
      repos.set(app, repo);
      const own = noStaging.has(app) ? { environments: [{ name: 'production', order: 2, production: true }] } : {};
      const made = await stack.call('POST', '/v1/products', { body: { name: app, repository: repo, plan, ...own } });
      expect(made.status, made.text).toBe(201);
    }
    // The commit every member will be asked to pick; app00 has it on trunk before the cut already.
    const fix = await seed.commit({ 'fix.txt': 'the fix\n' }, 'fix the crash');
    await git(['push', '--quiet', repos.get(apps[0] as string) as string, 'main'], { cwd: seed.work });

    const ci = await stack.token(unique('ci'), 'ci', apps);
    const owner = await stack.token(unique('rm'), 'owner', apps);
    const stranger = await stack.token(unique('other'), 'owner', [apps[0] as string]);
    const name = unique('w49');

    expect((await stack.call('POST', '/v1/trains', { token: ci, body: { name, release: 'w49', plan, products: apps } })).status).toBe(400);
    expect((await stack.call('POST', '/v1/trains', { token: stranger, body: { name, release: 'w49', plan } })).status).toBe(403);
    const started = await stack.call('POST', '/v1/trains', { token: ci, body: { name, release: 'w49', plan } });
    expect(started.status, started.text).toBe(202);
    expect(started.body.members).toHaveLength(40);
    expect((await stack.call('POST', '/v1/trains', { token: ci, body: { name, release: 'w49', plan } })).status).toBe(409);

    const cut = await actionDone(name, 1);
    expect(cut).toMatchObject({ done: 40, failed: 0 });
    const view = (await stack.call('GET', train(name), { token: owner })).body;
    expect(view.members.every((m: { release: string; state: string }) => m.release === 'w49' && m.state === 'open')).toBe(true);
    expect(view.members.find((m: { product: string }) => m.product === apps[0]).headSha).toBe(fix);
    // Filterable in the Temporal UI.
    const listed: string[] = [];
    for await (const wf of stack.client.workflow.list({ query: `CulvertTrain = "${name}"` })) listed.push(wf.workflowId);
    expect(listed).toEqual([trainWorkflowId(name)]);

    // Pre-flight to production: nobody has reached staging yet, but the three without staging can go.
    const toProd = await stack.call('POST', `${train(name)}/actions`, { token: owner, body: { action: { kind: 'deploy', environment: 'production' } } });
    expect(toProd.status, toProd.text).toBe(200);
    expect(toProd.body.preflight.ready.map((m: { product: string }) => m.product).sort()).toEqual([...noStaging].sort());
    expect(toProd.body.preflight.cannot[0].reasons[0]).toMatch(/has not reached staging with its head/);

    // Pre-flight to staging: exactly those three cannot, each with its reason; nothing was done.
    const pre = await stack.call('POST', `${train(name)}/actions`, { token: owner, body: { action: { kind: 'deploy', environment: 'staging' } } });
    expect(pre.status, pre.text).toBe(200);
    expect(pre.body.preflight.cannot.map((m: { product: string; reasons: string[] }) => [m.product, m.reasons])).toEqual(
      apps.filter((a) => noStaging.has(a)).map((a) => [a, ['has no staging environment']]));
    expect(pre.body.preflight.summary).toMatch(/^37 ready, 3 cannot: /);
    expect((await readFile(log, 'utf8').catch(() => '')).length).toBe(0);

    const deployed = await stack.call('POST', `${train(name)}/actions`, { token: owner, body: { action: { kind: 'deploy', environment: 'staging' }, confirm: 'ready' } });
    expect(deployed.status, deployed.text).toBe(202);
    expect(deployed.body.members).toHaveLength(37);
    const done = await actionDone(name, deployed.body.seq);
    expect(done).toMatchObject({ done: 37, failed: 0 });
    // The action ends when its deployments have: each member's outcome is its deployment's end.
    expect(done.outcomes.every((o: { outcome: { deploymentId?: string; deploymentState?: string; detail: string } }) =>
      o.outcome.deploymentId && o.outcome.deploymentState === 'succeeded' && o.outcome.detail.startsWith('deployed '))).toBe(true);
    const reached = await waitFor('37 members on staging', async () => {
      const v = (await stack.call('GET', train(name), { token: owner })).body;
      const on = v.members.filter((m: { environments: Record<string, string>; headSha: string }) => m.environments.staging === m.headSha);
      return on.length === 37 ? v : undefined;
    }, 120_000);
    expect(reached.members.filter((m: { environments: Record<string, string> }) => !m.environments.staging).map((m: { product: string }) => m.product).sort()).toEqual([...noStaging].sort());
    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(37);
    expect(new Set(lines.map((l) => l.split(' ')[0])).size).toBe(37);

    // One pick into every member: filed in the 39 that lack it, already present in the one that has it.
    for (const app of apps.slice(1)) await git(['push', '--quiet', repos.get(app) as string, 'main'], { cwd: seed.work });
    const pick = await stack.call('POST', `${train(name)}/actions`, { token: owner, body: { action: { kind: 'pick', commits: [fix], reason: 'crash on start' }, confirm: 'ready' } });
    expect(pick.status, pick.text).toBe(202);
    const picked = await actionDone(name, pick.body.seq);
    expect(picked).toMatchObject({ done: 40, failed: 0 });
    const outcomes = new Map<string, { ok: boolean; detail: string }>(picked.outcomes.map((o: { product: string; outcome: { ok: boolean; detail: string } }) => [o.product, o.outcome]));
    expect(outcomes.get(apps[0] as string)).toMatchObject({ ok: true, detail: 'already present' });
    expect(outcomes.get(apps[1] as string)?.detail).toMatch(/^pick #1 filed/);

    // A viewer's pre-flight shows what it may not do; a stranger sees nothing of the train.
    expect((await stack.call('POST', `${train(name)}/actions`, { token: stranger, body: { action: { kind: 'freeze' } } })).status).toBe(403);
    expect((await stack.call('GET', train(name), { token: stranger })).status).toBe(403);
    expect((await stack.call('GET', train('nope'), { token: owner })).status).toBe(404);
    expect((await stack.call('POST', `${train(name)}/actions`, { token: owner, body: { action: { kind: 'launch' } } })).status).toBe(400);

    const frozen = await stack.call('POST', `${train(name)}/actions`, { token: owner, body: { action: { kind: 'freeze' }, confirm: 'ready' } });
    expect(frozen.status, frozen.text).toBe(202);
    expect(await actionDone(name, frozen.body.seq)).toMatchObject({ done: 40, failed: 0 });
    const again = await stack.call('POST', `${train(name)}/actions`, { token: owner, body: { action: { kind: 'freeze' } } });
    expect(again.body.preflight.summary).toMatch(/^0 ready, 40 cannot/);

    const closed = await stack.call('POST', `${train(name)}/actions`, { token: owner, body: { action: { kind: 'close' }, confirm: 'ready' } });
    expect(closed.status, closed.text).toBe(202);
    expect(await actionDone(name, closed.body.seq)).toMatchObject({ done: 40, failed: 0 });
    await stack.client.workflow.getHandle(trainWorkflowId(name)).result();
    const end = (await stack.call('GET', train(name), { token: owner })).body;
    expect(end.state).toBe('closed');
    expect(end.members.every((m: { state: string }) => m.state === 'closed')).toBe(true);
    expect((await stack.call('POST', `${train(name)}/actions`, { token: owner, body: { action: { kind: 'freeze' } } })).status).toBe(409);
    // Bounded: a few events per member and action.
    const history = await stack.client.workflow.getHandle(trainWorkflowId(name)).fetchHistory();
    expect(history.events?.length ?? 0).toBeLessThan(40 * 5 * 8);
  });

  it('continues as new between actions, carries what is queued, and goes on after a worker restart', async () => {
    const repo = join(root, 'solo.git');
    await git(['clone', '--quiet', '--bare', seed.remote, repo]);
    const app = unique('solo');
    expect((await stack.call('POST', '/v1/products', { body: { name: app, repository: repo, flow: 'cherry-pick', trunk: 'main' } })).status).toBe(201);
    const name = unique('small');
    const actor = { name: 'admin', role: 'admin' as const, products: null, tokenId: null };
    await createTrain(stack.database.db, { name, release: 'r1', production: true, plan: null, workflowId: trainWorkflowId(name), createdBy: 'admin', members: [app] });
    const handle = await stack.client.workflow.start(trainWorkflow, {
      workflowId: trainWorkflowId(name), taskQueue: stack.taskQueue, args: [{ train: name, release: 'r1', production: true, members: [app], actor, actionsPerRun: 1 }],
    });
    await actionDone(name, 1);
    const freeze = await stack.call('POST', `${train(name)}/actions`, { body: { action: { kind: 'freeze' }, confirm: 'ready' } });
    expect(freeze.status, freeze.text).toBe(202);
    expect(freeze.body.seq).toBe(2);
    // The worker restarts while the action is queued or running: the train and its member go on, once.
    await stack.stopWorker();
    await stack.startWorker();
    await actionDone(name, 2);
    expect((await stack.call('GET', `/v1/products/${app}/releases/r1`)).body.state).toBe('frozen');
    const close = await stack.call('POST', `${train(name)}/actions`, { body: { action: { kind: 'close' }, confirm: 'all' } });
    expect(close.body.seq).toBe(3);
    await actionDone(name, 3);
    await handle.result();
    const first = await handle.describe();
    const history = await stack.client.workflow.getHandle(trainWorkflowId(name), handle.firstExecutionRunId).fetchHistory();
    expect(history.events?.some((e) => e.workflowExecutionContinuedAsNewEventAttributes)).toBe(true);
    expect(first.runId).not.toBe(handle.firstExecutionRunId);
  });

  it('records a member whose deployment fails as failed, with the reason, and the others as deployed', async () => {
    const make = async (name: string, argv: string[]) => {
      const repo = join(root, `${name}.git`);
      await git(['clone', '--quiet', '--bare', seed.remote, repo]);
      const r = await stack.call('POST', '/v1/products', {
        body: { name, repository: repo, flow: 'cherry-pick', trunk: 'main', steps: { deploy: { argv } }, triggers: [{ on: 'deploy.clicked', run: 'deploy' }], environments: [{ name: 'staging', order: 1, production: false }] },
      });
      expect(r.status, r.text).toBe(201);
    };
    const good = unique('good');
    const bad = unique('bad');
    await make(good, ['true']);
    await make(bad, ['sh', '-c', 'echo broken >&2; exit 3']);
    const name = unique('mixed');
    expect((await stack.call('POST', '/v1/trains', { body: { name, release: 'r1', products: [good, bad] } })).status).toBe(202);
    await actionDone(name, 1);
    const act = await stack.call('POST', `${train(name)}/actions`, { body: { action: { kind: 'deploy', environment: 'staging' }, confirm: 'ready' } });
    expect(act.status, act.text).toBe(202);
    const done = await actionDone(name, act.body.seq);
    expect(done).toMatchObject({ done: 1, failed: 1 });
    const byProduct = new Map(done.outcomes.map((o: { product: string; outcome: unknown }) => [o.product, o.outcome]));
    expect(byProduct.get(good)).toMatchObject({ ok: true, deploymentState: 'succeeded' });
    expect(byProduct.get(bad)).toMatchObject({ ok: false, deploymentState: 'failed', code: 'deployment_failed' });
  });

  it('does each member\'s part once when it is done again (an activity retried after a crash between the act and its record)', async () => {
    const repo = join(root, 'twice.git');
    await git(['clone', '--quiet', '--bare', seed.remote, repo]);
    const app = unique('twice');
    expect((await stack.call('POST', '/v1/products', {
      body: { name: app, repository: repo, flow: 'cherry-pick', trunk: 'main', steps: { deploy: { argv: ['true'] } }, triggers: [{ on: 'deploy.clicked', run: 'deploy' }], environments: [{ name: 'staging', order: 1, production: false }] },
    })).status).toBe(201);
    const fix = await seed.commit({ 'twice.txt': `${app}\n` }, 'a fix to pick twice');
    await git(['push', '--quiet', repo, 'main'], { cwd: seed.work });
    const ops = releaseOperations({ db: stack.database.db, temporal: { client: stack.client, namespace: inject('temporalNamespace'), taskQueue: stack.taskQueue, uiUrl: null } });
    const actor = { name: 'admin', role: 'admin' as const, products: null, tokenId: null };
    const twice = async (action: TrainAction, key: string) => [await ops.act(actor, app, 'r1', action, key, true), await ops.act(actor, app, 'r1', action, key, true)];

    const [cut1, cut2] = await twice({ kind: 'cut' }, 'train:t:1');
    expect(cut1).toMatchObject({ ok: true });
    expect(cut2).toMatchObject({ ok: true, detail: expect.stringMatching(/^already done/) });
    const [dep1, dep2] = await twice({ kind: 'deploy', environment: 'staging' }, 'train:t:2');
    expect(dep1?.deploymentId).toBeDefined();
    expect(dep2?.deploymentId).toBe(dep1?.deploymentId);
    const [pick1, pick2] = await twice({ kind: 'pick', commits: [fix], reason: 'twice', severity: 'normal' }, 'train:t:3');
    expect(pick2?.changeId).toBe(pick1?.changeId);
    const [frozen1, frozen2] = await twice({ kind: 'freeze' }, 'train:t:4');
    expect([frozen1?.ok, frozen2?.ok]).toEqual([true, true]);

    const release = (await stack.call('GET', `/v1/products/${app}/releases/r1`)).body;
    expect(release.deployments).toHaveLength(1);
    expect(release.state).toBe('frozen');
    const changes = (await stack.call('GET', `/v1/products/${app}/releases/r1/changes?state=`)).body;
    expect(changes.items).toHaveLength(1);
  });
});
