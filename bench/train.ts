// A train of 40 (issue 13): cut 40 releases and deploy them all to staging, as one train, against the
// same work done by a client calling the API for one member after another (cut, then deploy and wait for
// it), in the same run, on the same stack. Each side has its own 40 products and repositories.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { git } from '../activities/git/run.ts';
import type { Benchmark, BenchContext, BenchResult, BenchStack } from './lib.ts';
import { createBenchRemote, pollUntil, since, startBenchStack } from './lib.ts';

const DEFAULT_MEMBERS = 40;
/** Both clients look every 50 ms: often enough not to matter next to a member's work, rarely enough not to load the one process. */
const POLL_MS = 50;
const SEQUENTIAL = 'one client, member after member: cut, deploy, wait (HTTP)';
const TRAIN = 'train: cut all, then deploy all to staging (HTTP)';

async function run(ctx: BenchContext): Promise<BenchResult> {
  const n = ctx.n ?? DEFAULT_MEMBERS;
  const seed = await createBenchRemote({ branches: 0, label: 'train-seed' });
  const root = await mkdtemp(join(tmpdir(), 'culvert-bench-train-'));
  let stack: BenchStack | undefined;
  try {
    ctx.progress(`train: ${2 * n} repositories (bare clones of one history)`);
    stack = await startBenchStack(ctx);
    const s = stack;
    const plan = `bench-plan-${Date.now().toString(36)}`;
    s.expect(201, await s.call('POST', '/v1/plans', {
      body: {
        name: plan, flow: 'cherry-pick', trunk: 'main', steps: { deploy: { argv: ['true'] } }, triggers: [{ on: 'deploy.clicked', run: 'deploy' }],
        environments: [{ name: 'staging', order: 1, production: false }, { name: 'production', order: 2, production: true }],
      },
    }), 'plan');
    const members = async (side: string): Promise<string[]> => {
      const names: string[] = [];
      for (let i = 0; i < n; i++) {
        const name = `${plan}-${side}-${i}`;
        const repo = join(root, `${name}.git`);
        await git(['clone', '--quiet', '--bare', seed.remote, repo]);
        s.expect(201, await s.call('POST', '/v1/products', { body: { name, repository: repo, plan } }), `product ${name}`);
        names.push(name);
      }
      return names;
    };
    const sequentialMembers = await members('seq');
    const trainMembers = await members('train');

    ctx.progress(`train: the sequential client, ${n} members`);
    const c0 = process.cpuUsage();
    const s0 = performance.now();
    for (const product of sequentialMembers) {
      s.expect(201, await s.call('POST', `/v1/products/${product}/releases`, { body: { name: 'r1' } }), `cut ${product}`);
      const d = s.expect(202, await s.call('POST', `/v1/products/${product}/releases/r1/deployments`, { body: { environment: 'staging' } }), `deploy ${product}`);
      await pollUntil(`${product} on staging`, async () => {
        const r = await s.call('GET', `/v1/products/${product}/releases/r1`);
        const dep = (r.body?.deployments as { id: string; state: string }[] | undefined)?.find((x) => x.id === d.body.deploymentId);
        if (dep?.state === 'failed') throw new Error(`bench: deployment of ${product} failed`);
        return dep?.state === 'succeeded' ? true : undefined;
      }, POLL_MS);
    }
    const sequential = since(s0);
    const c1 = process.cpuUsage(c0);
    const seqCpu = (c1.user + c1.system) / 1000;
    const c2 = process.cpuUsage();

    ctx.progress(`train: the train, ${n} members`);
    const name = `${plan}-train`;
    const t0 = performance.now();
    s.expect(202, await s.call('POST', '/v1/trains', { body: { name, release: 'r1', products: trainMembers } }), 'start the train');
    const actionDone = (seq: number) => pollUntil(`action ${seq}`, async () => {
      const r = await s.call('GET', `/v1/trains/${name}/actions/${seq}`);
      return r.status === 200 && r.body.state === 'done' ? r.body : undefined;
    }, POLL_MS, 600_000);
    const cut = await actionDone(1);
    if (cut.done !== n) throw new Error(`bench: the train cut ${cut.done} of ${n}`);
    const cutAt = since(t0);
    const act = s.expect(202, await s.call('POST', `/v1/trains/${name}/actions`, { body: { action: { kind: 'deploy', environment: 'staging' }, confirm: 'ready' } }), 'deploy the train');
    await actionDone(act.body.seq as number);
    await pollUntil('the train on staging', async () => {
      const r = await s.call('GET', `/v1/trains/${name}`);
      const on = (r.body.members as { environments: Record<string, string>; headSha: string }[]).filter((m) => m.environments.staging === m.headSha).length;
      return on === n ? true : undefined;
    }, POLL_MS, 600_000);
    const train = since(t0);
    const c3 = process.cpuUsage(c2);
    const trainCpu = (c3.user + c3.system) / 1000;

    return {
      title: `a train of ${n}: cut and deploy to staging`,
      rows: [
        { label: SEQUENTIAL, samples: [sequential] },
        { label: TRAIN, samples: [train], versus: SEQUENTIAL },
        { label: '  of which the cut of all members', samples: [cutAt] },
      ],
      notes: [
        `one run each (n = members, --n changes it); each side has its own ${n} products from one plan, each product its own repository`,
        'the sequential client waits for each deployment to succeed before the next member, as a script would; the train runs 8 members at a time (workflows/train.ts)',
        'deploy step is `true`: the figure is Culvert\'s own work (Temporal, git, database), not a deploy tool\'s',
        `database: ${process.env.BENCH_DATABASE_URL ? 'PostgreSQL (BENCH_DATABASE_URL), its work in its own processes' : 'PGlite in memory, its work on this process\'s one thread with the API\'s and the worker\'s'}`,
        `this process's CPU time: ${Math.round(seqCpu)} ms for the sequential client, ${Math.round(trainCpu)} ms for the train`,
      ],
    };
  } finally {
    await stack?.stop();
    await seed.cleanup();
    await rm(root, { recursive: true, force: true });
  }
}

export const trainBench: Benchmark = {
  name: 'train',
  description: 'a train of 40 cut and deployed, against 40 members done one after another through the API',
  run,
};
