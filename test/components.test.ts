import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import { runClient } from '../cli/client/index.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';

interface Component { name: string; product: string; state: string; branch: string | null; cutFrom: string | null; head: string | null; failure?: string }

// Issue 13: one product made of a core repository and five extensions, released as one snapshot.
describe('releases across repositories', () => {
  let stack: Stack;
  let core: GitFixture;
  const extensions: GitFixture[] = [];
  const names = ['ext1', 'ext2', 'ext3', 'ext4', 'ext5'] as const;

  // Armed by a test: the component cut's activity fails once after its work, as if its worker died there.
  let failAfterCut = false;
  let componentCutAttempts = 0;

  beforeAll(async () => {
    stack = await startStack({
      faults: {
        around: async (activity, phase) => {
          if (activity !== 'cutComponents') return;
          if (phase === 'before') componentCutAttempts++;
          if (phase === 'after' && failAfterCut) {
            failAfterCut = false;
            throw new Error('the worker was lost after the components were cut');
          }
        },
      },
    });
    core = await createRemote();
    await core.commit({ 'README.md': 'core\n' }, 'core: initial');
    await core.push();
    for (const name of names) {
      const r = await createRemote();
      await r.commit({ 'README.md': `${name}\n` }, `${name}: initial`);
      await r.push();
      extensions.push(r);
    }
  });
  afterAll(async () => {
    await stack?.stop();
    await core?.cleanup();
    for (const r of extensions) await r.cleanup();
  });

  async function culvert(argv: string[], token: string): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const [command = '', ...rest] = argv;
    const code = await runClient(command, rest, {
      env: { CULVERT_URL: 'http://culvert.test', CULVERT_TOKEN: token },
      fetch: (url, init) => Promise.resolve(stack.app.fetch(new Request(url, init))),
      out: (t) => out.push(t), err: (t) => err.push(t), defaultDataDir: stack.dataDir,
    });
    return { code, out: out.join('\n'), err: err.join('\n') };
  }
  const ext = (name: (typeof names)[number]): GitFixture => extensions[names.indexOf(name)] as GitFixture;
  const remoteBranch = async (r: GitFixture, branch: string): Promise<string> =>
    (await git(['ls-remote', r.remote, `refs/heads/${branch}`])).stdout.split('\t')[0] ?? '';
  const cutDone = (product: string, release: string) => waitFor(`the components of ${release}`, async () => {
    const view = await stack.call('GET', `/v1/products/${product}/releases/${release}`);
    const components = (view.body.components ?? []) as Component[];
    return components.length === names.length && components.every((c) => c.state !== 'cutting') ? components : undefined;
  });

  it('cuts every repository, picks into two components, notes per component and whole, and says where an extension commit is', async () => {
    const product = unique('suite');
    const owner = await stack.token(unique('olivia'), 'owner', [product]);
    const viewer = await stack.token(unique('vic'), 'viewer', [product]);
    const stepped = {
      steps: { deploy: { argv: ['sh', '-c', 'echo "components=$CULVERT_COMPONENTS"'] } },
      triggers: [{ on: 'deploy.clicked', run: 'deploy' }],
      environments: [{ name: 'staging', order: 1, production: false }],
    };
    const components = names.map((name) => ({ name, repository: ext(name).remote }));
    const body = { name: product, repository: core.remote, flow: 'cherry-pick', trunk: 'main', owners: ['olivia'], ...stepped, components };

    // What cannot be: two components of one name, an unknown check step, components outside the cherry-pick flow.
    const twice = await stack.call('POST', '/v1/products', { body: { ...body, components: [components[0], components[0]] } });
    expect(twice.status, twice.text).toBe(400);
    expect(twice.body.message).toContain('component ext1 appears twice');
    const noStep = await stack.call('POST', '/v1/products', { body: { ...body, components: [{ ...components[0], check: 'lint' }] } });
    expect(noStep.status).toBe(400);
    expect(noStep.body.message).toContain('no step named lint');
    const binary = await stack.call('POST', '/v1/products', { body: { ...body, flow: 'binary' } });
    expect(binary.status).toBe(400);
    expect(binary.body.message).toContain('cherry-pick flow only');
    // Only an admin says which repositories a product is made of.
    expect((await stack.call('POST', '/v1/products', { token: owner, body })).status).toBe(403);
    expect((await stack.call('GET', `/v1/products/${product}`)).status).toBe(404);

    const made = await stack.call('POST', '/v1/products', { body });
    expect(made.status, made.text).toBe(201);
    const listed = await stack.call('GET', '/v1/products', { token: owner });
    const parts = (listed.body.items as { name: string; partOf?: string; repository: string }[]).filter((p) => p.partOf === product);
    expect(parts.map((p) => p.name).sort()).toEqual(names.map((n) => `${product}.${n}`));
    // A component's product is derived: changed through its product, cut with it, deployed with it.
    const patched = await stack.call('PATCH', `/v1/products/${product}.ext1`, { body: { owners: ['mallory'] } });
    expect(patched.status, patched.text).toBe(409);
    expect(patched.body.code).toBe('component_product');
    expect((await stack.call('POST', `/v1/products/${product}.ext1/releases`, { token: owner, body: { name: 'side' } })).body.code).toBe('component_product');
    // A product's component may not take the name of another product.
    const taken = unique('taken');
    expect((await stack.call('POST', '/v1/products', { body: { name: `${taken}.ext1`, repository: (await createRemote()).remote, flow: 'cherry-pick' } })).status).toBe(201);
    const clash = await stack.call('POST', '/v1/products', { body: { ...body, name: taken, components: [{ name: 'ext1', repository: core.remote, branchTemplate: 'other/{name}' }] } });
    expect(clash.status, clash.text).toBe(409);
    expect(clash.body.code).toBe('product_exists');
    expect((await stack.call('GET', `/v1/products/${taken}`)).status).toBe(404);

    // The cut: a branch in each of the six repositories, the snapshot recorded.
    const heads = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await remoteBranch(ext(n), 'main')] as const)));
    const cut = await stack.call('POST', `/v1/products/${product}/releases`, { token: owner, body: { name: 'r1' } });
    expect(cut.status, cut.text).toBe(201);
    const snapshot = await cutDone(product, 'r1');
    for (const c of snapshot) {
      expect(c, c.name).toMatchObject({ state: 'cut', branch: `releases/${product}/r1`, cutFrom: heads[c.name], product: `${product}.${c.name}` });
      expect(await remoteBranch(ext(c.name as (typeof names)[number]), `releases/${product}/r1`)).toBe(heads[c.name]);
    }
    expect(await remoteBranch(core, `releases/${product}/r1`)).toBe(cut.body.headSha);

    // Trunk moves on in two extensions and the core; one pick into each of two components, one into the core.
    const fix2 = await ext('ext2').commit({ 'fix.txt': 'fix 2\n' }, 'ext2: fix the parser');
    await ext('ext2').push();
    const fix4 = await ext('ext4').commit({ 'fix.txt': 'fix 4\n' }, 'ext4: fix the cache');
    await ext('ext4').push();
    const later3 = await ext('ext3').commit({ 'feature.txt': 'new\n' }, 'ext3: a feature for the next release');
    await ext('ext3').push();
    const coreFix = await core.commit({ 'fix.txt': 'core fix\n' }, 'core: fix the loader');
    await core.push();

    const changes = `/v1/products/${product}/releases/r1/changes`;
    const unknown = await stack.call('POST', changes, { token: owner, body: { kind: 'pick', commits: [fix2], reason: 'x', component: 'ext9' } });
    expect(unknown.status, unknown.text).toBe(404);
    expect(unknown.body.code).toBe('component_not_found');
    expect((await stack.call('POST', changes, { token: viewer, body: { kind: 'pick', commits: [fix2], reason: 'x', component: 'ext2' } })).status).toBe(403);
    // A commit of ext2 is not a commit of the core's trunk.
    expect((await stack.call('POST', changes, { token: owner, body: { kind: 'pick', commits: [fix2], reason: 'x' } })).status).toBe(422);
    const batch = await stack.call('POST', `${changes}/batch`, { token: owner, body: { requests: [{ kind: 'pick', commits: [fix2], reason: 'x', component: 'ext2' }] } });
    expect(batch.status).toBe(400);

    const filed: { id: string; product: string }[] = [];
    for (const [component, sha] of [['ext2', fix2], ['ext4', fix4], [undefined, coreFix]] as const) {
      const res = await stack.call('POST', changes, { token: owner, body: { kind: 'pick', commits: [sha], reason: `needed in r1 (${component ?? 'core'})`, ...(component ? { component } : {}) } });
      expect(res.status, res.text).toBe(201);
      expect(res.body.product).toBe(component ? `${product}.${component}` : product);
      if (component) expect(res.body.component).toBe(component);
      filed.push({ id: res.body.id as string, product: res.body.product as string });
    }
    // The component's requests are listed by naming it; the owner of the product decides them.
    const listedExt2 = await stack.call('GET', `${changes}?component=ext2`, { token: viewer });
    expect(listedExt2.status, listedExt2.text).toBe(200);
    expect((listedExt2.body.items as { id: string }[]).map((x) => x.id)).toEqual([filed[0]?.id]);
    for (const f of filed) {
      const voted = await stack.call('POST', `/v1/products/${f.product}/releases/r1/changes/${f.id}/decision`, { token: owner, body: { decision: 'approve' } });
      expect(voted.status, voted.text).toBe(200);
    }
    for (const f of filed) {
      await waitFor(`pick ${f.id} merged`, async () => {
        const x = await stack.call('GET', `/v1/products/${f.product}/releases/r1/changes/${f.id}`, { token: viewer });
        return x.body.state === 'merged' ? x.body : undefined;
      });
    }

    // The manifest: six repositories, where each was cut and its head now; its SHA-256 says what it is.
    const manifest = await stack.call('GET', `/v1/products/${product}/releases/r1/manifest`, { token: viewer });
    expect(manifest.status, manifest.text).toBe(200);
    const entries = manifest.body.components as { name: string; cutFrom: string; head: string; repository: string }[];
    expect(entries.map((e) => e.name)).toEqual([product, ...names]);
    const byName = new Map(entries.map((e) => [e.name, e]));
    expect(byName.get('ext2')?.head).toBe(await remoteBranch(ext('ext2'), `releases/${product}/r1`));
    expect(byName.get('ext2')?.head).not.toBe(byName.get('ext2')?.cutFrom);
    expect(byName.get('ext3')?.head).toBe(heads.ext3);
    expect(byName.get(product)?.head).toBe(await remoteBranch(core, `releases/${product}/r1`));
    const hashed = await stack.app.request(`/v1/products/${product}/releases/r1/manifest`, { headers: { authorization: `Bearer ${viewer}` } });
    const text = await hashed.text();
    expect(hashed.headers.get('x-culvert-sha256')).toBe(createHash('sha256').update(text).digest('hex'));
    expect((await stack.call('GET', `/v1/products/${product}/releases/nope/manifest`, { token: viewer })).status).toBe(404);

    // The release's web page lists the components, each linked to its release.
    const signIn = await stack.app.request('/ui/sign-in', {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin' },
      body: new URLSearchParams({ token: viewer, next: '/ui/' }).toString(),
    });
    expect(signIn.status).toBe(303);
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const page = await (await stack.app.request(`/ui/p/${product}/r/r1`, { headers: { cookie } })).text();
    const row = /<tr data-component="ext2">(.*?)<\/tr>/s.exec(page)?.[1] ?? '';
    expect(row).toContain(`href="/ui/p/${product}.ext2/r/r1"`);
    expect(row).toContain(`title="${byName.get('ext2')?.head}"`);

    // Where is ext2's fix? In ext2's r1 as a pick, named as part of the product; after a deploy, in staging.
    const deployed = await stack.call('POST', `/v1/products/${product}/releases/r1/deployments`, { token: owner, body: { environment: 'staging' } });
    expect(deployed.status, deployed.text).toBe(202);
    const deployment = await waitFor('the deployment', async () => {
      const view = await stack.call('GET', `/v1/products/${product}/releases/r1`);
      const d = (view.body.deployments as { id: string; state: string; runId: string | null }[]).find((x) => x.id === deployed.body.deploymentId);
      return d && d.state === 'succeeded' ? d : undefined;
    });
    const log = await stack.call('GET', `/v1/runs/${deployment.runId}/log`);
    const told = JSON.parse(/components=(\[.*)/.exec(log.text)?.[1] ?? '[]') as { name: string; commit: string; repository: string }[];
    expect(told.map((x) => x.name)).toEqual([...names]);
    expect(told.find((x) => x.name === 'ext2')).toEqual({ name: 'ext2', repository: ext('ext2').remote, commit: byName.get('ext2')?.head });
    const where = await stack.call('GET', `/v1/commits/${fix2.slice(0, 10)}`, { token: viewer });
    expect(where.status, where.text).toBe(200);
    expect(where.body.releases).toEqual([expect.objectContaining({ product: `${product}.ext2`, partOf: product, component: 'ext2', release: 'r1', how: 'pick' })]);
    expect(where.body.environments).toEqual([expect.objectContaining({ product: `${product}.ext2`, partOf: product, component: 'ext2', environment: 'staging', runsNow: true })]);
    // A commit of ext3's trunk after the cut is in no release yet.
    expect((await stack.call('GET', `/v1/commits/${later3}`, { token: viewer })).body.releases).toEqual([]);

    // The next release; notes between the two, whole and per component.
    expect((await stack.call('POST', `/v1/products/${product}/releases`, { token: owner, body: { name: 'r2' } })).status).toBe(201);
    await cutDone(product, 'r2');
    const notes = await stack.call('GET', `/v1/products/${product}/notes?from=r1&to=r2`, { token: viewer });
    expect(notes.status, notes.text).toBe(200);
    const perComponent = new Map((notes.body.components as { name: string; commits: { sha: string }[]; alreadyIn: { sha: string }[] }[]).map((x) => [x.name, x]));
    expect([...perComponent.keys()]).toEqual([...names]);
    expect(perComponent.get('ext3')?.commits.map((x) => x.sha)).toEqual([later3]);
    expect(perComponent.get('ext1')?.commits).toEqual([]);
    const onlyExt3 = await stack.call('GET', `/v1/products/${product}/notes?from=r1&to=r2&component=ext3`, { token: viewer });
    expect(onlyExt3.status, onlyExt3.text).toBe(200);
    expect(onlyExt3.body).toMatchObject({ product: `${product}.ext3`, component: 'ext3' });
    expect(onlyExt3.body.components).toBeUndefined();
    expect((onlyExt3.body.commits as { sha: string }[]).map((x) => x.sha)).toEqual([later3]);
    const md = await stack.app.request(`/v1/products/${product}/notes?from=r1&to=r2&format=md`, { headers: { authorization: `Bearer ${viewer}` } });
    const markdown = await md.text();
    for (const n of names) expect(markdown).toContain(`${product}.${n} r2 (since r1)`);
    expect(markdown).toContain('ext3: a feature for the next release');
    expect((await stack.call('GET', `/v1/products/${product}/notes?from=r1&to=r2&component=ext9`, { token: viewer })).status).toBe(404);

    // The command line: the manifest as a table, one component's notes.
    const shown = await culvert(['manifest', `${product}/r1`], viewer);
    expect(shown.code, shown.err).toBe(0);
    expect(shown.out.split('\n').find((l) => l.startsWith('ext2 '))).toContain(`${byName.get('ext2')?.head?.slice(0, 12)}`);
    const cliNotes = await culvert(['notes', product, 'r1', 'r2', '--component', 'ext3'], viewer);
    expect(cliNotes.code, cliNotes.err).toBe(0);
    expect(cliNotes.out).toContain('ext3: a feature for the next release');
    expect(cliNotes.out).not.toContain(`${product}.ext1`);
  });

  it('cuts each component once when the cut is retried after its work, and records a component that cannot be cut', async () => {
    const product = unique('pair');
    const owner = await stack.token(unique('olivia'), 'owner', [product]);
    const body = {
      name: product, repository: core.remote, flow: 'cherry-pick', trunk: 'main', owners: ['olivia'], branchTemplate: 'pair/{product}/{name}',
      components: [{ name: 'ext1', repository: ext('ext1').remote }, { name: 'broken', repository: ext('ext5').remote, trunk: 'no-such-trunk' }],
    };
    const made = await stack.call('POST', '/v1/products', { body });
    expect(made.status, made.text).toBe(201);
    const before = componentCutAttempts;
    failAfterCut = true;
    expect((await stack.call('POST', `/v1/products/${product}/releases`, { token: owner, body: { name: 'r1' } })).status).toBe(201);
    const cut = await waitFor('the components of r1', async () => {
      const view = await stack.call('GET', `/v1/products/${product}/releases/r1`);
      const components = (view.body.components ?? []) as Component[];
      return components.length === 2 && components.every((c) => c.state !== 'cutting') ? components : undefined;
    });
    // The cut's activity ends on its second attempt (the first "died" after its work), and its rows stand.
    await waitFor('the component cut to complete', async () => {
      const { events } = await stack.client.workflow.getHandle(`culvert/${product}/r1`).fetchHistory();
      const scheduled = (events ?? []).find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'cutComponents');
      return (events ?? []).some((e) => scheduled && Number(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? -1) === Number(scheduled.eventId)) || undefined;
    });
    expect(componentCutAttempts - before).toBe(2);
    expect(cut.find((c) => c.name === 'ext1')).toMatchObject({ state: 'cut', branch: `pair/${product}/r1`, cutFrom: await remoteBranch(ext('ext1'), 'main') });
    expect(cut.find((c) => c.name === 'broken')).toMatchObject({ state: 'failed', branch: null, failure: expect.stringContaining('no-such-trunk') });
    // Exactly one release of each component that could be cut, and its one branch.
    expect((await stack.call('GET', `/v1/products/${product}.ext1/releases`)).body.items).toHaveLength(1);
    expect((await stack.call('GET', `/v1/products/${product}.broken/releases`)).body.items).toHaveLength(0);
    const branches = (await git(['ls-remote', ext('ext1').remote, `refs/heads/pair/${product}/*`])).stdout.trim().split('\n');
    expect(branches).toHaveLength(1);
  });
});
