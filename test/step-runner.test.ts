import { afterEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runStep, StepSpecError, type StepOutcome } from '../activities/steps/index.ts';
import { waitFor } from './helpers/wait.ts';
import { isGone } from './helpers/processes.ts';

const NODE = process.execPath;

const tempDirs: string[] = [];

afterEach(async () => {
  await Promise.all(tempDirs.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
});

/** A fresh checkout dir, and a log path whose parent directories do not exist yet. */
async function setup(): Promise<{ dir: string; logPath: string }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'culvert-step-'));
  const logs = await fs.mkdtemp(path.join(os.tmpdir(), 'culvert-steplog-'));
  tempDirs.push(dir, logs);
  return { dir, logPath: path.join(logs, 'runs', 'r1', 'step.log') };
}

async function readLines(logPath: string): Promise<string[]> {
  const text = await fs.readFile(logPath, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text.slice(0, -1).split('\n');
}

function expectQuick(outcome: StepOutcome, maxMs: number): void {
  expect(outcome.durationMs).toBeGreaterThanOrEqual(0);
  expect(outcome.durationMs).toBeLessThan(maxMs);
}

describe('runStep', () => {
  it('runs a succeeding step and logs header, interleaved output and exit line', async () => {
    const { dir, logPath } = await setup();
    const outcome = await runStep({ argv: ['sh', '-c', 'echo one; echo two >&2; echo three'] }, { dir, logPath });

    expect(outcome).toMatchObject({ state: 'succeeded', exitCode: 0, signal: null });
    const lines = await readLines(logPath);
    expect(lines[0]).toBe('$ sh -c "echo one; echo two >&2; echo three"');
    expect(lines.slice(1, 4)).toEqual(['one', 'two', 'three']);
    expect(lines[4]).toMatch(/^exit 0 after \d+ms$/);
    expect(lines).toHaveLength(5);
    expect(outcome.logBytes).toBe((await fs.stat(logPath)).size);
  });

  it('reports a non-zero exit as failed', async () => {
    const { dir, logPath } = await setup();
    const outcome = await runStep({ argv: ['sh', '-c', 'echo bad; exit 3'] }, { dir, logPath });

    expect(outcome).toMatchObject({ state: 'failed', exitCode: 3, signal: null });
    const lines = await readLines(logPath);
    expect(lines.at(-1)).toMatch(/^exit 3 after \d+ms$/);
  });

  it('appends to an existing log and counts only its own bytes', async () => {
    const { dir, logPath } = await setup();
    const first = await runStep({ argv: ['sh', '-c', 'echo first'] }, { dir, logPath });
    const second = await runStep({ argv: ['sh', '-c', 'echo second'] }, { dir, logPath });

    const text = await fs.readFile(logPath, 'utf8');
    expect(text).toContain('first');
    expect(text).toContain('second');
    expect(first.logBytes + second.logBytes).toBe(Buffer.byteLength(text));
  });

  it('passes spec.env and extraEnv (which wins) but not the rest of the process env', async () => {
    const { dir, logPath } = await setup();
    const saved = process.env.CULVERT_TEST_SECRET;
    process.env.CULVERT_TEST_SECRET = 'hunter2';
    try {
      const outcome = await runStep(
        {
          // No trailing newline: the runner must still put the exit line on its own line.
          argv: [NODE, '-e', 'process.stdout.write(JSON.stringify(process.env))'],
          env: { FROM_SPEC: 'spec', SHARED: 'spec' },
        },
        { dir, logPath, extraEnv: { CULVERT_COMMIT: 'abc123', SHARED: 'extra' } },
      );
      expect(outcome.state).toBe('succeeded');
      const lines = await readLines(logPath);
      expect(lines).toHaveLength(3);
      const env = JSON.parse(lines[1] ?? '') as Record<string, string>;
      expect(env.FROM_SPEC).toBe('spec');
      expect(env.CULVERT_COMMIT).toBe('abc123');
      expect(env.SHARED).toBe('extra');
      expect(env.PATH).toBe(process.env.PATH);
      expect(env.CULVERT_TEST_SECRET).toBeUndefined();
      expect(JSON.stringify(env)).not.toContain('hunter2');
    } finally {
      if (saved === undefined) delete process.env.CULVERT_TEST_SECRET;
      else process.env.CULVERT_TEST_SECRET = saved;
    }
  });

  it('runs in a cwd inside the checkout', async () => {
    const { dir, logPath } = await setup();
    await fs.mkdir(path.join(dir, 'sub', 'pkg'), { recursive: true });
    const outcome = await runStep({ argv: [NODE, '-e', 'console.log(process.cwd())'], cwd: 'sub/pkg' }, { dir, logPath });

    expect(outcome.state).toBe('succeeded');
    const lines = await readLines(logPath);
    expect(lines[1]).toBe(await fs.realpath(path.join(dir, 'sub', 'pkg')));
  });

  it('refuses a cwd outside the checkout and bad specs, without creating a log', async () => {
    const { dir, logPath } = await setup();
    const bad = [
      { argv: ['true'], cwd: '../x' },
      { argv: ['true'], cwd: 'sub/../../x' },
      { argv: ['true'], cwd: '..' },
      { argv: ['true'], cwd: os.tmpdir() },
      { argv: ['true'], cwd: '/etc' },
      { argv: [] },
      { argv: [''] },
      { argv: ['true'], timeoutSeconds: 0 },
    ];
    for (const spec of bad) {
      await expect(runStep(spec, { dir, logPath }), JSON.stringify(spec)).rejects.toBeInstanceOf(StepSpecError);
    }
    expect(existsSync(logPath)).toBe(false);
  });

  it('reports a missing program as failed, with ENOENT in the log', async () => {
    const { dir, logPath } = await setup();
    const outcome = await runStep({ argv: ['culvert-no-such-program-4711', 'x'] }, { dir, logPath });

    expect(outcome).toMatchObject({ state: 'failed', exitCode: null, signal: null });
    const lines = await readLines(logPath);
    expect(lines[0]).toBe('$ culvert-no-such-program-4711 x');
    expect(lines.at(-1)).toContain('ENOENT');
  });

  it('times out a step and kills it', async () => {
    const { dir, logPath } = await setup();
    const outcome = await runStep({ argv: ['sleep', '30'], timeoutSeconds: 1 }, { dir, logPath, killGraceMs: 200 });

    expect(outcome).toMatchObject({ state: 'timed_out', exitCode: null, signal: 'SIGTERM' });
    expect(outcome.durationMs).toBeGreaterThanOrEqual(900);
    expectQuick(outcome, 5000);
    const lines = await readLines(logPath);
    expect(lines.at(-1)).toBe('timed out after 1s');
  }, 15_000);

  it('escalates to SIGKILL when the step ignores SIGTERM', async () => {
    const { dir, logPath } = await setup();
    const outcome = await runStep(
      { argv: [NODE, '-e', "process.on('SIGTERM', () => console.log('ignoring TERM')); setInterval(() => {}, 1000)"], timeoutSeconds: 1 },
      { dir, logPath, killGraceMs: 300 },
    );

    expect(outcome).toMatchObject({ state: 'timed_out', exitCode: null, signal: 'SIGKILL' });
    expectQuick(outcome, 5000);
    const text = await fs.readFile(logPath, 'utf8');
    expect(text).toContain('ignoring TERM');
  }, 15_000);

  it('cancels on abort and kills grandchildren too', async () => {
    const { dir, logPath } = await setup();
    const pidFile = path.join(dir, 'grandchild.pid');
    const controller = new AbortController();
    const running = runStep(
      { argv: ['sh', '-c', 'sleep 30 & echo $! > grandchild.pid; wait'] },
      { dir, logPath, signal: controller.signal, killGraceMs: 2000 },
    );
    let pid = 0;
    try {
      await waitFor('the grandchild pid file', async () => {
        const text = await fs.readFile(pidFile, 'utf8').catch(() => '');
        pid = Number.parseInt(text, 10);
        return text.endsWith('\n') && pid > 0;
      });
      expect(isGone(pid)).toBe(false);
    } finally {
      controller.abort();
    }
    const outcome = await running;

    expect(outcome.state).toBe('cancelled');
    expectQuick(outcome, 10_000);
    await waitFor(`grandchild ${pid} to die`, async () => isGone(pid));
    const lines = await readLines(logPath);
    expect(lines.at(-1)).toBe('cancelled');
  }, 15_000);

  it('does not start a step whose signal is already aborted', async () => {
    const { dir, logPath } = await setup();
    const controller = new AbortController();
    controller.abort();
    const outcome = await runStep({ argv: ['sh', '-c', 'touch started'] }, { dir, logPath, signal: controller.signal });

    expect(outcome).toMatchObject({ state: 'cancelled', exitCode: null, signal: null });
    expect(existsSync(path.join(dir, 'started'))).toBe(false);
    const lines = await readLines(logPath);
    expect(lines.at(-1)).toBe('cancelled');
  });

  it('records the step in its pid file while it runs, and removes it after', async () => {
    const { dir, logPath } = await setup();
    const pidFile = path.join(dir, 'run.pid');
    const outcome = await runStep(
      { argv: [NODE, '-e', 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.exit(r.pgid === process.pid ? 0 : 9)', pidFile] },
      { dir, logPath, pidFile },
    );

    expect(outcome).toMatchObject({ state: 'succeeded', exitCode: 0 });
    expect(existsSync(pidFile)).toBe(false);
  });

  it('does not run a step whose pid file cannot be written', async () => {
    const { dir, logPath } = await setup();
    const outcome = await runStep({ argv: ['sh', '-c', 'touch started'] }, { dir, logPath, pidFile: path.join(dir, 'missing', 'run.pid') });

    expect(outcome).toMatchObject({ state: 'failed', exitCode: null });
    expect(existsSync(path.join(dir, 'started'))).toBe(false);
    const lines = await readLines(logPath);
    expect(lines.at(-1)).toMatch(/^failed to start: could not record the step's process group in .*ENOENT/);
  });

  it('heartbeats while the step runs', async () => {
    const { dir, logPath } = await setup();
    const beats: { logBytes: number; elapsedMs: number }[] = [];
    const outcome = await runStep(
      { argv: [NODE, '-e', "console.log('working'); setTimeout(() => {}, 1000)"] },
      { dir, logPath, heartbeatMs: 100, onHeartbeat: (p) => beats.push(p) },
    );

    expect(outcome.state).toBe('succeeded');
    expect(beats.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < beats.length; i++) {
      expect(beats[i]!.elapsedMs).toBeGreaterThanOrEqual(beats[i - 1]!.elapsedMs);
      expect(beats[i]!.logBytes).toBeGreaterThanOrEqual(beats[i - 1]!.logBytes);
    }
    expect(beats.at(-1)!.logBytes).toBeGreaterThan(0);
    expect(beats.at(-1)!.logBytes).toBeLessThanOrEqual(outcome.logBytes);
  }, 15_000);
});
