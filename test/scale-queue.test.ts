import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import { summaryQuery } from '../workflows/release/messages.ts';
import { testContinueAsNewThreshold } from './global-setup.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';
import { culvertDataConverter } from '../cli/temporal-connection.ts';
import { testCodec } from './helpers/codec.ts';
import type { Stack } from './helpers/stack.ts';

/** Undecided requests on one release: far past the ~5,700 that once made continue-as-new fail (PayloadsTooLarge). */
const requests = 20_000;
const batchSize = 1_000;
const batches = requests / batchSize;
/** Trunk commits after the cut that every request picks one of (distinct requests may name the same commit). */
const commits = 5;
const approveCount = 1_000;
const rejectCount = 100;
/** What continue-as-new may carry, whatever the queue length. */
const carryBound = 64 * 1024;
/**
 * Events in one run of the release workflow. The dev server suggests continue-as-new at 400 events
 * (global-setup.ts) or 4 MB of history, and a run then drains its work in flight; here the bytes come
 * first (~50 events a run), but a run that stopped rolling over would pass this bound within a few batches.
 */
const eventsBound = 1_000;
/**
 * Bytes of history in one run: past 4 MB the server suggests continue-as-new too, so a run holds about
 * two batches of 1,000 (~4.8 MB); the server warns at 10 MB and fails a workflow at 50 MB.
 */
const historyBytesBound = 10 * 1024 * 1024;

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

// The queue of a release lives in the database, not in the workflow: whatever continue-as-new carries
// stays small, filing keeps its pace, and decisions about requests filed runs ago still apply.
describe('a release with 20,000 undecided requests', () => {
  let stack: Stack;
  let repo: GitFixture;
  // A run of this release holds two batches of 1,000 (the server suggests continue-as-new past 4 MB of
  // history), more than grpc-js takes in one message by default: the client's own default
  // (max_receive_message_length) is not a key grpc-js reads, so history is read on a connection of its own.
  let reader: Connection;

  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
    reader = await Connection.connect({ address: inject('temporalAddress'), channelArgs: { 'grpc.max_receive_message_length': 256 * 1024 * 1024 } });
  });
  afterAll(async () => {
    await reader?.close();
    await stack?.stop();
    await repo?.cleanup();
  });

  it(`files ${requests} picks in batches of ${batchSize} at a steady rate, continues as new carrying little, and decides across runs`, async () => {
    const started = Date.now();
    expect(testContinueAsNewThreshold).toBeLessThan(500);
    const product = unique('scale');
    const release = 'stable-1';
    const workflowId = `culvert/${product}/${release}`;
    const filer = await stack.token('scale-ci', 'ci', [product]);
    const owner = await stack.token('scale-owner', 'owner', [product]);

    // Trunk: a base, the cut point, then a handful of commits to pick, each touching its own file.
    await repo.commit({ 'README.md': 'scale\n' }, 'base');
    const cutPoint = await repo.commit({ 'before-cut.txt': 'x\n' }, 'before the cut');
    const trunk: string[] = [];
    for (let i = 0; i < commits; i++) trunk.push(await repo.commit({ [`fixes/fix-${i}.txt`]: `fix ${i}\n` }, `fix ${i}`));
    await repo.push();

    const created = await stack.call('POST', '/v1/products', { body: { name: product, repository: repo.remote, flow: 'cherry-pick', trunk: 'main' } });
    expect(created.status, created.text).toBe(201);
    const cut = await stack.call('POST', `/v1/products/${product}/releases`, { token: filer, body: { name: release, from: cutPoint } });
    expect(cut.status, cut.text).toBe(201);
    expect(cut.body).toMatchObject({ cutFrom: cutPoint, headSha: cutPoint });
    const changes = `/v1/products/${product}/releases/${release}/changes`;
    const total = async (state: string): Promise<number> => {
      const r = await stack.call('GET', `${changes}?state=${state}&limit=1`, { token: owner });
      expect(r.status, r.text).toBe(200);
      return r.body.total as number;
    };

    // ---------------------------------------------------------------- 1. filing 20,000 requests
    const ids: string[] = [];
    const times: number[] = [];
    const epochs: number[] = [];
    const handle = stack.client.workflow.getHandle(workflowId);
    for (let n = 0; n < batches; n++) {
      const body = {
        requests: Array.from({ length: batchSize }, (_, k) => {
          const i = n * batchSize + k;
          return { kind: 'pick', commits: [trunk[i % commits]], reason: `backport for customer ${i}`, severity: 'normal' };
        }),
      };
      const t0 = performance.now();
      const filed = await stack.call('POST', `${changes}/batch`, { token: filer, body });
      times.push(performance.now() - t0);
      expect(filed.status, filed.text.slice(0, 2000)).toBe(200);
      const results = filed.body.results as { id: string; ok: boolean; code?: string; message?: string; change: { state: string } | null }[];
      expect(results).toHaveLength(batchSize);
      const refused = results.filter((r) => !r.ok);
      expect(refused.slice(0, 3), `batch ${n + 1}: ${refused.length} refused`).toEqual([]);
      for (const r of results) expect(r.change?.state).toBe('awaiting-decision');
      ids.push(...results.map((r) => r.id));
      epochs.push((await handle.query(summaryQuery)).epoch);
    }
    expect(new Set(ids).size).toBe(requests);
    console.log(['filing: batch  ms      req/s   epoch-after', ...times.map((ms, n) =>
      `        ${String(n + 1).padStart(5)}  ${ms.toFixed(0).padStart(6)}  ${(batchSize / (ms / 1000)).toFixed(0).padStart(6)}  ${epochs[n]}`)].join('\n'));
    const first5 = mean(times.slice(0, 5));
    const last5 = mean(times.slice(-5));
    const filingMs = times.reduce((a, b) => a + b, 0);
    console.log(`filing: first 5 batches mean ${first5.toFixed(0)} ms (${(batchSize / (first5 / 1000)).toFixed(0)} req/s), ` +
      `last 5 mean ${last5.toFixed(0)} ms (${(batchSize / (last5 / 1000)).toFixed(0)} req/s), ratio ${(last5 / first5).toFixed(2)}; ` +
      `all ${requests} in ${(filingMs / 1000).toFixed(1)} s (${(requests / (filingMs / 1000)).toFixed(0)} req/s)`);
    expect(last5).toBeLessThanOrEqual(3 * first5);
    expect(await total('awaiting-decision')).toBe(requests);

    // ---------------------------------------------------------------- 2. what continue-as-new carried
    const runIds: string[] = [];
    for await (const w of stack.client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) runIds.push(w.runId);
    expect(runIds.length).toBeGreaterThan(2);
    const histories = new Client({ connection: reader, namespace: inject('temporalNamespace') });
    const runs: { runId: string; events: number; historyBytes: number; carried: number | null }[] = [];
    const fetched: { workflowId: string; history: proto.temporal.api.history.v1.IHistory }[] = [];
    const bytesByType = new Map<string, { n: number; bytes: number; max: number }>();
    for (const runId of runIds) {
      const history = await histories.workflow.getHandle(workflowId, runId).fetchHistory();
      fetched.push({ workflowId: `${workflowId} ${runId}`, history });
      const events = history.events ?? [];
      const continued = events.find((e) => e.workflowExecutionContinuedAsNewEventAttributes)?.workflowExecutionContinuedAsNewEventAttributes;
      const carried = continued ? (continued.input?.payloads ?? []).reduce((n, p) => n + (p.data?.length ?? 0), 0) : null;
      runs.push({ runId, events: events.length, historyBytes: proto.temporal.api.history.v1.History.encode(history).finish().length, carried });
      for (const e of events) {
        const activity = e.activityTaskScheduledEventAttributes?.activityType?.name;
        const type = `${(proto.temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? String(e.eventType)).replace('EVENT_TYPE_', '')}${activity ? ` ${activity}` : ''}`;
        const bytes = proto.temporal.api.history.v1.HistoryEvent.encode(e).finish().length;
        const t = bytesByType.get(type) ?? { n: 0, bytes: 0, max: 0 };
        bytesByType.set(type, { n: t.n + 1, bytes: t.bytes + bytes, max: Math.max(t.max, bytes) });
      }
    }
    const ended = runs.filter((r) => r.carried !== null);
    // Every run but the one running now ended in continue-as-new (the newest may not be listed yet).
    expect(ended.length).toBeGreaterThanOrEqual(runs.length - 1);
    const largest = Math.max(...ended.map((r) => r.carried as number));
    const mostEvents = Math.max(...runs.map((r) => r.events));
    console.log(`continue-as-new: ${runs.length} runs (${ended.length} continued as new); carried input bytes ` +
      `min ${Math.min(...ended.map((r) => r.carried as number))} / mean ${mean(ended.map((r) => r.carried as number)).toFixed(0)} / max ${largest}; ` +
      `events per run min ${Math.min(...runs.map((r) => r.events))} / mean ${mean(runs.map((r) => r.events)).toFixed(0)} / max ${mostEvents}; ` +
      `history bytes per run mean ${mean(runs.map((r) => r.historyBytes)).toFixed(0)} / max ${Math.max(...runs.map((r) => r.historyBytes))}`);
    console.log(['history of all runs by event type: type  events  bytes  largest',
      ...[...bytesByType].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 8).map(([type, t]) => `  ${type}  ${t.n}  ${t.bytes}  ${t.max}`)].join('\n'));
    console.log(runs.map((r, i) => `run ${i + 1}: ${r.events} events, ${r.historyBytes} bytes, carried ${r.carried ?? '(running)'}`).join('\n'));
    for (const r of ended) expect(r.carried, `run ${r.runId} carried ${r.carried} bytes`).toBeLessThan(carryBound);
    for (const r of runs) expect(r.events, `run ${r.runId} has ${r.events} events`).toBeLessThan(eventsBound);
    for (const r of runs) expect(r.historyBytes, `run ${r.runId} has ${r.historyBytes} bytes of history`).toBeLessThan(historyBytesBound);
    // Each run replays against the workflow code (the end-of-run replay reads histories with the default
    // 4 MB message limit and cannot read these; this one can).
    let t0 = performance.now();
    const failures: string[] = [];
    for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: inject('workflowBundlePath') }, replayName: 'scale-queue-replay', dataConverter: culvertDataConverter(testCodec()) }, fetched)) {
      if (r.error) failures.push(`${r.workflowId}: ${String(r.error).slice(0, 500)}`);
    }
    console.log(`replayed ${fetched.length} runs of ${workflowId} in ${(performance.now() - t0).toFixed(0)} ms: ${failures.length} failed`);
    expect(failures).toEqual([]);
    const summary = await handle.query(summaryQuery);
    console.log(`summary after filing: epoch ${summary.epoch}, seq ${summary.seq}, rev ${summary.rev}, outbox ${summary.outbox}, approved ${summary.approved}, jobs ${summary.jobs}, blocked ${summary.blocked.length}`);
    expect(summary.seq).toBe(requests);
    expect(summary.epoch).toBeGreaterThan(2);

    // ---------------------------------------------------------------- 3. decisions about requests filed runs ago
    // Spread over every batch (most filed in earlier runs), over all five commits.
    const approve = Array.from({ length: approveCount }, (_, k) => ids[(k * requests) / approveCount + (k % 20)] as string);
    const approveSet = new Set(approve);
    const reject = Array.from({ length: rejectCount }, (_, k) => ids[(k * requests) / rejectCount + 7] as string);
    expect(approveSet.size).toBe(approveCount);
    expect(reject.filter((id) => approveSet.has(id))).toEqual([]);
    expect(new Set(approve.map((id) => trunk[ids.indexOf(id) % commits])).size).toBe(commits);
    // The run a batch went into is at most the epoch read right after it; decisions go to the run of now.
    const fromEarlierRuns = approve.filter((id) => (epochs[Math.floor(ids.indexOf(id) / batchSize)] as number) < summary.epoch).length;
    console.log(`decisions go to run ${summary.epoch}; ${fromEarlierRuns} of the ${approveCount} to approve were filed in earlier runs`);
    expect(fromEarlierRuns).toBeGreaterThan(approveCount / 2);

    t0 = performance.now();
    const approved = await stack.call('POST', `${changes}/decisions`, { token: owner, body: { decisions: approve.map((id) => ({ id, decision: 'approve' })) } });
    const approveMs = performance.now() - t0;
    expect(approved.status, approved.text.slice(0, 2000)).toBe(200);
    expect(approved.body.results).toHaveLength(approveCount);
    expect(approved.body.results.filter((r: { ok: boolean }) => !r.ok).slice(0, 3)).toEqual([]);

    t0 = performance.now();
    const rejected = await stack.call('POST', `${changes}/decisions`, { token: owner, body: { decisions: reject.map((id) => ({ id, decision: 'reject', comment: 'not for stable' })) } });
    const rejectMs = performance.now() - t0;
    expect(rejected.status, rejected.text.slice(0, 2000)).toBe(200);
    expect(rejected.body.results).toHaveLength(rejectCount);
    expect(rejected.body.results.filter((r: { ok: boolean }) => !r.ok).slice(0, 3)).toEqual([]);

    t0 = performance.now();
    const settled = await waitFor('the 1,000 approved picks to settle', async () => {
      const [merged, present] = [await total('merged'), await total('already-present')];
      return merged + present === approveCount ? { merged, present } : undefined;
    }, 300_000).catch(async (err: unknown) => {
      // Seen twice under a loaded CI, never alone: say where the release stood.
      const s = await handle.query(summaryQuery).catch((e: unknown) => String(e));
      const { raw } = await handle.describe();
      const events = (await handle.fetchHistory()).events ?? [];
      console.log(['the approved picks did not settle:',
        `  summary ${JSON.stringify(s).slice(0, 1500)}`,
        `  states: merged ${await total('merged')}, already-present ${await total('already-present')}, approved ${await total('approved')}, conflict ${await total('conflict')}, failed ${await total('failed')}`,
        `  pending activities ${JSON.stringify((raw.pendingActivities ?? []).map((a) => ({ type: a.activityType?.name, state: a.state, attempt: a.attempt, failure: a.lastFailure?.message })))}`,
        `  pending workflow task ${JSON.stringify(raw.pendingWorkflowTask ?? null)}`,
        `  run ${raw.workflowExecutionInfo?.execution?.runId}: ${events.length} events, last ${events.slice(-20).map((e) =>
          `${(proto.temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? '').replace('EVENT_TYPE_', '')}${e.activityTaskScheduledEventAttributes?.activityType?.name ? `(${e.activityTaskScheduledEventAttributes.activityType.name})` : ''}`).join(' ')}`,
      ].join('\n'));
      throw err;
    });
    const settleMs = performance.now() - t0;
    console.log(`decisions: approve ${approveCount} in one call ${approveMs.toFixed(0)} ms; reject ${rejectCount} in one call ${rejectMs.toFixed(0)} ms; ` +
      `approved picks settled ${settleMs.toFixed(0)} ms later: ${settled.merged} merged, ${settled.present} already-present`);
    // Each commit is picked once; every later request for it finds it already there.
    expect(settled).toEqual({ merged: commits, present: approveCount - commits });
    expect(await total('rejected')).toBe(rejectCount);
    expect(await total('awaiting-decision')).toBe(requests - approveCount - rejectCount);
    const branchLog = (await git(['log', '--format=%H', `${cutPoint}..refs/heads/${cut.body.branch as string}`], { cwd: repo.remote })).stdout.trim().split('\n').filter(Boolean);
    expect(branchLog).toHaveLength(commits);

    // ---------------------------------------------------------------- 4. deep reads of the open set
    const open = requests - approveCount - rejectCount;
    const pages: string[] = [];
    const deep = new Set<string>();
    for (const offset of [0, 16_000, 17_000, 18_000]) {
      t0 = performance.now();
      const page = await stack.call('GET', `${changes}?state=awaiting-decision&limit=1000&offset=${offset}`, { token: owner });
      const ms = performance.now() - t0;
      expect(page.status, page.text.slice(0, 2000)).toBe(200);
      expect(page.body.total).toBe(open);
      expect(page.body.items).toHaveLength(Math.min(1000, open - offset));
      for (const item of page.body.items as { id: string; state: string }[]) {
        expect(item.state).toBe('awaiting-decision');
        if (offset >= 16_000) deep.add(item.id);
      }
      pages.push(`offset ${offset}: ${page.body.items.length} items in ${ms.toFixed(0)} ms`);
    }
    // The last 2,900 of the open set, each once.
    expect(deep.size).toBe(open - 16_000);
    console.log(`deep reads (state=awaiting-decision, limit 1000): ${pages.join('; ')}`);

    // The workflow took the outcomes the pick batch wrote: nothing left queued in memory.
    const after = await waitFor('the release workflow to take the outcome of the picks', async () => {
      const q = await handle.query(summaryQuery);
      return q.approved === 0 ? q : undefined;
    }, 30_000).catch(async (err: unknown) => {
      console.log(`summary still: ${JSON.stringify(await handle.query(summaryQuery))}`);
      throw err;
    });
    console.log(`summary at the end: epoch ${after.epoch}, seq ${after.seq}, rev ${after.rev}, outbox ${after.outbox}, approved ${after.approved}, jobs ${after.jobs}, blocked ${after.blocked.length}`);
    expect(after.blocked).toEqual([]);
    console.log(`scale-queue test took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, 600_000);

  it('takes the largest requests the API accepts without a payload Temporal would refuse: the release stays healthy', async () => {
    const product = unique('bulky');
    const owner = await stack.token('bulky-owner', 'owner', [product]);
    const cutPoint = await repo.commit({ 'bulky/base.txt': 'x\n' }, 'bulky base');
    const picked: string[] = [];
    for (let i = 0; i < 100; i++) picked.push(await repo.commit({ [`bulky/f-${i}.txt`]: `${i}\n` }, `bulky fix ${i} ${'x'.repeat(60)}`));
    await repo.push();
    expect((await stack.call('POST', '/v1/products', { body: { name: product, repository: repo.remote, flow: 'cherry-pick', trunk: 'main' } })).status).toBe(201);
    expect((await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: 'r', from: cutPoint } })).status).toBe(201);
    const changes = `/v1/products/${product}/releases/r/changes`;
    // 1,000 requests of 3 commits and a long reason (a body of ~0.9 MB): the answer of one Update of
    // them all would pass Temporal's 2 MiB limit and fail the workflow task for good.
    const long = 'r'.repeat(600);
    const t0 = performance.now();
    const wide = await stack.call('POST', `${changes}/batch`, {
      token: owner, body: { requests: Array.from({ length: 1000 }, (_, i) => ({ kind: 'pick', commits: picked.slice(i % 90, (i % 90) + 3), reason: `${long}${i}`, severity: 'normal' })) },
    });
    expect(wide.status, wide.text.slice(0, 500)).toBe(200);
    expect(wide.body.results.filter((r: { ok: boolean }) => !r.ok)).toEqual([]);
    const t1 = performance.now();
    // 220 requests of 100 commits each: git's answer about them is asked in parts.
    const deep = await stack.call('POST', `${changes}/batch`, {
      token: owner, body: { requests: Array.from({ length: 220 }, (_, i) => ({ kind: 'pick', commits: picked, reason: `all ${i}`, severity: 'normal' })) },
    });
    expect(deep.status, deep.text.slice(0, 500)).toBe(200);
    expect(deep.body.results.filter((r: { ok: boolean }) => !r.ok)).toEqual([]);
    const t2 = performance.now();
    // Rejecting 1,000 of them with long comments in one call (the body just under the API's 1 MB).
    const all = (await stack.call('GET', `${changes}?limit=1000`)).body.items.concat((await stack.call('GET', `${changes}?limit=1000&offset=1000`)).body.items) as { id: string }[];
    expect(all).toHaveLength(1220);
    const rejected = await stack.call('POST', `${changes}/decisions`, { token: owner, body: { decisions: all.slice(0, 1000).map((c) => ({ id: c.id, decision: 'reject', comment: 'c'.repeat(850) })) } });
    expect(rejected.status, rejected.text.slice(0, 500)).toBe(200);
    expect(rejected.body.results.every((r: { ok: boolean }) => r.ok)).toBe(true);
    console.log(`bulky: 1,000 wide requests ${(t1 - t0).toFixed(0)} ms, 220 deep requests ${(t2 - t1).toFixed(0)} ms, 1,000 rejections ${(performance.now() - t2).toFixed(0)} ms`);
    const summary = await stack.client.workflow.getHandle(`culvert/${product}/r`).query(summaryQuery);
    expect(summary.seq).toBe(1220);
    const { raw } = await stack.client.workflow.getHandle(`culvert/${product}/r`).describe();
    expect(raw.pendingWorkflowTask?.attempt ?? 1).toBeLessThanOrEqual(1);
    expect((await stack.call('GET', `${changes}?state=rejected&limit=1`)).body.total).toBe(1000);
  }, 300_000);
});
