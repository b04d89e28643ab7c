import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseStateKey } from '../workflows/search-attributes.ts';
import { summaryQuery } from '../workflows/release/messages.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';

// Ends and edges of a release's life: closing settles everything, a cut that fails leaves nothing,
// a deployment id is never run twice, publishing passes the production environment's gate.

describe('a release from its cut to its close', () => {
  let stack: Stack;
  let repo: GitFixture;
  let out: string;
  let base: string;
  let fixes: string[];
  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
    out = await mkdtemp(join(tmpdir(), 'culvert-lifecycle-'));
    base = await repo.commit({ 'app.txt': 'v1\n', 'src/main.c': 'int main() { return 0; }\n' }, 'base');
    fixes = [];
    for (let i = 0; i < 3; i++) fixes.push(await repo.commit({ [`fix-${i}.txt`]: `${i}\n` }, `fix ${i}`));
    await repo.push();
  });
  afterAll(async () => {
    await stack?.stop();
    await repo?.cleanup();
    await rm(out, { recursive: true, force: true });
  });

  const create = async (body: Record<string, unknown>) => {
    const res = await stack.call('POST', '/v1/products', { body: { repository: repo.remote, trunk: 'main', ...body } });
    expect(res.status, res.text).toBe(201);
  };

  it('closing withdraws every open request, in this run or recorded by an earlier one, stops their checks, and ends the workflow', async () => {
    const p = unique('closing');
    // Checks that take long: requests stay `checking` until the close.
    await create({
      name: p, flow: 'cherry-pick', steps: { test: { argv: ['sh', '-c', 'sleep 120'] } }, triggers: [{ on: 'change.requested', run: 'test' }],
    });
    expect((await stack.call('POST', `/v1/products/${p}/releases`, { body: { name: 's', from: base } })).status).toBe(201);
    const changes = `/v1/products/${p}/releases/s/changes`;
    const handle = stack.client.workflow.getHandle(`culvert/${p}/s`);
    // Enough requests that the release continues as new on the way (the test server suggests it at 400 events):
    // most of them are then held by the database only, not by the run that closes.
    let filed = 0;
    while ((await handle.query(summaryQuery)).epoch < 2) {
      const res = await stack.call('POST', changes, { body: { kind: 'pick', commits: [fixes[filed % 3]], reason: `r${filed}`, severity: 'normal' } });
      expect(res.status, res.text).toBe(201);
      filed++;
      expect(filed).toBeLessThan(400);
    }
    const last = await stack.call('POST', changes, { body: { kind: 'pick', commits: [fixes[0]], reason: 'last', severity: 'normal' } });
    expect(last.status).toBe(201);
    filed++;
    await waitFor('checks running', async () => (await handle.query(summaryQuery)).checksRunning > 0);

    const closed = await stack.call('POST', `/v1/products/${p}/releases/s/close`, {});
    expect(closed.status, closed.text).toBe(200);
    await handle.result();
    const all = await stack.call('GET', `${changes}?limit=1000`);
    expect(all.body.total).toBe(filed);
    const states = new Set(all.body.items.map((c: { state: string }) => c.state));
    expect([...states]).toEqual(['withdrawn']);
    expect(all.body.items.every((c: { check: string }) => c.check !== 'running' && c.check !== 'queued')).toBe(true);
    // The check workflows were cancelled with the release, their steps killed.
    await waitFor('no check workflow running', async () => {
      for await (const wf of stack.client.workflow.list({ query: `WorkflowType = "releaseCheck" AND ExecutionStatus = "Running" AND WorkflowId STARTS_WITH "culvert-check/${p}/"` })) {
        return wf.workflowId === '' ? true : false;
      }
      return true;
    });
    expect((await stack.call('POST', changes, { body: { kind: 'pick', commits: [fixes[1]], reason: 'late', severity: 'normal' } })).status).toBe(409);
  });

  it('a cut that cannot proceed is refused and leaves the name free', async () => {
    const p = unique('badcut');
    await create({ name: p, flow: 'cherry-pick' });
    const bad = await stack.call('POST', `/v1/products/${p}/releases`, { body: { name: 'r1', from: 'deadbeefdeadbeef' } });
    expect(bad.status, bad.text).toBe(422);
    expect(bad.body.code).toBe('unknown_commit');
    expect((await stack.call('GET', `/v1/products/${p}/releases/r1`)).status).toBe(404);
    // Its run does not say `open` to the Temporal UI (issue 11): the search attributes match the database.
    const refused = await stack.client.workflow.getHandle(`culvert/${p}/r1`).describe();
    expect(refused.status.name).toBe('COMPLETED');
    expect(refused.typedSearchAttributes.get(releaseStateKey)).toBe('refused');
    const good = await stack.call('POST', `/v1/products/${p}/releases`, { body: { name: 'r1', from: base } });
    expect(good.status, good.text).toBe(201);
    expect(good.body.headSha).toBe(base);
    const openQuery = `CulvertProduct = "${p}" AND CulvertReleaseState = "open"`;
    await waitFor('visibility to count the one open release', async () => ((await stack.client.workflow.count(openQuery)).count === 1 ? true : undefined));
  });

  it('a deployment of a closed release asked twice with one Idempotency-Key runs once', async () => {
    const p = unique('redeploy');
    const log = join(out, `${p}.log`);
    await create({
      name: p, flow: 'cherry-pick', steps: { deploy: { argv: ['sh', '-c', 'echo "$CULVERT_DEPLOYMENT_ID" >> "$LOG"'], env: { LOG: log } } },
      triggers: [{ on: 'deploy.clicked', run: 'deploy' }], environments: [{ name: 'prod', order: 1, production: true }],
    });
    expect((await stack.call('POST', `/v1/products/${p}/releases`, { body: { name: 'old', from: base } })).status).toBe(201);
    expect((await stack.call('POST', `/v1/products/${p}/releases/old/close`, {})).status).toBe(200);
    const click = () => stack.call('POST', `/v1/products/${p}/releases/old/deployments`, { body: { environment: 'prod' }, headers: { 'idempotency-key': 'rollback-1' } });
    const first = await click();
    expect(first.status, first.text).toBe(202);
    await waitFor('the rollback deployed', async () => (await stack.call('GET', `/v1/products/${p}/environments`)).body.items[0].current?.deploymentId === first.body.deploymentId);
    const again = await click();
    expect(again.status, again.text).toBe(202);
    expect(again.body.deploymentId).toBe(first.body.deploymentId);
    const release = (await stack.call('GET', `/v1/products/${p}/releases/old`)).body;
    expect(release.deployments).toHaveLength(1);
    expect((await readFile(log, 'utf8')).trim().split('\n')).toEqual([first.body.deploymentId]);
  });

  it('a binary release publishes through the production environment\'s gate', async () => {
    const p = unique('gatedpub');
    const log = join(out, `${p}.log`);
    const pat = await stack.token('pat', 'owner', [p]);
    await create({
      name: p, flow: 'binary', steps: {
        build: { argv: ['sh', '-c', 'true'] },
        publish: { argv: ['sh', '-c', 'echo "published $CULVERT_COMMIT" >> "$LOG"'], env: { LOG: log } },
      },
      triggers: [{ on: 'release.final', run: 'publish', environment: 'production' }],
      environments: [{ name: 'production', order: 1, production: true, gate: { group: ['pat'], quorum: 1 } }],
    });
    expect((await stack.call('POST', `/v1/products/${p}/releases`, { body: { name: '1.0', from: base } })).status).toBe(201);
    expect((await stack.call('POST', `/v1/products/${p}/releases/1.0/freeze`, {})).status).toBe(200);
    const gate = await waitFor('the production gate of the publish', async () =>
      (await stack.call('GET', `/v1/approvals?state=pending&product=${p}`)).body.items[0]);
    expect(gate.subject).toContain('to production');
    await expect(readFile(log, 'utf8')).rejects.toThrow();
    const vote = await stack.call('POST', `/v1/approvals/${encodeURIComponent(gate.id)}`, { token: pat, body: { decision: 'approve' } });
    expect(vote.status, vote.text).toBe(200);
    expect(vote.body.state).toBe('approved');
    await waitFor('published and closed', async () => (await stack.call('GET', `/v1/products/${p}/releases/1.0`)).body.state === 'closed');
    expect((await readFile(log, 'utf8')).trim()).toBe(`published ${base}`);
  });
});
