// The real Temporal UI, in a real headless Chromium, shows Culvert's encrypted payloads in clear to an
// admin who signed the browser in, and not to a browser that did not (issue 10: the codec server for the
// UI). A dev server of its own with its UI on, its codec endpoint pointing at a Culvert API served on a
// real port; the browser is Debian's chromium driven by playwright-core.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import type { ServerType } from '@hono/node-server';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.ts';
import { loadDevServerConfig } from '../cli/dev-server-config.ts';
import { startDevServer } from '../cli/dev-server.ts';
import type { DevServerHandle } from '../cli/dev-server.ts';
import { requireTemporalCli } from '../cli/temporal-cli.ts';
import { testCodec } from './helpers/codec.ts';
import { freePort } from './helpers/free-port.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';

const chromiumPath = process.env.CULVERT_CHROMIUM ?? '/usr/bin/chromium';
// CI installs it (.ci/run) and so never skips; a developer's machine without it skips, saying why.
const noBrowser = !process.env.CI && !existsSync(chromiumPath);
if (noBrowser) console.warn(`skipping the Temporal UI test: no chromium at ${chromiumPath} (apt-get install chromium, or set CULVERT_CHROMIUM)`);

describe.skipIf(noBrowser)('the Temporal UI decodes through Culvert for a signed-in admin', () => {
  let root: string;
  let dev: DevServerHandle;
  let stack: Stack;
  let server: ServerType;
  let browser: Browser;
  let repo: GitFixture;
  let api: string;
  let ui: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'culvert-ui-'));
    const apiPort = await freePort();
    api = `http://127.0.0.1:${apiPort}`;
    dev = await startDevServer({
      root, cfg: loadDevServerConfig(), cli: requireTemporalCli(),
      overrides: { port: await freePort(), uiPort: await freePort(), headless: false, dbFile: null, uiCodecEndpoint: `${api}/v1/codec` },
    });
    ui = dev.uiUrl as string;
    stack = await startStack({ temporal: { address: dev.address, namespace: dev.namespace } });
    const codec = testCodec();
    const app = createApp({
      db: stack.database.db, temporal: { client: stack.client, namespace: dev.namespace, taskQueue: stack.taskQueue, uiUrl: ui, codec },
      repositories: { roots: [tmpdir()], dataDir: stack.dataDir }, sessionKey: codec.sessionKey(),
    });
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: apiPort });
    await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())));
    expect((server.address() as AddressInfo).port).toBe(apiPort);
    browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
    repo = await createRemote();
    await repo.commit({ 'a.txt': 'a\n' }, 'a');
    await repo.push();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await stack?.stop();
    await dev?.stop();
    await repo?.cleanup();
    if (root) await rm(root, { recursive: true, force: true });
  });

  /** A browser whose Temporal UI uses its own codec setting: this API, with cross-origin credentials. */
  async function uiBrowser(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext();
    // The UI's own keys for a browser's codec setting (it keeps them in localStorage as JSON).
    const settings = { overrideRemoteCodecConfiguration: true, endpoint: `${api}/v1/codec`, includeCredentials: true };
    await context.addInitScript({ content: Object.entries(settings).map(([k, v]) => `localStorage.setItem(${JSON.stringify(k)}, ${JSON.stringify(JSON.stringify(v))});`).join('\n') });
    return { context, page: await context.newPage() };
  }

  /** The UI's decode call (it adds its own query, e.g. `?preserveStorageRefs=true`). */
  const isDecode = (r: Response): boolean => r.request().method() === 'POST' && r.url().startsWith(`${api}/v1/codec/decode`);
  const workflowPage = (workflowId: string) => `${ui}/namespaces/${dev.namespace}/workflows/${encodeURIComponent(workflowId)}`;

  it('shows a release\'s input in clear after sign-in, and sealed to a browser that is not signed in', async () => {
    const product = unique('ui-codec');
    expect((await stack.call('POST', '/v1/products', { body: { name: product, repository: repo.remote, flow: 'cherry-pick', trunk: 'main' } })).status).toBe(201);
    const cut = await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: 'r1' } });
    expect(cut.status, cut.text).toBe(201);
    const workflowId = cut.body.workflowId as string;
    // In the run's input (the product's configuration) and nowhere else on the page.
    const needle = repo.remote;

    // Not signed in: the UI asks, is refused, and never shows the product's configuration.
    const stranger = await uiBrowser();
    const refused = stranger.page.waitForResponse((r) => isDecode(r));
    await stranger.page.goto(workflowPage(workflowId));
    expect((await refused).status()).toBe(401);
    await stranger.page.getByText(workflowId).first().waitFor();
    expect(await stranger.page.locator('body').innerText()).not.toContain(needle);
    await stranger.context.close();

    // An admin signs in on the API's page, then opens the same run in the UI.
    const admin = await uiBrowser();
    await admin.page.goto(`${api}/v1/codec/sign-in`);
    await admin.page.locator('input[name=token]').fill(stack.adminToken);
    await admin.page.getByRole('button', { name: 'Sign in' }).click();
    await admin.page.locator('#result[data-state="signed-in"]').waitFor();
    // Cookies are per host, not per port: the UI's own (on the same 127.0.0.1) are there too.
    const session = async () => (await admin.context.cookies(`${api}/v1/codec/decode`)).filter((c) => c.name === 'culvert_codec_session');
    expect((await session()).map((c) => [c.httpOnly, c.sameSite, c.path])).toEqual([[true, 'Strict', '/v1/codec']]);

    const decoded = admin.page.waitForResponse((r) => isDecode(r));
    await admin.page.goto(workflowPage(workflowId));
    expect((await decoded).status()).toBe(200);
    await admin.page.getByText(needle).first().waitFor({ timeout: 30_000 });

    // Signed out: the next look is refused again.
    await admin.page.goto(`${api}/v1/codec/sign-in`);
    await admin.page.getByRole('button', { name: 'Sign out' }).click();
    await admin.page.locator('#result[data-state="signed-out"]').waitFor();
    expect(await session()).toEqual([]);
    const again = admin.page.waitForResponse(isDecode);
    await admin.page.goto(workflowPage(workflowId));
    expect((await again).status()).toBe(401);
    await admin.context.close();
  }, 120_000);
});
