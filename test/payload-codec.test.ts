// Temporal sees no configuration in clear and trusts no stranger (issue 10, finding 10 and the history
// part of finding 3): every payload is encrypted and authenticated with the installation's key, an
// Update sent by anything without that key changes nothing, and only an admin reads payloads in clear,
// through the codec server route.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client, WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { ApplicationFailure } from '@temporalio/common';
import proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import { toWire } from '../api/codec/routes.ts';
import { CulvertPayloadCodec, loadPayloadKey, parsePayloadKey, previousPayloadKeys } from '../cli/payload-codec.ts';
import { culvertClient, culvertDataConverter } from '../cli/temporal-connection.ts';
import { Worker } from '@temporalio/worker';
import { testCodec } from './helpers/codec.ts';
import { takeByField } from '../domain/take-by.ts';
import { decideUpdate, deployUpdate, fileUpdate, productUpdatedSignal, summaryQuery } from '../workflows/release/messages.ts';
import { deployment } from '../workflows/deploy.ts';
import { eq } from 'drizzle-orm';
import { deployments, stepRuns } from '../db/schema.ts';
import { waitFor } from './helpers/wait.ts';
import type { Actor } from '../domain/types.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';

const json = (value: unknown): Payload => ({ metadata: { encoding: new TextEncoder().encode('json/plain') }, data: new TextEncoder().encode(JSON.stringify(value)) });
const encodingOf = (p: Payload | proto.temporal.api.common.v1.IPayload): string => new TextDecoder().decode(p.metadata?.encoding ?? new Uint8Array());

describe('the payload codec', () => {
  const codec = new CulvertPayloadCodec(randomBytes(32));

  it('reads back what it sealed, and marks as unreadable what another key sealed or anyone altered', async () => {
    const [sealed] = await codec.encode([json({ a: 1, [takeByField]: 5 })]);
    expect(encodingOf(sealed as Payload)).toBe('binary/encrypted');
    expect(new TextDecoder().decode(sealed?.data ?? new Uint8Array())).not.toContain('"a"');
    const [opened] = await codec.decode([sealed as Payload]);
    expect(JSON.parse(new TextDecoder().decode(opened?.data ?? new Uint8Array()))).toEqual({ a: 1, [takeByField]: 5 });

    const [other] = await new CulvertPayloadCodec(randomBytes(32)).encode([json({ a: 1 })]);
    const altered = { ...sealed, data: Uint8Array.from(sealed?.data ?? [], (b, i) => (i === 20 ? b ^ 1 : b)) } as Payload;
    for (const p of [other as Payload, altered]) expect(encodingOf((await codec.decode([p]))[0] as Payload)).toBe('binary/culvert-unreadable');
  });

  it('rotates keys: what an old key sealed still reads with it as a previous key, new payloads get the new key', async () => {
    const [oldKey, newKey] = [randomBytes(32), randomBytes(32)];
    const [before] = await new CulvertPayloadCodec(oldKey).encode([json({ a: 1 })]);
    const rotated = new CulvertPayloadCodec(newKey, [oldKey]);
    expect(JSON.parse(new TextDecoder().decode((await rotated.decode([before as Payload]))[0]?.data ?? new Uint8Array()))).toEqual({ a: 1 });
    const [after] = await rotated.encode([json({ b: 2 })]);
    expect(encodingOf((await new CulvertPayloadCodec(oldKey).decode([after as Payload]))[0] as Payload), 'nothing new is sealed with the old key')
      .toBe('binary/culvert-unreadable');
    expect(encodingOf((await new CulvertPayloadCodec(newKey).decode([before as Payload]))[0] as Payload), 'without the previous key the old payload is unreadable')
      .toBe('binary/culvert-unreadable');
    expect(previousPayloadKeys(`${oldKey.toString('base64')}, ${newKey.toString('hex')}`).map((k) => k.toString('hex'))).toEqual([oldKey.toString('hex'), newKey.toString('hex')]);
    expect(previousPayloadKeys(undefined)).toEqual([]);
    expect(() => previousPayloadKeys('short')).toThrow(/CULVERT_PAYLOAD_KEYS_PREVIOUS/);
  });

  it('reads clear payloads (histories written before it) but takes the seal out of them', async () => {
    const [plain, forged] = await codec.decode([json({ a: 1 }), json({ a: 2, [takeByField]: Date.now() + 60_000 })]);
    expect(JSON.parse(new TextDecoder().decode(plain?.data ?? new Uint8Array()))).toEqual({ a: 1 });
    expect(JSON.parse(new TextDecoder().decode(forged?.data ?? new Uint8Array()))).toEqual({ a: 2 });
  });

  it('takes its key from CULVERT_PAYLOAD_KEY or makes one in the data dir, 0600, and refuses a malformed one', async () => {
    const { mkdtemp, rm, stat } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'culvert-key-'));
    try {
      const made = loadPayloadKey(dir, '');
      expect(made.length).toBe(32);
      expect((await stat(join(dir, 'payload-key'))).mode & 0o777).toBe(0o600);
      expect(loadPayloadKey(dir, '').equals(made), 'the same key on the next start').toBe(true);
      const hex = randomBytes(32).toString('hex');
      expect(loadPayloadKey(dir, hex).toString('hex')).toBe(hex);
      expect(() => parsePayloadKey('too-short')).toThrow(/32 bytes/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Temporal sees no configuration in clear and trusts no stranger', () => {
  let stack: Stack;
  let repo: GitFixture;
  const needle = `needle-${randomBytes(6).toString('hex')}`;
  const stranger: Actor = { name: 'admin', role: 'admin', products: null, tokenId: null };

  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
    await repo.commit({ 'app.txt': 'v1\n' }, 'v1');
    await repo.push();
  });
  afterAll(async () => {
    await stack?.stop();
    await repo?.cleanup();
  });

  async function release(): Promise<{ p: string; workflowId: string }> {
    const p = unique('sealed');
    // Its own trunk: a repository's trunk belongs to one pull-request product.
    await git(['branch', p, 'main'], { cwd: repo.remote });
    const body = {
      name: p, repository: repo.remote, flow: 'pull-request', trunk: p,
      steps: { deploy: { argv: ['sh', '-c', 'true'], env: { REGION: needle } } },
      triggers: [{ on: 'deploy.clicked', run: 'deploy' }],
      environments: [{ name: 'staging', order: 1, production: false }],
    };
    expect((await stack.call('POST', '/v1/products', { body })).status).toBe(201);
    const cut = await stack.call('POST', `/v1/products/${p}/releases`, { body: { name: 'r1' } });
    expect(cut.status, cut.text).toBe(201);
    return { p, workflowId: cut.body.workflowId ?? `culvert/${p}/r1` };
  }

  it('keeps the product configuration out of the history in clear', async () => {
    const { workflowId } = await release();
    const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
    const raw = Buffer.from(proto.temporal.api.history.v1.History.encode(history).finish());
    expect(raw.includes(Buffer.from(needle)), 'the step environment value is not in the history in clear').toBe(false);
    expect(raw.includes(Buffer.from(repo.remote)), 'nor the repository').toBe(false);
    const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
    expect(input.map(encodingOf)).toEqual(input.map(() => 'binary/encrypted'));
    // The release still works: the API (with the key) reads it.
    expect((await stack.client.workflow.getHandle(workflowId).query(summaryQuery)).state).toBe('open');
  });

  it('a release sealed under a key being rotated out replays with it as a previous key, and not without it', async () => {
    const { workflowId } = await release();
    const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
    const replay = (codec: CulvertPayloadCodec) => Worker.runReplayHistory(
      { workflowBundle: { codePath: inject('workflowBundlePath') }, replayName: 'rotation', dataConverter: culvertDataConverter(codec) }, history, workflowId,
    );
    const current = testCodec();
    const runKey = parsePayloadKey(process.env.CULVERT_PAYLOAD_KEY ?? '');
    await expect(replay(new CulvertPayloadCodec(randomBytes(32), [runKey]))).resolves.toBeUndefined();
    await expect(replay(new CulvertPayloadCodec(randomBytes(32)))).rejects.toThrow();
    expect(current.keyId).toBe(new CulvertPayloadCodec(runKey).keyId);
  });

  it('refuses an Update sent without the key, however it is dressed, and changes nothing', async () => {
    const { p, workflowId } = await release();
    const before = await stack.client.workflow.getHandle(workflowId).query(summaryQuery);
    const connection = stack.client.connection;
    const namespace = stack.client.options.namespace;
    const input = { requests: [{ id: 'f0f0f0f0-0000-4000-8000-000000000001', kind: 'merge' as const, branch: 'main' }], actor: stranger };
    const attempts: [string, () => Promise<unknown>][] = [
      ['a plain client', () => new Client({ connection, namespace }).workflow.getHandle(workflowId).executeUpdate(fileUpdate, { args: [input] })],
      ['a plain client with a forged seal', () => new Client({ connection, namespace }).workflow.getHandle(workflowId)
        .executeUpdate(fileUpdate.name, { args: [{ ...input, [takeByField]: Date.now() + 60_000 }] })],
      ['a client sealing with another key', () => culvertClient(connection, namespace, new CulvertPayloadCodec(randomBytes(32))).workflow.getHandle(workflowId)
        .executeUpdate(decideUpdate, { args: [{ decisions: [{ id: input.requests[0]?.id ?? '', decision: 'approve' }], actor: stranger }] })],
    ];
    for (const [who, send] of attempts) {
      const err = await send().then(() => undefined, (e: unknown) => e);
      expect(err, who).toBeInstanceOf(WorkflowUpdateFailedError);
      const cause = (err as WorkflowUpdateFailedError).cause;
      expect(cause, who).toBeInstanceOf(ApplicationFailure);
      expect((cause as ApplicationFailure).type === 'update_unsealed' || /Unknown encoding/.test((cause as ApplicationFailure).message), `${who}: ${String(cause)}`).toBe(true);
    }
    const after = await stack.client.workflow.getHandle(workflowId).query(summaryQuery);
    expect(after.seq, 'nothing was filed').toBe(before.seq);
    expect((await stack.call('GET', `/v1/products/${p}/releases/r1/changes`)).body.items).toEqual([]);
  });

  it('refuses a start or a signal sent without the key: a stranger\'s deployment runs no step, a stranger\'s configuration is not taken', async () => {
    const { p, workflowId } = await release();
    const connection = stack.client.connection;
    const namespace = stack.client.options.namespace;
    const plain = new Client({ connection, namespace });
    const config = (await stack.call('GET', `/v1/products/${p}`)).body;
    const marker = join(stack.dataDir, `pwned-${randomBytes(4).toString('hex')}`);
    const evil = { ...config, steps: { deploy: { argv: ['sh', '-c', `touch ${marker}`] } }, environments: [{ name: 'evil', order: 1, production: false }] };

    // A deployment started straight on Temporal, plain or with a seal forged in clear.
    for (const [who, args] of [['plain', []], ['a forged seal', [{ [takeByField]: 0 }]]] as const) {
      const deploymentId = unique('stranger');
      const job = { deploymentId, environment: 'evil', commitSha: 'a'.repeat(40), trigger: 'deploy.clicked', requestedBy: 'admin' };
      const err = await plain.workflow.execute(deployment, {
        workflowId: `culvert-deploy/${deploymentId}`, taskQueue: stack.taskQueue, args: [{ product: evil, release: 'r1', production: true, job }, ...args] as never,
      }).then(() => undefined, (e: unknown) => e);
      expect(err, who).toBeInstanceOf(WorkflowFailedError);
      expect((err as WorkflowFailedError).cause, who).toMatchObject({ type: 'start_unsealed' });
      expect(await stack.database.db.select().from(stepRuns).where(eq(stepRuns.deploymentId, deploymentId)), who).toEqual([]);
      expect(await stack.database.db.select().from(deployments).where(eq(deployments.id, deploymentId)), who).toEqual([]);
    }
    expect(existsSync(marker), 'no step ran').toBe(false);

    // A configuration signalled straight to the release: dropped, the release keeps the admin's.
    await plain.workflow.getHandle(workflowId).signal(productUpdatedSignal, evil);
    await plain.workflow.getHandle(workflowId).signal(productUpdatedSignal.name, evil, { [takeByField]: 0 });
    const refused = await stack.client.workflow.getHandle(workflowId).executeUpdate(deployUpdate, {
      args: [{ deploymentId: unique('after'), environment: 'evil', actor: stranger }],
    }).then(() => undefined, (e: unknown) => e);
    expect((refused as WorkflowUpdateFailedError).cause, 'the release knows no environment "evil"').toMatchObject({ type: 'unknown_environment' });
    const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
    const dropped = (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === productUpdatedSignal.name);
    expect(dropped).toHaveLength(2);
    // Culvert's own signal still reaches it (the API seals it).
    expect((await stack.call('PATCH', `/v1/products/${p}`, { body: { environments: [...config.environments, { name: 'qa', order: 9, production: false }] } })).status).toBe(200);
    await waitFor('the release takes the admin\'s change', async () => {
      const r = await stack.client.workflow.getHandle(workflowId).executeUpdate(deployUpdate, { args: [{ deploymentId: unique('qa'), environment: 'qa', actor: stranger }] })
        .then(() => 'taken', (e: unknown) => ((e as WorkflowUpdateFailedError).cause as ApplicationFailure | undefined)?.type);
      return r === 'taken' ? true : undefined;
    });
  });

  it('reads payloads in clear for an admin only, through the codec server route', async () => {
    const { p, workflowId } = await release();
    const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
    const payloads = (history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [])
      .map((x) => toWire(x as Payload));
    const decoded = await stack.call('POST', '/v1/codec/decode', { body: { payloads } });
    expect(decoded.status, decoded.text).toBe(200);
    expect(Buffer.from(decoded.body.payloads[0].data, 'base64').toString()).toContain(needle);
    const owner = await stack.token(unique('olivia'), 'owner', [p]);
    const refused = await stack.call('POST', '/v1/codec/decode', { token: owner, body: { payloads } });
    expect([refused.status, refused.body.code]).toEqual([403, 'forbidden']);
    expect(refused.text).not.toContain(needle);
    expect((await stack.call('POST', '/v1/codec/decode', { token: '', body: { payloads } })).status).toBe(401);
    const bad = await stack.call('POST', '/v1/codec/decode', { body: { payloads: [{ data: 'not base64!' }] } });
    expect([bad.status, bad.body.code]).toEqual([400, 'bad_request']);
  });
});
