// The release owner's command line against the real API (in process) and a real release: list what
// waits, approve by number, reject the rest in one go, ask where a commit went, read notes, deploy
// through a gate and vote on it, freeze; and every mistake (no token, wrong role, unknown release or
// request, bad option) said clearly with its exit code. Trains too: started from a plan, the pre-flight
// read before anything is done, then confirmed and waited for; and the plans their members come from.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, eq } from 'drizzle-orm';
import { git } from '../activities/git/run.ts';
import { runClient } from '../cli/client/index.ts';
import { clientConfig, parseArgs } from '../cli/client/config.ts';
import { releases as releasesTable } from '../db/schema.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';

describe('culvert command line for release owners', () => {
  let stack: Stack;
  let repo: GitFixture;
  let empty: string;

  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
    empty = await mkdtemp(join(tmpdir(), 'culvert-cli-'));
  });
  afterAll(async () => {
    await stack?.stop();
    await repo?.cleanup();
    if (empty) await rm(empty, { recursive: true, force: true });
  });

  async function culvert(argv: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const [command = '', ...rest] = argv;
    const code = await runClient(command, rest, {
      env: { CULVERT_URL: 'http://culvert.test', ...env },
      fetch: (url, init) => Promise.resolve(stack.app.fetch(new Request(url, init))),
      out: (t) => out.push(t),
      err: (t) => err.push(t),
      defaultDataDir: empty,
    });
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  it('lists, approves, rejects, traces and writes notes; mistakes are clear', async () => {
    const product = unique('cli');
    await repo.commit({ 'README.md': 'app\n' }, 'base');
    const cutPoint = await repo.commit({ 'cut.txt': 'cut\n' }, 'the cut point');
    const fixes: string[] = [];
    for (let i = 0; i < 4; i++) fixes.push(await repo.commit({ [`fix-${i}.txt`]: `fix ${i}\n` }, `fix number ${i}`));
    await repo.push();
    expect((await stack.call('POST', '/v1/products', {
      body: {
        name: product, repository: repo.remote, flow: 'cherry-pick',
        steps: { deploy: { argv: ['sh', '-c', 'exit 0'] } },
        environments: [{ name: 'staging', order: 1, production: false, gate: { group: ['sam'], quorum: 1 } }],
      },
    })).status).toBe(201);
    expect((await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: 's1', from: cutPoint } })).status).toBe(201);
    const owner = { CULVERT_TOKEN: await stack.token('olga', 'owner', [product]) };
    const ci = { CULVERT_TOKEN: await stack.token('ci-bot', 'ci', [product]) };
    for (const sha of fixes) {
      const filed = await stack.call('POST', `/v1/products/${product}/releases/s1/changes`, {
        token: ci.CULVERT_TOKEN, body: { kind: 'pick', commits: [sha.slice(0, 10)], reason: 'needed', severity: 'normal' },
      });
      expect(filed.status, filed.text).toBe(201);
    }
    const rel = `${product}/s1`;

    const listed = await culvert(['changes', rel], owner);
    expect(listed.code, listed.err).toBe(0);
    for (let i = 1; i <= 4; i++) expect(listed.out).toMatch(new RegExp(`#${i}\\s+awaiting-decision`));
    expect(listed.out).toContain('fix number 0');
    expect(listed.out).toContain('4 of 4');

    const refused = await culvert(['approve', rel, '#1'], ci);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/is not an owner of .* \(403 forbidden\)/);

    const approved = await culvert(['approve', rel, '#1', '2', '--comment', 'ship it'], owner);
    expect(approved.code, approved.err).toBe(0);
    expect(approved.out).toContain('#1 approved');
    expect(approved.out).toContain('#2 approved');
    expect(approved.out).toContain('2 approved');

    const rejected = await culvert(['reject', rel, '--all-awaiting'], owner);
    expect(rejected.code, rejected.err).toBe(0);
    expect(rejected.out).toContain('#3 rejected');
    expect(rejected.out).toContain('#4 rejected');
    const again = await culvert(['reject', rel, '--all-awaiting'], owner);
    expect(again.out).toContain('(nothing was awaiting a decision)');

    await waitFor('both approved picks to land', async () => {
      const res = await stack.call('GET', `/v1/products/${product}/releases/s1/changes?state=merged`);
      return res.body.total === 2;
    });
    const merged = await culvert(['changes', rel, '--state', 'merged', '--json'], owner);
    expect((JSON.parse(merged.out) as { items: { seq: number }[] }).items.map((c) => c.seq).sort()).toEqual([1, 2]);

    const traced = await culvert(['where', fixes[0] as string], owner);
    expect(traced.code, traced.err).toBe(0);
    expect(traced.out).toContain(`${fixes[0]} fix number 0`);
    expect(traced.out).toMatch(new RegExp(`${rel}\\s+pick [0-9a-f]{12}`));
    expect(traced.out).toContain('in production: no');
    const notPicked = await culvert(['where', fixes[3] as string], owner);
    expect(notPicked.out).toContain('in no release');

    expect((await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: 's2' } })).status).toBe(201);
    const notes = await culvert(['notes', product, 's1', 's2'], owner);
    expect(notes.code, notes.err).toBe(0);
    expect(notes.out).toContain('fix number 3');
    const releases = await culvert(['releases', product], owner);
    expect(releases.out).toMatch(/s1\s+cherry-pick\s+open/);
    expect(releases.out).toMatch(/s2\s+cherry-pick\s+open/);
    expect(releases.out).not.toContain('blocked:');
    // What a release waits on while a fault lasts (as its workflow records it), in both listings.
    const waiting = [{ what: 'picks of #12', reason: 'the git remote cannot be reached (fatal: repository gone)', since: '2026-11-30T12:03:00.000Z', attempts: 14 }];
    await stack.database.db.update(releasesTable).set({ blocked: waiting }).where(and(eq(releasesTable.product, product), eq(releasesTable.name, 's2')));
    const blocked = await culvert(['releases', product], owner);
    expect(blocked.out).toMatch(/s2\s+cherry-pick\s+open.*blocked: picks of #12: the git remote cannot be reached \(fatal: repository gone\) \(since 12:03 UTC, 14 attempts\)/);
    expect((await culvert(['changes', `${product}/s2`], owner)).out.split('\n')[0]).toContain('blocked: picks of #12');
    await stack.database.db.update(releasesTable).set({ blocked: [] }).where(and(eq(releasesTable.product, product), eq(releasesTable.name, 's2')));

    // A deploy click through the staging gate, voted from the command line; then a freeze.
    const sam = { CULVERT_TOKEN: await stack.token('sam', 'owner', [product]) };
    const clicked = await culvert(['deploy', rel, 'staging'], owner);
    expect(clicked.code, clicked.err).toBe(0);
    expect(clicked.out).toMatch(new RegExp(`to staging, (pending|running)`));
    const listedGates = await waitFor('the staging gate', async () => {
      const g = await culvert(['gates', '--product', product], sam);
      return g.out.includes('staging') ? g : undefined;
    });
    expect(listedGates.out).toMatch(/pending\s+0\/1\s+sam/);
    const gateId = (JSON.parse((await culvert(['gates', '--product', product, '--json'], sam)).out) as { id: string }[])[0]?.id as string;
    expect((await culvert(['vote', gateId, 'approve'], owner))).toMatchObject({ code: 1, err: expect.stringMatching(/not in the group .* \(403 not_in_group\)/) });
    const voted = await culvert(['vote', gateId, 'approve', '--comment', 'looks fine'], sam);
    expect(voted.code, voted.err).toBe(0);
    expect(voted.out).toContain('approved, 1 of 1 approvals');
    expect((await culvert(['vote', gateId, 'maybe'], sam)).code).toBe(2);
    await waitFor('staging to run s1', async () => {
      const envs = await stack.call('GET', `/v1/products/${product}/environments`);
      return envs.body.items.find((e: { name: string }) => e.name === 'staging')?.current?.release === 's1';
    });
    const frozen = await culvert(['freeze', rel], owner);
    expect(frozen).toMatchObject({ code: 0, out: `${rel} is frozen` });
    expect(await culvert(['freeze', rel], owner)).toMatchObject({ code: 1, err: expect.stringMatching(/already frozen \(409 release_frozen\)/) });
    const audit = await culvert(['audit', product], sam);
    expect(audit.code, audit.err).toBe(0);
    expect(audit.out).toMatch(/olga\s+release\.freeze\s+s1\s+done/);
    expect(audit.out).toMatch(/sam\s+approval\.approve\s+s1 \S+\s+done/);
    expect(audit.out).toMatch(/olga\s+approval\.approve\s+s1 \S+\s+refused: not_in_group/);

    // Mistakes: each says what is wrong; 2 for the caller's own, 1 for what Culvert refused.
    const unknownSeq = await culvert(['approve', rel, '#99'], owner);
    expect(unknownSeq).toMatchObject({ code: 2, err: expect.stringContaining(`no change request #99 on ${rel}`) });
    const unknownRelease = await culvert(['changes', `${product}/nope`], owner);
    expect(unknownRelease).toMatchObject({ code: 1, err: expect.stringMatching(/\(404 release_not_found\)/) });
    const noToken = await culvert(['changes', rel], {});
    expect(noToken).toMatchObject({ code: 2, err: expect.stringContaining('set CULVERT_TOKEN') });
    const badOption = await culvert(['changes', rel, '--bogus'], owner);
    expect(badOption).toMatchObject({ code: 2, err: expect.stringContaining('unknown option --bogus') });
    const badName = await culvert(['approve', product, '#1'], owner);
    expect(badName).toMatchObject({ code: 2, err: expect.stringContaining('<product>/<release>') });
    const badState = await culvert(['changes', rel, '--state', 'done'], owner);
    expect(badState).toMatchObject({ code: 1, err: expect.stringMatching(/unknown state done.*\(400 bad_request\)/) });
    // Nothing a refusal touched changed.
    const after = await stack.call('GET', `/v1/products/${product}/releases/s1/changes`);
    expect(after.body.items.map((c: { seq: number; state: string }) => `${c.seq}:${c.state}`).sort()).toEqual(['1:merged', '2:merged', '3:rejected', '4:rejected']);
  }, 120_000);

  it('starts a train from a plan, names the member that cannot deploy, deploys the ready ones and waits; lists plans', async () => {
    // Three apps from one plan, each in its own copy of one history; one of them has no staging.
    const seed = await createRemote();
    const root = await mkdtemp(join(tmpdir(), 'culvert-cli-train-'));
    try {
      await seed.commit({ 'README.md': 'apps\n' }, 'initial');
      await seed.push();
      const planName = unique('cli-apps');
      const production = { name: 'production', order: 2, production: true };
      expect((await stack.call('POST', '/v1/plans', {
        body: {
          name: planName, flow: 'cherry-pick', trunk: 'main', steps: { deploy: { argv: ['true'] } }, triggers: [{ on: 'deploy.clicked', run: 'deploy' }],
          environments: [{ name: 'staging', order: 1, production: false }, production],
        },
      })).status).toBe(201);
      const apps = ['a', 'b', 'c'].map((x) => unique(`cli-app-${x}`));
      const noStaging = apps[2] as string;
      for (const app of apps) {
        const repository = join(root, `${app}.git`);
        await git(['clone', '--quiet', '--bare', seed.remote, repository]);
        const own = app === noStaging ? { environments: [production] } : {};
        const made = await stack.call('POST', '/v1/products', { body: { name: app, repository, plan: planName, ...own } });
        expect(made.status, made.text).toBe(201);
      }
      const owner = { CULVERT_TOKEN: await stack.token(unique('rm'), 'owner', apps) };
      const admin = { CULVERT_TOKEN: stack.adminToken };
      const name = unique('cli-w1');

      const started = await culvert(['train-start', name, 'w1', '--plan', planName], owner);
      expect(started.code, started.err).toBe(0);
      expect(started.out).toContain(`train ${name}: release w1`);
      expect(started.out).toContain('cutting 3 releases');
      await waitFor('the cut', async () => (await stack.call('GET', `/v1/trains/${name}/actions/1`)).body?.state === 'done');

      const asked = await culvert(['train-act', name, 'deploy', 'staging'], owner);
      expect(asked.code, asked.err).toBe(0);
      expect(asked.out.split('\n')[0]).toMatch(/^2 ready, 1 cannot/);
      expect(apps.filter((app) => asked.out.includes(app))).toEqual([noStaging]);
      expect(asked.out).toContain(`cannot: ${noStaging}: has no staging environment`);
      expect((await stack.call('GET', `/v1/trains/${name}`)).body.actions).toHaveLength(1);
      const askedJson = await culvert(['train-act', name, 'freeze', '--json'], owner);
      expect(JSON.parse(askedJson.out).preflight.summary).toBe('3 ready, 0 cannot');

      const deployed = await culvert(['train-act', name, 'deploy', 'staging', '--yes', '--wait'], owner);
      expect(deployed.code, deployed.err).toBe(0);
      expect(deployed.out).toContain('action #2 queued for 2 members');
      expect(deployed.out).toContain('done: 2, failed: 0');

      const shown = await waitFor('both ready members on staging', async () => {
        const t = await culvert(['train', name], owner);
        return (t.out.match(/staging=[0-9a-f]{12}/g) ?? []).length === 2 ? t : undefined;
      });
      expect(shown.code, shown.err).toBe(0);
      for (const app of apps.slice(0, 2)) expect(shown.out).toMatch(new RegExp(`${app}\\s+w1\\s+open\\s+[0-9a-f]{12}\\s+staging=[0-9a-f]{12}\\s+#2 deploy ok: `));
      expect(shown.out).toMatch(new RegExp(`${noStaging}\\s+w1\\s+open\\s+[0-9a-f]{12}\\s+-\\s+#1 cut ok`));
      expect(shown.out).toMatch(/#2\s+deploy staging\s+\S+\s+done\s+2\s+2\s+0/);
      expect((await culvert(['trains'], owner)).out).toMatch(new RegExp(`${name}\\s+w1\\s+open`));

      expect((await culvert(['plans'], admin)).out).toMatch(new RegExp(`${planName}\\s+cherry-pick\\s+3`));
      const plan = await culvert(['plan', planName], admin);
      expect(plan.code, plan.err).toBe(0);
      expect(plan.out).toContain(`plan ${planName}: cherry-pick, 3 members`);
      for (const app of apps) expect(plan.out).toMatch(new RegExp(`^${app}\\s+-\\s+${app === noStaging ? 'environments' : '-'}$`, 'm'));
      expect((JSON.parse((await culvert(['plan', planName, '--json'], admin)).out) as { members: unknown[] }).members).toHaveLength(3);

      // Mistakes: 2 for the caller's own, 1 for what Culvert refused; none acts.
      expect(await culvert(['train-act', name, 'deploy'], owner)).toMatchObject({ code: 2, err: expect.stringContaining('usage: culvert train-act') });
      expect(await culvert(['train-act', name, 'freeze', '--yes', '--all'], owner)).toMatchObject({ code: 2, err: expect.stringContaining('not both') });
      expect(await culvert(['train-act', name, 'pick', 'abc1234'], owner)).toMatchObject({ code: 2, err: expect.stringContaining('--reason') });
      expect(await culvert(['train-start', unique('t'), 'w2'], owner)).toMatchObject({ code: 2, err: expect.stringContaining('(--plan p | --products a,b,c)') });
      expect(await culvert(['trains', '--yes'], owner)).toMatchObject({ code: 2, err: expect.stringContaining('unknown option --yes') });
      expect(await culvert(['train-act', unique('nope'), 'freeze'], owner)).toMatchObject({ code: 1, err: expect.stringMatching(/\(404 train_not_found\)/) });
      expect((await stack.call('GET', `/v1/trains/${name}`)).body.actions).toHaveLength(2);

      // Confirmed for all, the member without staging fails with its reason, and the exit code says so.
      const forced = await culvert(['train-act', name, 'deploy', 'staging', '--all', '--wait'], owner);
      expect(forced.code, forced.err).toBe(1);
      expect(forced.out).toContain('action #3 queued for 3 members');
      expect(forced.out).toMatch(new RegExp(`^  ${noStaging} failed: .*staging`, 'm'));
      expect(forced.out).toMatch(/done: 2, failed: 1$/);
    } finally {
      await seed.cleanup();
      await rm(root, { recursive: true, force: true });
    }
  }, 120_000);

  it('finds the server and token of npm start as the server reads its settings: CULVERT_HOST, CULVERT_PORT, CULVERT_DATA_DIR', async () => {
    const none = parseArgs([]);
    const dir = await mkdtemp(join(tmpdir(), 'culvert-client-'));
    try {
      await writeFile(join(dir, 'admin-token'), 'cvt_local\n');
      expect(clientConfig(none, { CULVERT_TOKEN: 't' }, '/nowhere')).toMatchObject({ url: 'http://127.0.0.1:8080', token: 't' });
      expect(clientConfig(none, { CULVERT_TOKEN: 't', CULVERT_PORT: '9090' }, '/nowhere').url).toBe('http://127.0.0.1:9090');
      expect(clientConfig(none, { CULVERT_TOKEN: 't', CULVERT_HOST: '0.0.0.0', CULVERT_PORT: '9090' }, '/nowhere').url).toBe('http://127.0.0.1:9090');
      expect(clientConfig(none, { CULVERT_TOKEN: 't', CULVERT_HOST: '10.1.2.3' }, '/nowhere').url).toBe('http://10.1.2.3:8080');
      expect(clientConfig(none, { CULVERT_TOKEN: 't', CULVERT_URL: 'http://h:1', CULVERT_PORT: '9090' }, '/nowhere').url).toBe('http://h:1');
      expect(clientConfig(parseArgs(['--url', 'http://flag:2']), { CULVERT_URL: 'http://h:1', CULVERT_TOKEN: 't' }, '/nowhere').url).toBe('http://flag:2');
      // The admin token of `npm start`, in the data dir the server was given.
      expect(clientConfig(none, { CULVERT_DATA_DIR: dir }, '/nowhere').token).toBe('cvt_local');
      expect(() => clientConfig(none, {}, '/nowhere')).toThrow(/set CULVERT_TOKEN/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
