// Commit tracing and release notes end to end over HTTP, checked against git for every commit of the
// repository: a trunk with merges, stable releases with picks made by Culvert, by hand with -x and by
// hand without a trailer (patch id), a pick of a pick, a cut off trunk's first-parent chain, a second
// product sharing the repository, three environments with deployments, a failed one and a rollback.
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';
import type { Stack } from './helpers/stack.ts';

const IDENTITY = ['-c', 'user.name=T', '-c', 'user.email=t@example.com', '-c', 'commit.gpgSign=false'];

interface Deployment { id: string; release: string; environment: string; commitSha: string; state: string; finishedAt: string | null; createdAt: string }

describe('commit tracing and release notes', () => {
  let stack: Stack;
  let repo: GitFixture;
  let scratch: string;

  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
    scratch = await mkdtemp(join(tmpdir(), 'culvert-trace-e2e-'));
  });
  afterAll(async () => {
    await stack?.stop();
    await repo?.cleanup();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  const w = async (args: string[]): Promise<string> => (await git(args, { cwd: repo.work })).stdout.trim();
  const r = async (args: string[]): Promise<string> => (await git(args, { cwd: repo.remote, env: { GIT_DIR: repo.remote } })).stdout.trim();
  const lines = (s: string): string[] => s.split('\n').filter(Boolean);
  const historyOf = async (rev: string): Promise<Set<string>> => new Set(lines(await r(['rev-list', rev])));
  const merge = async (branch: string): Promise<string> => {
    await w(['checkout', '--quiet', 'main']);
    await w([...IDENTITY, 'merge', '--quiet', '--no-ff', '-m', `Merge ${branch}`, branch]);
    return w(['rev-parse', 'HEAD']);
  };

  /** A trunk commit whose SHA shares its first four digits with an existing one (an ambiguous abbreviation). */
  const collide = async (known: string[]): Promise<{ sha: string; twin: string }> => {
    const parent = await w(['rev-parse', 'main']);
    const tree = await w(['rev-parse', 'main^{tree}']);
    const prefixes = new Map(known.map((s) => [s.slice(0, 4), s]));
    for (let nonce = 0; ; nonce++) {
      const body = `tree ${tree}\nparent ${parent}\nauthor T <t@example.com> 1700000000 +0000\ncommitter T <t@example.com> 1700000000 +0000\n\ncollision ${nonce}\n`;
      const sha = createHash('sha1').update(`commit ${Buffer.byteLength(body)}\0${body}`).digest('hex');
      const twin = prefixes.get(sha.slice(0, 4));
      if (!twin) continue;
      const written = (await git(['hash-object', '-t', 'commit', '-w', '--stdin'], { cwd: repo.work, input: body })).stdout.trim();
      expect(written).toBe(sha);
      await w(['merge', '--quiet', '--ff-only', sha]);
      return { sha, twin };
    }
  };

  it('answers where every commit is, and notes between releases, exactly as git', async () => {
    const A = unique('stable');
    const B = unique('sibling');
    const failFlag = join(scratch, 'fail-deploys');
    const owner = await stack.token('olga', 'owner', [A, B]);
    const dev = await stack.token('devon', 'ci', [A, B]);

    // Trunk: merges, fixes to pick, a cut point for each release, a commit with an ambiguous abbreviation.
    await repo.commit({ 'README.md': 'app\n', 'app.txt': 'v1\n' }, 'base');
    const c2 = await repo.commit({ 'app.txt': 'v2\n' }, 'c2');
    await repo.branch('f1');
    await repo.commit({ 'f1.txt': 'a\n' }, 'feature one, part a', 'f1');
    await repo.commit({ 'f1.txt': 'b\n' }, 'feature one, part b', 'f1');
    await merge('f1');
    const c3 = await repo.commit({ 'app.txt': 'v3\n' }, 'c3');
    const fix: Record<number, string> = {};
    for (const i of [1, 2]) fix[i] = await repo.commit({ [`fix${i}.txt`]: `fix ${i}\n` }, `fix ${i}`);
    await repo.branch('f2');
    const f2a = await repo.commit({ 'f2.txt': 'a\n' }, 'feature two, part a', 'f2');
    const f2b = await repo.commit({ 'f2.txt': 'b\n' }, 'feature two, part b', 'f2');
    await merge('f2');
    for (const i of [3, 4, 5, 6]) fix[i] = await repo.commit({ [`fix${i}.txt`]: `fix ${i}\n` }, `fix ${i}`);
    const c4 = await repo.commit({ 'app.txt': 'v4\n' }, 'c4');
    for (const i of [7, 8, 9]) fix[i] = await repo.commit({ [`fix${i}.txt`]: `fix ${i}\n` }, `fix ${i}`);
    const { sha: twinSha, twin } = await collide(lines(await w(['rev-list', 'main'])));
    await repo.push();
    await repo.push('f1');
    await repo.push('f2');
    await repo.branch('unmerged', c2);
    const unmerged = await repo.commit({ 'u.txt': 'u\n' }, 'never merged', 'unmerged');
    await repo.push('unmerged');

    const environments = [
      { name: 'dev', order: 1, production: false },
      { name: 'staging', order: 2, production: false },
      { name: 'prod', order: 3, production: true },
    ];
    const productBody = (name: string) => ({
      name, repository: repo.remote, flow: 'cherry-pick', trunk: 'main', owners: ['olga'], branchTemplate: `${name}/{name}`,
      steps: { deploy: { argv: ['sh', '-c', 'test ! -e "$0"', failFlag] } },
      triggers: [{ on: 'deploy.clicked', run: 'deploy' }], environments, approval: { rule: 'any-owner' },
    });
    for (const name of [A, B]) {
      const created = await stack.call('POST', '/v1/products', { body: productBody(name) });
      expect(created.status, created.text).toBe(201);
    }
    const cut = async (product: string, name: string, from: string, production = true) => {
      const res = await stack.call('POST', `/v1/products/${product}/releases`, { token: dev, body: { name, from, production } });
      expect(res.status, res.text).toBe(201);
      return res.body as { branch: string };
    };
    const s1 = await cut(A, 's1', c3);
    const s2 = await cut(A, 's2', c4);
    const s3 = await cut(A, 's3', f2b, false); // off trunk's first-parent chain, and never for production
    await cut(B, 'b1', c2);

    const pick = async (release: string, commits: string[], reason: string): Promise<string> => {
      const changes = `/v1/products/${A}/releases/${release}/changes`;
      const filed = await stack.call('POST', changes, { token: dev, body: { kind: 'pick', commits, reason, severity: 'normal' } });
      expect(filed.status, filed.text).toBe(201);
      const decided = await stack.call('POST', `${changes}/decisions`, { token: owner, body: { decisions: [{ id: filed.body.id, decision: 'approve' }] } });
      expect(decided.status, decided.text).toBe(200);
      await waitFor(`pick ${reason}`, async () => (await stack.call('GET', `${changes}/${filed.body.id}`)).body.state === 'merged');
      return filed.body.id as string;
    };
    const byHand = async (branch: string, commit: string, trailer: boolean): Promise<string> => {
      await w(['fetch', '--quiet', 'origin']);
      await w(['checkout', '--quiet', '-B', branch, `origin/${branch}`]);
      await w([...IDENTITY, 'cherry-pick', ...(trailer ? ['-x'] : []), commit]);
      await w(['push', '--quiet', 'origin', `${branch}:${branch}`]);
      return w(['rev-parse', 'HEAD']);
    };
    const deploy = async (release: string, environment: string, fail = false): Promise<Deployment> => {
      if (fail) await writeFile(failFlag, 'x');
      else await rm(failFlag, { force: true });
      const res = await stack.call('POST', `/v1/products/${A}/releases/${release}/deployments`, { token: owner, body: { environment } });
      expect(res.status, res.text).toBe(202);
      const done = await waitFor(`deployment of ${release} to ${environment}`, async () => {
        const envs = await stack.call('GET', `/v1/products/${A}/environments`);
        const d = envs.body.items.flatMap((e: { history: Deployment[] }) => e.history).find((x: Deployment) => x.id === res.body.deploymentId);
        return d && (d.state === 'succeeded' || d.state === 'failed') ? d as Deployment : undefined;
      });
      expect(done.state).toBe(fail ? 'failed' : 'succeeded');
      return done;
    };

    // s1: Culvert picks (two commits in one request, and a commit merged into trunk from a branch) ...
    await pick('s1', [fix[1] as string, fix[2] as string], 'crash on start');
    await pick('s1', [f2a], 'feature two, first half only');
    await deploy('s1', 'dev'); // dev keeps running this intermediate head
    // ... a hand pick with -x, recorded when Culvert next moves the branch ...
    const hand4 = await byHand(s1.branch, fix[4] as string, true);
    await pick('s1', [fix[3] as string], 'data loss');
    // ... and one without a trailer (found by patch id).
    const hand5 = await byHand(s1.branch, fix[5] as string, false);
    await pick('s1', [fix[6] as string], 'security');
    await deploy('s1', 'prod');

    // s2: a Culvert pick, a hand pick with -x, a Culvert pick after it.
    await pick('s2', [fix[7] as string], 'regression in c4');
    await byHand(s2.branch, fix[8] as string, true);
    await pick('s2', [fix[9] as string], 'follow-up');
    // s3: a pick of a pick (of s1's hand pick of fix 4), then a Culvert pick.
    await byHand(s3.branch, hand4, true);
    await pick('s3', [fix[3] as string], 'needed on s3 too');

    await deploy('s2', 'staging');
    await deploy('s2', 'prod', true); // fails: prod still runs s1
    await deploy('s1', 'staging'); // rollback: staging no longer runs s2's commits
    const refused = await stack.call('POST', `/v1/products/${A}/releases/s3/deployments`, { token: owner, body: { environment: 'prod' } });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('release_not_production');

    // What git says.
    const releases: { product: string; name: string; head: string }[] = [];
    for (const product of [A, B]) {
      const list = await stack.call('GET', `/v1/products/${product}/releases`);
      for (const rel of list.body.items) {
        expect(rel.headSha).toBe(await r(['rev-parse', `refs/heads/${rel.branch}`]));
        releases.push({ product, name: rel.name, head: rel.headSha });
      }
    }
    expect(releases).toHaveLength(4);
    const heads = new Map<string, Set<string>>();
    for (const rel of releases) heads.set(rel.head, await historyOf(rel.head));
    const all = lines(await r(['rev-list', '--all']));
    const origin = new Map<string, string>();
    for (const entry of (await r(['log', '--all', '--format=%H%x01%B%x00'])).split('\0')) {
      const [sha, message] = entry.trim().split('\x01') as [string, string | undefined];
      const found = [...(message ?? '').matchAll(/\(cherry picked from commit ([0-9a-f]{40})\)/g)].at(-1)?.[1];
      if (sha && found) origin.set(sha, found);
    }
    expect(origin.has(hand5)).toBe(false);
    origin.set(hand5, fix[5] as string); // the pick without a trailer: Culvert has to find it by patch id
    const picksOf = (x: string): Set<string> => {
      const out = new Set<string>();
      let grew = true;
      while (grew) {
        grew = false;
        for (const [p, o] of origin) if ((o === x || out.has(o)) && !out.has(p)) { out.add(p); grew = true; }
      }
      return out;
    };
    const envs = (await stack.call('GET', `/v1/products/${A}/environments`)).body.items as { name: string; production: boolean; history: Deployment[]; current: { deploymentId: string } | null }[];
    const succeeded = (e: string) => (envs.find((x) => x.name === e)?.history ?? []).filter((d) => d.state === 'succeeded')
      .sort((a, b) => Date.parse(a.finishedAt ?? a.createdAt) - Date.parse(b.finishedAt ?? b.createdAt));
    for (const e of envs) expect(e.current?.deploymentId).toBe(succeeded(e.name).at(-1)?.id);
    for (const d of envs.flatMap((e) => e.history)) if (!heads.has(d.commitSha)) heads.set(d.commitSha, await historyOf(d.commitSha));
    const trunk = await historyOf('refs/heads/main');
    const holds = (x: string, head: string): boolean => (heads.get(head) as Set<string>).has(x);

    // Every commit of the repository.
    let found = 0;
    for (const x of all) {
      const picks = picksOf(x);
      const res = await stack.call('GET', `/v1/commits/${x.slice(0, 12)}`);
      const known = trunk.has(x) || releases.some((rel) => holds(x, rel.head)) || [...origin.values()].includes(x);
      if (!known) {
        expect(res.status, `${x} is in nothing Culvert traces`).toBe(404);
        expect(res.body.code).toBe('commit_not_found');
        continue;
      }
      found++;
      expect(res.status, res.text).toBe(200);
      expect(res.body.sha).toBe(x);
      const want = releases.flatMap((rel) => {
        if (holds(x, rel.head)) return [`${rel.product}/${rel.name}:direct`];
        return [...picks].some((p) => holds(p, rel.head)) ? [`${rel.product}/${rel.name}:pick`] : [];
      }).sort();
      const got = res.body.releases.map((e: { product: string; release: string; how: string }) => `${e.product}/${e.release}:${e.how}`).sort();
      expect(got, `releases holding ${x}`).toEqual(want);
      for (const e of res.body.releases.filter((y: { how: string }) => y.how === 'pick')) {
        expect(picks.has(e.pickSha), `${e.pickSha} is a pick of ${x}`).toBe(true);
        expect(holds(e.pickSha, releases.find((rel) => rel.product === e.product && rel.name === e.release)?.head as string)).toBe(true);
      }
      for (const env of environments) {
        const contains = (d: Deployment) => holds(x, d.commitSha) || [...picks].some((p) => holds(p, d.commitSha));
        const history = succeeded(env.name);
        const current = history.at(-1);
        const answer = res.body.environments.find((e: { product: string; environment: string }) => e.product === A && e.environment === env.name);
        expect(answer, `${env.name} for ${x}`).toBeDefined();
        expect(answer.runsNow, `${env.name} runs ${x}`).toBe(current ? contains(current) : false);
        expect(answer.firstReached?.deploymentId ?? null, `${x} first reached ${env.name}`).toBe(history.find(contains)?.id ?? null);
      }
      const prod = succeeded('prod').at(-1) as Deployment;
      expect(res.body.inProduction, `${x} in production`).toBe(holds(x, prod.commitSha) || [...picks].some((p) => holds(p, prod.commitSha)));
    }
    expect(found).toBeGreaterThan(25);

    // The picks themselves, by every origin route.
    const fix5 = (await stack.call('GET', `/v1/commits/${fix[5]}`)).body;
    expect(fix5.releases).toEqual(expect.arrayContaining([expect.objectContaining({ product: A, release: 's1', how: 'pick', pickSha: hand5, pickedBy: 'patch-id' })]));
    expect(fix5.inProduction).toBe(true);
    const fix4 = (await stack.call('GET', `/v1/commits/${fix[4]}`)).body;
    expect(fix4.releases).toEqual(expect.arrayContaining([
      expect.objectContaining({ release: 's1', how: 'pick', pickSha: hand4, pickedBy: 'trailer' }),
      expect.objectContaining({ release: 's3', how: 'pick' }),
      expect.objectContaining({ release: 's2', how: 'direct', via: 'cut' }),
    ]));
    expect((await stack.call('GET', `/v1/commits/${hand4}`)).body.origin).toEqual({ sha: fix[4], pickedBy: 'trailer' });
    // s2's commits reached staging, then the rollback took them away; the failed deploy never put them in prod.
    const fix7 = (await stack.call('GET', `/v1/commits/${fix[7]}`)).body;
    const staging = fix7.environments.find((e: { product: string; environment: string }) => e.product === A && e.environment === 'staging');
    expect(staging).toMatchObject({ runsNow: false, firstReached: { release: 's2' } });
    expect(fix7.inProduction).toBe(false);
    // Scoped to a product.
    const onlyB = (await stack.call('GET', `/v1/commits/${c2}?product=${B}`)).body;
    expect(onlyB.releases.map((e: { product: string }) => e.product)).toEqual([B]);

    // Bad input.
    for (const bad of ['xyz', 'abc', `${c2}0`, 'g'.repeat(40)]) {
      const res = await stack.call('GET', `/v1/commits/${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.body.code).toBe('bad_request');
    }
    const missing = await stack.call('GET', `/v1/commits/${'0'.repeat(39)}1`);
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('commit_not_found');
    const ambiguous = await stack.call('GET', `/v1/commits/${twinSha.slice(0, 4)}`);
    expect(ambiguous.status, ambiguous.text).toBe(400);
    expect(ambiguous.body.code).toBe('ambiguous_commit');
    expect(ambiguous.body.details.candidates).toEqual(expect.arrayContaining([twinSha, twin]));
    expect(ambiguous.body.message).toContain(twin);
    expect((await stack.call('GET', `/v1/commits/${unmerged}`)).status).toBe(404);
    expect((await stack.call('GET', `/v1/commits/${c2}?product=${unique('nope')}`)).status).toBe(404);

    // Release notes: exactly git's from..to, every commit once, picks with their reasons.
    const head = (name: string) => releases.find((rel) => rel.product === A && rel.name === name)?.head as string;
    const notesShas = (body: { merges: { commits: { sha: string }[] }[]; picks: { commits: { sha: string; originSha: string | null; originIncluded: boolean }[] }[]; commits: { sha: string }[]; alreadyIn: { sha: string }[] }) => [
      ...body.merges.flatMap((g) => g.commits.map((c) => c.sha)),
      ...body.picks.flatMap((g) => g.commits.flatMap((c) => (c.originIncluded && c.originSha ? [c.sha, c.originSha] : [c.sha]))),
      ...body.commits.map((c) => c.sha),
      ...body.alreadyIn.map((c) => c.sha),
    ];
    for (const [from, to] of [['s1', 's2'], ['s2', 's1'], ['s1', 's3'], ['s3', 's2'], ['s2', 's2']] as const) {
      const res = await stack.call('GET', `/v1/products/${A}/notes?from=${from}&to=${to}`);
      expect(res.status, res.text).toBe(200);
      const want = lines(await r(['rev-list', head(to), `^${head(from)}`])).sort();
      const got = notesShas(res.body);
      expect(new Set(got).size, `${from}..${to} lists each commit once`).toBe(got.length);
      expect(got.sort(), `${from}..${to}`).toEqual(want);
      expect(res.body.count).toBe(want.length);
      // merges=exclude leaves out the trunk's "Merge ..." commits (issue 11), and says how many.
      const lean = await stack.call('GET', `/v1/products/${A}/notes?from=${from}&to=${to}&merges=exclude`);
      const noMerges = lines(await r(['rev-list', '--no-merges', head(to), `^${head(from)}`])).sort();
      expect(notesShas(lean.body).sort(), `${from}..${to} without merges`).toEqual(noMerges);
      expect([lean.body.count, lean.body.mergesLeftOut]).toEqual([want.length, want.length - noMerges.length]);
    }
    expect(lines(await r(['rev-list', '--merges', head('s2'), `^${head('s1')}`])).length, 'the history has merges to leave out').toBeGreaterThan(0);
    const s1s2 = (await stack.call('GET', `/v1/products/${A}/notes?from=s1&to=${A}/s2`)).body;
    const group = (reason: string) => s1s2.picks.find((g: { change: { reason: string } | null }) => g.change?.reason === reason);
    expect(group('regression in c4')).toMatchObject({ change: { requester: 'devon', approvedBy: 'olga', severity: 'normal' }, commits: [{ originSha: fix[7], originIncluded: false }] });
    expect(s1s2.picks.find((g: { change: unknown; commits: { originSha: string }[] }) => g.change === null && g.commits[0]?.originSha === fix[8])).toBeDefined();
    // fix 1..6 are in s2 from trunk, and already in s1 as picks: set apart, not listed again.
    const already = new Map(s1s2.alreadyIn.map((c: { sha: string; as: string }) => [c.sha, c.as]));
    for (const i of [1, 2, 3, 4, 5, 6]) expect(already.has(fix[i]), `fix ${i}`).toBe(true);
    expect(already.get(fix[5])).toBe(hand5);
    expect(s1s2.commits.map((c: { sha: string }) => c.sha)).toContain(c4);
    const md = await stack.call('GET', `/v1/products/${A}/notes?from=s1&to=s2&format=md`);
    expect(md.status).toBe(200);
    expect(md.text).toContain('## Picks');
    expect(md.text).toContain('regression in c4');
    expect(md.text).toContain('## Already in s1');

    const notes = (q: string) => stack.call('GET', `/v1/products/${A}/notes?${q}`);
    expect((await notes(`from=${B}/b1&to=s2`)).body.code).toBe('product_mismatch');
    expect((await notes(`from=${B}/b1&to=s2`)).status).toBe(400);
    expect((await notes('from=b1&to=s2')).status).toBe(404);
    expect((await notes('from=nope&to=s2')).body.code).toBe('release_not_found');
    expect((await notes('from=s1')).status).toBe(400);
    expect((await notes('from=s1&to=s2&format=pdf')).status).toBe(400);

    // Deployment changes, before the click: prod runs s1's head; s2 would add and remove exactly git's ranges.
    const preview = await stack.call('GET', `/v1/products/${A}/environments/prod/preview?release=s2`, { token: owner });
    expect(preview.status, preview.text).toBe(200);
    expect(preview.body).toMatchObject({ release: 's2', commitSha: head('s2'), refusal: null, current: { release: 's1', commitSha: head('s1') }, unchanged: false });
    expect(notesShas(preview.body.added).sort()).toEqual(lines(await r(['rev-list', head('s2'), `^${head('s1')}`])).sort());
    expect(notesShas(preview.body.removed).sort()).toEqual(lines(await r(['rev-list', head('s1'), `^${head('s2')}`])).sort());
    const devRuns = succeeded('dev').at(-1) as Deployment;
    const toDev = (await stack.call('GET', `/v1/products/${A}/environments/dev/preview?release=s1`)).body;
    expect(notesShas(toDev.added).sort()).toEqual(lines(await r(['rev-list', head('s1'), `^${devRuns.commitSha}`])).sort());
    expect(toDev.removed.count).toBe(0);
    expect((await stack.call('GET', `/v1/products/${A}/environments/staging/preview?release=s1`)).body.unchanged).toBe(true);
    expect((await stack.call('GET', `/v1/products/${A}/environments/prod/preview?release=s3`)).body.refusal?.code).toBe('release_not_production');
    expect((await stack.call('GET', `/v1/products/${A}/environments/nope/preview?release=s1`)).status).toBe(422);
    expect((await stack.call('GET', `/v1/products/${A}/environments/prod/preview?release=nope`)).status).toBe(404);

    // A commit pushed to trunk after every cut and move: the lookup refreshes the trunk index first.
    const late = await repo.commit({ 'late.txt': 'late\n' }, 'late trunk commit');
    await repo.push();
    const onTrunk = await stack.call('GET', `/v1/commits/${late.slice(0, 10)}?product=${A}`, { token: dev });
    expect(onTrunk.status, onTrunk.text).toBe(200);
    expect(onTrunk.body).toMatchObject({ sha: late, subject: 'late trunk commit', releases: [], inProduction: false });
    expect(onTrunk.body.environments.every((e: { runsNow: boolean | null; firstReached: unknown }) => e.runsNow === false && e.firstReached === null)).toBe(true);
    const stillMissing = await stack.call('GET', `/v1/commits/${'0'.repeat(39)}2`);
    expect(stillMissing.body).toMatchObject({ code: 'commit_not_found', details: { indexFresh: true } });
  });
});
