import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';
import { culvertDataConverter } from '../cli/temporal-connection.ts';
import { testCodec } from './helpers/codec.ts';
import type { Stack } from './helpers/stack.ts';

// The boxed-product story of DESIGN.md section 1: numbered releases, candidates, freeze, final, QA sign-off.
describe('binary flow', () => {
  let stack: Stack;
  let repo: GitFixture;
  let out: string;

  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
    out = await mkdtemp(join(tmpdir(), 'culvert-binary-'));
    await repo.commit({ 'VERSION': 'dev\n', 'src/main.c': 'int main() { return 0; }\n' }, 'base');
    await repo.push();
  });
  afterAll(async () => {
    await stack?.stop();
    await repo?.cleanup();
    await rm(out, { recursive: true, force: true });
  });

  const productBody = (name: string, extra: Record<string, unknown> = {}) => ({
    name, repository: repo.remote, flow: 'binary', trunk: 'main', versioning: { scheme: 'major.minor', initial: '3.11' },
    steps: {
      build: { argv: ['sh', '-c', 'mkdir -p dist && cat src/*.c > "dist/app-$CULVERT_VERSION.bin" && echo "$CULVERT_CANDIDATE" > dist/NOTES.txt'] },
      deploy: { argv: ['sh', '-c', 'echo "$CULVERT_ENVIRONMENT $CULVERT_COMMIT" >> "$OUT"'], env: { OUT: join(out, `${name}.log`) } },
      publish: { argv: ['sh', '-c', 'echo "published $CULVERT_RELEASE $CULVERT_COMMIT" >> "$OUT"'], env: { OUT: join(out, `${name}.log`) } },
    },
    triggers: [{ on: 'release.final', run: 'publish', environment: 'production' }],
    environments: [{ name: 'qa', order: 1, production: false }, { name: 'production', order: 2, production: true }],
    artifacts: [{ name: 'app', path: 'dist/app-*.bin' }, { name: 'notes', path: 'dist/NOTES.txt' }],
    testEnvironment: 'qa',
    signoff: { group: ['quinn', 'quentin', 'quincy'], quorum: 2, excludeRequester: true, rejectStops: true },
    ...extra,
  });

  it('cuts 3.11, builds RC1..RC3 as QA picks land, freezes, builds the final, signs off with a quorum, publishes and closes', async () => {
    const product = unique('boxed');
    const owner = await stack.token('olga', 'owner', [product]);
    const quinn = await stack.token('quinn', 'owner', [product]);
    const quentin = await stack.token('quentin', 'ci', [product]);
    const quincy = await stack.token('quincy', 'ci', [product]);
    expect((await stack.call('POST', '/v1/products', { body: productBody(product) })).status).toBe(201);

    const cut = await stack.call('POST', `/v1/products/${product}/releases`, { token: owner, body: {} });
    expect(cut.status, cut.text).toBe(201);
    expect(cut.body.name).toBe('3.11');
    expect(cut.body.branch).toBe(`releases/${product}/3.11`);
    const rel = `/v1/products/${product}/releases/3.11`;
    const candidates = async () => (await stack.call('GET', rel, { token: owner })).body.candidates as { label: string; state: string; deployedTo: string | null; commitSha: string; artifacts: { id: string; name: string; sha256: string; size: number; url: string }[] }[];

    const rc1 = await waitFor('RC1 built and deployed to qa', async () => {
      const c = await candidates();
      return c[0]?.deployedTo === 'qa' ? c[0] : undefined;
    });
    expect(rc1).toMatchObject({ label: '3.11 RC1', state: 'built' });
    expect(rc1.artifacts.map((a) => a.name)).toEqual(['app', 'notes']);
    const download = await stack.app.request(rc1.artifacts[1]?.url ?? '', { headers: { authorization: `Bearer ${owner}` } });
    expect(download.status).toBe(200);
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(bytes.toString()).toBe('3.11 RC1\n');
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(rc1.artifacts[1]?.sha256);

    // QA's two fixes on trunk, picked into 3.11: each landing builds a new candidate.
    for (const [i, file] of ['src/fix1.c', 'src/fix2.c'].entries()) {
      const sha = await repo.commit({ [file]: `/* fix ${i + 1} */\n` }, `fix ${i + 1}`);
      await repo.push();
      const pick = await stack.call('POST', `${rel}/changes`, { token: quentin, body: { kind: 'pick', commits: [sha], reason: `QA bug ${i + 1}`, severity: 'release' } });
      expect(pick.status, pick.text).toBe(201);
      const approved = await stack.call('POST', `${rel}/changes/${pick.body.id}/decision`, { token: owner, body: { decision: 'approve' } });
      expect(approved.status, approved.text).toBe(200);
      await waitFor(`RC${i + 2} built and deployed`, async () => (await candidates())[i + 1]?.deployedTo === 'qa');
    }
    const rcs = await candidates();
    expect(rcs.map((c) => c.label)).toEqual(['3.11 RC1', '3.11 RC2', '3.11 RC3']);
    expect(new Set(rcs.map((c) => c.commitSha)).size).toBe(3);

    // Freeze: a non-owner cannot; afterwards a pick is refused and points at 3.12.
    const notOwner = await stack.call('POST', `${rel}/freeze`, { token: quentin });
    expect(notOwner.status).toBe(403);
    const frozen = await stack.call('POST', `${rel}/freeze`, { token: quinn });
    expect(frozen.status, frozen.text).toBe(200);
    expect(frozen.body.state).toBe('frozen');
    const late = await stack.call('POST', `${rel}/changes`, { token: quentin, body: { kind: 'pick', commits: [rcs[0]?.commitSha], reason: 'too late', severity: 'release' } });
    expect(late.status).toBe(409);
    expect(late.body.code).toBe('release_frozen');
    expect(late.body.message).toContain('3.12');

    // The final build, then the sign-off gate: 2 of 3 QA, the freezer's own vote does not count.
    const gate = await waitFor('the sign-off gate', async () => {
      const r = await stack.call('GET', '/v1/approvals?state=pending', { token: quinn });
      return r.body.items.find((a: { product: string }) => a.product === product);
    });
    const final = (await candidates()).find((c) => c.label === '3.11');
    expect(final).toMatchObject({ state: 'built' });
    expect(final?.commitSha).toBe(rcs[2]?.commitSha);
    const vote = (token: string, decision = 'approve') => stack.call('POST', `/v1/approvals/${encodeURIComponent(gate.id)}`, { token, body: { decision } });
    const own = await vote(quinn);
    expect(own.status, own.text).toBe(422);
    expect(own.body.code).toBe('own_vote_excluded');
    const outsider = await vote(owner);
    expect(outsider.status).toBe(403);
    expect(outsider.body.code).toBe('not_in_group');
    expect((await vote(quentin)).body.state).toBe('pending');
    const twice = await vote(quentin);
    expect(twice.status).toBe(409);
    expect(twice.body.code).toBe('already_voted');
    const decisive = await vote(quincy);
    expect(decisive.status, decisive.text).toBe(200);
    expect(decisive.body.state).toBe('approved');
    expect((await vote(quincy, 'reject')).status).toBe(409);

    await waitFor('the release closed after publishing', async () => (await stack.call('GET', rel, { token: owner })).body.state === 'closed');
    const head = (await git(['rev-parse', `refs/heads/releases/${product}/3.11`], { cwd: repo.remote })).stdout.trim();
    expect(await readFile(join(out, `${product}.log`), 'utf8')).toContain(`published 3.11 ${head}`);

    const detail = (await stack.call('GET', rel, { token: owner })).body;
    expect(detail.candidates.map((c: { label: string }) => c.label)).toEqual(['3.11 RC1', '3.11 RC2', '3.11 RC3', '3.11']);
    expect(detail.candidates.every((c: { artifacts: unknown[] }) => c.artifacts.length === 2)).toBe(true);
    expect(detail.approvals[0]).toMatchObject({ state: 'approved' });
    expect(detail.approvals[0].votes.map((v: { by: string }) => v.by)).toEqual(['quentin', 'quincy']);
    const envs = detail.deployments.map((d: { environment: string; state: string }) => `${d.environment}:${d.state}`).sort();
    expect(envs).toEqual(['production:succeeded', 'qa:succeeded', 'qa:succeeded', 'qa:succeeded']);
    expect(detail.runs.filter((x: { step: string }) => x.step === 'build')).toHaveLength(4);
    // Every vote is in the audit log, the refused ones with the answer their voter got.
    const audit = (await stack.call('GET', `/v1/products/${product}/audit?limit=1000`, { token: owner })).body.items as {
      actor: string; action: string; outcome: string; tokenId: string | null; refusal: { code: string } | null;
    }[];
    const votes = audit.filter((e) => e.action.startsWith('approval.')).reverse();
    expect(votes.slice(0, 5).map((e) => `${e.actor} ${e.action} ${e.outcome}${e.refusal ? ` ${e.refusal.code}` : ''}`)).toEqual([
      'quinn approval.approve refused own_vote_excluded',
      'olga approval.approve refused not_in_group',
      'quentin approval.approve done',
      'quentin approval.approve refused already_voted',
      'quincy approval.approve done',
    ]);
    expect(votes.every((e) => e.tokenId)).toBe(true);
    expect(audit.find((e) => e.action === 'release.freeze')).toMatchObject({ actor: 'quinn', outcome: 'done' });

    // The whole story (candidates, freeze, gate, publish) replays deterministically from its history.
    const history = await stack.client.workflow.getHandle(`culvert/${product}/3.11`).fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') }, dataConverter: culvertDataConverter(testCodec()) }, history);

    // The next cut is proposed as 3.12.
    const next = await stack.call('POST', `/v1/products/${product}/releases`, { token: owner, body: {} });
    expect(next.status, next.text).toBe(201);
    expect(next.body.name).toBe('3.12');
  });

  it('fails a build whose expected artifact is missing, naming the slot', async () => {
    const product = unique('noartifact');
    const body = productBody(product, { artifacts: [{ name: 'installer', path: 'dist/setup.exe' }] });
    expect((await stack.call('POST', '/v1/products', { body })).status).toBe(201);
    expect((await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: '1.0' } })).status).toBe(201);
    const rc = await waitFor('RC1 to finish building', async () => {
      const c = (await stack.call('GET', `/v1/products/${product}/releases/1.0`)).body.candidates[0];
      return c && c.state !== 'building' ? c : undefined;
    });
    expect(rc.state).toBe('failed');
    expect(rc.failure).toContain('installer');
    expect(rc.failure).toContain('dist/setup.exe');
    expect(rc.deployedTo).toBeNull();
  });

  it('a pick racing a freeze either lands before the freeze or is refused, never half', async () => {
    const product = unique('race');
    expect((await stack.call('POST', '/v1/products', { body: productBody(product, { signoff: undefined, triggers: [] }) })).status).toBe(201);
    expect((await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: '5.0' } })).status).toBe(201);
    const rel = `/v1/products/${product}/releases/5.0`;
    const fixes: string[] = [];
    for (let i = 0; i < 6; i++) fixes.push(await repo.commit({ [`race/${product}-${i}.c`]: `${i}\n` }, `race fix ${i}`));
    await repo.push();

    const attempts = fixes.map(async (sha) => {
      const filed = await stack.call('POST', `${rel}/changes`, { body: { kind: 'pick', commits: [sha], reason: 'race', severity: 'normal' } });
      if (filed.status !== 201) return { sha, filed: filed.status, id: null as string | null };
      const decided = await stack.call('POST', `${rel}/changes/${filed.body.id}/decision`, { body: { decision: 'approve' } });
      return { sha, filed: filed.status, decided: decided.status, id: filed.body.id as string };
    });
    const freeze = stack.call('POST', `${rel}/freeze`, {});
    const results = await Promise.all(attempts);
    expect((await freeze).status).toBe(200);

    const final = await waitFor('the final build', async () => {
      const c = (await stack.call('GET', rel)).body.candidates.find((x: { final: boolean }) => x.final);
      return c && c.state !== 'building' ? c : undefined;
    });
    const inFinal = async (sha: string) => {
      const log = (await git(['log', '--format=%B', `${final.commitSha}`], { cwd: repo.remote })).stdout;
      return log.includes(`(cherry picked from commit ${sha})`);
    };
    for (const r of results) {
      if (r.filed !== 201) {
        expect(r.filed).toBe(409);
        expect(await inFinal(r.sha)).toBe(false);
        continue;
      }
      const change = (await stack.call('GET', `${rel}/changes/${r.id}`)).body;
      expect(['merged', 'rejected']).toContain(change.state);
      expect(await inFinal(r.sha)).toBe(change.state === 'merged');
    }
  });

  it('reminds, escalates and expires a sign-off gate nobody answers', async () => {
    const product = unique('slowqa');
    const signoff = { group: ['quinn'], quorum: 1, timeoutSeconds: 2, remindEverySeconds: 1, onTimeout: { escalateTo: ['vp'] } };
    expect((await stack.call('POST', '/v1/products', { body: productBody(product, { signoff, testEnvironment: undefined }) })).status).toBe(201);
    expect((await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: '9.0' } })).status).toBe(201);
    expect((await stack.call('POST', `/v1/products/${product}/releases/9.0/freeze`, {})).status).toBe(200);
    const escalated = await waitFor('escalation', async () => {
      const r = await stack.call('GET', `/v1/approvals?product=${product}`);
      const g = r.body.items[0];
      return g?.escalatedTo ? g : undefined;
    });
    expect(escalated.escalatedTo).toEqual(['vp']);
    expect(escalated.reminders).toBeGreaterThanOrEqual(1);
    expect(escalated.state).toBe('pending');
    const expired = await waitFor('expiry', async () => {
      const g = (await stack.call('GET', `/v1/approvals?product=${product}`)).body.items[0];
      return g?.state === 'expired' ? g : undefined;
    });
    const late = await stack.call('POST', `/v1/approvals/${encodeURIComponent(expired.id)}`, { body: { decision: 'approve' } });
    expect(late.status).toBe(409);
    expect(late.body.code).toBe('gate_closed');
  });
});
