// The README's five-minute walk-through, run as written (issue 11: it once failed as written, an approve
// sent while the test step still ran). Its shell block is taken from README.md and run with bash, curl,
// git and jq against a fresh Culvert served on a real port; only where things are differs: `/tmp` is a
// fresh directory and the API's address is the free port's. `.culvert/admin-token` is where `npm start`
// would have put the admin token, relative to the directory the reader runs it in.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { serve } from '@hono/node-server';
import type { ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';

const run = promisify(execFile);
const readme = fileURLToPath(new URL('../README.md', import.meta.url));

/** The first ```sh block after a heading. */
export function shellBlockAfter(markdown: string, heading: string): string {
  const at = markdown.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`README has no heading ${heading}`);
  const block = /```sh\n([\s\S]*?)\n```/.exec(markdown.slice(at));
  if (!block?.[1]) throw new Error(`no sh block after ${heading}`);
  return block[1];
}

describe('the README', () => {
  let stack: Stack;
  let server: ServerType;
  let dir: string;
  let api: string;

  beforeAll(async () => {
    stack = await startStack();
    server = serve({ fetch: stack.app.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())));
    api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    dir = await mkdtemp(join(tmpdir(), 'culvert-readme-'));
    await mkdir(join(dir, '.culvert'));
    await mkdir(join(dir, 'tmp'));
    await writeFile(join(dir, '.culvert', 'admin-token'), `${stack.adminToken}\n`, { mode: 0o600 });
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('five minutes with the pull-request flow runs as written', async () => {
    const block = shellBlockAfter(await readFile(readme, 'utf8'), '## Five minutes with the pull-request flow');
    expect(block).toContain('API=http://127.0.0.1:8080');
    const script = block.replaceAll('http://127.0.0.1:8080', api).replaceAll('/tmp/', `${dir}/tmp/`);
    const { stdout, stderr } = await run('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: dir, timeout: 120_000, maxBuffer: 16 * 1024 * 1024,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir,
        GIT_AUTHOR_NAME: 'Reader', GIT_AUTHOR_EMAIL: 'reader@example.com', GIT_COMMITTER_NAME: 'Reader', GIT_COMMITTER_EMAIL: 'reader@example.com',
      },
    }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`the walk-through failed: ${err.message}\n--- stdout\n${err.stdout ?? ''}\n--- stderr\n${err.stderr ?? ''}`);
    });
    // What a reader sees: the release, the request's passed check, the approval, production running
    // the merge, the deploy click taken, and a step's log.
    expect(stdout, stderr).toMatch(/"branch": "main"/);
    expect(stdout).toMatch(/"state": "awaiting-decision",\s+"check": "passed"/);
    expect(stdout).toMatch(/^"approved"$/m);
    const head = (await run('git', ['rev-parse', 'main'], { cwd: join(dir, 'tmp', 'backend.git') })).stdout.trim();
    expect(stdout).toMatch(new RegExp(`"name": "production",\\s+"current": "${head}"`));
    expect(stdout).toMatch(/"deploymentId": "[^"]+",\s+"state": "pending"/);
    expect(stdout).toMatch(/^\$ sh -c "test -f app.txt"\nexit 0 after \d+ms$/m);
    // No answer was an error, and no jq read a field that was not there (the refused approve printed `null`).
    expect(stdout).not.toMatch(/^null$/m);
    expect(stdout).not.toContain('"code"');
  }, 180_000);
});
