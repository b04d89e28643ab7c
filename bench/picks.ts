// Issue 3's benchmark: N approved picks (500 by default) on a synthetic repository of 20,000 commits,
// picks per second end to end (one bulk approve over HTTP -> every pick on the remote's release
// branch), against (a) the same tree-only plumbing run as a script from a small process and (b) `git
// cherry-pick -x` one pick at a time in a working tree, all in the same run, on identical remotes.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { git, gitHelperStatus } from '../activities/git/run.ts';
import type { Benchmark, BenchContext, BenchResult, BenchStack } from './lib.ts';
import { pollUntil, remoteHead, since, startBenchStack } from './lib.ts';
import { seededRandom } from '../test/helpers/seeded-random.ts';

const DEFAULT_PICKS = 500;
const MIN_COMMITS = 20_000;
const MIN_FILES = 5_000;
const LINES_PER_FILE = 20;
const DIRS = 250;
// One pick in this many conflicts with a trunk commit that is not picked; every fourth adds a file.
const CONFLICT_EVERY = 100;
// The dev server allows 10 in-flight updates per workflow; each filing is one.
const FILING_CONCURRENCY = 8;
const BRANCH = 'stable/bench';

const CULVERT = 'Culvert: bulk approve -> all picks on the remote';
const PLUMBING = '(a) raw tree-only plumbing, small process';
const CHERRY_PICK = '(b) git cherry-pick -x in a working tree';

// ---------------------------------------------------------------------------------------------------
// The repository: `main` with MIN_COMMITS commits over MIN_FILES files in one `git fast-import`. The
// last 2N commits come after the cut: an unpicked one, then a picked one, each on a file no other
// post-cut commit touches, so picks apply cleanly, except every CONFLICT_EVERY-th pick, whose
// unpicked predecessor changes the very same line first.

interface SyntheticRepo {
  root: string;
  remote: string;
  commits: number;
  files: number;
  cut: string;
  /** The commits to pick, in trunk order. */
  picks: string[];
  conflicts: number;
}


const bare = (repo: string) => ({ cwd: repo, env: { GIT_DIR: repo } });

async function generateRepo(n: number): Promise<SyntheticRepo> {
  const files = Math.max(MIN_FILES, 2 * n);
  const commits = Math.max(MIN_COMMITS, 2 * n + 1000);
  const preCut = commits - 2 * n;
  const root = await mkdtemp(join(tmpdir(), 'culvert-bench-picks-'));
  const remote = join(root, 'remote.git');
  await git(['init', '--quiet', '--bare', '--initial-branch=main', remote]);

  const path = (f: number) => `src/d${String(f % DIRS).padStart(3, '0')}/file-${String(f).padStart(5, '0')}.txt`;
  const content: string[][] = Array.from({ length: files }, (_, f) =>
    Array.from({ length: LINES_PER_FILE }, (_, l) => `line ${l} of file ${f}`));
  const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`;
  const blob = (f: number) => `M 100644 inline ${path(f)}\n${data(content[f]!.join('\n') + '\n')}`;
  const authors = ['Ada', 'Brian', 'Chidi', 'Dana', 'Emeka', 'Fatima', 'Goran', 'Hiro'];
  const header = (i: number, subject: string, body = '') => {
    const who = authors[i % authors.length]!;
    const when = `${946684800 + i * 60} +0000`;
    return `commit refs/heads/main\nmark :${i + 1}\nauthor ${who} <${who.toLowerCase()}@example.com> ${when}\n`
      + `committer ${who} <${who.toLowerCase()}@example.com> ${when}\n${data(body ? `${subject}\n\n${body}\n` : `${subject}\n`)}`;
  };

  const chunks: string[] = [header(0, 'Initial import')];
  for (let f = 0; f < files; f++) chunks.push(blob(f));
  const random = seededRandom(20_000);
  for (let i = 1; i < preCut; i++) {
    const f = Math.floor(random() * files);
    const l = Math.floor(random() * LINES_PER_FILE);
    content[f]![l] = `line ${l} of file ${f}, as of commit ${i}`;
    chunks.push(header(i, `Change ${i}: tweak ${path(f)}`, i % 3 === 0 ? `Part of the long-running work on module ${f % DIRS}.` : ''), blob(f));
  }
  // Post-cut: commit u_p (not picked) then k_p (picked), on distinct files (7919 is prime and so
  // coprime with `files` unless a multiple of it, which these sizes never are).
  const slot = (j: number) => (j * 7919 + 11) % files;
  let conflicts = 0;
  for (let p = 0; p < n; p++) {
    const i = preCut + 2 * p;
    const conflicting = p % CONFLICT_EVERY === CONFLICT_EVERY / 2;
    if (conflicting) conflicts++;
    const kFile = slot(2 * p + 1);
    const kLine = (2 * p + 1) % LINES_PER_FILE;
    const uFile = conflicting ? kFile : slot(2 * p);
    const uLine = conflicting ? kLine : (2 * p) % LINES_PER_FILE;
    content[uFile]![uLine] = `line ${uLine} of file ${uFile}, trunk-only change ${p}`;
    chunks.push(header(i, `Trunk work ${p} (stays on trunk)`), blob(uFile));
    content[kFile]![kLine] = `line ${kLine} of file ${kFile}, fixed by pick ${p}`;
    chunks.push(header(i + 1, `Fix ${p}: repair ${path(kFile)}`, `Backport candidate ${p}.\n\nReviewed-by: Bench <bench@example.com>`), blob(kFile));
    if (p % 4 === 0) chunks.push(`M 100644 inline fixes/fix-${p}.txt\n${data(`fix ${p}\n`)}`);
  }
  await git(['fast-import', '--quiet'], { ...bare(remote), input: chunks.join('') });
  const log = (await git(['rev-list', '--reverse', 'main'], bare(remote))).stdout.trim().split('\n');
  if (log.length !== commits) throw new Error(`bench: expected ${commits} commits, fast-import made ${log.length}`);
  const cut = log[preCut - 1] as string;
  const picks = Array.from({ length: n }, (_, p) => log[preCut + 2 * p + 1] as string);
  return { root, remote, commits, files, cut, picks, conflicts };
}

/** Another bare remote with the same objects and refs (hard links: fast, and objects never change). */
async function copyRemote(src: string, dst: string): Promise<void> {
  await git(['clone', '--quiet', '--mirror', src, dst]);
}

// ---------------------------------------------------------------------------------------------------
// The baselines, each as a plain Node script in a process of its own (~40 MB): git spawned straight
// from a small process, as a release engineer's script would do it. Each prints its own timing.

const SCRIPT_PRELUDE = `
import { execFile } from 'node:child_process';
const cfg = JSON.parse(process.argv[1]);
const baseEnv = { ...process.env, LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0', ...cfg.env };
function git(args, { input = '', env, ok = [0], cwd } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile('git', args, { cwd: cwd ?? cfg.cwd, env: env ? { ...baseEnv, ...env } : baseEnv, maxBuffer: 1 << 28, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      if (!ok.includes(code)) reject(new Error('git ' + args.join(' ') + ' failed: ' + (stderr || err.message)));
      else resolve({ stdout, code });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}
const committer = { GIT_COMMITTER_NAME: 'Bench', GIT_COMMITTER_EMAIL: 'bench@example.com', GIT_COMMITTER_DATE: '2024-01-01T00:00:00Z' };
`;

// (a) What applyPicks does, minus Culvert: fetch, one log for every pick's message/author/parent, then per
// pick a synthetic commit, merge-tree --write-tree and commit-tree; one push with a lease at the end.
const PLUMBING_SCRIPT = `${SCRIPT_PRELUDE}
const t0 = performance.now();
await git(['fetch', '--quiet', '--prune', '--no-tags', 'origin', '+refs/heads/*:refs/remotes/origin/*']);
const head = (await git(['rev-parse', '--verify', 'refs/remotes/origin/' + cfg.branch])).stdout.trim();
const raw = (await git(['log', '--no-walk=unsorted', '--stdin', '--format=format:%H%x00%P%x00%an%x00%ae%x00%aI%x00%B%x00'], { input: cfg.picks.join('\\n') + '\\n' })).stdout;
const tokens = raw.split('\\0');
const info = new Map();
for (let i = 0; i + 6 <= tokens.length; i += 6) {
  const [sha, parents, an, ae, ad, message] = tokens.slice(i, i + 6);
  info.set(sha.replace(/^\\n/, ''), { parent: parents.split(' ')[0], an, ae, ad, message });
}
let tip = head;
let tree = (await git(['rev-parse', head + '^{tree}'])).stdout.trim();
let applied = 0, conflicts = 0, empty = 0;
// Dated now, as a script would leave it: newer than the history, so merge-tree's merge-base walk stays short.
const synthetic = { GIT_AUTHOR_NAME: 'Synthetic', GIT_AUTHOR_EMAIL: 'synthetic@localhost', GIT_COMMITTER_NAME: 'Synthetic', GIT_COMMITTER_EMAIL: 'synthetic@localhost' };
for (const pick of cfg.picks) {
  const c = info.get(pick);
  const side = (await git(['commit-tree', '--no-gpg-sign', '-p', c.parent, tree], { input: 'synthetic merge side\\n', env: synthetic })).stdout.trim();
  const merged = await git(['merge-tree', '--write-tree', '--name-only', '--no-messages', '-z', side, pick], { ok: [0, 1] });
  const merge = merged.stdout.split('\\0')[0];
  if (merged.code === 1) { conflicts++; continue; }
  if (merge === tree) { empty++; continue; }
  const message = c.message.trimEnd() + '\\n\\n(cherry picked from commit ' + pick + ')\\n';
  tip = (await git(['commit-tree', '--no-gpg-sign', '-p', tip, merge], { input: message, env: { GIT_AUTHOR_NAME: c.an, GIT_AUTHOR_EMAIL: c.ae, GIT_AUTHOR_DATE: c.ad, ...committer } })).stdout.trim();
  tree = merge;
  applied++;
}
await git(['push', '--quiet', '--porcelain', '--force-with-lease=refs/heads/' + cfg.branch + ':' + head, 'origin', tip + ':refs/heads/' + cfg.branch]);
const ms = performance.now() - t0;
console.log(JSON.stringify({ ms, applied, conflicts, empty, tree }));
`;

// (b) The working-tree way: git cherry-pick -x one commit at a time; a conflict is aborted, an empty
// pick skipped; one push at the end.
const CHERRY_PICK_SCRIPT = `${SCRIPT_PRELUDE}
const t0 = performance.now();
await git(['fetch', '--quiet', 'origin']);
let applied = 0, conflicts = 0, empty = 0;
for (const pick of cfg.picks) {
  const r = await git(['cherry-pick', '-x', pick], { ok: [0, 1], env: committer });
  if (r.code === 0) { applied++; continue; }
  const unmerged = (await git(['diff', '--name-only', '--diff-filter=U'])).stdout.trim();
  if (unmerged) { await git(['cherry-pick', '--abort']); conflicts++; }
  else { await git(['cherry-pick', '--skip']); empty++; }
}
await git(['push', '--quiet', 'origin', 'HEAD:refs/heads/' + cfg.branch]);
const ms = performance.now() - t0;
const tree = (await git(['rev-parse', 'HEAD^{tree}'])).stdout.trim();
console.log(JSON.stringify({ ms, applied, conflicts, empty, tree }));
`;

interface ScriptResult {
  ms: number;
  applied: number;
  conflicts: number;
  empty: number;
  tree: string;
}

function runScript(source: string, cfg: Record<string, unknown>): Promise<ScriptResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', source, JSON.stringify(cfg)], {
      env: { ...process.env, NODE_OPTIONS: '' }, maxBuffer: 1 << 24, encoding: 'utf8',
    }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`bench: baseline script failed: ${stderr || err.message}`));
        return;
      }
      resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as ScriptResult);
    });
  });
}

// ---------------------------------------------------------------------------------------------------

async function run(ctx: BenchContext): Promise<BenchResult> {
  const n = ctx.n ?? DEFAULT_PICKS;
  let repo: SyntheticRepo | undefined;
  let stack: BenchStack | undefined;
  try {
    const g0 = performance.now();
    repo = await generateRepo(n);
    const { root, cut, picks } = repo;
    const culvertRemote = join(root, 'culvert.git');
    const plumbingRemote = join(root, 'plumbing.git');
    const cherryRemote = join(root, 'cherry.git');
    await Promise.all([copyRemote(repo.remote, culvertRemote), copyRemote(repo.remote, plumbingRemote), copyRemote(repo.remote, cherryRemote)]);
    for (const r of [plumbingRemote, cherryRemote]) await git(['update-ref', `refs/heads/${BRANCH}`, cut], bare(r));
    ctx.progress(`picks: ${repo.commits} commits over ${repo.files} files generated and copied in ${(since(g0) / 1000).toFixed(1)}s`);

    // Untimed set-up of the baselines: a fetched bare mirror for (a), a checked-out clone for (b).
    const plumbingMirror = join(root, 'plumbing-mirror.git');
    await git(['init', '--quiet', '--bare', plumbingMirror]);
    await git(['remote', 'add', 'origin', plumbingRemote], bare(plumbingMirror));
    await git(['fetch', '--quiet', 'origin', '+refs/heads/*:refs/remotes/origin/*'], bare(plumbingMirror));
    const work = join(root, 'work');
    await git(['clone', '--quiet', '--branch', BRANCH, cherryRemote, work]);

    ctx.progress('picks: starting Culvert (PGlite in memory, worker on its own task queue)');
    stack = await startBenchStack(ctx);
    const s = stack;
    const product = `bench-picks-${Date.now().toString(36)}`;
    const owner = await s.token('bench-owner', 'owner', [product]);
    const engineer = await s.token('bench-engineer', 'ci', [product]);
    s.expect(201, await s.call('POST', '/v1/products', {
      body: {
        name: product, repository: culvertRemote, flow: 'cherry-pick', trunk: 'main', owners: ['bench-owner'],
        branchTemplate: 'stable/{name}', approval: { rule: 'any-owner' },
      },
    }), 'create product');
    const cutRes = s.expect(201, await s.call('POST', `/v1/products/${product}/releases`, { token: engineer, body: { name: 'bench', from: cut } }), 'cut release');
    if (cutRes.body.branch !== BRANCH) throw new Error(`bench: release branch is ${cutRes.body.branch}, not ${BRANCH}`);
    const changes = `/v1/products/${product}/releases/bench/changes`;

    ctx.progress(`picks: filing ${n} pick requests over HTTP, ${FILING_CONCURRENCY} at a time (untimed)`);
    const f0 = performance.now();
    const filing: number[] = [];
    const ids: string[] = new Array<string>(n);
    let next = 0;
    await Promise.all(Array.from({ length: FILING_CONCURRENCY }, async () => {
      while (next < n) {
        const k = next++;
        const t0 = performance.now();
        const filed = s.expect(201, await s.call('POST', changes, {
          token: engineer, body: { kind: 'pick', commits: [picks[k]], reason: `backport fix ${k}`, severity: 'normal' },
        }), `file pick ${k}`);
        filing.push(since(t0));
        if (filed.body.state !== 'awaiting-decision') throw new Error(`bench: pick ${k} is ${filed.body.state}, not awaiting-decision`);
        ids[k] = filed.body.id as string;
      }
    }));
    const filingSeconds = since(f0) / 1000;
    ctx.progress(`picks: filed ${n} in ${filingSeconds.toFixed(1)}s`);

    ctx.progress(`picks: Culvert: one bulk approve of ${n}, until every pick is on the remote`);
    const expectedApplied = n - repo.conflicts;
    const before = await remoteHead(culvertRemote, BRANCH);
    if (before !== cut) throw new Error(`bench: ${BRANCH} is at ${before}, not at the cut`);
    const t0 = performance.now();
    let respondedAt = 0;
    const approve = s.call('POST', `${changes}/decisions`, { token: owner, body: { decisions: ids.map((id) => ({ id, decision: 'approve' })) } }).then((r) => {
      respondedAt = performance.now();
      return r;
    });
    approve.catch(() => undefined);
    let seen = before;
    await pollUntil('every pick on the remote', async () => {
      const head = await remoteHead(culvertRemote, BRANCH);
      if (!head || head === seen) return undefined;
      seen = head;
      const count = Number((await git(['rev-list', '--count', `${cut}..${head}`], bare(culvertRemote))).stdout.trim());
      return count >= expectedApplied ? head : undefined;
    }, 5, 600_000);
    const culvertMs = since(t0);
    const decided = s.expect(200, await approve, 'bulk approve');
    if (!decided.body.results.every((r: { ok: boolean }) => r.ok)) throw new Error('bench: some approvals failed');
    await pollUntil('every pick settled in the API', async () => {
      const r = await s.call('GET', `${changes}?state=merged,conflict&limit=1`, { token: owner });
      return r.body?.total === n ? true : undefined;
    }, 20, 600_000);
    const settledMs = since(t0);
    const conflicted = (await s.call('GET', `${changes}?state=conflict&limit=1`, { token: owner })).body.total as number;
    const rss = process.memoryUsage().rss;
    const helper = gitHelperStatus();

    ctx.progress(`picks: (a) ${n} picks with raw plumbing from a small process`);
    const a = await runScript(PLUMBING_SCRIPT, { cwd: plumbingMirror, env: { GIT_DIR: plumbingMirror }, branch: BRANCH, picks });
    ctx.progress(`picks: (b) ${n} picks with git cherry-pick -x in a working tree`);
    const b = await runScript(CHERRY_PICK_SCRIPT, { cwd: work, env: {}, branch: BRANCH, picks });

    const treeOf = async (r: string) => (await git(['rev-parse', `refs/heads/${BRANCH}^{tree}`], bare(r))).stdout.trim();
    const trees = await Promise.all([culvertRemote, plumbingRemote, cherryRemote].map(treeOf));
    if (new Set(trees).size !== 1 || a.tree !== trees[0] || b.tree !== trees[0]) throw new Error(`bench: the three release branches ended with different trees: ${trees.join(' ')}`);
    for (const [label, r] of [['(a)', a], ['(b)', b]] as const) {
      if (r.applied !== expectedApplied || r.conflicts !== repo.conflicts) throw new Error(`bench: ${label} applied ${r.applied} and hit ${r.conflicts} conflicts`);
    }
    if (conflicted !== repo.conflicts) throw new Error(`bench: Culvert reported ${conflicted} conflicts, not ${repo.conflicts}`);

    const perSecond = (ms: number) => n / (ms / 1000);
    const [cps, aps, bps] = [perSecond(culvertMs), perSecond(a.ms), perSecond(b.ms)];
    const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
    return {
      title: `${n} approved picks, ${repo.commits} commits`,
      rows: [
        { label: PLUMBING, samples: [a.ms] },
        { label: CULVERT, samples: [culvertMs], versus: PLUMBING },
        { label: CHERRY_PICK, samples: [b.ms], versus: PLUMBING },
        { label: '  approve HTTP response returned', samples: [respondedAt - t0] },
        { label: '  approve -> API shows every pick settled', samples: [settledMs] },
        { label: 'file one pick request (HTTP, untimed part)', samples: filing },
      ],
      notes: [
        `picks per second: Culvert ${cps.toFixed(1)}, (a) plumbing ${aps.toFixed(1)}, (b) cherry-pick ${bps.toFixed(1)}`,
        `Culvert / (a) = ${(cps / aps).toFixed(2)}x (target >= 0.7x: ${verdict(cps / aps >= 0.7)}); Culvert / (b) = ${(cps / bps).toFixed(2)}x (target >= 3x: ${verdict(cps / bps >= 3)})`,
        `each: ${n} picks in trunk order, ${expectedApplied} applied and ${repo.conflicts} conflicts; the three release branches end with the same tree`,
        `repository: ${repo.commits} commits on main over ${repo.files} files (fast-import), cut ${2 * n} commits before the head; every pick touches its own file`,
        `Culvert timed from the bulk approve call until its release branch on the remote holds every pick (ref polled every 5 ms); one batch, one push`,
        `Culvert's git: ${helper ? `through the helper process (${helper.concurrency} at a time, ${helper.starts} start(s))` : 'spawned directly (CULVERT_GIT_DIRECT=1)'}; this process: ${(rss / 2 ** 20).toFixed(0)} MiB RSS`,
        '(a) and (b) are plain Node scripts in their own small process, each timed from its fetch to the end of its push',
        `filing ${n} pick requests (${FILING_CONCURRENCY} at a time, inspection and trunk checks in each) took ${filingSeconds.toFixed(1)}s, untimed`,
      ],
    };
  } finally {
    await stack?.stop();
    if (repo) await rm(repo.root, { recursive: true, force: true });
  }
}

export const picksBench: Benchmark = {
  name: 'picks',
  description: '500 approved picks on a 20,000-commit repository: Culvert end to end vs raw plumbing vs git cherry-pick -x',
  run,
};
