// Approval round trip: HTTP approve → merged on the remote, p50/p95, against the same merge done with
// raw git plumbing in the same run.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { git } from '../activities/git/run.ts';
import type { Benchmark, BenchContext, BenchRemote, BenchResult, BenchStack } from './lib.ts';
import { createBenchRemote, parentsOf, pollUntil, remoteHead, since, startBenchStack } from './lib.ts';

const DEFAULT_N = 30;
const WARMUP = 2;

const BASELINE = 'raw plumbing merge (fetch, merge-tree, commit-tree, push)';
const SCRIPTED = '  same plumbing as one sh script (1 spawn from here)';
const CULVERT = 'HTTP approve -> merge commit on the remote';

// The same five git commands as plumbingMirror's merge, run by one shell: this process forks once per
// merge instead of once per command, which shows what forking a large process costs each git call.
const MERGE_SCRIPT = `set -e
git fetch --prune --no-tags --quiet origin '+refs/heads/*:refs/remotes/origin/*'
head=$(git rev-parse --verify refs/remotes/origin/main)
tree=$(git merge-tree --write-tree "$head" "$1")
sha=$(printf "Merge branch '%s' into main\\n" "$2" | git commit-tree --no-gpg-sign -p "$head" -p "$1" "$tree")
git push --porcelain --quiet --force-with-lease="refs/heads/main:$head" origin "$sha:refs/heads/main" >/dev/null
echo "$sha"
`;

interface PlumbingMirror {
  /** Merges `source` into the remote's main, each git command spawned from this process. */
  merge(source: string, label: string): Promise<string>;
  /** The same merge as one `sh` process. */
  mergeScripted(source: string, label: string): Promise<string>;
  dispose(): Promise<void>;
}

/**
 * The merge Culvert does, as a script would do it: a bare mirror of its own, and per merge fetch,
 * rev-parse, merge-tree --write-tree, commit-tree and push --force-with-lease.
 */
async function plumbingMirror(remote: string): Promise<PlumbingMirror> {
  const root = await mkdtemp(join(tmpdir(), 'culvert-bench-plumbing-'));
  const dir = join(root, 'mirror.git');
  await git(['init', '--quiet', '--bare', dir]);
  const run = (args: string[], input?: string, env: Record<string, string> = {}) => git(args, { cwd: dir, input, env: { GIT_DIR: dir, ...env } });
  await run(['remote', 'add', 'origin', remote]);
  const fetch = () => run(['fetch', '--prune', '--no-tags', 'origin', '+refs/heads/*:refs/remotes/origin/*']);
  await fetch();
  const identity = {
    GIT_AUTHOR_NAME: 'Bench', GIT_AUTHOR_EMAIL: 'bench@example.com',
    GIT_COMMITTER_NAME: 'Bench', GIT_COMMITTER_EMAIL: 'bench@example.com',
  };
  return {
    async merge(source, label) {
      await fetch();
      const head = (await run(['rev-parse', '--verify', 'refs/remotes/origin/main'])).stdout.trim();
      const tree = (await run(['merge-tree', '--write-tree', head, source])).stdout.trim();
      const sha = (await run(['commit-tree', '--no-gpg-sign', '-p', head, '-p', source, tree], `Merge branch '${label}' into main\n`, identity)).stdout.trim();
      await run(['push', '--porcelain', '--quiet', `--force-with-lease=refs/heads/main:${head}`, 'origin', `${sha}:refs/heads/main`]);
      return sha;
    },
    mergeScripted(source, label) {
      return new Promise((resolve, reject) => {
        execFile('sh', ['-c', MERGE_SCRIPT, 'merge', source, label], {
          cwd: dir, env: { ...process.env, GIT_DIR: dir, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C', ...identity }, encoding: 'utf8',
        }, (err, stdout, stderr) => (err ? reject(new Error(`bench: scripted merge failed: ${stderr || err.message}`)) : resolve(stdout.trim())));
      });
    },
    dispose: () => rm(root, { recursive: true, force: true }),
  };
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const n = ctx.n ?? DEFAULT_N;
  const total = n + WARMUP;
  let stack: BenchStack | undefined;
  let culvertRemote: BenchRemote | undefined;
  let baselineRemote: BenchRemote | undefined;
  let scriptedRemote: BenchRemote | undefined;
  let plumbing: PlumbingMirror | undefined;
  let scripted: PlumbingMirror | undefined;
  try {
    ctx.progress(`approval-roundtrip: generating three identical remotes with ${total} feature branches`);
    [culvertRemote, baselineRemote, scriptedRemote] = await Promise.all([
      createBenchRemote({ branches: total, label: 'culvert' }),
      createBenchRemote({ branches: total, label: 'baseline' }),
      createBenchRemote({ branches: total, label: 'scripted' }),
    ]);
    if (culvertRemote.base !== baselineRemote.base || culvertRemote.base !== scriptedRemote.base) throw new Error('bench: the remotes differ');
    const culvertRepo = culvertRemote.remote;
    plumbing = await plumbingMirror(baselineRemote.remote);
    scripted = await plumbingMirror(scriptedRemote.remote);

    ctx.progress('approval-roundtrip: starting Culvert (PGlite in memory, worker on its own task queue)');
    stack = await startBenchStack(ctx);
    const s = stack;
    ctx.progress('approval-roundtrip: creating the product and cutting its release');
    const product = `bench-approve-${Date.now().toString(36)}`;
    const owner = await s.token('bench-owner', 'owner', [product]);
    s.expect(201, await s.call('POST', '/v1/products', {
      body: { name: product, repository: culvertRepo, flow: 'pull-request', trunk: 'main', owners: ['bench-owner'] },
    }), 'create product');
    s.expect(201, await s.call('POST', `/v1/products/${product}/releases`, { body: { name: 'master' } }), 'cut release');
    const changes = `/v1/products/${product}/releases/master/changes`;

    ctx.progress(`approval-roundtrip: filing ${total} merge requests over HTTP`);
    const filing: number[] = [];
    const ids: string[] = [];
    const revs: number[] = [];
    for (const branch of culvertRemote.branches) {
      const t0 = performance.now();
      const filed = s.expect(201, await s.call('POST', changes, { body: { kind: 'merge', branch: branch.name } }), `file ${branch.name}`);
      filing.push(since(t0));
      if (filed.body.state !== 'awaiting-decision') throw new Error(`bench: ${branch.name} is ${filed.body.state}, not awaiting-decision`);
      ids.push(filed.body.id as string);
      revs.push(filed.body.rev as number);
    }

    ctx.progress(`approval-roundtrip: ${n} approvals (+${WARMUP} warm-up), each next to one plumbing merge`);
    const baseline: number[] = [];
    const viaScript: number[] = [];
    const toRemote: number[] = [];
    const toResponse: number[] = [];
    const toApiMerged: number[] = [];
    const watchAnswers: number[] = [];
    for (let i = 0; i < total; i++) {
      const branch = culvertRemote.branches[i];
      const id = ids[i];
      const rev = revs[i];
      if (!branch || !id || rev === undefined) throw new Error('bench: lost a branch');
      const measured = i >= WARMUP;

      const b0 = performance.now();
      await plumbing.merge(branch.sha, branch.name);
      if (measured) baseline.push(since(b0));
      const s0 = performance.now();
      await scripted.mergeScripted(branch.sha, branch.name);
      if (measured) viaScript.push(since(s0));

      const before = await remoteHead(culvertRepo, 'main');
      const t0 = performance.now();
      let respondedAt = 0;
      const approve = s.call('POST', `${changes}/${id}/decision`, { token: owner, body: { decision: 'approve' } }).then((r) => {
        respondedAt = performance.now();
        return r;
      });
      // Keep the rejection handled while the poll below runs; it is awaited right after.
      approve.catch(() => undefined);
      // A client watching the change as the approver sends the vote: long polls, each for a revision newer than the last.
      const watch = (async () => {
        for (let seen = rev; ;) {
          const g0 = performance.now();
          const r = s.expect(200, await s.call('GET', `${changes}/${id}?after=${seen}&wait=30`), `watch ${branch.name}`);
          if (measured) watchAnswers.push(since(g0));
          if (r.body.rev <= seen) throw new Error(`bench: the watch of ${branch.name} answered revision ${r.body.rev} after ${seen}`);
          seen = r.body.rev;
          if (r.body.state === 'merged') return performance.now();
        }
      })();
      watch.catch(() => undefined);
      const merged = await pollUntil(`the merge of ${branch.name}`, async () => {
        const head = await remoteHead(culvertRepo, 'main');
        return head !== before ? head : undefined;
      });
      const remoteAt = performance.now();
      s.expect(200, await approve, `approve ${branch.name}`);
      const apiAt = await watch;
      if (measured) {
        toRemote.push(remoteAt - t0);
        toResponse.push(respondedAt - t0);
        toApiMerged.push(apiAt - t0);
      }
      const parents = merged ? await parentsOf(culvertRepo, merged) : [];
      if (parents[0] !== before || parents[1] !== branch.sha) {
        throw new Error(`bench: ${merged} on the remote is not the merge of ${branch.name} onto ${before}`);
      }
    }

    const treeOf = async (repo: string) => (await git(['rev-parse', 'main^{tree}'], { cwd: repo, env: { GIT_DIR: repo } })).stdout.trim();
    const trees = new Set(await Promise.all([culvertRepo, baselineRemote.remote, scriptedRemote.remote].map(treeOf)));
    if (trees.size !== 1) throw new Error('bench: Culvert and the plumbing baselines ended with different trees');

    return {
      title: 'approval round trip',
      rows: [
        { label: BASELINE, samples: baseline },
        { label: SCRIPTED, samples: viaScript, versus: BASELINE },
        { label: CULVERT, samples: toRemote, versus: BASELINE },
        { label: '  approve HTTP response returned', samples: toResponse },
        { label: '  approve -> API shows merged (a client watching)', samples: toApiMerged, versus: CULVERT },
        { label: '    one long poll of the change (HTTP, ?after=rev)', samples: watchAnswers },
        { label: 'file merge request (HTTP, git fetch inside)', samples: filing },
      ],
      notes: [
        `${n} merges each (after ${WARMUP} warm-up), one at a time, interleaved: plumbing merge i, scripted merge i, Culvert merge i; all three remotes end with the same tree`,
        'the baseline spawns its git commands from this process, as Culvert does (same PGlite-sized heap to fork); the sh row forks this process once per merge',
        'remote polled every 5 ms by reading the bare repo\'s loose ref (no git process per probe); the approve response and the push race, so either may come first',
        'the API is watched the way a client waiting for an outcome would: GET .../changes/:id?after=<rev>&wait=30 from the approval on, answered when a write of the change commits (db/feed.ts)',
        'Culvert\'s merge activity also checks ancestry and records the move in the database; the baseline only does the plumbing',
      ],
    };
  } finally {
    await stack?.stop();
    await plumbing?.dispose();
    await scripted?.dispose();
    await scriptedRemote?.cleanup();
    await culvertRemote?.cleanup();
    await baselineRemote?.cleanup();
  }
}

export const approvalRoundtrip: Benchmark = {
  name: 'approval-roundtrip',
  description: 'HTTP approve -> merged on the remote, against the same merge done with raw git plumbing',
  run,
};
