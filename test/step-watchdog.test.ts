// Steps die with their worker: real processes, SIGKILLed at the worst moments.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Mirror, git } from '../activities/git/index.ts';
import { executeStep, stepPidFile, type StepJob } from '../activities/step-exec.ts';
import { cleanStaleWork } from '../activities/steps/cleanup.ts';
import { ownerTag, runStep, StepSupervisorError } from '../activities/steps/index.ts';
import { readPidRecord } from '../activities/steps/procs.ts';
import type { ProductConfig } from '../domain/types.ts';
import { openTestDatabase } from './helpers/db.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { StepChildSpec } from './helpers/step-child.ts';
import { waitFor } from './helpers/wait.ts';
import { isGone } from './helpers/processes.ts';

const STEP_CHILD = fileURLToPath(new URL('./helpers/step-child.ts', import.meta.url));

// Two background sleeps and the shell waiting for them; their pids go to the file named by $0,
// then "ready" once all three are there.
const SLEEPERS = ['sh', '-c', 'sleep 300 & echo $! >> "$0"; sleep 300 & echo $! >> "$0"; echo $$ >> "$0"; echo ready >> "$0"; wait'];

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Kills them all if the test fails half-way, so no sleep 300 outlives it. */
function reap(pids: number[]): void {
  onTestFinished(() => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone, as it should be.
      }
    }
  });
}

/** The pids SLEEPERS wrote (two sleeps, then the shell), once all are written. */
async function sleeperPids(file: string): Promise<number[]> {
  const pids = await waitFor(`the step's pids in ${file}`, async () => {
    const lines = (await readFile(file, 'utf8').catch(() => '')).split('\n');
    return lines.includes('ready') ? lines.filter((l) => /^\d+$/.test(l)).map(Number) : undefined;
  });
  expect(pids).toHaveLength(3);
  reap(pids);
  return pids;
}

function startChild(spec: StepChildSpec): { child: ChildProcess; exited: Promise<unknown> } {
  const child = spawn(process.execPath, ['--import', 'tsx', STEP_CHILD, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  onTestFinished(() => {
    child.kill('SIGKILL');
  });
  return { child, exited };
}

async function allGone(what: string, pids: number[], timeoutMs = 5000): Promise<void> {
  await waitFor(what, async () => pids.every(isGone), timeoutMs);
}

describe('steps and their worker', () => {
  it('kills the whole step group, grandchildren included, when the worker is SIGKILLed', async () => {
    const dir = await tempDir('culvert-watchdog-');
    const pidsFile = join(dir, 'pids');
    const pidFile = join(dir, 'run.pid');
    const { child, exited } = startChild({ argv: [...SLEEPERS, pidsFile], dir: join(dir, 'checkout'), logPath: join(dir, 'step.log'), pidFile });

    const pids = await sleeperPids(pidsFile);
    // Written before the step started.
    const record = await readPidRecord(pidFile);
    expect(pids.some(isGone)).toBe(false);

    child.kill('SIGKILL');
    await exited;
    await allGone('the sh and both sleeps to die with their worker', pids);

    expect(record).toMatchObject({ pgid: pids[2], worker: child.pid });
    await allGone('the step supervisor to exit', [record?.supervisor ?? 0]);
    expect(existsSync(pidFile)).toBe(false);
  }, 30_000);

  it('kills the step group when the step supervisor dies, and fails the run as lost', async () => {
    const dir = await tempDir('culvert-watchdog-');
    const pidsFile = join(dir, 'pids');
    const pidFile = join(dir, 'run.pid');
    const running = runStep({ argv: [...SLEEPERS, pidsFile] }, { dir, logPath: join(dir, 'step.log'), pidFile });
    const pids = await sleeperPids(pidsFile);
    const record = await waitFor('the pid file', () => readPidRecord(pidFile).then((r) => r ?? undefined));

    process.kill(record.supervisor, 'SIGKILL');
    await expect(running).rejects.toBeInstanceOf(StepSupervisorError);
    await allGone('the step to die with its supervisor', pids);
    expect((await readFile(join(dir, 'step.log'), 'utf8')).trimEnd().split('\n').at(-1)).toMatch(/^lost: the step supervisor was killed by SIGKILL/);

    // The next step gets a new supervisor.
    const next = await runStep({ argv: ['true'] }, { dir, logPath: join(dir, 'next.log') });
    expect(next.state).toBe('succeeded');
  }, 30_000);

  it('kills a still-running earlier attempt of the same run before starting the step again', async () => {
    const dataDir = await tempDir('culvert-data-');
    const marks = await tempDir('culvert-marks-');
    const database = await openTestDatabase();
    onTestFinished(() => database.close());
    const fx = await createRemote();
    onTestFinished(() => fx.cleanup());
    const commit = await fx.commit({ 'README.md': 'hello\n' }, 'base');
    await fx.push();
    const mirror = await Mirror.open(join(dataDir, 'mirrors'), fx.remote);
    await mirror.fetch();

    // The first attempt records its pids and sleeps; a later one fails (exit 7) if any of them is
    // still alive when it starts, and succeeds otherwise.
    const script = [
      'if [ ! -e "$MARK/first" ]; then',
      '  echo $$ > "$MARK/first.tmp"; sleep 300 & echo $! >> "$MARK/first.tmp"; mv "$MARK/first.tmp" "$MARK/first"; wait',
      'else',
      '  for p in $(cat "$MARK/first"); do',
      '    s=$(cut -d" " -f3 /proc/$p/stat 2>/dev/null)',
      '    if [ -n "$s" ] && [ "$s" != Z ]; then echo "overlap: $p is alive ($s)"; exit 7; fi',
      '  done',
      'fi',
    ].join('\n');
    const product = {
      name: 'p', repository: fx.remote, flow: 'pull-request', trunk: 'main', owners: [], triggers: [], environments: [],
      steps: { check: { argv: ['sh', '-c', script], env: { MARK: marks } } },
    } as ProductConfig;
    const deps = { db: database.db, dataDir };
    const job: StepJob = { mirror, product, release: 'r1', runId: 'run-overlap', stepName: 'check', commit, env: {} };

    const first = new MockActivityEnvironment({ attempt: 1 }).run(executeStep, deps, job);
    const firstPids = await waitFor('the first attempt to run', async () => {
      const text = await readFile(join(marks, 'first'), 'utf8').catch(() => '');
      return text === '' ? undefined : text.trim().split('\n').map(Number);
    });
    reap(firstPids);
    expect(firstPids.some(isGone)).toBe(false);
    expect(existsSync(stepPidFile(dataDir, 'run-overlap'))).toBe(true);

    const second = await new MockActivityEnvironment({ attempt: 2 }).run(executeStep, deps, job);
    const log = await readFile(join(dataDir, 'runs', 'run-overlap.log'), 'utf8');
    expect(second, log).toMatchObject({ state: 'succeeded', exitCode: 0 });
    expect(firstPids.every(isGone)).toBe(true);
    expect(await first).toMatchObject({ state: 'failed', signal: 'SIGKILL' });

    // Both checkouts are gone, and so is the pid file.
    expect(await readdir(join(dataDir, 'work'))).toEqual([]);
  }, 60_000);
});

describe('cleanStaleWork', () => {
  it('removes what dead workers left and kills their steps, keeps what live ones use, prunes old worktrees', async () => {
    const dataDir = await tempDir('culvert-data-');
    const scratch = await tempDir('culvert-scratch-');
    const work = join(dataDir, 'work');
    await mkdir(work, { recursive: true });

    // A worker and its step supervisor killed together, leaving a checkout, a pid file and a live step.
    const deadPids = join(scratch, 'dead-pids');
    const deadPidFile = join(work, 'run-dead.pid');
    const { child, exited } = startChild({ argv: [...SLEEPERS, deadPids], workDir: work, name: 'run-dead-1', logPath: join(scratch, 'dead.log'), pidFile: deadPidFile });
    const pids = await sleeperPids(deadPids);
    const record = await waitFor('the pid file', () => readPidRecord(deadPidFile).then((r) => r ?? undefined));
    reap([record.supervisor]);
    // Stopped first, the supervisor cannot see its worker die.
    process.kill(record.supervisor, 'SIGSTOP');
    child.kill('SIGKILL');
    await exited;
    process.kill(record.supervisor, 'SIGKILL');
    await allGone('the supervisor to die', [record.supervisor]);
    expect(pids.some(isGone)).toBe(false);
    const deadDir = (await readdir(work)).find((n) => n.startsWith('run-dead-1@'));
    expect(deadDir).toBeDefined();

    // This process is a live worker: its checkout, and its running step's pid file, stay.
    const liveDir = `run-live-1${ownerTag()}`;
    await mkdir(join(work, liveDir, 'src'), { recursive: true });
    const livePids = join(scratch, 'live-pids');
    const livePidFile = join(work, 'run-live.pid');
    const controller = new AbortController();
    const liveRun = runStep({ argv: [...SLEEPERS, livePids] }, { dir: join(work, liveDir), logPath: join(scratch, 'live.log'), pidFile: livePidFile, signal: controller.signal, killGraceMs: 100 });
    onTestFinished(() => controller.abort());
    const live = await sleeperPids(livePids);
    await waitFor('the live pid file', async () => existsSync(livePidFile));

    // Whose this is cannot be told: it stays.
    await mkdir(join(work, 'run-old-1'));

    // A worktree entry from before checkouts were plain copies, whose directory is gone.
    const fx = await createRemote();
    onTestFinished(() => fx.cleanup());
    const sha = await fx.commit({ 'a.txt': 'a\n' }, 'base');
    await fx.push();
    const mirror = await Mirror.open(join(dataDir, 'mirrors'), fx.remote);
    await mirror.fetch();
    const legacy = join(scratch, 'legacy-checkout');
    await git(['worktree', 'add', '--detach', '--force', '--end-of-options', legacy, sha], { cwd: mirror.gitDir, env: { GIT_DIR: mirror.gitDir } });
    await rm(legacy, { recursive: true, force: true });
    expect(await readdir(join(mirror.gitDir, 'worktrees'))).toHaveLength(1);

    const report = await cleanStaleWork(dataDir);

    expect(report.errors).toEqual([]);
    expect(report.removed).toEqual([deadDir]);
    expect(report.pidFiles).toEqual(['run-dead.pid']);
    expect(report.killed).toEqual(['run-dead.pid']);
    expect(report.pruned).toEqual([mirror.gitDir.split('/').at(-1)]);
    await allGone('the dead worker\'s step', pids);
    expect((await readdir(work)).sort()).toEqual(['run-live-1' + ownerTag(), 'run-live.pid', 'run-old-1'].sort());
    expect(live.some(isGone)).toBe(false);
    expect(await readdir(join(mirror.gitDir, 'worktrees')).catch(() => [])).toEqual([]);
    const { stdout } = await git(['worktree', 'list', '--porcelain'], { env: { GIT_DIR: mirror.gitDir } });
    expect(stdout).not.toContain(legacy);

    controller.abort();
    expect((await liveRun).state).toBe('cancelled');
    await allGone('the live step after its cancellation', live);
    expect(existsSync(livePidFile)).toBe(false);
  }, 60_000);
});
