import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database, Db } from '../db/client.ts';
import { currentDeployments, deploymentsOfProduct, environmentHistory, upsertDeployment } from '../db/repos/deployments.ts';
import type { DeploymentRecord } from '../db/repos/deployments.ts';
import { createProduct } from '../db/repos/products.ts';
import { currentOf } from '../db/repos/trace.ts';
import { deployments } from '../db/schema.ts';
import type { Deployment } from '../db/schema.ts';
import type { EnvironmentConfig, ProductConfig } from '../domain/types.ts';
import { openTestDatabase } from './helpers/db.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';

// "What runs where" at scale: production deployed once, then thousands of staging and qa deployments.
// What an environment runs must not depend on how many deployments came after (it once read only the
// product's last 500), and must agree with currentOf over every row.

const TOTAL = 2000;
const environments: EnvironmentConfig[] = [
  { name: 'staging', order: 1, production: false },
  { name: 'qa', order: 2, production: false },
  { name: 'production', order: 3, production: true },
];
const names = environments.map((e) => e.name);

/** Waits until the clock has moved on by a millisecond, so the next row's timestamps sort after this one's. */
const clockMoves = async (): Promise<void> => {
  const start = Date.now();
  while (Date.now() <= start + 1) await new Promise<void>((resolve) => setImmediate(resolve));
};

interface Written {
  production: string;
  /** The last succeeded deployment of staging and qa: failed ones come after it. */
  last: Record<'staging' | 'qa', string>;
  /** Deployment ids per environment, oldest first. */
  ids: Record<string, string[]>;
}

/**
 * Writes TOTAL deployments: production's one first, then staging and qa alternating (mostly succeeded,
 * some failed, some still running), and last, in each of staging and qa, one succeeded deployment
 * followed by three failed ones. Ids sort in the order they are written.
 */
async function writeDeployments(db: Db, product: string): Promise<Written> {
  const ids: Record<string, string[]> = { production: [], staging: [], qa: [] };
  let n = 0;
  const write = async (environment: string, state: DeploymentRecord['state']): Promise<string> => {
    n += 1;
    const id = `${product}-${String(n).padStart(5, '0')}`;
    await upsertDeployment(db, {
      id, product, release: `r${Math.ceil(n / 100)}`, environment, commitSha: n.toString(16).padStart(40, '0'),
      trigger: 'deploy.clicked', requestedBy: 'olga', state, runId: null,
    });
    ids[environment]?.push(id);
    return id;
  };
  const production = await write('production', 'succeeded');
  const tail = 8;
  while (n < TOTAL - tail) {
    const state = n % 10 === 3 ? 'failed' : n % 10 === 7 ? 'running' : 'succeeded';
    await write(n % 2 === 0 ? 'staging' : 'qa', state);
  }
  const last = { staging: '', qa: '' };
  for (const env of ['staging', 'qa'] as const) {
    await clockMoves();
    last[env] = await write(env, 'succeeded');
    await clockMoves();
    for (let i = 0; i < 3; i++) await write(env, 'failed');
  }
  expect(n).toBe(TOTAL);
  return { production, last, ids };
}

/** Newest first, like environmentHistory: by creation, then id. */
const newestFirst = (a: Deployment, b: Deployment): number =>
  b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

describe('what runs where, with thousands of deployments (repository)', () => {
  let database: Database;
  let db: Db;
  let written: Written;
  let all: Deployment[];

  const config = (name: string): ProductConfig => ({
    name, repository: `/srv/git/${name}.git`, flow: 'pull-request', trunk: 'main', owners: ['olga'], steps: {}, triggers: [], environments,
  });

  beforeAll(async () => {
    database = await openTestDatabase();
    db = database.db;
    expect(await createProduct(db, config('shop'))).toBe(true);
    expect(await createProduct(db, config('other'))).toBe(true);
    written = await writeDeployments(db, 'shop');
    // Another product's deployments, later than all of shop's, change nothing for shop.
    await clockMoves();
    for (const environment of names) {
      await upsertDeployment(db, {
        id: `zz-other-${environment}`, product: 'other', release: 'o1', environment, commitSha: 'f'.repeat(40),
        trigger: 'deploy.clicked', requestedBy: 'olga', state: 'succeeded', runId: null,
      });
    }
    all = await db.select().from(deployments).where(eq(deployments.product, 'shop'));
  });
  afterAll(async () => {
    await database?.close();
  });

  it('wrote what the scenario says', () => {
    expect(all).toHaveLength(TOTAL);
    expect(written.ids.production).toEqual([written.production]);
    expect(written.ids.staging!.length + written.ids.qa!.length).toBe(TOTAL - 1);
  });

  it('the capped list of the product\'s last 500 deployments lost production (the old answer)', async () => {
    const capped = await deploymentsOfProduct(db, 'shop');
    expect(capped).toHaveLength(500);
    expect(currentOf(capped.filter((d) => d.environment === 'production'))).toBeUndefined();
  });

  it('currentDeployments: production still runs its one deployment; failed ones after the last success change nothing', async () => {
    const current = await currentDeployments(db, 'shop', names);
    expect([...current.keys()].sort()).toEqual([...names].sort());
    expect(current.get('production')).toMatchObject({ id: written.production, environment: 'production', state: 'succeeded', product: 'shop' });
    expect(current.get('production')?.finishedAt).toBeInstanceOf(Date);
    expect(current.get('staging')?.id).toBe(written.last.staging);
    expect(current.get('qa')?.id).toBe(written.last.qa);
    // The newest deployment of staging and qa failed.
    for (const env of ['staging', 'qa'] as const) {
      const newest = [...all].filter((d) => d.environment === env).sort(newestFirst)[0];
      expect(newest?.state).toBe('failed');
      expect(newest?.id).not.toBe(written.last[env]);
    }
  });

  it('currentDeployments agrees with currentOf over every row', async () => {
    const current = await currentDeployments(db, 'shop', names);
    for (const env of names) {
      const expected = currentOf(all.filter((d) => d.environment === env));
      expect(expected, env).toBeDefined();
      expect(current.get(env), env).toEqual(expected);
    }
    const other = await currentDeployments(db, 'other', names);
    expect([...other.values()].map((d) => d.id).sort()).toEqual(names.map((e) => `zz-other-${e}`).sort());
  });

  it('currentDeployments: only the environments asked for; unknown ones and products have nothing', async () => {
    expect([...(await currentDeployments(db, 'shop', ['production'])).keys()]).toEqual(['production']);
    expect([...(await currentDeployments(db, 'shop', ['qa', 'qa'])).values()].map((d) => d.id)).toEqual([written.last.qa]);
    expect((await currentDeployments(db, 'shop', ['moon'])).size).toBe(0);
    expect((await currentDeployments(db, 'shop', [])).size).toBe(0);
    expect((await currentDeployments(db, 'nobody', names)).size).toBe(0);
  });

  it('environmentHistory: newest first, any state, 20 by default, at most the limit', async () => {
    for (const env of names) {
      const expected = all.filter((d) => d.environment === env).sort(newestFirst);
      const history = await environmentHistory(db, 'shop', env);
      expect(history).toHaveLength(Math.min(20, expected.length));
      expect(history).toEqual(expected.slice(0, 20));
      expect((await environmentHistory(db, 'shop', env, 5)).map((d) => d.id)).toEqual(expected.slice(0, 5).map((d) => d.id));
      expect((await environmentHistory(db, 'shop', env, 500)).map((d) => d.id)).toEqual(expected.slice(0, 500).map((d) => d.id));
    }
    expect((await environmentHistory(db, 'shop', 'production')).map((d) => d.id)).toEqual([written.production]);
    const staging = await environmentHistory(db, 'shop', 'staging', 500);
    expect(staging).toHaveLength(500);
    expect(staging.slice(0, 4).map((d) => d.state)).toEqual(['failed', 'failed', 'failed', 'succeeded']);
    expect(staging[3]?.id).toBe(written.last.staging);
    expect(await environmentHistory(db, 'shop', 'moon')).toEqual([]);
  });

  it('ties and unfinished timestamps are settled the same way as currentOf', async () => {
    const product = 'ties';
    const at = new Date('2030-01-01T00:00:00.000Z');
    const later = new Date('2030-01-01T00:00:01.000Z');
    for (const id of ['t-a', 't-c', 't-b', 't-old']) {
      await upsertDeployment(db, {
        id, product, release: '1.0', environment: 'staging', commitSha: 'a'.repeat(40), trigger: 'deploy.clicked', requestedBy: 'olga', state: 'succeeded', runId: null,
      });
    }
    const set = (id: string, v: { finishedAt: Date | null; createdAt: Date }) => db.update(deployments).set(v).where(and(eq(deployments.product, product), eq(deployments.id, id)));
    // Same finish and creation time: the larger id.
    for (const id of ['t-a', 't-c', 't-b']) await set(id, { finishedAt: at, createdAt: at });
    await set('t-old', { finishedAt: new Date('2029-01-01T00:00:00.000Z'), createdAt: at });
    let rows = await db.select().from(deployments).where(eq(deployments.product, product));
    expect((await currentDeployments(db, product, ['staging'])).get('staging')?.id).toBe('t-c');
    expect(currentOf(rows)?.id).toBe('t-c');
    // Same finish time: the later created.
    await set('t-a', { finishedAt: at, createdAt: new Date(at.getTime() - 1000) });
    await set('t-b', { finishedAt: at, createdAt: later });
    rows = await db.select().from(deployments).where(eq(deployments.product, product));
    expect((await currentDeployments(db, product, ['staging'])).get('staging')?.id).toBe('t-b');
    expect(currentOf(rows)?.id).toBe('t-b');
    // A succeeded deployment without a finish time counts from its creation.
    await set('t-old', { finishedAt: null, createdAt: new Date(later.getTime() + 1) });
    rows = await db.select().from(deployments).where(eq(deployments.product, product));
    expect((await currentDeployments(db, product, ['staging'])).get('staging')?.id).toBe('t-old');
    expect(currentOf(rows)?.id).toBe('t-old');
  });
});

describe('GET /v1/products/:product/environments with thousands of deployments', () => {
  let stack: Stack;
  const product = unique('scale');

  beforeAll(async () => {
    stack = await startStack({ worker: false });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('answers what runs in production however many deployments came after it', async () => {
    const created = await stack.call('POST', '/v1/products', {
      body: { name: product, repository: 'https://git.example.com/scale.git', flow: 'pull-request', trunk: 'main', environments: [...environments].reverse() },
    });
    expect(created.status, created.text).toBe(201);
    const written = await writeDeployments(stack.database.db, product);

    const viewer = await stack.token('vera', 'viewer', [product]);
    const res = await stack.call('GET', `/v1/products/${product}/environments`, { token: viewer });
    expect(res.status, res.text).toBe(200);
    type Item = EnvironmentConfig & { current: { release: string; commitSha: string; deploymentId: string; since: string | null } | null; history: { id: string; state: string; environment: string }[] };
    const items = res.body.items as Item[];
    expect(items.map((e) => [e.name, e.order, e.production])).toEqual([['staging', 1, false], ['qa', 2, false], ['production', 3, true]]);
    const byName = new Map(items.map((e) => [e.name, e]));
    const production = byName.get('production');
    const row = (await stack.database.db.select().from(deployments).where(eq(deployments.id, written.production)))[0];
    expect(production?.current).toEqual({
      release: row?.release, commitSha: row?.commitSha, deploymentId: written.production, since: row?.finishedAt?.toISOString(),
    });
    expect(production?.history.map((d) => d.id)).toEqual([written.production]);
    for (const env of ['staging', 'qa'] as const) {
      const item = byName.get(env);
      expect(item?.current?.deploymentId).toBe(written.last[env]);
      expect(item?.history).toHaveLength(20);
      expect(item?.history.every((d) => d.environment === env)).toBe(true);
      expect(item?.history.slice(0, 4).map((d) => d.state)).toEqual(['failed', 'failed', 'failed', 'succeeded']);
      expect(item?.history.map((d) => d.id)).toEqual([...(written.ids[env] ?? [])].reverse().slice(0, 20));
    }

    // historyLimit
    const three = await stack.call('GET', `/v1/products/${product}/environments?historyLimit=3`);
    expect(three.status, three.text).toBe(200);
    expect((three.body.items as Item[]).map((e) => e.history.length)).toEqual([3, 3, 1]);
    expect((three.body.items as Item[]).map((e) => e.current?.deploymentId)).toEqual([written.last.staging, written.last.qa, written.production]);
    const most = await stack.call('GET', `/v1/products/${product}/environments?historyLimit=500`);
    expect(most.status, most.text).toBe(200);
    expect((most.body.items as Item[]).map((e) => e.history.length)).toEqual([500, 500, 1]);
  });

  it('400 for a bad historyLimit, 401 without a token, 404 for an unknown product', async () => {
    for (const bad of ['0', '501', '-1', '2.5', 'many', '']) {
      const res = await stack.call('GET', `/v1/products/${product}/environments?historyLimit=${bad}`);
      expect(res.status, `${bad}: ${res.text}`).toBe(400);
      expect(res.body.code).toBe('bad_request');
      expect(res.body.details.issues.map((i: { path: string }) => i.path)).toContain('historyLimit');
    }
    const unknownParam = await stack.call('GET', `/v1/products/${product}/environments?limit=5`);
    expect(unknownParam.status, unknownParam.text).toBe(400);

    const anonymous = await stack.call('GET', `/v1/products/${product}/environments`, { token: '' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.code).toBe('unauthorized');

    const missing = await stack.call('GET', `/v1/products/${unique('nope')}/environments`);
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('product_not_found');
  });
});
