import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog } from '../db/schema.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';

// Issue 13: one release plan serves 40 apps. Each member fills in the plan's parameters; a change to
// the plan reaches all of them (audited); a member's own setting wins and shows as an override.
describe('release plans', () => {
  let stack: Stack;
  let repo: GitFixture;
  let outDir: string;

  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
    await repo.commit({ 'README.md': 'apps\n' }, 'initial');
    await repo.push();
    outDir = await mkdtemp(join(tmpdir(), 'culvert-plan-deploys-'));
  });
  afterAll(async () => {
    await stack?.stop();
    await repo?.cleanup();
    await rm(outDir, { recursive: true, force: true });
  });

  it('makes 40 products from one plan, fills each one\'s parameters, and carries a change of the plan to all of them', async () => {
    const plan = unique('android');
    const log = join(outDir, 'deploys.log');
    const apps = Array.from({ length: 40 }, (_, i) => ({ name: unique(`app${String(i).padStart(2, '0')}`), appId: `com.example.app${i}` }));
    const settings = {
      flow: 'cherry-pick', trunk: 'main',
      parameters: [{ name: 'appId', description: 'the store id' }, { name: 'flavour', default: 'play' }],
      steps: {
        // {…} are the plan's placeholders; ${…} stays the shell's.
        deploy: { argv: ['sh', '-c', 'echo "deploy {name} {appId} {flavour} $CULVERT_ENVIRONMENT ${DEPLOY_LOG:+ok}" >> "$DEPLOY_LOG"'], env: { DEPLOY_LOG: log } },
      },
      triggers: [{ on: 'deploy.clicked', run: 'deploy' }],
      environments: [{ name: 'staging', order: 1, production: false }, { name: 'production', order: 2, production: true }],
    };

    const typo = await stack.call('POST', '/v1/plans', { body: { name: plan, ...settings, steps: { deploy: { argv: ['echo', '{flavor}'] } } } });
    expect(typo.status, typo.text).toBe(400);
    expect(typo.body.message).toContain('{flavor} is used but not declared');
    const reserved = await stack.call('POST', '/v1/plans', { body: { name: plan, ...settings, parameters: [{ name: 'repository' }] } });
    expect(reserved.status, reserved.text).toBe(400);
    const created = await stack.call('POST', '/v1/plans', { body: { name: plan, ...settings } });
    expect(created.status, created.text).toBe(201);
    const owner = await stack.token(unique('olivia'), 'owner', [apps[0]?.name ?? '']);
    expect((await stack.call('POST', '/v1/plans', { token: owner, body: { name: unique('p'), flow: 'binary' } })).status).toBe(403);

    // A member must give every parameter without a default, and only declared ones; nothing is created otherwise.
    const first = apps[0] as (typeof apps)[number];
    const missing = await stack.call('POST', '/v1/products', { body: { name: first.name, repository: repo.remote, plan } });
    expect(missing.status, missing.text).toBe(400);
    expect(missing.body.details.issues).toEqual([expect.objectContaining({ path: 'parameters.appId' })]);
    const unknown = await stack.call('POST', '/v1/products', { body: { name: first.name, repository: repo.remote, plan, parameters: { appId: 'x', colour: 'red' } } });
    expect(unknown.status, unknown.text).toBe(400);
    expect(unknown.body.message).toContain('no parameter colour');
    expect((await stack.call('GET', `/v1/products/${first.name}`)).status).toBe(404);
    const noPlan = await stack.call('POST', '/v1/products', { body: { name: first.name, repository: repo.remote, flow: 'binary', parameters: { appId: 'x' } } });
    expect(noPlan.status, noPlan.text).toBe(400);

    for (const [i, app] of apps.entries()) {
      const body = {
        name: app.name, repository: repo.remote, plan, parameters: { appId: app.appId, ...(i === 1 ? { flavour: 'huawei' } : {}) },
        // One app has no staging: its own environments override the plan's.
        ...(i === 2 ? { environments: [{ name: 'production', order: 2, production: true }] } : {}),
      };
      const r = await stack.call('POST', '/v1/products', { body });
      expect(r.status, r.text).toBe(201);
    }
    const one = (await stack.call('GET', `/v1/products/${first.name}`)).body;
    expect(one).toMatchObject({ plan, parameters: { appId: first.appId }, overrides: [], flow: 'cherry-pick' });
    expect(one.steps.deploy.argv[2]).toBe(`echo "deploy ${first.name} ${first.appId} play $CULVERT_ENVIRONMENT \${DEPLOY_LOG:+ok}" >> "$DEPLOY_LOG"`);
    expect((await stack.call('GET', `/v1/products/${apps[1]?.name}`)).body.steps.deploy.argv[2]).toContain(`${apps[1]?.appId} huawei`);
    const overriding = (await stack.call('GET', `/v1/products/${apps[2]?.name}`)).body;
    expect(overriding.overrides).toEqual(['environments']);
    expect(overriding.environments.map((e: { name: string }) => e.name)).toEqual(['production']);

    const members = await stack.call('GET', `/v1/plans/${plan}`);
    expect(members.status, members.text).toBe(200);
    expect(members.body.members).toHaveLength(40);
    expect(members.body.members.filter((m: { overrides: string[] }) => m.overrides.length > 0).map((m: { name: string }) => m.name)).toEqual([apps[2]?.name]);
    // The old name answers the same.
    expect((await stack.call('GET', `/v1/templates/${plan}`)).body.members).toHaveLength(40);

    // A required parameter no member gives: refused, and neither the plan nor any member changes.
    const unfillable = await stack.call('PATCH', `/v1/plans/${plan}`, { body: { parameters: [...settings.parameters, { name: 'team' }] } });
    expect(unfillable.status, unfillable.text).toBe(400);
    expect(unfillable.body.message).toContain('parameter team has no default');
    expect((await stack.call('GET', `/v1/plans/${plan}`)).body.parameters).toHaveLength(2);

    // A change of the plan reaches all 40 (their effective steps), but not the member's own environments; audited once, naming them.
    const changed = await stack.call('PATCH', `/v1/plans/${plan}`, {
      body: {
        steps: { deploy: { ...settings.steps.deploy, argv: ['sh', '-c', 'echo "v2 {name} {appId} {flavour} $CULVERT_ENVIRONMENT" >> "$DEPLOY_LOG"'] } },
        environments: [...settings.environments, { name: 'beta', order: 0, production: false }],
      },
    });
    expect(changed.status, changed.text).toBe(200);
    expect(changed.body.products).toHaveLength(40);
    for (const app of apps) {
      const p = (await stack.call('GET', `/v1/products/${app.name}`)).body;
      expect(p.steps.deploy.argv[2]).toContain(`v2 ${app.name} ${app.appId}`);
      expect(p.environments.map((e: { name: string }) => e.name).includes('beta')).toBe(app !== apps[2]);
    }
    const audited = await stack.database.db.select().from(auditLog).where(and(eq(auditLog.action, 'template.update'), eq(auditLog.target, plan)));
    expect(audited).toHaveLength(1);
    expect((audited[0]?.details as { products: string[] }).products).toHaveLength(40);

    // The filled-in step is what runs: a release of one member deploys with its own values.
    const app = apps[1] as (typeof apps)[number];
    const appOwner = await stack.token(unique('oscar'), 'owner', [app.name]);
    expect((await stack.call('POST', `/v1/products/${app.name}/releases`, { body: { name: 'w1' } })).status).toBe(201);
    const deploy = await stack.call('POST', `/v1/products/${app.name}/releases/w1/deployments`, { token: appOwner, body: { environment: 'staging' } });
    expect(deploy.status, deploy.text).toBe(202);
    await waitFor('the deployment', async () => {
      const text = await readFile(log, 'utf8').catch(() => '');
      return text.includes(`v2 ${app.name}`) ? text : undefined;
    });
    expect(await readFile(log, 'utf8')).toContain(`v2 ${app.name} ${app.appId} huawei staging`);

    // Parameters, like everything that decides what runs, are an admin's.
    const byOwner = await stack.call('PATCH', `/v1/products/${app.name}`, { token: appOwner, body: { parameters: { appId: 'evil' } } });
    expect(byOwner.status).toBe(403);
    const byAdmin = await stack.call('PATCH', `/v1/products/${app.name}`, { body: { parameters: { appId: 'com.example.renamed' } } });
    expect(byAdmin.status, byAdmin.text).toBe(200);
    expect(byAdmin.body.steps.deploy.argv[2]).toContain(`${app.name} com.example.renamed play`);
  });
});
