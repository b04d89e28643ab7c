// Steps are untrusted code (issue 10, findings 1 and 2): a step that tries to read the admin token next
// to the data dir, the worker's environment through /proc, or to write outside its checkout, gets none
// of it when the worker isolates steps (as root, with the step user; CI creates it and installs
// bubblewrap, as an install would). The same script run the old way shows every leak: the test can fail.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveStepIsolation } from '../activities/steps/isolation.ts';
import type { StepIsolation } from '../activities/steps/isolation.ts';
import { runStep } from '../activities/steps/index.ts';

const stepUser = process.env.CULVERT_STEP_USER || 'culvert-step';
const isRoot = process.getuid?.() === 0;
const hasUser = (() => {
  try {
    execFileSync('id', ['-u', '--', stepUser], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const hasBwrap = existsSync('/usr/bin/bwrap');
const ready = isRoot && hasUser && hasBwrap;

// A step that looks for everything it must not reach, and says what it found.
const probe = [
  'echo "uid=$(id -u)"',
  'echo "home=$HOME"',
  'cat "$DATA_DIR/admin-token" 2>/dev/null && echo LEAK-admin-token',
  'ls "$DATA_DIR" 2>/dev/null | grep -q admin-token && echo LEAK-data-dir-listing',
  'tr "\\0" "\\n" < /proc/$WORKER_PID/environ 2>/dev/null | grep -q CULVERT_TEST_SENTINEL && echo LEAK-worker-environ',
  'env | grep -q CULVERT_TEST_SENTINEL && echo LEAK-env',
  'touch /etc/culvert-step-was-here 2>/dev/null && echo LEAK-write-etc',
  'touch "$HOME/written" && echo wrote-checkout',
  'true',
].join('; ');

describe.skipIf(!ready && !process.env.CI)('steps isolated from the worker', () => {
  let base: string;
  let dataDir: string;
  let stepRoot: string;
  beforeAll(async () => {
    // CI runs this as in production: root, the step user and bubblewrap present.
    expect({ isRoot, hasUser, hasBwrap }).toEqual({ isRoot: true, hasUser: true, hasBwrap: true });
    base = await mkdtemp(join(tmpdir(), 'culvert-iso-'));
    // Like /tmp itself: the step user may pass through to its checkout, and list nothing.
    await chmod(base, 0o711);
    dataDir = join(base, 'data');
    stepRoot = join(base, 'steps');
    await mkdir(dataDir, { mode: 0o700 });
    await writeFile(join(dataDir, 'admin-token'), 'cvt_the-admin-secret\n', { mode: 0o600 });
    process.env.CULVERT_TEST_SENTINEL = 'worker-secret-value';
  });
  afterAll(async () => {
    delete process.env.CULVERT_TEST_SENTINEL;
    if (base) await rm(base, { recursive: true, force: true });
    await rm('/etc/culvert-step-was-here', { force: true });
  });

  async function probeAs(isolation: StepIsolation | undefined): Promise<string> {
    const dir = join(stepRoot, `checkout-${Math.random().toString(36).slice(2)}`);
    await mkdir(dir, { recursive: true });
    if (isolation) {
      await chmod(stepRoot, 0o711);
      await chown(dir, isolation.uid, isolation.gid);
      await chmod(dir, 0o700);
    }
    const logPath = join(base, 'logs', `${Math.random().toString(36).slice(2)}.log`);
    const outcome = await runStep({ argv: ['sh', '-c', probe], env: { DATA_DIR: dataDir, WORKER_PID: String(process.pid) } }, {
      dir, logPath, ...(isolation ? { isolation } : {}),
    });
    expect(outcome.state, await readFile(logPath, "utf8")).toBe("succeeded");
    return readFile(logPath, 'utf8');
  }

  it('run the old way (as the worker), the probe reaches everything: the test can fail', async () => {
    const log = await probeAs(undefined);
    expect(log).toContain('uid=0');
    expect(log).toMatch(/^LEAK-admin-token$/m);
    expect(log).toMatch(/^LEAK-write-etc$/m);
    await rm('/etc/culvert-step-was-here', { force: true });
  });

  it('as the step user under bubblewrap: its own uid and HOME, no data dir, no worker environment, a read-only system', async () => {
    const setting = await resolveStepIsolation({ CULVERT_STEP_USER: stepUser, CULVERT_STEP_ROOT: stepRoot }, dataDir);
    if (setting.kind !== 'isolated') throw new Error(setting.why);
    expect(setting.isolation.bwrap).toBe('/usr/bin/bwrap');
    const log = await probeAs(setting.isolation);
    expect(log).not.toMatch(/^LEAK-/m);
    expect(log).toContain(`uid=${setting.isolation.uid}`);
    expect(log).toContain('wrote-checkout');
    expect(log).toMatch(new RegExp(`home=${stepRoot}/checkout-`));
  });

  it('as the step user without bubblewrap: the same leaks closed by permissions alone', async () => {
    const setting = await resolveStepIsolation({ CULVERT_STEP_USER: stepUser, CULVERT_STEP_ROOT: stepRoot, CULVERT_STEP_SANDBOX: 'none' }, dataDir);
    if (setting.kind !== 'isolated') throw new Error(setting.why);
    expect(setting.isolation.bwrap).toBeNull();
    const log = await probeAs(setting.isolation);
    expect(log).not.toMatch(/^LEAK-/m);
    expect(log).toContain('wrote-checkout');
  });

  it('says why when it cannot isolate', async () => {
    const setting = await resolveStepIsolation({ CULVERT_STEP_USER: 'no-such-user-here' }, dataDir);
    expect(setting).toMatchObject({ kind: 'unisolated', why: expect.stringContaining('no user no-such-user-here') });
  });
});
