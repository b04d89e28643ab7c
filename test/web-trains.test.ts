// The trains page of the web page (api/web/train-routes.tsx) in a real headless Chromium: a train of 4
// products from one plan, one of them without staging. An owner opens the train, asks the pre-flight for
// a deploy to staging, sees 3 ready and the one that cannot named with its reason, confirms for the 3
// and sees them reach staging; a viewer sees no form, and a forged post from them is 403 and queues
// nothing. Screenshots go to test-output/ (not committed).
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';
import { browserMissing, launchChromium, serveOnFreePort } from './helpers/web.ts';
import type { Served } from './helpers/web.ts';

const noBrowser = browserMissing('the web trains test');
const shots = new URL('../test-output/web/', import.meta.url).pathname;

describe.skipIf(noBrowser)('the trains page', () => {
  let stack: Stack;
  let server: Served;
  let browser: Browser;
  let seed: GitFixture;
  let root: string;
  let base: string;
  let apps: string[];
  let noStaging: string;
  let train: string;
  let ownerToken: string;
  let viewerToken: string;

  beforeAll(async () => {
    stack = await startStack();
    server = await serveOnFreePort(stack.app.fetch);
    base = server.base;
    browser = await launchChromium();
    await mkdir(shots, { recursive: true });

    seed = await createRemote();
    await seed.commit({ 'README.md': 'apps\n' }, 'initial');
    await seed.push();
    root = await mkdtemp(join(tmpdir(), 'culvert-web-train-repos-'));
    const plan = unique('webapps');
    const made = await stack.call('POST', '/v1/plans', {
      body: {
        name: plan, flow: 'cherry-pick', trunk: 'main',
        steps: { deploy: { argv: ['true'] } },
        triggers: [{ on: 'deploy.clicked', run: 'deploy' }],
        environments: [{ name: 'staging', order: 1, production: false }, { name: 'production', order: 2, production: true }],
      },
    });
    expect(made.status, made.text).toBe(201);
    // Each member in its own repository, copies of one history (as a plan's apps would be).
    apps = Array.from({ length: 4 }, (_, i) => unique(`wapp${i}`));
    noStaging = apps[2] as string;
    for (const app of apps) {
      const repo = join(root, `${app}.git`);
      await git(['clone', '--quiet', '--bare', seed.remote, repo]);
      const own = app === noStaging ? { environments: [{ name: 'production', order: 2, production: true }] } : {};
      const product = await stack.call('POST', '/v1/products', { body: { name: app, repository: repo, plan, ...own } });
      expect(product.status, product.text).toBe(201);
    }
    ownerToken = await stack.token(unique('rm'), 'owner', apps);
    viewerToken = await stack.token(unique('vic'), 'viewer', apps);
    train = unique('wk');
    const started = await stack.call('POST', '/v1/trains', { body: { name: train, release: 'w1', plan } });
    expect(started.status, started.text).toBe(202);
    const cut = await waitFor('the train\'s cut', async () => {
      const r = await stack.call('GET', `/v1/trains/${train}/actions/1`);
      return r.status === 200 && r.body.state === 'done' ? r.body : undefined;
    }, 120_000);
    expect(cut).toMatchObject({ done: 4, failed: 0 });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await stack?.stop();
    await seed?.cleanup();
    if (root) await rm(root, { recursive: true, force: true });
  });

  async function signIn(token: string, next: string): Promise<Page> {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await page.goto(`${base}${next}`);
    expect(new URL(page.url()).pathname).toBe('/ui/sign-in');
    await page.fill('input[name=token]', token);
    await Promise.all([page.waitForURL((u) => u.pathname === next), page.click('button[type=submit]')]);
    return page;
  }
  const text = async (page: Page, selector: string): Promise<string> => (await page.locator(selector).first().textContent()) ?? '';
  const actionsOf = async (): Promise<number> => (await stack.call('GET', `/v1/trains/${train}`)).body.actions.length as number;

  it('an owner checks a deploy to staging, confirms for the 3 ready, and sees them reach staging', async () => {
    const page = await signIn(ownerToken, '/ui/trains');
    expect(await text(page, `#trains tr[data-train="${train}"]`)).toContain('w1');
    await Promise.all([page.waitForURL((u) => u.pathname === `/ui/trains/${train}`), page.click(`#trains a[href="/ui/trains/${train}"]`)]);
    expect(await page.locator('#members tbody tr[data-product]').count()).toBe(4);
    expect(await page.locator('#members thead th').allTextContents()).toEqual(expect.arrayContaining(['staging', 'production']));
    expect(await page.locator('#members td[data-env="staging"] code.sha').count()).toBe(0);
    expect(await text(page, '#actions tr[data-seq="1"]')).toContain('cut');

    await page.selectOption('#act select[name=kind]', 'deploy');
    await page.selectOption('#act select[name=environment]', 'staging');
    await Promise.all([page.waitForURL((u) => u.pathname.endsWith('/preflight')), page.click('#check')]);
    expect(await text(page, '#preflight-summary')).toMatch(/^3 ready, 1 cannot/);
    expect(await page.locator('#cannot li').count()).toBe(1);
    expect(await text(page, '#cannot li')).toBe(`${noStaging} has no staging environment`);
    await page.screenshot({ path: `${shots}train-preflight.png`, fullPage: true });
    // Asking did nothing.
    expect(await actionsOf()).toBe(1);

    const confirm = page.locator('#do-ready');
    expect(await confirm.textContent()).toBe('Do it for the 3 ready');
    await Promise.all([page.waitForURL((u) => u.pathname === `/ui/trains/${train}` && u.searchParams.has('queued')), confirm.click()]);
    expect(await text(page, '.notice')).toContain('Action #2 queued');
    expect(await text(page, '#actions tr[data-seq="2"]')).toContain('deploy to staging');

    // The deployments finish in the background: the page, never reloaded, shows staging's commit for the 3
    // once they do (its live refresh polls the train's stamp and swaps the rows).
    await waitFor('3 members on staging in the page', async () =>
      (await page.locator('#members td[data-env="staging"] code.sha').count()) === 3 &&
      (await text(page, `#members tr[data-product="${apps[0]}"]`)).includes('#2 deploy: ok'), 120_000);
    expect(Number(await page.evaluate('document.body.dataset.refreshed'))).toBeGreaterThanOrEqual(1);
    for (const app of apps) {
      const row = page.locator(`#members tr[data-product="${app}"]`);
      if (app === noStaging) {
        expect(await row.locator('td[data-env="staging"] code.sha').count()).toBe(0);
        continue;
      }
      const head = await row.locator('td:nth-child(4) code.sha').getAttribute('title');
      expect(await row.locator('td[data-env="staging"] code.sha').getAttribute('title')).toBe(head);
    }
    expect(await text(page, `#members tr[data-product="${apps[0]}"]`)).toContain('#2 deploy: ok');
    await page.screenshot({ path: `${shots}train.png`, fullPage: true });
    expect(await actionsOf()).toBe(2);
    await page.close();
  }, 240_000);

  it('a viewer sees no form, and a forged post from them is 403 and queues nothing', async () => {
    const page = await signIn(viewerToken, `/ui/trains/${train}`);
    expect(await page.locator('#members tbody tr[data-product]').count()).toBe(4);
    expect(await page.locator('#act, #confirm, #check').count()).toBe(0);
    const before = await actionsOf();
    // The viewer's own session and CSRF token, posted by hand: authorization still refuses it.
    const csrf = await page.locator('input[name=_csrf]').first().inputValue();
    const status = await page.evaluate(async ({ url, csrf }) => {
      const body = new URLSearchParams({ _csrf: csrf, kind: 'deploy', environment: 'staging', confirm: 'all' });
      return (await fetch(url, { method: 'POST', body, credentials: 'same-origin' })).status;
    }, { url: `/ui/trains/${train}/actions`, csrf });
    expect(status).toBe(403);
    expect(await actionsOf()).toBe(before);
    await page.close();
  }, 120_000);
});
