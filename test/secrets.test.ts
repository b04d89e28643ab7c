// Named secrets (issue 10): a step's env names a secret, the worker resolves it when the step runs,
// the API shows only the name, and the step's log has the value masked once the step ends.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskLog, resolveSecrets } from '../activities/secrets.ts';
import { runStep } from '../activities/steps/index.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';

describe('named secrets', () => {
  let dir: string;
  let stack: Stack;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'culvert-secrets-'));
    stack = await startStack({ worker: false });
  });
  afterAll(async () => {
    await stack?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('resolves a secret from the worker\'s environment or its secrets file, and refuses a missing one by name', async () => {
    const file = join(dir, 'secrets.json');
    await writeFile(file, JSON.stringify({ REGISTRY_PASSWORD: 'from-the-file' }), { mode: 0o600 });
    const env = { CULVERT_SECRET_DEPLOY_TOKEN: 'from-the-env', CULVERT_SECRETS_FILE: file };
    const resolved = await resolveSecrets({ TOKEN: { secret: 'DEPLOY_TOKEN' }, PASSWORD: { secret: 'REGISTRY_PASSWORD' }, REGION: 'eu' }, env);
    expect(resolved.env).toEqual({ TOKEN: 'from-the-env', PASSWORD: 'from-the-file', REGION: 'eu' });
    expect(resolved.secrets.sort()).toEqual(['from-the-env', 'from-the-file']);
    const missing = await resolveSecrets({ KEY: { secret: 'NOT_HERE' } }, env).catch((e: Error) => e);
    expect(missing).toMatchObject({ type: 'secret_missing', nonRetryable: true, message: expect.stringContaining('secret NOT_HERE (for KEY) is not set on this worker') });
  });

  it('masks the values a step printed, once it ended', async () => {
    const { env, secrets } = await resolveSecrets({ TOKEN: { secret: 'DEPLOY_TOKEN' } }, { CULVERT_SECRET_DEPLOY_TOKEN: 's3cr3t-v4lue' });
    const logPath = join(dir, 'run.log');
    const outcome = await runStep({ argv: ['sh', '-c', 'echo "token is $TOKEN"; test "$TOKEN" = s3cr3t-v4lue'], env }, { dir, logPath });
    expect(outcome.state, 'the step got the value').toBe('succeeded');
    expect(await readFile(logPath, 'utf8')).toContain('s3cr3t-v4lue');
    await maskLog(logPath, secrets);
    const log = await readFile(logPath, 'utf8');
    expect(log).toContain('token is ***');
    expect(log).not.toContain('s3cr3t-v4lue');
  });

  it('keeps secrets as names in the configuration: the API shows the name to everyone, a bad name is a 400', async () => {
    const p = unique('sec');
    const body = {
      name: p, repository: `https://git.example.com/${p}.git`, flow: 'pull-request', trunk: 'main', owners: ['olivia'],
      steps: { deploy: { argv: ['./deploy.sh'], env: { TOKEN: { secret: 'DEPLOY_TOKEN' }, REGION: 'eu' } } },
    };
    const created = await stack.call('POST', '/v1/products', { body });
    expect(created.status, created.text).toBe(201);
    const viewer = await stack.token('vera', 'viewer', [p]);
    expect((await stack.call('GET', `/v1/products/${p}`, { token: viewer })).body.steps.deploy.env).toEqual({ TOKEN: { secret: 'DEPLOY_TOKEN' }, REGION: '***' });
    const bad = await stack.call('PATCH', `/v1/products/${p}`, { body: { steps: { deploy: { argv: ['x'], env: { TOKEN: { secret: 'lower; rm -rf' } } } } } });
    expect(bad.status).toBe(400);
  });
});
