import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import type { Blocked } from '../domain/records.ts';
import { summaryQuery } from '../workflows/release/messages.ts';
import { blockedKey } from '../workflows/search-attributes.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';
import { commitsMentioning, gitIn, lines, request, seconds } from './helpers/faults.ts';

// A fault from the field, on real git: the remote gone for 90 s is waited out and shown as `blocked`,
// never turned into a failure, and everything it held up is done exactly once when it ends.

describe('the git remote unreachable for 90 s', () => {
  let stack: Stack;
  let repo: GitFixture;
  let out: string;

  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
    out = await mkdtemp(join(tmpdir(), 'culvert-faults-'));
  });
  afterAll(async () => {
    // A failure mid-outage leaves the remote away: put it back so the fixture removes it.
    if (repo) await rename(`${repo.remote}.away`, repo.remote).catch(() => undefined);
    await stack?.stop();
    await repo?.cleanup();
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('blocks picks, a merge, a candidate build and a deployment while the remote is gone, refuses a cut with 503, and finishes each exactly once after', async () => {
    const outageMs = 90_000;
    const api = (method: string, path: string, body?: unknown) => request(stack.app, stack.adminToken, method, path, body);
    const names = { a: unique('flt-picks'), b: unique('flt-pr'), c: unique('flt-bin'), d: unique('flt-deploy'), e: unique('flt-cut') };
    const buildLog = join(out, 'builds.log');
    const deployLog = join(out, 'deploys.log');

    // One remote; each product on a trunk of its own.
    await repo.commit({ 'README.md': 'faults\n' }, 'base');
    await repo.push();
    await repo.branch('trunk-a');
    const cutPointA = await repo.commit({ 'a/base.txt': 'a\n' }, 'a: before the cut', 'trunk-a');
    const picksA: string[] = [];
    for (let i = 0; i < 10; i++) picksA.push(await repo.commit({ [`a/fix-${i}.txt`]: `fix ${i}\n` }, `a: fix ${i}`, 'trunk-a'));
    await repo.push('trunk-a');
    await repo.branch('trunk-b');
    await repo.commit({ 'b/app.txt': 'v1\n' }, 'b: base', 'trunk-b');
    await repo.push('trunk-b');
    await repo.branch('feature-b', 'trunk-b');
    await repo.commit({ 'b/feature.txt': 'feature\n' }, 'b: feature', 'feature-b');
    await repo.push('feature-b');
    for (const t of ['c', 'd', 'e']) {
      await repo.branch(`trunk-${t}`);
      await repo.commit({ [`${t}/base.txt`]: `${t}\n` }, `${t}: base`, `trunk-${t}`);
      await repo.push(`trunk-${t}`);
    }
    const trunkE = await gitIn(repo.remote, ['rev-parse', 'refs/heads/trunk-e']);

    const products = [
      { name: names.a, repository: repo.remote, flow: 'cherry-pick', trunk: 'trunk-a', branchTemplate: 'stable-a/{name}' },
      {
        name: names.b, repository: repo.remote, flow: 'pull-request', trunk: 'trunk-b',
        steps: { test: { argv: ['sh', '-c', 'test -e b/feature.txt'], timeoutSeconds: 60 } }, triggers: [{ on: 'change.requested', run: 'test' }],
      },
      {
        name: names.c, repository: repo.remote, flow: 'binary', trunk: 'trunk-c', branchTemplate: 'bin-c/{name}', versioning: { scheme: 'major.minor', initial: '1.0' },
        steps: { build: { argv: ['sh', '-c', 'echo "$CULVERT_CANDIDATE $CULVERT_COMMIT" >> "$OUT"'], env: { OUT: buildLog } } },
      },
      {
        name: names.d, repository: repo.remote, flow: 'pull-request', trunk: 'trunk-d',
        steps: { deploy: { argv: ['sh', '-c', 'echo "$CULVERT_ENVIRONMENT $CULVERT_COMMIT" >> "$OUT"'], env: { OUT: deployLog } } },
        triggers: [{ on: 'deploy.clicked', run: 'deploy' }], environments: [{ name: 'staging', order: 1, production: false }],
      },
      { name: names.e, repository: repo.remote, flow: 'cherry-pick', trunk: 'trunk-e', branchTemplate: 'stable-e/{name}' },
    ];
    for (const p of products) {
      const created = await api('POST', '/v1/products', p);
      expect(created.status, created.text).toBe(201);
    }
    const rel = { a: `/v1/products/${names.a}/releases/a-1`, b: `/v1/products/${names.b}/releases/b`, c: `/v1/products/${names.c}/releases/1.0`, d: `/v1/products/${names.d}/releases/d` };
    const cuts = await Promise.all([
      api('POST', `/v1/products/${names.a}/releases`, { name: 'a-1', from: cutPointA }),
      api('POST', `/v1/products/${names.b}/releases`, { name: 'b' }),
      api('POST', `/v1/products/${names.c}/releases`, { name: '1.0' }),
      api('POST', `/v1/products/${names.d}/releases`, { name: 'd' }),
    ]);
    for (const cut of cuts) expect(cut.status, cut.text).toBe(201);
    const headD = cuts[3]?.body.headSha as string;

    // (a) ten picks filed (filing reads git, so before the outage), to be approved during it.
    const filed = await api('POST', `${rel.a}/changes/batch`, { requests: picksA.map((sha, i) => ({ kind: 'pick', commits: [sha], reason: `fix ${i}`, severity: 'normal' })) });
    expect(filed.status, filed.text).toBe(200);
    expect(filed.body.results.map((r: { ok: boolean; change: { state: string } }) => r.ok && r.change.state)).toEqual(picksA.map(() => 'awaiting-decision'));
    const pickIds = filed.body.results.map((r: { id: string }) => r.id) as string[];
    // (b) a merge request filed and checked.
    const mergeReq = await api('POST', `${rel.b}/changes`, { kind: 'merge', branch: 'feature-b' });
    expect(mergeReq.status, mergeReq.text).toBe(201);
    const checked = await waitFor('the merge request to be checked', async () => {
      const r = await api('GET', `${rel.b}/changes/${mergeReq.body.id}`);
      return r.body.state === 'awaiting-decision' ? r.body : undefined;
    });
    expect(checked.check).toBe('passed');
    const headB = await gitIn(repo.remote, ['rev-parse', 'refs/heads/trunk-b']);
    // (c) RC1 built before the outage; the final build will start during it.
    await waitFor('RC1 of the binary release', async () => (await api('GET', rel.c)).body.candidates[0]?.state === 'built');
    expect(await lines(buildLog)).toHaveLength(1);
    for (const path of Object.values(rel)) expect((await api('GET', path)).body.blocked).toEqual([]);

    // ---------------------------------------------------------------- the remote goes away
    const away = `${repo.remote}.away`;
    await rename(repo.remote, away);
    const t0 = Date.now();

    const actedAt: Record<string, number> = {};
    const decided = await api('POST', `${rel.a}/changes/decisions`, { decisions: pickIds.map((id) => ({ id, decision: 'approve' })) });
    actedAt.a = Date.now();
    expect(decided.status, decided.text).toBe(200);
    expect(decided.body.results.every((r: { ok: boolean }) => r.ok)).toBe(true);
    const approved = await api('POST', `${rel.b}/changes/${mergeReq.body.id}/decision`, { decision: 'approve' });
    actedAt.b = Date.now();
    expect(approved.status, approved.text).toBe(200);
    const frozen = await api('POST', `${rel.c}/freeze`);
    actedAt.c = Date.now();
    expect(frozen.status, frozen.text).toBe(200);
    const click = await api('POST', `${rel.d}/deployments`, { environment: 'staging' });
    actedAt.d = Date.now();
    expect(click.status, click.text).toBe(202);
    const deploymentId = click.body.deploymentId as string;

    // (e) a cut during the outage: refused promptly, nothing left behind.
    const cutAttempt = (async () => {
      const started = Date.now();
      const res = await api('POST', `/v1/products/${names.e}/releases`, { name: 'e-1' });
      const latency = Date.now() - started;
      const after = await api('GET', `/v1/products/${names.e}/releases/e-1`);
      const listed = await api('GET', `/v1/products/${names.e}/releases`);
      return { res, latency, after, listed };
    })();

    interface Watch {
      key: 'a' | 'b' | 'c' | 'd';
      path: string;
      workflowId: string;
      firstBlockedMs?: number;
      firstAttempts?: number;
      maxAttempts: number;
      reasons: Set<string>;
      summaryBlocked?: string;
      searchAttribute?: string;
    }
    const watches: Watch[] = (['a', 'b', 'c', 'd'] as const).map((key) => ({
      key, path: rel[key], workflowId: `culvert/${names[key]}/${rel[key].split('/').at(-1) ?? ''}`, maxAttempts: 0, reasons: new Set<string>(),
    }));
    const remoteGone = /the git remote cannot be reached/;
    let polls = 0;
    await waitFor('the end of the 90 s outage', async () => {
      polls++;
      for (const w of watches) {
        const r = await api('GET', w.path);
        // The API answers throughout, and nothing is marked failed.
        expect(r.status, r.text).toBe(200);
        const release = r.body;
        switch (w.key) {
          case 'a':
            expect(release.state).toBe('open');
            expect(release.changes.map((c: { state: string }) => c.state)).toEqual(pickIds.map(() => 'approved'));
            break;
          case 'b':
            expect(release.changes.map((c: { state: string }) => c.state)).toEqual(['approved']);
            expect(release.headSha).toBe(headB);
            break;
          case 'c':
            expect(release.state).toBe('frozen');
            expect(release.candidates.filter((c: { state: string }) => c.state === 'failed')).toEqual([]);
            break;
          case 'd':
            expect(release.deployments.map((x: { id: string; state: string }) => `${x.id}:${x.state}`)).toEqual([expect.stringMatching(new RegExp(`^${deploymentId}:(pending|running)$`))]);
            break;
        }
        const blocked = release.blocked as Blocked[];
        for (const b of blocked) {
          w.reasons.add(`${b.what}: ${b.reason}`);
          if (!remoteGone.test(b.reason)) continue;
          w.firstBlockedMs ??= Date.now() - (actedAt[w.key] ?? t0);
          w.firstAttempts ??= b.attempts;
          w.maxAttempts = Math.max(w.maxAttempts, b.attempts);
        }
        if (w.summaryBlocked === undefined) {
          const summary = await stack.client.workflow.getHandle(w.workflowId).query(summaryQuery);
          const hit = summary.blocked.find((b) => remoteGone.test(b.reason));
          if (hit) w.summaryBlocked = `${hit.what}: ${hit.reason}`;
        }
        if (w.searchAttribute === undefined) {
          const shown = (await stack.client.workflow.getHandle(w.workflowId).describe()).typedSearchAttributes.get(blockedKey);
          if (shown && remoteGone.test(shown)) w.searchAttribute = shown;
        }
      }
      return Date.now() - t0 >= outageMs;
    }, outageMs + 60_000);

    // Still nothing failed in Temporal either: every release workflow runs on, waiting.
    for (const w of watches) expect((await stack.client.workflow.getHandle(w.workflowId).describe()).status.name, w.workflowId).toBe('RUNNING');
    const cut = await cutAttempt;
    // The remote is put back only now, after the cut's answer: it was refused while the remote was away.
    await rename(away, repo.remote);
    const restoredAt = Date.now();
    const outageLasted = restoredAt - t0;

    for (const w of watches) {
      console.log(`faults: remote away: ${w.key} (${names[w.key]}) blocked ${w.firstBlockedMs === undefined ? 'never' : `after ${seconds(w.firstBlockedMs)}`}, ` +
        `attempts ${w.firstAttempts ?? '-'} -> ${w.maxAttempts}; shown: ${[...w.reasons].join(' | ')}`);
    }
    console.log(`faults: remote away for ${seconds(outageLasted)}, ${polls} polls of the API; cut refused in ${cut.latency} ms with ${cut.res.status} ${cut.res.body?.code} (Retry-After ${cut.res.retryAfter}): ${cut.res.body?.message}`);

    for (const w of watches) {
      expect(w.firstBlockedMs, `${w.key}: blocked on the remote in the release row`).toBeDefined();
      expect(w.maxAttempts, `${w.key}: attempts grew while the remote was away`).toBeGreaterThanOrEqual(3);
      expect(w.maxAttempts).toBeGreaterThan(w.firstAttempts ?? 0);
      expect(w.summaryBlocked, `${w.key}: summaryQuery shows blocked`).toBeDefined();
      expect(w.searchAttribute, `${w.key}: CulvertBlocked shows the remote`).toBeDefined();
    }
    expect(cut.res.status, cut.res.text).toBe(503);
    expect(cut.res.body.code).toBe('unavailable');
    expect(cut.res.retryAfter).not.toBeNull();
    expect(cut.latency).toBeLessThan(60_000);
    expect(cut.after.status, cut.after.text).toBe(404);
    expect(cut.listed.body.items).toEqual([]);
    expect(outageLasted).toBeGreaterThanOrEqual(outageMs);

    // ---------------------------------------------------------------- the remote is back
    const finishedAt: Record<string, number> = {};
    const settled = (key: string, what: string, probe: () => Promise<boolean>) =>
      waitFor(what, async () => {
        if (!(await probe())) return false;
        finishedAt[key] = Date.now() - restoredAt;
        return true;
      }, 180_000);
    await Promise.all([
      settled('a', 'the ten picks applied', async () => (await api('GET', `${rel.a}/changes?state=merged&limit=1`)).body.total === pickIds.length),
      settled('b', 'the merge', async () => (await api('GET', `${rel.b}/changes/${mergeReq.body.id}`)).body.state === 'merged'),
      settled('c', 'the final build and the release closed', async () => {
        const r = (await api('GET', rel.c)).body;
        return r.state === 'closed' && r.candidates.some((c: { final: boolean; state: string }) => c.final && c.state === 'built');
      }),
      settled('d', 'the deployment', async () => (await api('GET', rel.d)).body.deployments[0]?.state === 'succeeded'),
    ]);
    await waitFor('blocked to be empty everywhere', async () => {
      for (const path of Object.values(rel)) if ((await api('GET', path)).body.blocked.length !== 0) return false;
      return true;
    });
    finishedAt.unblocked = Date.now() - restoredAt;
    console.log(`faults: after the remote came back: ${Object.entries(finishedAt).map(([k, ms]) => `${k} done in ${seconds(ms)}`).join(', ')}`);

    // (a) each approved pick applied exactly once, nothing else on the branch.
    const branchA = 'refs/heads/stable-a/a-1';
    const bodies = await gitIn(repo.remote, ['log', '--format=%B%x00', `${cutPointA}..${branchA}`]);
    expect(bodies.split('\0').map((x) => x.trim()).filter(Boolean)).toHaveLength(picksA.length);
    for (const sha of picksA) expect(bodies.split(`(cherry picked from commit ${sha})`).length - 1, sha).toBe(1);
    const changesA = (await api('GET', `${rel.a}/changes?limit=100`)).body.items as { state: string }[];
    expect(changesA.map((c) => c.state)).toEqual(pickIds.map(() => 'merged'));
    expect((await api('GET', rel.a)).body.headSha).toBe(await gitIn(repo.remote, ['rev-parse', branchA]));

    // (b) the merge exactly once, on the head it was checked against.
    const mergedB = (await api('GET', `${rel.b}/changes/${mergeReq.body.id}`)).body;
    const trunkB = await gitIn(repo.remote, ['rev-parse', 'refs/heads/trunk-b']);
    expect(await commitsMentioning(repo.remote, 'refs/heads/trunk-b', `Culvert-Change: ${mergeReq.body.id}`)).toEqual([trunkB]);
    expect(mergedB.resultSha).toBe(trunkB);
    expect((await gitIn(repo.remote, ['rev-list', '--parents', '-n', '1', trunkB])).split(' ')[1]).toBe(headB);

    // (c) the final built once, RC1 not again; the release went on to close.
    const releaseC = (await api('GET', rel.c)).body;
    expect(releaseC.candidates.map((c: { label: string; state: string }) => `${c.label}:${c.state}`)).toEqual(['1.0 RC1:built', '1.0:built']);
    const builds = await lines(buildLog);
    expect(builds.map((l) => l.split(' ').slice(0, -1).join(' '))).toEqual(['1.0 RC1', '1.0']);
    expect(releaseC.runs.filter((x: { step: string }) => x.step === 'build').map((x: { state: string }) => x.state)).toEqual(['succeeded', 'succeeded']);

    // (d) the deployment ran its step exactly once.
    expect(await lines(deployLog)).toEqual([`staging ${headD}`]);
    const releaseD = (await api('GET', rel.d)).body;
    expect(releaseD.deployments.map((x: { id: string; state: string }) => `${x.id}:${x.state}`)).toEqual([`${deploymentId}:succeeded`]);
    expect(releaseD.runs.filter((x: { step: string }) => x.step === 'deploy')).toHaveLength(1);

    // blocked is gone from the workflows too: their summary and the search attribute.
    for (const w of watches.filter((x) => x.key !== 'c')) {
      const handle = stack.client.workflow.getHandle(w.workflowId);
      await waitFor(`${w.key}: nothing blocked in the workflow`, async () => (await handle.query(summaryQuery)).blocked.length === 0 &&
        !(await handle.describe()).typedSearchAttributes.get(blockedKey));
    }
    expect((await stack.client.workflow.getHandle(watches[2]?.workflowId ?? '').describe()).status.name).toBe('COMPLETED');

    // (e) the refused cut left no branch; cut again, it succeeds.
    expect((await git(['rev-parse', '--verify', '--quiet', 'refs/heads/stable-e/e-1'], { cwd: repo.remote, okExitCodes: [1] })).exitCode).toBe(1);
    const started = Date.now();
    const recut = await api('POST', `/v1/products/${names.e}/releases`, { name: 'e-1' });
    expect(recut.status, recut.text).toBe(201);
    expect(recut.body).toMatchObject({ branch: 'stable-e/e-1', cutFrom: trunkE, blocked: [] });
    expect(await gitIn(repo.remote, ['rev-parse', 'refs/heads/stable-e/e-1'])).toBe(trunkE);
    console.log(`faults: the cut tried again after the outage succeeded in ${Date.now() - started} ms`);
  }, 420_000);
});

