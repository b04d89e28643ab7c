// One release under many simultaneous requests of every kind (filing, decisions, deploy clicks, reads),
// with checks running, through a graceful worker restart and a hard stop of the worker; afterwards the
// release answers, and it ends in the state a sequential order of the accepted requests would give.
//
// The hard stop, in this process: the worker talks to Temporal through a TCP proxy, which is cut; the
// worker is not shut down (that would cancel its activities, as a graceful stop does), so its workflow
// tasks time out on the server and its activities' outcomes never reach it, and a new worker takes over
// at once. CONC_DEBUG=1 prints progress while the load runs.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { NativeConnection } from '@temporalio/worker';
import type { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import { runsOfRelease } from '../db/repos/runs.ts';
import type { StepRun } from '../db/schema.ts';
import { createWorker } from '../cli/worker.ts';
import { summaryQuery } from '../workflows/release/messages.ts';
import type { ReleaseSummary } from '../workflows/release/messages.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { replayAll } from './helpers/histories.ts';
import type { SavedHistory } from './helpers/histories.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';
import { startTcpProxy } from './helpers/tcp-proxy.ts';
import type { TcpProxy } from './helpers/tcp-proxy.ts';
import { waitFor } from './helpers/wait.ts';
import { testCodec } from './helpers/codec.ts';

// Response bodies are read loosely; the assertions check their shape.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** One HTTP exchange as the client saw it. */
interface Rec {
  kind: string;
  method: string;
  path: string;
  key?: string;
  status: number;
  body: Json;
  text: string;
  retryAfter: string | null;
  start: number;
  end: number;
  /** Which worker generation was up when it was sent (1 first, 2 after the graceful restart, 3 after the hard stop). */
  era: number;
  /** Not an HTTP answer: after a 503 that may still take effect, the client looked and found it had. */
  looked?: boolean;
}

type Group = 'approve' | 'reject' | 'flip' | 'undecided';

/** A pick the load files, and what the client learned about it. */
interface Pick {
  i: number;
  sha: string;
  group: Group;
  /** Idempotency-Key of its filing (none: a new id each time). */
  key?: string;
  /** How it is filed: single POSTs (`copies` at once), or in the batch call. */
  via: 'single' | 'batch';
  copies: number;
  /** How its decision is sent: polled then decided, sent blindly until taken, or in a bulk call. */
  decider: 'poll' | 'blind' | 'bulk';
  id?: string;
  fileRecs: Rec[];
  /** The response that took its approval / its rejection (single route or bulk), or refused it for good. */
  approve?: { rec: Rec; ok: boolean; code?: string; state?: string };
  reject?: { rec: Rec; ok: boolean; code?: string; state?: string };
  extra?: Rec;
}

const openStates = ['requested', 'checking', 'awaiting-decision', 'approved'];
const trunkCommits = 32;

describe('one release under concurrent load and worker restarts', () => {
  let stack: Stack;
  let repo: GitFixture;
  let outDir: string;
  let proxy: TcpProxy | undefined;
  let zombie: { worker: Worker; running: Promise<string>; connection: NativeConnection } | undefined;

  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
    outDir = await mkdtemp(join(tmpdir(), 'culvert-load-'));
  });
  afterAll(async () => {
    if (zombie) {
      if (zombie.worker.getState() === 'RUNNING') zombie.worker.shutdown();
      await Promise.race([zombie.running, sleep(5_000)]);
      await zombie.connection.close().catch(() => undefined);
    }
    await proxy?.close();
    await stack?.stop();
    await repo?.cleanup();
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  const gitIn = async (dir: string, args: string[]): Promise<string> => (await git(args, { cwd: dir })).stdout.trim();

  it('answers every request, survives the restarts, and ends as a sequential order of the accepted requests', async () => {
    const began = performance.now();
    const product = unique('load');
    const release = 'r1';
    const deployLog = join(outDir, 'deploys.log');

    // ------------------------------------------------------------------ trunk, product, release
    const conflictBase = '1\n2\n3\n4\n5\n6\n7\n8\n9\n';
    await repo.commit({ 'base.txt': 'base\n', 'conflict.txt': conflictBase, 'README.md': 'load\n' }, 'base');
    const cutPoint = await repo.commit({ 'before-cut.txt': 'x\n' }, 'before the cut');
    const trunk: string[] = [];
    for (let i = 0; i < trunkCommits; i++) {
      let files: Record<string, string>;
      if (i === 7) files = { BROKEN: 'this makes the check fail\n' };
      // 12 and 14 each apply to the release alone, but not one after the other (13, a revert, is never picked).
      else if (i === 12) files = { 'conflict.txt': conflictBase.replace('5\n', '5p\n') };
      else if (i === 13) files = { 'conflict.txt': conflictBase };
      else if (i === 14) files = { 'conflict.txt': conflictBase.replace('5\n', '5q\n') };
      else files = { [`f/file-${i}.txt`]: `fix ${i}\n` };
      trunk.push(await repo.commit(files, `fix ${i}`));
    }
    await repo.push();

    const owner = await stack.token('owen', 'owner', [product]);
    const owner2 = await stack.token('oona', 'owner', [product]);
    const ci = await stack.token('ci-load', 'ci', [product]);
    const created = await stack.call('POST', '/v1/products', {
      body: {
        name: product, repository: repo.remote, flow: 'cherry-pick', trunk: 'main', owners: ['owen', 'oona'],
        steps: {
          test: { argv: ['bash', '-c', 'sleep 0.$((RANDOM % 5)); test -f base.txt && test ! -e BROKEN'], timeoutSeconds: 60 },
          deploy: { argv: ['sh', '-c', 'echo "$CULVERT_DEPLOYMENT_ID $CULVERT_COMMIT" >> "$DEPLOY_LOG"'], env: { DEPLOY_LOG: deployLog } },
        },
        triggers: [{ on: 'change.requested', run: 'test' }, { on: 'deploy.clicked', run: 'deploy' }],
        environments: [{ name: 'staging', order: 1, production: false }, { name: 'production', order: 2, production: true }],
        approval: { rule: 'any-owner' },
      },
    });
    expect(created.status, created.text).toBe(201);
    const cut = await stack.call('POST', `/v1/products/${product}/releases`, { token: ci, body: { name: release, from: cutPoint } });
    expect(cut.status, cut.text).toBe(201);
    const branch = cut.body.branch as string;
    const workflowId = cut.body.workflowId as string;
    expect(workflowId).toBe(`culvert/${product}/${release}`);
    const base = `/v1/products/${product}/releases/${release}`;
    const changes = `${base}/changes`;
    const handle = stack.client.workflow.getHandle(workflowId);
    const setupMs = performance.now() - began;

    // ------------------------------------------------------------------ the client side
    const recs: Rec[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    let era = 1;
    const inFlightSamples: number[] = [];
    const hash = (s: string): string => createHash('sha256').update(s).digest('hex');
    const changeIdFor = (key: string): string => {
      const h = hash(`${product}\0${release}\0${key}`);
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
    };
    const deploymentIdFor = (key: string): string => `dep-${hash(`${product}\0${release}\0${key}`).slice(0, 32)}`;
    const jitter = (lo: number, hi: number): Promise<void> => sleep(lo + Math.random() * (hi - lo));

    async function http(kind: string, method: string, path: string, o: { token: string; body?: unknown; key?: string }): Promise<Rec> {
      const headers: Record<string, string> = { authorization: `Bearer ${o.token}` };
      if (o.key) headers['idempotency-key'] = o.key;
      if (o.body !== undefined) headers['content-type'] = 'application/json';
      const sentIn = era;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const start = performance.now();
      let rec: Rec;
      try {
        const res = await stack.app.request(path, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
        const text = await res.text();
        let body: Json;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        rec = { kind, method, path, key: o.key, status: res.status, body, text, retryAfter: res.headers.get('retry-after'), start, end: performance.now(), era: sentIn };
      } catch (err) {
        rec = { kind, method, path, key: o.key, status: 0, body: undefined, text: String(err), retryAfter: null, start, end: performance.now(), era: sentIn };
      } finally {
        inFlight--;
      }
      recs.push(rec);
      return rec;
    }

    /** A 503 that does not say "nothing was done": the request may still take effect. */
    const mayHaveTakenEffect = (r: Rec): boolean => r.status === 503 && !/nothing was (done|changed|filed)/.test(r.body?.message ?? '');

    /**
     * Sends; a 503 is sent again after its Retry-After, as a client would, every attempt recorded. A request
     * without an Idempotency-Key that may still take effect is looked for first (`look`), and not sent again
     * if it did: the 503 says "look before trying again".
     */
    async function send(kind: string, method: string, path: string, o: { token: string; body?: unknown; key?: string },
      look?: (r: Rec) => Promise<Rec | undefined>): Promise<Rec> {
      for (let attempt = 1; ; attempt++) {
        const r = await http(kind, method, path, o);
        if (r.status !== 503 || attempt >= 5) return r;
        const wait = sleep(Math.min(Number(r.retryAfter ?? '1') * 1000, 2000));
        if (look && mayHaveTakenEffect(r)) {
          const found = await look(r);
          if (found) return found;
        }
        await wait;
      }
    }

    /** Polls `probe` for a while: what a client does to "look before trying again". */
    async function lookFor(probe: () => Promise<Json | undefined>, ms = 20_000): Promise<Json | undefined> {
      const deadline = performance.now() + ms;
      for (;;) {
        const found = await probe();
        if (found || performance.now() > deadline) return found;
        await sleep(250);
      }
    }
    /** A response made up from what the client found when it looked: the request took effect. */
    const lookedUp = (r: Rec, status: number, body: Json): Rec => ({ ...r, status, body, text: JSON.stringify(body), end: performance.now(), looked: true });

    const sampler = setInterval(() => inFlightSamples.push(inFlight), 100);
    const progress = (what: string): void => {
      if (process.env.CONC_DEBUG) console.log(`[load +${Math.round(performance.now() - began)} ms] ${what}: ${recs.length} responses, ${inFlight} in flight`);
    };
    let reading = true;

    // ------------------------------------------------------------------ the plan
    const picks: Pick[] = [];
    const groupOf = (i: number): Group => ([3, 9, 17, 23].includes(i) ? 'reject' : [6, 16, 24].includes(i) ? 'flip' : [11, 21, 28].includes(i) ? 'undecided' : 'approve');
    for (let i = 0; i < 31; i++) {
      if (i === 13) continue;
      const keyless = [5, 20, 30].includes(i);
      const batch = i >= 26 && i <= 29;
      const bulk = [0, 1, 2, 4, 8, 10, 9, 17, 15, 18, 26, 27, 28, 29].includes(i);
      picks.push({
        i, sha: trunk[i] as string, group: groupOf(i), ...(keyless || batch ? {} : { key: `pick-${i}` }), via: batch ? 'batch' : 'single',
        copies: keyless || batch ? 1 : i % 4 === 0 ? 3 : i % 4 === 2 ? 2 : 1,
        decider: bulk ? 'bulk' : i % 3 === 0 ? 'blind' : 'poll', fileRecs: [],
      });
    }
    const pickAt = (i: number): Pick => picks.find((p) => p.i === i) as Pick;
    const batchKey = 'batch-26-29';
    for (const [n, i] of [26, 27, 28, 29].entries()) pickAt(i).id = changeIdFor(`${batchKey}#${n}`);
    for (const p of picks) if (p.key) p.id = changeIdFor(p.key);
    const pickBody = (p: Pick) => ({ kind: 'pick', commits: [p.sha.slice(0, 12)], reason: `backport fix ${p.i}`, severity: 'normal' });

    /** Files one pick with `copies` POSTs at once (same key), and once more after they answered. */
    async function filePick(p: Pick): Promise<void> {
      const look = p.key ? undefined : (r: Rec) => lookFor(async () => {
        const got = await stack.call('GET', `${changes}/${String(r.body?.details?.changeId ?? '')}`, { token: ci });
        return got.status === 200 ? lookedUp(r, 201, got.body) : undefined;
      });
      const first = await Promise.all(Array.from({ length: p.copies }, (_, n) => send(n === 0 ? 'file' : 'file-dup', 'POST', changes, { token: ci, body: pickBody(p), key: p.key }, look)));
      p.fileRecs.push(...first);
      const ok = first.find((r) => r.status === 201 || r.status === 200);
      if (ok) p.id ??= ok.body.id;
      if (p.key && p.copies > 1) p.fileRecs.push(await send('file-dup', 'POST', changes, { token: ci, body: pickBody(p), key: p.key }));
    }

    async function fileBatch(copies: number): Promise<Rec[]> {
      const members = [26, 27, 28, 29].map(pickAt);
      const out = await Promise.all(Array.from({ length: copies }, (_, n) =>
        send(n === 0 ? 'file-batch' : 'file-batch-dup', 'POST', `${changes}/batch`, { token: ci, body: { requests: members.map(pickBody) }, key: batchKey })));
      for (const m of members) m.fileRecs.push(...out);
      return out;
    }

    const waitForId = async (p: Pick): Promise<string> => {
      const deadline = performance.now() + 150_000;
      for (;;) {
        if (p.id) return p.id;
        if (performance.now() > deadline) throw new Error(`pick ${p.i} was never filed: ${p.fileRecs.map((r) => `${r.status} ${r.text.slice(0, 200)}`).join('; ')}`);
        await sleep(50);
      }
    };

    const nameOf = (token: string): string => (token === owner ? 'owen' : token === owner2 ? 'oona' : 'ci-load');
    /** Whether the change carries this person's vote (a decision that answered 503 may have been taken). */
    const votedFor = (r: Rec, id: string, token: string, decision: 'approve' | 'reject'): Promise<Rec | undefined> => lookFor(async () => {
      const got = await stack.call('GET', `${changes}/${id}`, { token: ci });
      const voted = got.status === 200 && (got.body.votes as Json[]).some((v) => v.by === nameOf(token) && v.decision === decision);
      return voted ? lookedUp(r, 200, got.body) : undefined;
    }, 3_000);

    /**
     * How long a decision agent keeps asking: 300 s from when it first saw the change filed (a check may wait
     * behind others and a restart's timeouts; on CI's loaded 2 cores 45 s, then 90 s, then 150 s with other
     * suites running beside it were seen to fall short, where the whole load takes ~50 s alone), 360 s in all.
     * Waiting longer cannot hide a wrong outcome: what was decided is checked against the end state below.
     */
    const patience = () => {
      const started = performance.now();
      let filedAt: number | undefined;
      return {
        seen(filed: boolean): void {
          if (filed) filedAt ??= performance.now();
        },
        over: (): boolean => performance.now() > Math.min(started + 360_000, (filedAt ?? Infinity) + 300_000),
      };
    };

    const retryable = (status: number, body: Json): boolean =>
      status === 404 || (status === 409 && body?.code === 'change_not_decidable' && /is (checking|requested),/.test(body?.message ?? ''));

    /** One decision on one change through the single route, until it is taken or refused for good. */
    async function decideOne(p: Pick, decision: 'approve' | 'reject', token: string, style: 'poll' | 'blind'): Promise<{ rec: Rec; ok: boolean; code?: string; state?: string }> {
      const id = await waitForId(p);
      const waited = patience();
      let maybe: Rec | undefined;
      for (;;) {
        if (style === 'poll') {
          const seen = await send('get-change', 'GET', `${changes}/${id}`, { token });
          waited.seen(seen.status === 200);
          if (seen.status !== 200 || seen.body.state === 'checking' || seen.body.state === 'requested') {
            if (waited.over()) return { rec: seen, ok: false, code: `gave up waiting: ${seen.body?.state ?? seen.status}, check ${seen.body?.check}` };
            await jitter(300, 600);
            continue;
          }
        }
        const r = await send('decide', 'POST', `${changes}/${id}/decision`, { token, body: { decision } }, (x) => {
          maybe = x;
          return votedFor(x, id, token, decision);
        });
        waited.seen(r.status !== 404);
        if (r.status === 200) return { rec: r, ok: true, state: r.body.state };
        // Refused now because an earlier attempt (answered 503, "may still take effect") was taken after all.
        const earlier = maybe && r.status === 409 ? await votedFor(r, id, token, decision) : undefined;
        if (maybe && earlier) return { rec: { ...maybe, end: earlier.end, looked: true }, ok: true, state: earlier.body.state };
        if (!retryable(r.status, r.body) || waited.over()) return { rec: r, ok: false, code: r.body?.code ?? String(r.status) };
        await jitter(300, 700);
      }
    }

    /** Decisions on several changes in bulk calls, re-sending those not decidable yet, until each is settled. */
    async function decideBulk(items: { p: Pick; decision: 'approve' | 'reject' }[], token: string): Promise<void> {
      let pending = items;
      const waits = new Map(items.map((x) => [x, patience()]));
      const tookEffect: Rec[] = [];
      await Promise.all(items.filter((x) => !x.p.key).map((x) => waitForId(x.p)));
      while (pending.length > 0) {
        const r = await send('decide-bulk', 'POST', `${changes}/decisions`, { token, body: { decisions: pending.map((x) => ({ id: x.p.id, decision: x.decision })) } }, async (x) => {
          tookEffect.push(x);
          // Taken if every decision in it is; otherwise sent again (those taken answer "not decidable" and are looked at then).
          const found = await Promise.all(pending.map((y) => votedFor(x, y.p.id as string, token, y.decision)));
          return found.every(Boolean) ? lookedUp(x, 200, { results: found.map((f) => ({ id: f?.body.id, ok: true, state: f?.body.state })) }) : undefined;
        });
        const results: Json[] | undefined = r.status === 200 ? r.body.results : r.body?.details?.results;
        const next: typeof pending = [];
        for (const x of pending) {
          const res = results?.find((y: Json) => y.id === x.p.id);
          const settle = (v: { rec: Rec; ok: boolean; code?: string; state?: string }) => {
            if (x.decision === 'approve') x.p.approve = v;
            else x.p.reject = v;
          };
          const waited = waits.get(x) as ReturnType<typeof patience>;
          waited.seen(res !== undefined && res.code !== 'change_not_found');
          const earlier = res && !res.ok && res.code === 'change_not_decidable' && tookEffect.length > 0 ? await votedFor(r, x.p.id as string, token, x.decision) : undefined;
          if (res?.ok) settle({ rec: r, ok: true, state: res.state });
          else if (earlier) settle({ rec: { ...(tookEffect[0] as Rec), end: earlier.end, looked: true }, ok: true, state: earlier.body.state });
          else if (res && (res.code === 'change_not_found' || (res.code === 'change_not_decidable' && /is (checking|requested),/.test(res.message))) && !waited.over()) next.push(x);
          else settle({ rec: r, ok: false, code: res ? `${res.code}: ${res.message}` : `http-${r.status}` });
        }
        pending = next;
        if (pending.length > 0) await jitter(400, 800);
      }
    }

    /** The decision agent of one pick (single route); bulk ones are decided by decideBulk. */
    async function decider(p: Pick): Promise<void> {
      if (p.decider === 'bulk' || p.group === 'undecided') return;
      if (!p.key || p.decider === 'poll') await waitForId(p);
      await jitter(0, 800);
      if (p.group === 'reject') {
        p.reject = await decideOne(p, 'reject', owner2, p.decider === 'blind' ? 'blind' : 'poll');
        return;
      }
      p.approve = await decideOne(p, 'approve', owner, p.decider === 'blind' ? 'blind' : 'poll');
      if (p.group === 'flip' && p.approve.ok) {
        // The other owner passes it right after: taken back if no batch holds it yet, refused otherwise.
        const r = await send('decide', 'POST', `${changes}/${p.id}/decision`, { token: owner2, body: { decision: 'reject', comment: 'not this one' } });
        p.reject = { rec: r, ok: r.status === 200, ...(r.status === 200 ? { state: r.body.state } : { code: r.body?.code }) };
      } else if (p.approve.ok && p.i % 5 === 2) {
        // A second approval of an approved (or landed) change is refused: nothing to decide.
        p.extra = await send('decide', 'POST', `${changes}/${p.id}/decision`, { token: owner2, body: { decision: 'approve' } });
      }
    }

    const clicks: { key?: string; rec: Rec }[] = [];
    async function click(key: string | undefined, copies = 1): Promise<void> {
      const look = key ? undefined : (r: Rec) => lookFor(async () => {
        const id = String(r.body?.details?.deploymentId ?? '');
        const d = (await stack.call('GET', base, { token: ci })).body.deployments.find((x: Json) => x.id === id);
        return d ? lookedUp(r, 202, { deploymentId: d.id, commitSha: d.commitSha, environment: d.environment }) : undefined;
      });
      const out = await Promise.all(Array.from({ length: copies }, (_, n) =>
        send(n === 0 ? 'deploy' : 'deploy-dup', 'POST', `${base}/deployments`, { token: owner, body: { environment: 'staging' }, ...(key ? { key } : {}) }, look)));
      for (const rec of out) clicks.push({ ...(key ? { key } : {}), rec });
    }

    async function reader(n: number): Promise<void> {
      for (let k = 0; reading; k++) {
        const which = (k + n) % 4;
        if (which === 0) await send('get-release', 'GET', base, { token: ci });
        else if (which === 1) await send('get-list', 'GET', `${changes}?limit=200`, { token: ci });
        else if (which === 2) await send('get-list', 'GET', `${changes}?state=merged,conflict&sort=trunk&limit=100`, { token: owner });
        else {
          const known = picks.filter((p) => p.id);
          const p = known[Math.floor(Math.random() * known.length)];
          if (p) await send('get-change', 'GET', `${changes}/${p.id}`, { token: ci });
        }
        await jitter(20, 120);
      }
    }

    // ------------------------------------------------------------------ the load
    const wave1 = picks.filter((p) => p.i <= 21 && p.via === 'single');
    const wave2 = picks.filter((p) => p.i >= 22 && p.i <= 25);
    const wave3 = picks.filter((p) => p.i === 30);
    let filedReturned = 0;
    const wave1Filing = wave1.map((p) => filePick(p).then(() => {
      filedReturned++;
    }));
    const loadStart = performance.now();
    const marks: Record<string, number> = {};
    const marksAt: Record<string, string> = {};
    const agents: Promise<unknown>[] = [
      ...wave1Filing,
      ...wave1.map(decider),
      decideBulk([0, 1, 2, 4, 8, 10].map((i) => ({ p: pickAt(i), decision: 'approve' as const })), owner),
      decideBulk([...[9, 17].map((i) => ({ p: pickAt(i), decision: 'reject' as const })), ...[15, 18].map((i) => ({ p: pickAt(i), decision: 'approve' as const }))], owner2),
      click('deploy-0', 2), click('deploy-1', 2), click('deploy-2', 2), click('deploy-3', 2), click(undefined), click(undefined),
      // Already in the release before the cut: answered 200 already-present, once.
      send('file-old', 'POST', changes, { token: ci, body: { kind: 'pick', commits: [cutPoint], reason: 'before the cut', severity: 'normal' }, key: 'old' }),
    ];
    const readers = Array.from({ length: 10 }, (_, n) => reader(n));
    const initialBurst = inFlight;

    // After about half of the first wave of filing answered: a graceful restart, onto a worker that
    // talks to Temporal through a proxy (so that it can be stopped hard later, in this process).
    await waitFor('half of the first wave filed', async () => filedReturned >= Math.ceil(wave1.length / 2), 120_000);
    marks.gracefulStop = performance.now() - loadStart;
    marksAt.gracefulStop = new Date().toISOString().slice(11, 23);
    progress('gracefulStop');
    await stack.stopWorker();
    const [host, port] = inject('temporalAddress').split(':') as [string, string];
    proxy = await startTcpProxy(host, Number(port));
    const connection = await NativeConnection.connect({ address: `127.0.0.1:${proxy.port}` });
    const w2 = await createWorker({
      connection, namespace: inject('temporalNamespace'), taskQueue: stack.taskQueue, codec: testCodec(), deps: { db: stack.database.db, dataDir: stack.dataDir },
      workflowBundle: { codePath: inject('workflowBundlePath') },
      options: { stickyQueueScheduleToStartTimeout: '1s', shutdownForceTime: '2s' },
    });
    // Handled at once: a worker that cannot shut down in time rejects its run() (shutdownForceTime).
    zombie = { worker: w2, running: w2.run().then(() => 'stopped', (e: unknown) => `ended: ${(e as Error).name}: ${(e as Error).message}`.slice(0, 200)), connection };
    era = 2;
    marks.gracefulRestarted = performance.now() - loadStart;
    marksAt.gracefulRestarted = new Date().toISOString().slice(11, 23);
    progress('gracefulRestarted');

    agents.push(
      ...wave2.map(filePick), ...wave2.map(decider), fileBatch(2),
      decideBulk([26, 27, 29].map((i) => ({ p: pickAt(i), decision: 'approve' as const })), owner),
      click('deploy-4', 3), click('deploy-5'), click('deploy-0'), click(undefined),
    );
    await sleep(1_500);

    // A hard stop: the worker loses Temporal mid-flight (its tasks and activities are never reported)
    // and a new one takes over at once, as a supervisor would restart a crashed process.
    marks.hardStop = performance.now() - loadStart;
    marksAt.hardStop = new Date().toISOString().slice(11, 23);
    progress('hardStop');
    // It is not shut down (that would cancel its activities, as a graceful stop does): it stays cut off,
    // its tasks time out on the server and its activities' outcomes never reach it; afterAll ends it.
    proxy.cut();
    await stack.startWorker();
    era = 3;
    marks.hardRestarted = performance.now() - loadStart;
    marksAt.hardRestarted = new Date().toISOString().slice(11, 23);
    progress('hardRestarted');
    agents.push(
      ...wave3.map(filePick), ...wave3.map(decider), click('deploy-6'), click('deploy-7', 2), click(undefined),
      // The same keys again after the restarts: still the same changes and deployments.
      filePick({ ...pickAt(4), copies: 1, fileRecs: pickAt(4).fileRecs }), click('deploy-1'),
    );
    const ticker = setInterval(() => progress(`waiting for agents; picks without a decision answer: ${picks.filter((p) => p.group !== 'undecided' && !(p.group === 'reject' ? p.reject : p.approve)).map((p) => p.i).join(',')}`), 5_000);
    await Promise.all(agents).finally(() => clearInterval(ticker));
    marks.loadDone = performance.now() - loadStart;
    marksAt.loadDone = new Date().toISOString().slice(11, 23);
    progress('loadDone');
    reading = false;
    await Promise.all(readers);
    clearInterval(sampler);

    // ------------------------------------------------------------------ every response
    const badStatus = recs.filter((r) => r.status === 0 || (r.status >= 500 && !(r.status === 503 && r.retryAfter)));
    expect.soft(badStatus.map((r) => `${r.kind} ${r.method} ${r.path} -> ${r.status} ${r.text.slice(0, 300)}`)).toEqual([]);
    const unavailable = recs.filter((r) => r.status === 503);

    // ------------------------------------------------------------------ settle
    // Up to 2 minutes: on CI's 2 cores, beside the kill suite, the last approved picks were seen to take longer than 45 s.
    const settleStart = performance.now();
    let summary: ReleaseSummary | undefined;
    let lastOpen: Json[] = [];
    let settled = true;
    try {
      await waitFor('the release to settle', async () => {
        const open = await stack.call('GET', `${changes}?state=requested,checking,approved&limit=100`, { token: ci });
        lastOpen = open.body.items;
        summary = await handle.query(summaryQuery);
        if (open.body.total !== 0) return false;
        return summary.jobs === 0 && summary.outbox === 0 && summary.approved === 0;
      }, 120_000);
    } catch {
      settled = false;
    }
    // What did not settle, with its history (the test goes on, to see what else holds).
    const stuck = await Promise.all(lastOpen.map(async (c) => (await stack.call('GET', `${changes}/${c.id}`, { token: ci })).body));
    expect.soft(settled ? [] : [`summary ${JSON.stringify(summary)}`, ...stuck.map((c) => `#${c.seq} ${c.id} ${c.state} check ${c.check} history ${JSON.stringify(c.history)}`)],
      'the release settles: no change checking/approved, no job or write outstanding').toEqual([]);
    const settleMs = performance.now() - settleStart;

    const listAll = async (): Promise<Json[]> => {
      const r = await stack.call('GET', `${changes}?limit=1000&sort=seq`, { token: ci });
      expect(r.status, r.text).toBe(200);
      return r.body.items;
    };
    const items = await listAll();
    const byId = new Map<string, Json>(items.map((c) => [c.id, c]));

    // ------------------------------------------------------------------ filing: once each, seq without gaps
    const acceptedFile = (r: Rec) => r.status === 201 || r.status === 200;
    for (const p of picks) {
      const fileRecs = p.fileRecs.filter((r) => r.kind.startsWith('file'));
      expect.soft(fileRecs.length, `pick ${p.i} was filed`).toBeGreaterThan(0);
      for (const r of fileRecs) {
        expect.soft(acceptedFile(r), `filing of pick ${p.i} (${r.kind}) -> ${r.status} ${r.text.slice(0, 300)}`).toBe(true);
        const id = r.kind.startsWith('file-batch') ? r.body?.results?.find((x: Json) => x.change?.commits?.[0] === p.sha)?.id : r.body?.id;
        expect.soft(id, `filing of pick ${p.i} answered the id its key names`).toBe(p.id);
      }
      if (fileRecs[0]?.kind === 'file-batch') {
        for (const r of fileRecs) expect.soft(r.body?.results?.every((x: Json) => x.ok), `batch filing: ${r.text.slice(0, 300)}`).toBe(true);
      }
      expect.soft(byId.has(p.id as string), `pick ${p.i} (${p.id}) is in the list`).toBe(true);
    }
    const oldRecs = recs.filter((r) => r.kind === 'file-old' && r.status !== 503);
    expect.soft(oldRecs.map((r) => [r.status, r.body?.state])).toEqual([[200, 'already-present']]);
    const oldId = oldRecs[0]?.body?.id as string;
    const expectedIds = new Set([...picks.map((p) => p.id as string), oldId]);
    expect.soft([...byId.keys()].sort()).toEqual([...expectedIds].sort());
    const seqs = items.map((c) => c.seq as number).sort((a, b) => a - b);
    expect.soft(seqs).toEqual(seqs.map((_, n) => n + 1));
    expect.soft(summary?.seq).toBe(items.length);
    for (const c of items) expect.soft(c.commits.length, `change #${c.seq} names one commit`).toBe(1);

    // ------------------------------------------------------------------ decisions: the sequential outcome
    const landed = ['merged', 'conflict', 'already-present'];
    const problems: string[] = [];
    /** A change's history as offsets from its filing, and when the load began: how long a check waited. */
    const timeline = async (id: string): Promise<string> => {
      const events = ((await stack.call('GET', `${changes}/${id}`, { token: ci })).body?.history ?? []) as { at: string; state: string; note?: string }[];
      const t0 = Date.parse(events[0]?.at ?? '');
      const since = (at: string): string => `+${((Date.parse(at) - t0) / 1000).toFixed(1)}s`;
      return `history (filed ${((t0 - (Date.now() - (performance.now() - loadStart))) / 1000).toFixed(1)} s into the load): ${events.map((e) => `${since(e.at)} ${e.state}${e.note ? ` (${e.note})` : ''}`).join(', ')}`;
    };
    const expectState = (p: Pick, ok: (c: Json) => boolean, what: string): void => {
      const c = byId.get(p.id as string);
      if (!c || !ok(c)) problems.push(`pick ${p.i} #${c?.seq} (${p.group}, ${p.decider}) should be ${what} but is ${c?.state} (check ${c?.check}); approve: ${told(p.approve)}; reject: ${told(p.reject)}`);
    };
    for (const p of picks) {
      const c = byId.get(p.id as string);
      if (!c) continue;
      if (c.check === 'failed') {
        // A failed check: never approved; its approval (if one was asked for) answered 422.
        expectState(p, (x) => x.state === 'awaiting-decision' || (p.group !== 'approve' && x.state === 'rejected'), 'awaiting-decision with its check failed');
        if (p.group === 'approve') {
          if (!(p.approve && !p.approve.ok && p.approve.code === 'checks_failed' && (p.approve.rec.status === 422 || p.approve.rec.kind === 'decide-bulk'))) {
            problems.push(`pick ${p.i} #${c.seq} failed its check; its approval should have been refused with 422 checks_failed: ${told(p.approve)}`);
          }
        }
        continue;
      }
      switch (p.group) {
        case 'approve':
          if (!p.approve?.ok) problems.push(`pick ${p.i} #${c.seq} (check ${c.check}): its approval was not taken: ${told(p.approve)}; ${await timeline(c.id)}`);
          expectState(p, (x) => landed.includes(x.state), 'merged/conflict/already-present');
          if (p.approve?.ok && p.approve.state && !['approved', ...landed].includes(p.approve.state)) problems.push(`pick ${p.i}: approval answered state ${p.approve.state}`);
          break;
        case 'reject':
          if (!p.reject?.ok) problems.push(`pick ${p.i} #${c.seq}: its rejection was not taken: ${told(p.reject)}; ${await timeline(c.id)}`);
          expectState(p, (x) => x.state === 'rejected', 'rejected');
          break;
        case 'flip':
          if (!p.approve?.ok) problems.push(`pick ${p.i} #${c.seq}: its approval was not taken: ${told(p.approve)}; ${await timeline(c.id)}`);
          if (p.reject?.ok) expectState(p, (x) => x.state === 'rejected', 'rejected (the pass was taken)');
          else if (p.reject?.rec.status === 409) expectState(p, (x) => landed.includes(x.state), 'landed (the pass came too late: 409)');
          else problems.push(`pick ${p.i}: the pass answered ${told(p.reject)}`);
          break;
        case 'undecided':
          expectState(p, (x) => x.state === 'awaiting-decision' && x.check === 'passed', 'awaiting-decision with its check passed');
          break;
      }
      if (p.extra) {
        if (p.extra.status !== 409 || p.extra.body?.code !== 'change_not_decidable') problems.push(`pick ${p.i}: a second approval answered ${p.extra.status} ${p.extra.text.slice(0, 200)}`);
      }
    }
    expect.soft(problems).toEqual([]);
    expect.soft(items.filter((c) => ['requested', 'checking', 'approved', 'failed'].includes(c.state)).map((c) => `#${c.seq} ${c.state}`)).toEqual([]);
    // Checks fail only where the tree says so: BROKEN (fix 7), or the conflicting pair (12, 14).
    const failedChecks = picks.filter((p) => byId.get(p.id as string)?.check === 'failed');
    const stepRuns = await runsOfRelease(stack.database.db, product, release, 1000);
    const runsOf = (f: (r: StepRun) => boolean): string => stepRuns.filter(f)
      .map((r) => `run ${r.id} ${r.step} ${r.state} exit ${r.exitCode} from ${r.startedAt.toISOString().slice(11, 23)} to ${r.finishedAt?.toISOString().slice(11, 23) ?? '-'}`).join('; ');
    expect.soft(failedChecks.filter((p) => ![7, 12, 14].includes(p.i))
      .map((p) => `fix ${p.i} #${byId.get(p.id as string)?.seq} ${p.id}: ${byId.get(p.id as string)?.failure ?? 'the step failed'} [${runsOf((r) => r.changeId === p.id)}]`), 'checks fail only on the broken or conflicting picks').toEqual([]);
    const brokenPick = byId.get(pickAt(7).id as string);
    expect.soft([brokenPick?.state, brokenPick?.check]).toEqual(['awaiting-decision', 'failed']);

    // ------------------------------------------------------------------ git: each landed pick once, in an order the requests allow
    const branchLog = (await gitIn(repo.remote, ['log', '--reverse', '--format=%H%x01%B%x00', `${cutPoint}..refs/heads/${branch}`]))
      .split('\0').map((x) => x.trim()).filter(Boolean)
      .map((entry) => {
        const [sha, message] = entry.split('\x01') as [string, string];
        return { sha, origin: /\(cherry picked from commit ([0-9a-f]{40})\)/.exec(message)?.[1], change: /Culvert-Change: (\S+)/.exec(message)?.[1] };
      });
    const merged = items.filter((c) => c.state === 'merged');
    const origins = branchLog.map((e) => e.origin);
    expect.soft(origins.filter((o) => !o), 'every commit on the branch is a pick').toEqual([]);
    const fixOf = (sha: string | undefined): string => `fix ${trunk.indexOf(sha as string)}`;
    const describeChange = (sha: string | undefined): string => {
      const c = items.find((x) => x.commits[0] === sha);
      return `${fixOf(sha)} (${c ? `#${c.seq} ${c.id} ${c.state}, resultSha ${c.resultSha}` : 'no change'})`;
    };
    expect.soft([...origins].sort(), 'the branch holds exactly the merged picks, each once').toEqual(merged.map((c) => c.commits[0]).sort());
    const mergedShas = new Set(merged.map((c) => c.commits[0]));
    expect.soft(branchLog.filter((e) => !mergedShas.has(e.origin)).map((e) => `${e.sha} picks ${describeChange(e.origin)}`), 'no commit on the branch belongs to a change that is not merged').toEqual([]);
    expect.soft(merged.filter((c) => !origins.includes(c.commits[0])).map((c) => describeChange(c.commits[0])), 'every merged change is on the branch').toEqual([]);
    expect.soft(origins.filter((o, n) => origins.indexOf(o) !== n).map(describeChange), 'no commit is picked twice').toEqual([]);
    for (const c of merged) {
      const entry = branchLog.find((e) => e.origin === c.commits[0]);
      expect.soft(entry?.sha, `change #${c.seq}'s resultSha is its commit on the branch`).toBe(c.resultSha);
      expect.soft(entry?.change, `change #${c.seq}'s commit carries its id`).toBe(c.id);
    }
    const head = await gitIn(repo.remote, ['rev-parse', `refs/heads/${branch}`]);
    const released = await stack.call('GET', base, { token: ci });
    expect.soft(released.body.headSha).toBe(head);
    expect.soft(summary?.headSha).toBe(head);
    // A pick approved (answered) before another's approval was sent lands before it if it is earlier on trunk;
    // within one batch picks go in trunk order.
    const position = new Map(branchLog.map((e, n) => [e.origin, n]));
    const orderProblems: string[] = [];
    const landedPicks = picks.filter((p) => byId.get(p.id as string)?.state === 'merged' && p.approve?.ok);
    for (const a of landedPicks) {
      for (const b of landedPicks) {
        if (a.i >= b.i) continue;
        const aBefore = (a.approve as { rec: Rec }).rec.end < (b.approve as { rec: Rec }).rec.start;
        if (aBefore && (position.get(a.sha) ?? -1) > (position.get(b.sha) ?? -1)) orderProblems.push(`fix ${a.i} (approved first) landed after fix ${b.i}`);
      }
    }
    expect.soft(orderProblems).toEqual([]);
    const trunkOrdered = branchLog.every((e, n) => n === 0 || trunk.indexOf(e.origin as string) > trunk.indexOf(branchLog[n - 1]?.origin as string));
    const conflictPair = [12, 14].map((i) => `${i}:${byId.get(pickAt(i).id as string)?.state}/${byId.get(pickAt(i).id as string)?.check}`);

    // ------------------------------------------------------------------ the same keys once more, now that all is done
    // (most likely in a later run of the release than the first answers): the same changes and deployments.
    await Promise.all([click('deploy-0'), click('deploy-2'), fileBatch(1), filePick({ ...pickAt(4), copies: 1, fileRecs: pickAt(4).fileRecs })]);
    for (const i of [4, 26, 27, 28, 29]) {
      const last = pickAt(i).fileRecs.at(-1) as Rec;
      const id = last.kind.startsWith('file-batch') ? last.body?.results?.find((x: Json) => x.change?.commits?.[0] === pickAt(i).sha)?.id : last.body?.id;
      expect.soft([last.status, id], `pick ${i} filed again with its key after the load: ${last.text.slice(0, 200)}`).toEqual([last.kind.startsWith('file-batch') ? 200 : 201, pickAt(i).id]);
    }
    const jobsAfter = await waitFor('no job outstanding after the repeated clicks', async () => {
      const q = await handle.query(summaryQuery);
      return q.jobs === 0 ? q : undefined;
    }, 15_000).catch(async () => handle.query(summaryQuery));
    expect.soft(jobsAfter.jobs, 'a repeated click starts no job that never ends').toBe(0);

    // ------------------------------------------------------------------ deployments: one per accepted click, each once
    const clickProblems: string[] = [];
    const answersByKey = new Map<string, Set<string>>();
    for (const { key, rec } of clicks) {
      if (key && rec.status === 202) answersByKey.set(key, new Set([...(answersByKey.get(key) ?? []), `${rec.body.deploymentId} ${rec.body.commitSha}`]));
    }
    expect.soft([...answersByKey].filter(([, a]) => a.size !== 1).map(([k, a]) => `${k}: ${[...a].join(' | ')}`), 'every click with one key answers one deployment of one commit').toEqual([]);
    const accepted = new Map<string, Rec>();
    for (const { key, rec } of clicks) {
      if (rec.status !== 202) {
        clickProblems.push(`click ${key ?? '(no key)'} -> ${rec.status} ${rec.text.slice(0, 200)}`);
        continue;
      }
      if (key && rec.body.deploymentId !== deploymentIdFor(key)) clickProblems.push(`click ${key} answered ${rec.body.deploymentId}`);
      if (!accepted.has(rec.body.deploymentId)) accepted.set(rec.body.deploymentId, rec);
    }
    expect.soft(clickProblems).toEqual([]);
    const keyedClicks = new Set(clicks.filter((c) => c.key).map((c) => c.key));
    const keylessClicks = clicks.filter((c) => !c.key).length;
    expect.soft(accepted.size).toBe(keyedClicks.size + keylessClicks);
    await waitFor('every deployment recorded as finished', async () => {
      const r = await stack.call('GET', base, { token: ci });
      return r.body.deployments.length >= accepted.size && r.body.deployments.every((d: Json) => d.state === 'succeeded' || d.state === 'failed');
    }, 30_000).catch(() => undefined);
    const deployments: Json[] = (await stack.call('GET', base, { token: ci })).body.deployments;
    expect.soft(deployments.map((d) => d.id).sort()).toEqual([...accepted.keys()].sort());
    expect.soft(deployments.filter((d) => d.state !== 'succeeded')
      .map((d) => `${d.id} ${d.state} ${d.failure ?? ''} (clicked at ${new Date(d.createdAt).toISOString().slice(11, 23)}) [${runsOf((r) => r.deploymentId === d.id)}]`), 'every deployment succeeds').toEqual([]);
    const onBranch = new Set((await gitIn(repo.remote, ['rev-list', `refs/heads/${branch}`])).split('\n'));
    for (const d of deployments) {
      expect.soft(d.environment).toBe('staging');
      expect.soft(onBranch.has(d.commitSha), `deployment ${d.id} deployed a commit of the release`).toBe(true);
      const answered = clicks.filter((c) => c.rec.status === 202 && c.rec.body.deploymentId === d.id).map((c) => c.rec.body.commitSha as string);
      expect.soft(answered, `deployment ${d.id} deployed a commit its clicks answered`).toContain(d.commitSha);
    }
    const lines = (await readFile(deployLog, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    const perId = new Map<string, number>();
    for (const line of lines) {
      const [id, commit] = line.split(' ');
      perId.set(id as string, (perId.get(id as string) ?? 0) + 1);
      expect.soft(commit, `deploy log line ${line}`).toBe(deployments.find((d) => d.id === id)?.commitSha);
    }
    expect.soft([...perId.entries()].filter(([, n]) => n !== 1), 'deploy step ran once per deployment').toEqual([]);
    expect.soft([...perId.keys()].sort()).toEqual([...accepted.keys()].sort());

    // ------------------------------------------------------------------ the release still answers
    const finalStart = performance.now();
    const finalFile = await send('final-file', 'POST', changes, { token: ci, key: 'final', body: { kind: 'pick', commits: [trunk[31]], reason: 'after the restarts', severity: 'hotfix' } });
    expect.soft(finalFile.status, finalFile.text).toBe(201);
    expect.soft(finalFile.end - finalFile.start, 'filing after the restarts answers quickly').toBeLessThan(10_000);
    const finalId = finalFile.body?.id as string | undefined;
    let finalState = 'not filed';
    if (finalId) {
      const checked = await waitFor('the final pick checked', async () => (await stack.call('GET', `${changes}/${finalId}`, { token: ci })).body.state === 'awaiting-decision', 30_000).catch(() => false);
      expect.soft(checked, 'the final pick is checked within 30 s').toBe(true);
      const finalDecide = await send('final-decide', 'POST', `${changes}/${finalId}/decision`, { token: owner, body: { decision: 'approve' } });
      expect.soft(finalDecide.status, finalDecide.text).toBe(200);
      const finalChange = await waitFor('the final pick merged', async () => {
        const r = await stack.call('GET', `${changes}/${finalId}`, { token: ci });
        return landed.includes(r.body.state) ? r.body : undefined;
      }, 30_000).catch(async () => (await stack.call('GET', `${changes}/${finalId}`, { token: ci })).body);
      finalState = finalChange.state;
      expect.soft(finalState, 'the final pick merges within 30 s').toBe('merged');
    }
    const finalMs = performance.now() - finalStart;

    // ------------------------------------------------------------------ freeze and close
    const openBefore = (await listAll()).filter((c) => openStates.includes(c.state)).map((c) => c.id as string);
    const frozen = await send('freeze', 'POST', `${base}/freeze`, { token: owner });
    expect.soft([frozen.status, frozen.body?.state], frozen.text).toEqual([200, 'frozen']);
    const late = await send('file-late', 'POST', changes, { token: ci, body: { kind: 'pick', commits: [trunk[0]], reason: 'too late', severity: 'normal' } });
    expect.soft([late.status, late.body?.code]).toEqual([409, 'release_frozen']);
    const closed = await send('close', 'POST', `${base}/close`, { token: owner });
    expect.soft([closed.status, closed.body?.state], closed.text).toEqual([200, 'closed']);
    const resultWait = performance.now();
    const outcome = await Promise.race([handle.result().then(() => 'completed', (e: unknown) => `failed: ${String(e)}`), sleep(30_000).then(() => 'still running after 30 s')]);
    expect.soft(outcome, 'the release workflow completes after the close').toBe('completed');
    const completeMs = performance.now() - resultWait;
    await waitFor('the close recorded', async () => (await listAll()).every((c) => !openStates.includes(c.state)), 20_000).catch(() => undefined);
    const after = await listAll();
    expect.soft(after.filter((c) => openStates.includes(c.state)).map((c) => `#${c.seq} ${c.state}`)).toEqual([]);
    for (const id of openBefore) {
      const c = after.find((x) => x.id === id);
      expect.soft(['rejected', 'withdrawn'], `change #${c?.seq}, open before the freeze`).toContain(c?.state);
    }
    expect.soft(after.length).toBe(items.length + (finalId ? 1 : 0));
    const finalRelease = await stack.call('GET', base, { token: ci });
    expect.soft(finalRelease.body.state).toBe('closed');
    expect.soft(finalRelease.body.headSha).toBe(await gitIn(repo.remote, ['rev-parse', `refs/heads/${branch}`]));

    // ------------------------------------------------------------------ this release's histories replay
    const runs: { runId: string }[] = [];
    for await (const wf of stack.client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) runs.push({ runId: wf.runId });
    const histories: SavedHistory[] = await Promise.all(runs.map(async (r) => ({
      workflowId, runId: r.runId, type: 'stableRelease', history: await stack.client.workflow.getHandle(workflowId, r.runId).fetchHistory(),
    })));
    const events = histories.flatMap((h) => h.history.events ?? []);
    const eventCount = (name: string): number => events.filter((e) => e[name as keyof typeof e]).length;
    const replay = await replayAll(inject('workflowBundlePath'), histories);
    expect.soft(replay.failures.map((f) => `${f.runId}: ${f.error.slice(0, 500)}`)).toEqual([]);

    // ------------------------------------------------------------------ figures
    const byKind = new Map<string, Rec[]>();
    for (const r of recs) byKind.set(r.kind, [...(byKind.get(r.kind) ?? []), r]);
    const pct = (xs: number[], q: number): number => {
      const s = [...xs].sort((a, b) => a - b);
      return Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0);
    };
    const statusCounts = (rs: Rec[]): string => {
      const m = new Map<string, number>();
      for (const r of rs) {
        const k = r.status >= 400 ? `${r.status} ${r.body?.code ?? ''}`.trim() : String(r.status);
        m.set(k, (m.get(k) ?? 0) + 1);
      }
      return [...m].sort().map(([k, n]) => `${k}: ${n}`).join(', ');
    };
    const finalStates = new Map<string, number>();
    for (const c of after) finalStates.set(c.state, (finalStates.get(c.state) ?? 0) + 1);
    const beforeFreeze = new Map<string, number>();
    for (const c of items) beforeFreeze.set(`${c.state}${c.check === 'failed' ? ' (check failed)' : ''}`, (beforeFreeze.get(`${c.state}${c.check === 'failed' ? ' (check failed)' : ''}`) ?? 0) + 1);
    const loadRecs = recs.filter((r) => r.start - loadStart <= (marks.loadDone ?? Infinity));
    const lines2 = [
      `concurrency load on ${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'}: ${loadRecs.length} HTTP requests during the load in ${Math.round(marks.loadDone ?? 0)} ms; first burst ${initialBurst} at once; in flight max ${maxInFlight}, mean ${Math.round(inFlightSamples.reduce((a, b) => a + b, 0) / Math.max(1, inFlightSamples.length))}`,
      `  by worker era (1 first, 2 after graceful restart, 3 after hard stop): ${[1, 2, 3].map((e) => `${e}: ${recs.filter((r) => r.era === e).length}`).join(', ')}`,
      `  marks (ms from load start): ${Object.entries(marks).map(([k, v]) => `${k} ${Math.round(v)}`).join(', ')}; at ${Object.entries(marksAt).map(([k, v]) => `${k} ${v}`).join(', ')}`,
      ...[...byKind].sort(([a], [b]) => a.localeCompare(b)).map(([kind, rs]) => {
        const lat = rs.map((r) => r.end - r.start);
        return `  ${kind.padEnd(15)} n=${String(rs.length).padStart(4)}  p50 ${String(pct(lat, 0.5)).padStart(6)} ms  p95 ${String(pct(lat, 0.95)).padStart(6)} ms  max ${String(pct(lat, 1)).padStart(6)} ms  [${statusCounts(rs)}]`;
      }),
      `  all statuses: ${statusCounts(recs)}`,
      `  503s: ${unavailable.length}${unavailable.length ? `, sent ${Math.round(Math.min(...unavailable.map((r) => r.start)) - loadStart)}..${Math.round(Math.max(...unavailable.map((r) => r.start)) - loadStart)} ms, answered ${Math.round(Math.min(...unavailable.map((r) => r.end)) - loadStart)}..${Math.round(Math.max(...unavailable.map((r) => r.end)) - loadStart)} ms, by era ${[1, 2, 3].map((e) => unavailable.filter((r) => r.era === e).length).join('/')}, after ${pct(unavailable.map((r) => r.end - r.start), 0.5)} ms (p50): ${
        [...new Set(unavailable.map((r) => `${r.body?.message}`))].map((m) => `${unavailable.filter((r) => `${r.body?.message}` === m).length}x "${m}"`).join('; ')}` : ''}`,
      `  changes before freeze: ${[...beforeFreeze].map(([k, n]) => `${k} ${n}`).join(', ')}; after close: ${[...finalStates].map(([k, n]) => `${k} ${n}`).join(', ')}`,
      `  conflict pair ${conflictPair.join(' ')}; branch ${branchLog.length} picks, in trunk order overall: ${trunkOrdered}`,
      `  deployments: ${accepted.size} from ${clicks.length} clicks, deploy log lines ${lines.length}`,
      `  release workflow: ${histories.length} runs, ${events.length} events, updates accepted ${eventCount('workflowExecutionUpdateAcceptedEventAttributes')}, completed ${eventCount('workflowExecutionUpdateCompletedEventAttributes')}, ` +
        `workflow tasks failed ${eventCount('workflowTaskFailedEventAttributes')}, timed out ${eventCount('workflowTaskTimedOutEventAttributes')}, activities timed out ${eventCount('activityTaskTimedOutEventAttributes')}, ` +
        `children started ${eventCount('startChildWorkflowExecutionInitiatedEventAttributes')}; replayed ${replay.replayed}, ${replay.failures.length} failed`,
      `  settle ${settled ? `${Math.round(settleMs)} ms` : 'NOT SETTLED'}, final file+approve+merge ${Math.round(finalMs)} ms (${finalState}), workflow completed ${Math.round(completeMs)} ms after close; setup ${Math.round(setupMs)} ms, total ${Math.round(performance.now() - began)} ms`,
    ];
    console.log(lines2.join('\n'));
    expect.soft(maxInFlight).toBeGreaterThanOrEqual(30);
  }, 720_000);
});

function told(d: { rec: Rec; ok: boolean; code?: string; state?: string } | undefined): string {
  if (!d) return 'never sent';
  return `${d.ok ? 'taken' : 'refused'} ${d.rec.kind} ${d.rec.status} ${d.code ?? ''} ${d.state ?? ''} ${d.rec.status >= 400 ? d.rec.text.slice(0, 200) : ''}`.trim();
}
