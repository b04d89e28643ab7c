// Update round trip through the API against a direct executeUpdate on a no-op workflow in the same run.
//
// The API call measured is `POST .../changes/:id/decision {decision: 'reject'}` on a fresh
// awaiting-decision request: the API's reading of the request, an Update whose handler changes the
// release's state and answers with the write, the API storing that write, the audit row and the
// re-read. It has no git in it, so the ratio is about the Update path itself; filing (which runs a git
// fetch activity) is reported on its own row. A direct executeUpdate of the same decide Update on a
// second release splits the HTTP/database share from the workflow share.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Worker } from '@temporalio/worker';
import { culvertDataConverter } from '../cli/temporal-connection.ts';
import type { Actor } from '../domain/types.ts';
import { decideUpdate } from '../workflows/release/messages.ts';
import type { Benchmark, BenchContext, BenchRemote, BenchResult, BenchStack } from './lib.ts';
import { createBenchRemote, since, startBenchStack } from './lib.ts';
import { noopStopSignal, noopUpdate, noopWorkflow } from './noop-workflow.ts';

const DEFAULT_N = 200;
const WARMUP = 10;

const BASELINE = 'executeUpdate on a no-op workflow';
const API = 'API reject (POST .../changes/:id/decision)';
const DIRECT = 'executeUpdate(decide) on the release workflow';

async function noopSamples(ctx: BenchContext, stack: BenchStack, total: number): Promise<number[]> {
  const taskQueue = `bench-noop-${randomUUID()}`;
  const worker = await Worker.create({
    connection: stack.nativeConnection, namespace: ctx.namespace, taskQueue, workflowBundle: { codePath: ctx.noopBundlePath },
    // The same codec as the release's worker: the baseline pays for encryption as the release does.
    dataConverter: culvertDataConverter(stack.codec),
  });
  const running = worker.run();
  try {
    const handle = await stack.client.workflow.start(noopWorkflow, { taskQueue, workflowId: `bench-noop-${randomUUID()}` });
    const samples: number[] = [];
    for (let i = 0; i < total; i++) {
      const t0 = performance.now();
      const echoed = await handle.executeUpdate(noopUpdate, { args: [i] });
      samples.push(since(t0));
      if (echoed !== i) throw new Error(`bench: the no-op Update answered ${echoed} to ${i}`);
    }
    await handle.signal(noopStopSignal);
    await handle.result();
    return samples.slice(WARMUP);
  } finally {
    worker.shutdown();
    await running;
  }
}

/** A pull-request product on `remote` with its release, and `count` awaiting-decision merge requests filed over HTTP. */
async function releaseWithRequests(ctx: BenchContext, s: BenchStack, remote: BenchRemote, label: string, count: number) {
  const product = `bench-${label}-${Date.now().toString(36)}`;
  s.expect(201, await s.call('POST', '/v1/products', {
    body: { name: product, repository: remote.remote, flow: 'pull-request', trunk: 'main', owners: ['bench-owner'] },
  }), 'create product');
  const cut = s.expect(201, await s.call('POST', `/v1/products/${product}/releases`, { body: { name: 'master' } }), 'cut release');
  const changes = `/v1/products/${product}/releases/master/changes`;
  const branch = remote.branches[0]?.name ?? 'main';
  ctx.progress(`update-roundtrip: filing ${count} merge requests on ${product}`);
  const ids: string[] = [];
  const filing: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const filed = s.expect(201, await s.call('POST', changes, { body: { kind: 'merge', branch } }), 'file a merge request');
    filing.push(since(t0));
    if (filed.body.state !== 'awaiting-decision') throw new Error(`bench: a fresh request is ${filed.body.state}, not awaiting-decision`);
    ids.push(filed.body.id as string);
  }
  return { product, changes, workflowId: cut.body.workflowId as string, ids, filing: filing.slice(WARMUP) };
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const n = ctx.n ?? DEFAULT_N;
  const total = n + WARMUP;
  let stack: BenchStack | undefined;
  let remote: BenchRemote | undefined;
  let other: BenchRemote | undefined;
  try {
    stack = await startBenchStack(ctx);
    const s = stack;
    remote = await createBenchRemote({ branches: 1, label: 'update' });
    // A repository's trunk belongs to one pull-request product: the second release gets a remote of its own.
    other = await createBenchRemote({ branches: 1, label: 'update-direct' });

    ctx.progress(`update-roundtrip: ${n} executeUpdate calls on the no-op workflow (+${WARMUP} warm-up)`);
    const baseline = await noopSamples(ctx, s, total);

    // Two releases, so neither workflow's history carries both series (and neither nears continue-as-new).
    const viaApi = await releaseWithRequests(ctx, s, remote, 'upd-api', total);
    const direct = await releaseWithRequests(ctx, s, other, 'upd-direct', total);
    const owner = await s.token('bench-owner', 'owner', [viaApi.product, direct.product]);

    ctx.progress(`update-roundtrip: ${n} rejections over HTTP (+${WARMUP} warm-up)`);
    const api: number[] = [];
    for (const id of viaApi.ids) {
      const t0 = performance.now();
      const r = s.expect(200, await s.call('POST', `${viaApi.changes}/${id}/decision`, { token: owner, body: { decision: 'reject' } }), 'reject');
      api.push(since(t0));
      if (r.body.state !== 'rejected') throw new Error(`bench: a rejected request reads ${r.body.state}`);
    }

    ctx.progress(`update-roundtrip: ${n} direct executeUpdate(decide) calls (+${WARMUP} warm-up)`);
    const handle = s.client.workflow.getHandle(direct.workflowId);
    const actor: Actor = { name: 'bench-owner', role: 'owner', products: [direct.product], tokenId: null };
    const directSamples: number[] = [];
    for (const id of direct.ids) {
      const t0 = performance.now();
      const { results } = await handle.executeUpdate(decideUpdate, { args: [{ decisions: [{ id, decision: 'reject' }], actor }] });
      directSamples.push(since(t0));
      if (!results[0]?.ok) throw new Error(`bench: the direct decide refused ${id}: ${JSON.stringify(results[0])}`);
    }

    return {
      title: 'update round trip',
      rows: [
        { label: BASELINE, samples: baseline },
        { label: API, samples: api.slice(WARMUP), versus: BASELINE },
        { label: DIRECT, samples: directSamples.slice(WARMUP), versus: BASELINE },
        { label: 'file merge request (HTTP, git fetch inside)', samples: [...viaApi.filing, ...direct.filing], versus: BASELINE },
      ],
      notes: [
        `${n} sequential calls per row after ${WARMUP} warm-up; every decision rejects a fresh awaiting-decision request`,
        'reject was chosen over filing: it is an accepted Update whose only activity is a database write, so git stays out of the ratio',
        'the direct executeUpdate row skips HTTP, auth, the release lookup, the reading, storing the answer, the audit row and the re-read',
      ],
    };
  } finally {
    await stack?.stop();
    await remote?.cleanup();
    await other?.cleanup();
  }
}

export const updateRoundtrip: Benchmark = {
  name: 'update-roundtrip',
  description: 'Update round trip through the API against a direct executeUpdate on a no-op workflow',
  run,
};
