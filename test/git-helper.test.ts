import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { GitError, git, gitHelperStatus } from '../activities/git/run.ts';
import { waitFor } from './helpers/wait.ts';

// A git command that takes a while: a shell alias, so nothing but git and sh is needed.
const slow = (seconds: number): string[] => ['-c', `alias.slow=!sleep ${seconds}`, 'slow'];

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function repo(): Promise<string> {
  const dir = await tempDir('culvert-helper-');
  await git(['init', '--quiet', '--bare', dir]);
  return dir;
}

/** Runs `fn` with git spawned directly by this process, as CULVERT_GIT_DIRECT=1 asks. */
async function direct<T>(fn: () => Promise<T>): Promise<T> {
  const before = process.env.CULVERT_GIT_DIRECT;
  process.env.CULVERT_GIT_DIRECT = '1';
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.CULVERT_GIT_DIRECT;
    else process.env.CULVERT_GIT_DIRECT = before;
  }
}

const settled = <T>(p: Promise<T>) => p.then((value) => ({ value, error: undefined }), (error: unknown) => ({ value: undefined, error }));


describe('git helper process', () => {
  afterEach(async () => {
    // Each test leaves the helper idle for the next one.
    await waitFor('the helper to go idle', async () => (gitHelperStatus()?.running ?? 0) === 0 && (gitHelperStatus()?.queued ?? 0) === 0);
  });

  it('runs git in a helper, unless CULVERT_GIT_DIRECT=1', async () => {
    await git(['--version']);
    const status = gitHelperStatus();
    expect(status?.pid).toEqual(expect.any(Number));
    expect(status?.pid).not.toBe(process.pid);
    expect(status?.fellBack).toBe(false);
    await direct(async () => {
      expect(gitHelperStatus()).toBeNull();
      expect((await git(['--version'])).stdout).toMatch(/^git version /);
    });
  });

  it('answers exactly as a directly spawned git does', async () => {
    const gitDir = await repo();
    const cwd = await tempDir('culvert-helper-cwd-');
    // Valid UTF-8 across multi-byte characters, and bytes that are not UTF-8 at all.
    const blob = Buffer.concat([Buffer.from('héllo wörld ✓ 🚀\n'.repeat(5000)), Buffer.from([0xff, 0xfe, 0xe2, 0x82, 0x0a])]);
    await writeFile(join(cwd, 'blob'), blob);
    const { stdout: blobSha } = await git(['hash-object', '-w', join(cwd, 'blob')], { env: { GIT_DIR: gitDir } });
    const cases: Array<() => Promise<unknown>> = [
      () => git(['rev-parse', '--verify', 'nope'], { cwd }),
      () => git(['rev-parse', '--verify', 'nope'], { cwd, okExitCodes: [128] }),
      () => git(['hash-object', '--stdin'], { input: 'hello ✓\n' }),
      () => git(['cat-file', 'blob', blobSha.trim()], { env: { GIT_DIR: gitDir } }),
      () => git(['cat-file', '-t', '0'.repeat(40)], { env: { GIT_DIR: gitDir } }),
      () => git(['-C', cwd, 'status'], {}),
      () => git(['var', 'GIT_AUTHOR_IDENT'], { env: { GIT_AUTHOR_NAME: 'Zoë', GIT_AUTHOR_EMAIL: 'z@example.com', GIT_AUTHOR_DATE: '2001-02-03T04:05:06Z' } }),
      () => git(['rev-parse', '--show-prefix'], { cwd: join(cwd, 'no-such-dir') }),
      () => git(['rev-parse', 'a\0b']),
    ];
    const describeOutcome = (o: { value: unknown; error: unknown }) => {
      if (!o.error) return { value: o.value };
      const e = o.error as GitError & { code?: unknown };
      const cause = e.cause as { code?: unknown; name?: string; message?: string } | undefined;
      return {
        type: e.constructor.name, message: e.message, exitCode: e.exitCode, stderr: e.stderr, args: e.args, code: e.code,
        cause: cause && { code: cause.code, name: cause.name, message: cause.message },
      };
    };
    for (const c of cases) {
      const viaHelper = describeOutcome(await settled(c()));
      const viaDirect = describeOutcome(await direct(() => settled(c())));
      expect(viaHelper).toEqual(viaDirect);
    }
    const { stdout } = await git(['cat-file', 'blob', blobSha.trim()], { env: { GIT_DIR: gitDir } });
    expect(stdout).toBe(blob.toString('utf8'));
  });

  it('carries large output and input', async () => {
    const gitDir = await repo();
    const dir = await tempDir('culvert-helper-big-');
    const size = 48 * 1024 * 1024;
    const content = Buffer.alloc(size);
    for (let i = 0; i < size; i++) content[i] = 0x61 + ((i * 7) % 26);
    for (let i = 4095; i < size; i += 4096) content[i] = 0x0a;
    await writeFile(join(dir, 'big'), content);
    const expected = createHash('sha1').update(`blob ${size}\0`).update(content).digest('hex');
    const { stdout: sha } = await git(['hash-object', '-w', join(dir, 'big')], { env: { GIT_DIR: gitDir } });
    expect(sha.trim()).toBe(expected);
    const { stdout } = await git(['cat-file', 'blob', expected], { env: { GIT_DIR: gitDir } });
    expect(stdout.length).toBe(size);
    expect(stdout === content.toString('latin1')).toBe(true);
    const { stdout: fromStdin } = await git(['hash-object', '--stdin'], { input: content.toString('latin1') });
    expect(fromStdin.trim()).toBe(expected);
  });

  it('kills git when the signal aborts, and before it starts when already aborted', async () => {
    const controller = new AbortController();
    const t0 = Date.now();
    const running = settled(git(slow(30), { signal: controller.signal }));
    await waitFor('git to run', async () => gitHelperStatus()?.running === 1);
    controller.abort();
    const { error } = await running;
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(error).toBeInstanceOf(GitError);
    expect((error as GitError).message).toBe('git slow failed: The operation was aborted');
    expect((error as GitError).exitCode).toBeNull();
    expect(((error as GitError).cause as { code?: string }).code).toBe('ABORT_ERR');
    // The slot comes back once the helper has killed git.
    await waitFor('the slot to be released', async () => gitHelperStatus()?.running === 0);

    const before = await settled(git(['--version'], { signal: AbortSignal.abort() }));
    expect((before.error as GitError).message).toBe('git --version failed: The operation was aborted');
    expect((await git(['--version'])).stdout).toMatch(/^git version /);
  });

  it('queues beyond its concurrency, and an abort takes a call out of the queue', async () => {
    const limit = gitHelperStatus()?.concurrency ?? 0;
    expect(limit).toBeGreaterThanOrEqual(2);
    const controller = new AbortController();
    const calls = Array.from({ length: limit + 3 }, (_, i) => settled(git(slow(0.3), i === limit + 1 ? { signal: controller.signal } : {})));
    await waitFor('the pool to fill', async () => gitHelperStatus()?.running === limit);
    expect(gitHelperStatus()?.queued).toBe(3);
    controller.abort();
    expect(gitHelperStatus()?.queued).toBe(2);
    const outcomes = await Promise.all(calls);
    expect(outcomes.filter((o) => o.error).map((o) => (o.error as Error).message)).toEqual(['git slow failed: The operation was aborted']);
  });

  it('recovers from a helper crash: running calls fail with a GitError, the next call gets a new helper', async () => {
    await git(['--version']);
    const first = gitHelperStatus();
    const pid = first?.pid;
    if (!pid) throw new Error('no helper');
    const inFlight = [settled(git(slow(5))), settled(git(slow(5)))];
    await waitFor('git to run', async () => gitHelperStatus()?.running === 2);
    const t0 = Date.now();
    process.kill(pid, 'SIGKILL');
    for (const { error } of await Promise.all(inFlight)) {
      expect(error).toBeInstanceOf(GitError);
      expect((error as GitError).exitCode).toBeNull();
      expect((error as GitError).message).toMatch(/^git slow failed: the git helper process (was killed by SIGKILL|closed its channel) before git finished/);
    }
    expect(Date.now() - t0).toBeLessThan(4000);
    expect((await git(['--version'])).stdout).toMatch(/^git version /);
    const after = gitHelperStatus();
    expect(after?.pid).not.toBe(pid);
    expect(after?.starts).toBe((first?.starts ?? 0) + 1);
    expect(after?.fellBack).toBe(false);
  });

  it('never keeps a process alive, and keeps it alive while git runs', async () => {
    const runTs = fileURLToPath(new URL('../activities/git/run.ts', import.meta.url));
    const script = `
      import { git } from ${JSON.stringify(runTs)};
      const { stdout } = await git(['-c', 'alias.slow=!sleep 0.5; echo slept', 'slow']);
      process.stdout.write(stdout);
      setTimeout(() => { console.log('still alive'); }, 60_000).unref();
    `;
    const t0 = Date.now();
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 30_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout));
    });
    expect(out).toBe('slept\n');
    expect(Date.now() - t0).toBeLessThan(20_000);
  });
});
