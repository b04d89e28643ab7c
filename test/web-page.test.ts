// The release owners' web page (api/web) in a real headless Chromium (Debian's, driven by playwright-core):
// an owner signs in, triages 200 picks (sees which would conflict before approving, filters, selects by
// keyboard and range, approves 150 and rejects 50, sees each result and the picks land live), looks a
// commit up, reads notes and freezes; a viewer sees no action and a forged post from them is 403; a
// cross-site post changes nothing. Screenshots go to test-output/ (not committed).
import { mkdir } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';
import { browserMissing, launchChromium, serveOnFreePort } from './helpers/web.ts';
import type { Served } from './helpers/web.ts';
import type { Stack } from './helpers/stack.ts';

const noBrowser = browserMissing('the web page test');

const shots = new URL('../test-output/web/', import.meta.url).pathname;
const PICKS = 200;
/** Every 20th trunk commit edits one line of shared.txt, each on top of the one before: a chain. */
const inChain = (i: number): boolean => i % 20 === 19;

describe.skipIf(noBrowser)('the web page', () => {
  let stack: Stack;
  let server: Served;
  let browser: Browser;
  let repo: GitFixture;
  let base: string;
  let product: string;
  let ownerToken: string;
  let viewerToken: string;
  let qaToken: string;
  const trunk: string[] = [];
  const ids: string[] = [];

  beforeAll(async () => {
    stack = await startStack();
    server = await serveOnFreePort(stack.app.fetch);
    base = server.base;
    browser = await launchChromium();
    await mkdir(shots, { recursive: true });

    repo = await createRemote();
    product = unique('web');
    await repo.commit({ 'README.md': `${product}\n`, 'shared.txt': 'one\ntwo\nthree\n' }, 'base');
    const cutPoint = await repo.commit({ 'cut.txt': 'cut\n' }, 'the cut point');
    for (let i = 0; i < PICKS; i++) {
      trunk.push(inChain(i)
        ? await repo.commit({ 'shared.txt': `one\nchain ${i}\nthree\n` }, `chain step ${i}`)
        : await repo.commit({ [`f/${i}.txt`]: `${i}\n` }, `fix ${i}: crash in module ${i}`));
    }
    await repo.push();
    const created = await stack.call('POST', '/v1/products', {
      body: {
        name: product, repository: repo.remote, flow: 'cherry-pick', branchTemplate: 'releases/{name}', owners: ['olga'],
        steps: { deploy: { argv: ['sh', '-c', 'true'] } },
        environments: [{ name: 'staging', order: 1, production: false, gate: { group: ['quinn'], quorum: 1 } }],
      },
    });
    expect(created.status, created.text).toBe(201);
    expect((await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: 'stable-1', from: cutPoint } })).status).toBe(201);
    ownerToken = await stack.token('olga', 'owner', [product]);
    viewerToken = await stack.token('vic', 'viewer', [product]);
    qaToken = await stack.token('quinn', 'owner', [product]);
    const ci = await stack.token('ci', 'ci', [product]);
    const filed = await stack.call('POST', `/v1/products/${product}/releases/stable-1/changes/batch`, {
      token: ci, body: { requests: trunk.map((sha, i) => ({ kind: 'pick', commits: [sha], reason: `customers hit bug ${i}`, severity: i % 10 === 0 ? 'hotfix' : 'normal' })) },
    });
    expect(filed.status, filed.text).toBe(200);
    for (const r of filed.body.results) {
      expect(r.ok).toBe(true);
      ids.push(r.id as string);
    }
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await stack?.stop();
    await repo?.cleanup();
  });

  async function signIn(token: string, next = '/ui', viewport = { width: 1280, height: 900 }): Promise<Page> {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    await page.goto(`${base}${next}`);
    expect(new URL(page.url()).pathname).toBe('/ui/sign-in');
    await page.fill('input[name=token]', token);
    await Promise.all([page.waitForURL((u) => u.pathname === next), page.click('button[type=submit]')]);
    return page;
  }
  const queueOf = () => `/ui/p/${product}/r/stable-1/queue`;
  const text = async (page: Page, selector: string): Promise<string> => (await page.locator(selector).first().textContent()) ?? '';
  const stateOf = async (id: string): Promise<string> => (await stack.call('GET', `/v1/products/${product}/releases/stable-1/changes/${id}`)).body.state as string;

  it('an owner triages 200 picks: sees conflicts before approving, approves 150 and rejects 50, and sees them land', async () => {
    const page = await signIn(ownerToken);
    expect(await text(page, '#waiting')).toContain(`${product}/stable-1`);
    expect(await text(page, '#waiting [data-count]')).toBe(String(PICKS));

    await page.goto(`${base}${queueOf()}`);
    expect(await page.locator('#queue tbody tr[data-id]').count()).toBe(PICKS);
    // Whether each applies arrives from the worker while the page is open (live refresh, no reload).
    await page.locator('#queue tbody tr', { hasText: 'checking…' }).first().waitFor({ state: 'detached', timeout: 120_000 });
    const conflicts = page.locator('#queue tbody tr', { hasText: 'conflicts in shared.txt' });
    // The first chain step applies on the cut; each later one needs the one before it.
    expect(await conflicts.count()).toBe(PICKS / 20 - 1);
    expect(await text(page, `#queue tr[data-seq="20"]`)).toContain('applies cleanly');
    expect(await text(page, `#queue tr[data-seq="40"]`)).toContain('conflicts in shared.txt');
    await page.screenshot({ path: `${shots}queue.png`, clip: { x: 0, y: 0, width: 1280, height: 520 } });

    // Find: `/` focuses the search; a text query narrows the rows.
    await page.keyboard.press('/');
    await page.keyboard.type('chain step');
    await Promise.all([page.waitForURL((u) => u.searchParams.get('q') === 'chain step'), page.keyboard.press('Enter')]);
    expect(await page.locator('#queue tbody tr[data-id]').count()).toBe(PICKS / 20);
    // Sort by severity: the product's order (hotfix first by default), then by number.
    await page.goto(`${base}${queueOf()}?sort=severity`);
    const severityOf = (n: number) => page.locator('#queue tbody tr[data-id]').nth(n).getAttribute('data-seq');
    expect(await severityOf(0)).toBe('1');
    expect(await severityOf(1)).toBe('11');
    expect(await severityOf(PICKS / 10)).toBe('2');
    await page.goto(`${base}${queueOf()}?sort=trunk`);

    // Keyboard: j moves, x selects; then shift-click extends the selection to row 150.
    await page.keyboard.press('j');
    await page.keyboard.press('x');
    expect(await page.locator('#queue tr.cur').getAttribute('data-seq')).toBe('1');
    await page.locator('#queue tr[data-seq="150"] input[name=ids]').click({ modifiers: ['Shift'] });
    expect(await page.locator('#queue input[name=ids]:checked').count()).toBe(150);
    page.once('dialog', (d) => void d.accept());
    await page.fill('#bulk input[name=comment]', 'ok for stable-1');
    await page.keyboard.press('Escape'); // keys typed in a field are the field's; Escape leaves it
    await page.keyboard.press('a');
    // The answer is the queue again, with each request's result in place.
    await page.locator('#results', { hasText: 'decided' }).waitFor();
    expect(await text(page, '#results')).toContain('150 of 150 decided');
    expect(await page.locator('#results li.ok').count()).toBe(150);

    // The rest: select all, r, confirm.
    expect(await page.locator('#queue tbody tr[data-id]').count()).toBe(PICKS - 150);
    await page.locator('#select-all').check();
    page.once('dialog', (d) => void d.accept());
    await page.keyboard.press('r');
    await page.locator('#results', { hasText: 'rejected' }).waitFor();
    expect(await text(page, '#results')).toContain('50 of 50 decided');
    expect(await page.locator('#results li.ok', { hasText: 'rejected' }).count()).toBe(50);
    expect(await page.locator('#queue tbody tr[data-id]').count()).toBe(0);

    // The picks land while the page is open: the list of everything updates itself.
    await page.goto(`${base}${queueOf()}?state=merged`);
    await page.locator('#queue tbody tr[data-id]').nth(149).waitFor({ timeout: 180_000 });
    expect(await page.locator('#queue tbody tr[data-id]').count()).toBe(150);
    for (const i of [0, 19, 39, 149]) expect(await stateOf(ids[i] as string)).toBe('merged');
    for (const i of [150, 199]) expect(await stateOf(ids[i] as string)).toBe('rejected');
    await page.close();
  }, 400_000);

  it('deploys to staging after reading the preview, and QA signs the gate', async () => {
    const page = await signIn(ownerToken, `/ui/p/${product}`);
    await Promise.all([page.waitForURL((u) => u.pathname.endsWith('/deploy')), page.click('#environments a[href*="/deploy"]')]);
    await page.selectOption('select[name=release]', 'stable-1');
    await Promise.all([page.waitForURL((u) => u.searchParams.get('release') === 'stable-1'), page.click('main form[method=get] button')]);
    // Staging runs nothing yet: it would gain the cut and the 150 picks.
    expect(await text(page, '#summary')).toMatch(/^\d+ commits added, 0 removed$/);
    expect(await text(page, '#added')).toContain('fix 0: crash in module 0');
    await page.screenshot({ path: `${shots}deploy.png`, clip: { x: 0, y: 0, width: 1280, height: 520 } });
    await page.locator('main form[method=post] input[name=confirm]').check();
    await Promise.all([page.waitForURL((u) => u.searchParams.has('deployed')), page.click('#deploy')]);
    expect(await text(page, '.notice')).toContain('started');

    // QA (in the gate's group) sees the gate and approves it; the deployment then runs.
    await waitFor('the staging gate', async () => ((await stack.call('GET', `/v1/approvals?state=pending&product=${product}`)).body.items.length > 0 ? true : undefined));
    // On a phone: the sign-off fits the screen, nothing to scroll sideways.
    const qa = await signIn(qaToken, '/ui/gates', { width: 390, height: 844 });
    expect(await qa.locator('#gates tr[data-gate]').count()).toBe(1);
    await qa.screenshot({ path: `${shots}gates-phone.png` });
    expect(await qa.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    expect(await text(qa, '#gates')).toContain('0 of 1');
    await qa.fill('#gates input[name=comment]', 'QA passed');
    await Promise.all([qa.waitForURL((u) => u.pathname === '/ui/gates'), qa.click('#gates button[value=approve]')]);
    // The board, open since the click, shows stable-1 on staging once the deployment finishes, without a reload.
    await page.locator('#environments tr[data-env="staging"] td:nth-child(2)', { hasText: 'stable-1' }).waitFor({ timeout: 60_000 });
    expect(Number(await page.evaluate('document.body.dataset.refreshed'))).toBeGreaterThanOrEqual(1);
    expect(await text(page, '#environments tr[data-env="staging"]')).toContain('olga');
    await qa.close();
    await page.close();
  }, 180_000);

  it('looks a commit up, reads notes and freezes with confirmation', async () => {
    const page = await signIn(ownerToken, '/ui/commits');
    await page.fill('input[name=sha]', (trunk[0] as string).slice(0, 10));
    await Promise.all([page.waitForURL((u) => u.searchParams.has('sha')), page.click('main button[type=submit]')]);
    expect(await text(page, '#answer #releases')).toContain(`${product}/stable-1`);
    expect(await text(page, '#answer #releases')).toContain('pick');

    expect((await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: 'stable-2' } })).status).toBe(201);
    // Live: a request filed while the queue is open appears without a reload.
    await page.goto(`${base}/ui/p/${product}/r/stable-2/queue?state=`);
    expect(await page.locator('#queue tbody tr[data-id]').count()).toBe(0);
    const ci = await stack.token('ci-2', 'ci', [product]);
    const filed = await stack.call('POST', `/v1/products/${product}/releases/stable-2/changes`, { token: ci, body: { kind: 'pick', commits: [trunk[5]], reason: 'is it there?' } });
    expect(filed.status, filed.text).toBe(200); // already present: stable-2 was cut after it
    await page.locator('#queue tbody tr[data-id]').first().waitFor({ timeout: 30_000 });
    expect(await page.evaluate('document.body.dataset.refreshed')).toBe('1');
    expect(await text(page, '#queue tbody')).toContain('already-present');

    await page.goto(`${base}/ui/p/${product}/notes?from=stable-1&to=stable-2`);
    expect(await text(page, '#notes')).toContain('fix 198: crash in module 198');
    const notes = await page.locator('#notes-md').textContent() ?? '';
    expect(notes).toContain('150 already in stable-1');
    expect(notes).toContain('fix 198: crash in module 198');
    await page.goto(`${base}/ui/p/${product}/r/stable-1`);
    await page.screenshot({ path: `${shots}release.png`, clip: { x: 0, y: 0, width: 1280, height: 520 } });
    // The confirmation is required: without it the browser does not even send the form.
    await page.click('#freeze');
    expect((await stack.call('GET', `/v1/products/${product}/releases/stable-1`)).body.state).toBe('open');
    await page.locator('form[action$="/freeze"] input[name=confirm]').check();
    await Promise.all([page.waitForURL((u) => u.pathname.endsWith('/freeze')), page.click('#freeze')]);
    expect(await text(page, '.notice')).toContain('Frozen');
    expect((await stack.call('GET', `/v1/products/${product}/releases/stable-1`)).body.state).toBe('frozen');
    await page.close();
  }, 120_000);

  it('a viewer sees no action, and a forged post from them is 403 and changes nothing', async () => {
    const page = await signIn(viewerToken, `/ui/p/${product}/r/stable-2/queue`);
    expect(await page.locator('#bulk').count()).toBe(0);
    expect(await page.locator('input[name=ids]').count()).toBe(0);
    expect(await page.locator('#freeze, #close').count()).toBe(0);
    await page.goto(`${base}/ui/p/${product}/r/stable-2`);
    expect(await page.locator('#freeze, #close').count()).toBe(0);
    // The viewer's own session and CSRF token, posted by hand: authorization still refuses it.
    const csrf = await page.locator('input[name=_csrf]').first().inputValue();
    const status = await page.evaluate(async ({ url, csrf }) => {
      const body = new URLSearchParams({ _csrf: csrf, confirm: 'yes' });
      return (await fetch(url, { method: 'POST', body, credentials: 'same-origin' })).status;
    }, { url: `/ui/p/${product}/r/stable-2/close`, csrf });
    expect(status).toBe(403);
    expect((await stack.call('GET', `/v1/products/${product}/releases/stable-2`)).body.state).toBe('open');
    // Signing out ends the session: the next page asks to sign in again.
    await Promise.all([page.waitForURL((u) => u.pathname === '/ui/sign-in'), page.click('header button[type=submit]')]);
    await page.goto(`${base}/ui`);
    expect(new URL(page.url()).pathname).toBe('/ui/sign-in');
    await page.close();
  }, 120_000);

  it('a cross-site form post without the CSRF token changes nothing', async () => {
    const page = await signIn(ownerToken, `/ui/p/${product}/r/stable-2`);
    // A page of another origin that posts a close form to Culvert as soon as it loads.
    const evil = `<form id="f" method="post" action="${base}/ui/p/${product}/r/stable-2/close"><input name="confirm" value="yes"></form><script>document.getElementById('f').submit()</script>`;
    const other = await page.context().newPage();
    await other.goto(`data:text/html,${encodeURIComponent(evil)}`);
    await other.waitForURL((u) => u.pathname.endsWith('/close'));
    expect(await other.locator('[role=alert]').textContent()).toMatch(/not sent from Culvert's own page|sign in/);
    // And with the session's cookie but no token, from Culvert's own origin: refused too.
    const status = await page.evaluate(async (url) => (await fetch(url, { method: 'POST', body: new URLSearchParams({ confirm: 'yes' }), credentials: 'same-origin' })).status,
      `/ui/p/${product}/r/stable-2/close`);
    expect(status).toBe(403);
    expect((await stack.call('GET', `/v1/products/${product}/releases/stable-2`)).body.state).toBe('open');
    await page.close();
  }, 120_000);
});
