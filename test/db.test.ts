import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { and, count, eq, getTableName, is, sql } from 'drizzle-orm';
import { PgTable } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database, Db } from '../db/client.ts';
import { audited } from '../api/audit/record.ts';
import { ApiError } from '../api/errors.ts';
import { appendAudit, auditOfProduct } from '../db/repos/audit.ts';
import { getChange, latestChanges, listChanges, upsertChanges } from '../db/repos/changes.ts';
import type { ChangeRecord } from '../db/repos/changes.ts';
import { deploymentsOfProduct, deploymentsOfRelease, getDeployment, upsertDeployment } from '../db/repos/deployments.ts';
import type { DeploymentRecord } from '../db/repos/deployments.ts';
import { createProduct, getProduct, listProducts, updateProduct } from '../db/repos/products.ts';
import { SecondPullRequestReleaseError, getRelease, listReleases, moveReleaseHead, setReleaseState, upsertRelease } from '../db/repos/releases.ts';
import type { CommitEntry, NewRelease } from '../db/repos/releases.ts';
import { finishRun, getRun, runsByIds, runsOfRelease, startRun } from '../db/repos/runs.ts';
import { previewsOf, savePreviews, undecidedPicks } from '../db/repos/pick-previews.ts';
import type { PreviewRow } from '../db/repos/pick-previews.ts';
import type { NewRun } from '../db/repos/runs.ts';
import { findToken, hashSecret, issueToken } from '../db/repos/tokens.ts';
import { apiTokens, changeRequests, deployments, environments, products, releaseCommits, releases } from '../db/schema.ts';
import * as schema from '../db/schema.ts';
import type { AuditEntry, ChangeRequest } from '../db/schema.ts';
import type { Actor } from '../domain/types.ts';
import type { EnvironmentConfig, ProductConfig } from '../domain/types.ts';
import { openTestDatabase } from './helpers/db.ts';

// The database suite: the same tests on in-memory PGlite (default) and on the Postgres server named
// by DATABASE_URL (a fresh database, dropped on close). Each top-level describe opens its own
// migrated database and empties every table before each of its tests.

let database: Database;
let db: Db;

const allTables: PgTable[] = Object.values(schema as Record<string, unknown>).flatMap((v) => (is(v, PgTable) ? [v] : []));

function useDatabase(): void {
  beforeAll(async () => {
    database = await openTestDatabase();
    db = database.db;
  });
  afterAll(async () => {
    await database.close();
  });
  beforeEach(async () => {
    const names = allTables.map((t) => `"${getTableName(t)}"`).join(', ');
    await db.execute(sql.raw(`truncate table ${names} restart identity cascade`));
  });
}

/** Timestamps from now() have millisecond resolution on PGlite: apart by a few ms, creation order is unambiguous. */
/** Waits until the clock has moved on by a millisecond, so the next row's timestamp sorts after this one's. */
const clockMoves = async (): Promise<void> => {
  const start = Date.now();
  while (Date.now() <= start + 1) await new Promise<void>((resolve) => setImmediate(resolve));
};

function productConfig(name: string, envs: EnvironmentConfig[] = [], extra: Partial<ProductConfig> = {}): ProductConfig {
  return {
    name,
    repository: `/srv/git/${name}.git`,
    flow: 'pull-request',
    trunk: 'main',
    owners: ['olga'],
    steps: { build: { argv: ['make', 'build'], timeoutSeconds: 60 } },
    triggers: [{ on: 'release.cut', run: 'build' }],
    environments: envs,
    ...extra,
  };
}

function releaseRecord(product: string, name: string, extra: Partial<NewRelease> = {}): NewRelease {
  return {
    product, name, flow: 'cherry-pick', branch: `release/${name}`, cutFrom: 'c0ffee', headSha: 'c0ffee',
    workflowId: `release-${product}-${name}`, createdBy: 'ci-bot', ...extra,
  };
}

async function withRelease(product = 'shop', release = '1.0'): Promise<void> {
  expect(await createProduct(db, productConfig(product))).toBe(true);
  await upsertRelease(db, releaseRecord(product, release));
}

function change(seq: number, extra: Partial<ChangeRecord> = {}): ChangeRecord {
  return { id: `cr-${seq}`, seq, kind: 'merge', state: 'requested', check: 'none', requester: 'dev', ...extra };
}

async function changeCount(product = 'shop', release = '1.0'): Promise<number> {
  const rows = await db.select({ n: count() }).from(changeRequests)
    .where(and(eq(changeRequests.product, product), eq(changeRequests.release, release)));
  return rows[0]?.n ?? -1;
}

async function mustGetChange(id: string, product = 'shop', release = '1.0'): Promise<ChangeRequest> {
  const row = await getChange(db, product, release, id);
  if (!row) throw new Error(`change ${id} not found`);
  return row;
}

describe('products', () => {
  useDatabase();

  const envs: EnvironmentConfig[] = [
    { name: 'staging', order: 1, production: false },
    { name: 'prod', order: 2, production: true },
  ];

  it('creates a product with its environments and refuses a duplicate name', async () => {
    expect(await createProduct(db, productConfig('shop', envs))).toBe(true);
    expect(await createProduct(db, productConfig('shop', [{ name: 'other', order: 9, production: true }], { trunk: 'dev' }))).toBe(false);

    const rows = await db.select().from(products);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.flow).toBe('pull-request');

    const envRows = await db.select().from(environments).where(eq(environments.product, 'shop')).orderBy(environments.order);
    expect(envRows.map((e) => ({ name: e.name, order: e.order, production: e.production }))).toEqual(envs);

    // Stored as JSON, not as a JSON-encoded string (drivers differ in how they send jsonb).
    const kinds = await db.execute(sql`select jsonb_typeof(config) as kind from products`);
    expect(JSON.stringify(kinds)).toContain('"kind":"object"');

    // The refused duplicate changed nothing.
    const got = await getProduct(db, 'shop');
    expect(got?.config).toEqual(productConfig('shop', envs));
  });

  it('gets a product, and nothing for an unknown name', async () => {
    const config = productConfig('shop', envs, { flow: 'cherry-pick' });
    await createProduct(db, config);
    const got = await getProduct(db, 'shop');
    expect(got?.config).toEqual(config);
    expect(got?.createdAt).toBeInstanceOf(Date);
    expect(got?.updatedAt).toBeInstanceOf(Date);
    expect(await getProduct(db, 'nope')).toBeUndefined();
  });

  it('lists products ordered by name', async () => {
    for (const name of ['mango', 'apple', 'zebra', 'kiwi']) await createProduct(db, productConfig(name));
    expect((await listProducts(db)).map((p) => p.config.name)).toEqual(['apple', 'kiwi', 'mango', 'zebra']);
  });

  it('creates a product without environments', async () => {
    expect(await createProduct(db, productConfig('bare'))).toBe(true);
    expect(await db.select().from(environments)).toEqual([]);
  });

  it('update replaces the config and the environments', async () => {
    await createProduct(db, productConfig('shop', envs));
    await createProduct(db, productConfig('other', [{ name: 'qa', order: 1, production: false }]));
    const before = await getProduct(db, 'shop');

    const next = productConfig('shop', [{ name: 'canary', order: 1, production: false }, { name: 'prod', order: 3, production: true }], {
      flow: 'binary', owners: ['olga', 'piet'],
    });
    await updateProduct(db, next);

    const after = await getProduct(db, 'shop');
    expect(after?.config).toEqual(next);
    expect(after?.createdAt.getTime()).toBe(before?.createdAt.getTime());
    expect(after!.updatedAt.getTime()).toBeGreaterThanOrEqual(before!.updatedAt.getTime());
    expect((await db.select().from(products).where(eq(products.name, 'shop')))[0]?.flow).toBe('binary');

    const envRows = await db.select().from(environments).where(eq(environments.product, 'shop')).orderBy(environments.order);
    expect(envRows.map((e) => [e.name, e.order, e.production])).toEqual([['canary', 1, false], ['prod', 3, true]]);
    // Another product's environments are untouched.
    expect((await db.select().from(environments).where(eq(environments.product, 'other'))).map((e) => e.name)).toEqual(['qa']);

    await updateProduct(db, productConfig('shop', []));
    expect(await db.select().from(environments).where(eq(environments.product, 'shop'))).toEqual([]);
  });
});

describe('releases', () => {
  useDatabase();

  beforeEach(async () => {
    await createProduct(db, productConfig('shop'));
    await createProduct(db, productConfig('other'));
  });

  it('upsertRelease is idempotent: twice gives one row with the same values', async () => {
    const r = releaseRecord('shop', '1.0', { production: false });
    await upsertRelease(db, r);
    const first = await getRelease(db, 'shop', '1.0');
    await upsertRelease(db, r);
    const rows = await db.select().from(releases);
    expect(rows).toHaveLength(1);
    const second = await getRelease(db, 'shop', '1.0');
    expect(second).toMatchObject({ ...r, state: 'open' });
    const { updatedAt: _u1, ...firstRest } = first!;
    const { updatedAt: _u2, ...secondRest } = second!;
    expect(secondRest).toEqual(firstRest);
    expect(second!.updatedAt.getTime()).toBeGreaterThanOrEqual(first!.updatedAt.getTime());
  });

  it('a pull-request product has one release: a second name is refused, the same one is an upsert', async () => {
    const master = releaseRecord('shop', 'master', { flow: 'pull-request' });
    await upsertRelease(db, master);
    await upsertRelease(db, master);
    const second = await upsertRelease(db, releaseRecord('shop', 'second', { flow: 'pull-request' })).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(SecondPullRequestReleaseError);
    expect((second as Error).message).toMatch(/shop uses the pull-request flow/);
    await upsertRelease(db, releaseRecord('other', 'master', { flow: 'pull-request' }));
    await upsertRelease(db, releaseRecord('shop', '1.0'));
    expect((await listReleases(db, 'shop')).map((r) => r.name).sort()).toEqual(['1.0', 'master']);
  });

  it('getRelease finds by product and name only', async () => {
    await upsertRelease(db, releaseRecord('shop', '1.0'));
    expect((await getRelease(db, 'shop', '1.0'))?.workflowId).toBe('release-shop-1.0');
    expect(await getRelease(db, 'other', '1.0')).toBeUndefined();
    expect(await getRelease(db, 'shop', '2.0')).toBeUndefined();
  });

  it('listReleases lists one product, oldest first', async () => {
    for (const name of ['3.0', '1.0', '2.0']) {
      await upsertRelease(db, releaseRecord('shop', name));
      await clockMoves();
    }
    await upsertRelease(db, releaseRecord('other', '9.0'));
    expect((await listReleases(db, 'shop')).map((r) => r.name)).toEqual(['3.0', '1.0', '2.0']);
    expect((await listReleases(db, 'other')).map((r) => r.name)).toEqual(['9.0']);
    expect(await listReleases(db, 'none')).toEqual([]);
  });

  it('setReleaseState changes the state of one release', async () => {
    await upsertRelease(db, releaseRecord('shop', '1.0'));
    await upsertRelease(db, releaseRecord('shop', '2.0'));
    await setReleaseState(db, 'shop', '1.0', 'frozen');
    expect((await getRelease(db, 'shop', '1.0'))?.state).toBe('frozen');
    expect((await getRelease(db, 'shop', '2.0'))?.state).toBe('open');
    await setReleaseState(db, 'shop', '1.0', 'closed');
    expect((await getRelease(db, 'shop', '1.0'))?.state).toBe('closed');
    // A retried cut does not reopen it.
    await upsertRelease(db, releaseRecord('shop', '1.0'));
    expect((await getRelease(db, 'shop', '1.0'))?.state).toBe('closed');
  });

  it('moveReleaseHead moves the head and records commits once, even when called twice', async () => {
    await upsertRelease(db, releaseRecord('shop', '1.0'));
    await upsertRelease(db, releaseRecord('shop', '2.0'));
    const commits: CommitEntry[] = [
      { sha: 'a1', originSha: null, changeId: 'cr-1' },
      { sha: 'a2', originSha: 'o2', changeId: 'cr-2' },
    ];
    await moveReleaseHead(db, 'shop', '1.0', 'a2', commits);
    await moveReleaseHead(db, 'shop', '1.0', 'a2', commits);
    expect((await getRelease(db, 'shop', '1.0'))?.headSha).toBe('a2');
    expect((await getRelease(db, 'shop', '2.0'))?.headSha).toBe('c0ffee');

    const rows = await db.select().from(releaseCommits).orderBy(releaseCommits.sha);
    expect(rows.map((c) => ({ product: c.product, release: c.release, sha: c.sha, originSha: c.originSha, changeId: c.changeId }))).toEqual([
      { product: 'shop', release: '1.0', sha: 'a1', originSha: null, changeId: 'cr-1' },
      { product: 'shop', release: '1.0', sha: 'a2', originSha: 'o2', changeId: 'cr-2' },
    ]);

    // A later move with an overlapping list only adds the new commit.
    await moveReleaseHead(db, 'shop', '1.0', 'a3', [...commits, { sha: 'a3', originSha: null, changeId: null }]);
    expect((await getRelease(db, 'shop', '1.0'))?.headSha).toBe('a3');
    expect((await db.select().from(releaseCommits)).map((c) => c.sha).sort()).toEqual(['a1', 'a2', 'a3']);

    // The same sha on another release is its own row.
    await moveReleaseHead(db, 'shop', '2.0', 'a1', [commits[0]!]);
    expect(await db.select({ n: count() }).from(releaseCommits)).toEqual([{ n: 4 }]);
  });

  it('moveReleaseHead with no commits only moves the head', async () => {
    await upsertRelease(db, releaseRecord('shop', '1.0'));
    await moveReleaseHead(db, 'shop', '1.0', 'beef', []);
    expect((await getRelease(db, 'shop', '1.0'))?.headSha).toBe('beef');
    expect(await db.select().from(releaseCommits)).toEqual([]);
  });

  it('moveReleaseHead is one transaction: a bad commit late in a large batch leaves head and commits unchanged', async () => {
    await upsertRelease(db, releaseRecord('shop', '1.0'));
    const commits: CommitEntry[] = Array.from({ length: 1200 }, (_, i) => ({ sha: `s${i}`, originSha: null, changeId: null }));
    commits[1100] = { sha: null as unknown as string, originSha: null, changeId: null };
    await expect(moveReleaseHead(db, 'shop', '1.0', 'bad-head', commits)).rejects.toThrow();
    expect((await getRelease(db, 'shop', '1.0'))?.headSha).toBe('c0ffee');
    expect(await db.select().from(releaseCommits)).toEqual([]);

    // And the full batch (more than one chunk) goes in when valid.
    commits[1100] = { sha: 's1100', originSha: null, changeId: null };
    await moveReleaseHead(db, 'shop', '1.0', 'good-head', commits);
    expect((await getRelease(db, 'shop', '1.0'))?.headSha).toBe('good-head');
    expect(await db.select({ n: count() }).from(releaseCommits)).toEqual([{ n: 1200 }]);
  });
});

describe('changes', () => {
  useDatabase();

  beforeEach(async () => {
    await withRelease('shop', '1.0');
  });

  it('upsertChanges inserts 500 rows in one call', async () => {
    const records = Array.from({ length: 500 }, (_, i) => change(i + 1));
    await upsertChanges(db, 'shop', '1.0', records);
    expect(await changeCount()).toBe(500);
    const page = await listChanges(db, 'shop', '1.0', { limit: 1000, offset: 0 });
    expect(page.total).toBe(500);
    expect(page.items.map((c) => c.seq)).toEqual(records.map((r) => r.seq));
    const last = await mustGetChange('cr-500');
    expect(last).toMatchObject({ product: 'shop', release: '1.0', seq: 500, state: 'requested', checkOutcome: 'none', commits: [] });
    expect(last.history).toHaveLength(1);
  });

  it('upsertChanges is one transaction: one invalid row leaves none of the batch behind', async () => {
    const records = Array.from({ length: 500 }, (_, i) => change(i + 1));
    // Past the first two chunks, so earlier statements of the transaction had already succeeded.
    records[450] = change(451, { state: 'no-such-state' as ChangeRecord['state'] });
    await expect(upsertChanges(db, 'shop', '1.0', records)).rejects.toThrow();
    expect(await changeCount()).toBe(0);

    // The database is still usable and the repaired batch goes in.
    records[450] = change(451);
    await upsertChanges(db, 'shop', '1.0', records);
    expect(await changeCount()).toBe(500);
  });

  it('a failed batch does not touch rows that existed before it', async () => {
    await upsertChanges(db, 'shop', '1.0', [change(1)]);
    const records = [change(1, { state: 'checking' }), change(2), change(3, { kind: 'bogus' as ChangeRecord['kind'] })];
    await expect(upsertChanges(db, 'shop', '1.0', records)).rejects.toThrow();
    const one = await mustGetChange('cr-1');
    expect(one.state).toBe('requested');
    expect(one.history).toHaveLength(1);
    expect(await changeCount()).toBe(1);
  });

  it('an empty batch is a no-op', async () => {
    await upsertChanges(db, 'shop', '1.0', []);
    expect(await changeCount()).toBe(0);
  });

  it('a new state appends one history event; a retry with the same state does not', async () => {
    const t0 = new Date('2024-05-01T10:00:00.000Z');
    const t1 = new Date('2024-05-01T10:05:00.000Z');
    const t2 = new Date('2024-05-01T10:10:00.000Z');
    await upsertChanges(db, 'shop', '1.0', [change(1, { by: 'dev' })], t0);
    await upsertChanges(db, 'shop', '1.0', [change(1, { by: 'dev' })], t0);
    let row = await mustGetChange('cr-1');
    expect(row.history).toEqual([{ at: t0.toISOString(), state: 'requested', by: 'dev' }]);

    await upsertChanges(db, 'shop', '1.0', [change(1, { state: 'checking', check: 'running', note: 'ci started' })], t1);
    row = await mustGetChange('cr-1');
    expect(row.state).toBe('checking');
    expect(row.checkOutcome).toBe('running');
    expect(row.history).toEqual([
      { at: t0.toISOString(), state: 'requested', by: 'dev' },
      { at: t1.toISOString(), state: 'checking', note: 'ci started' },
    ]);

    // Retried activity: same state again, later time. No new event; the row is otherwise rewritten.
    await upsertChanges(db, 'shop', '1.0', [change(1, { state: 'checking', check: 'passed', note: 'ci started' })], t2);
    row = await mustGetChange('cr-1');
    expect(row.history).toHaveLength(2);
    expect(row.checkOutcome).toBe('passed');
    expect(row.createdAt.toISOString()).toBe(t0.toISOString());
    expect(row.updatedAt.toISOString()).toBe(t2.toISOString());
    expect(await changeCount()).toBe(1);
  });

  it('coalescing fields keep their value when a later upsert passes null', async () => {
    await upsertChanges(db, 'shop', '1.0', [change(1, { state: 'checking', checkRunId: 'run-1' })]);
    await upsertChanges(db, 'shop', '1.0', [change(1, {
      state: 'conflict', resultSha: 'r35u17', conflictPaths: ['a.txt', 'b/c.txt'], decidedBy: 'olga', decisionComment: 'ok',
    })]);
    await upsertChanges(db, 'shop', '1.0', [change(1, {
      state: 'merged', checkRunId: null, resultSha: null, conflictPaths: null, decidedBy: null, decisionComment: null,
    })]);
    const row = await mustGetChange('cr-1');
    expect(row).toMatchObject({
      state: 'merged', checkRunId: 'run-1', resultSha: 'r35u17', conflictPaths: ['a.txt', 'b/c.txt'], decidedBy: 'olga', decisionComment: 'ok',
    });
    expect(row.history.map((e) => e.state)).toEqual(['checking', 'conflict', 'merged']);

    // A later non-null value does replace.
    await upsertChanges(db, 'shop', '1.0', [change(1, { state: 'merged', resultSha: 'n3w' })]);
    expect((await mustGetChange('cr-1')).resultSha).toBe('n3w');
  });

  it('stores the optional fields and keeps releases apart', async () => {
    await upsertChanges(db, 'shop', '1.0', [change(1, {
      kind: 'pick', branch: 'feature/x', sourceSha: 'abc', commits: ['c1', 'c2'], reason: 'hotfix', severity: 'high',
    })]);
    await upsertRelease(db, releaseRecord('shop', '2.0'));
    await upsertChanges(db, 'shop', '2.0', [change(1, { id: 'other-1' })]);
    const row = await mustGetChange('cr-1');
    expect(row).toMatchObject({ kind: 'pick', branch: 'feature/x', sourceSha: 'abc', commits: ['c1', 'c2'], reason: 'hotfix', severity: 'high' });
    expect(await getChange(db, 'shop', '2.0', 'cr-1')).toBeUndefined();
    expect((await listChanges(db, 'shop', '2.0', { limit: 10, offset: 0 })).items.map((c) => c.id)).toEqual(['other-1']);
    expect((await latestChanges(db, 'shop', '1.0', 10)).map((c) => c.id)).toEqual(['cr-1']);
  });

  describe('listChanges', () => {
    // seq 1..6, created out of seq order so that age and seq sorts differ.
    const minute = (m: number): Date => new Date(Date.UTC(2024, 4, 1, 12, m));
    const fixture: { record: ChangeRecord; at: Date }[] = [
      { record: change(1, { state: 'requested', severity: 'high', requester: 'ann' }), at: minute(30) },
      { record: change(2, { state: 'merged', severity: 'low', requester: 'bob' }), at: minute(10) },
      { record: change(3, { state: 'rejected', severity: 'high', requester: 'ann' }), at: minute(50) },
      { record: change(4, { state: 'requested', severity: null, requester: 'bob' }), at: minute(20) },
      { record: change(5, { state: 'checking', severity: 'high', requester: 'cid' }), at: minute(40) },
      { record: change(6, { state: 'merged', severity: 'high', requester: 'ann' }), at: minute(20) },
    ];

    beforeEach(async () => {
      for (const { record, at } of fixture) await upsertChanges(db, 'shop', '1.0', [record], at);
      // Noise in another product and release.
      await withRelease('other', '1.0');
      await upsertChanges(db, 'other', '1.0', [change(1, { id: 'o-1', requester: 'ann', severity: 'high' })]);
    });

    const seqs = (items: ChangeRequest[]): number[] => items.map((c) => c.seq);

    it('without filters lists everything of the release, by seq', async () => {
      const page = await listChanges(db, 'shop', '1.0', { limit: 50, offset: 0 });
      expect(page.total).toBe(6);
      expect(seqs(page.items)).toEqual([1, 2, 3, 4, 5, 6]);
    });

    it('filters by a list of states', async () => {
      const page = await listChanges(db, 'shop', '1.0', { state: ['requested', 'merged'], limit: 50, offset: 0 });
      expect(page.total).toBe(4);
      expect(seqs(page.items)).toEqual([1, 2, 4, 6]);
      expect(seqs((await listChanges(db, 'shop', '1.0', { state: ['checking'], limit: 50, offset: 0 })).items)).toEqual([5]);
      expect(await listChanges(db, 'shop', '1.0', { state: ['conflict'], limit: 50, offset: 0 })).toEqual({ items: [], total: 0 });
      // An empty list means no state filter.
      expect((await listChanges(db, 'shop', '1.0', { state: [], limit: 50, offset: 0 })).total).toBe(6);
    });

    it('filters by severity and by requester, combined with states', async () => {
      expect(seqs((await listChanges(db, 'shop', '1.0', { severity: 'high', limit: 50, offset: 0 })).items)).toEqual([1, 3, 5, 6]);
      expect(seqs((await listChanges(db, 'shop', '1.0', { requester: 'bob', limit: 50, offset: 0 })).items)).toEqual([2, 4]);
      const combined = await listChanges(db, 'shop', '1.0', { state: ['requested', 'merged', 'rejected'], severity: 'high', requester: 'ann', limit: 50, offset: 0 });
      expect(combined.total).toBe(3);
      expect(seqs(combined.items)).toEqual([1, 3, 6]);
    });

    it('paginates, with the total of all matches', async () => {
      const p1 = await listChanges(db, 'shop', '1.0', { limit: 2, offset: 0 });
      const p2 = await listChanges(db, 'shop', '1.0', { limit: 2, offset: 2 });
      const p3 = await listChanges(db, 'shop', '1.0', { limit: 2, offset: 4 });
      const p4 = await listChanges(db, 'shop', '1.0', { limit: 2, offset: 6 });
      expect([p1, p2, p3, p4].map((p) => p.total)).toEqual([6, 6, 6, 6]);
      expect([p1, p2, p3, p4].map((p) => seqs(p.items))).toEqual([[1, 2], [3, 4], [5, 6], []]);
      const filtered = await listChanges(db, 'shop', '1.0', { severity: 'high', limit: 3, offset: 1 });
      expect(filtered.total).toBe(4);
      expect(seqs(filtered.items)).toEqual([3, 5, 6]);
    });

    it('sorts by seq or by age (creation time, then seq)', async () => {
      expect(seqs((await listChanges(db, 'shop', '1.0', { sort: 'seq', limit: 50, offset: 0 })).items)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(seqs((await listChanges(db, 'shop', '1.0', { sort: 'age', limit: 50, offset: 0 })).items)).toEqual([2, 4, 6, 1, 5, 3]);
      expect(seqs((await listChanges(db, 'shop', '1.0', { sort: 'age', limit: 2, offset: 2 })).items)).toEqual([6, 1]);
      // A later state change does not change the age.
      await upsertChanges(db, 'shop', '1.0', [change(2, { state: 'failed' })], minute(59));
      expect(seqs((await listChanges(db, 'shop', '1.0', { sort: 'age', limit: 50, offset: 0 })).items)).toEqual([2, 4, 6, 1, 5, 3]);
    });

    it('latestChanges lists newest seq first', async () => {
      expect((await latestChanges(db, 'shop', '1.0', 3)).map((c) => c.seq)).toEqual([6, 5, 4]);
    });
  });
});

describe('runs', () => {
  useDatabase();

  const run = (id: string, extra: Partial<NewRun> = {}): NewRun => ({
    id, product: 'shop', release: '1.0', step: 'build', argv: ['make', 'build'], commitSha: 'abc', state: 'running',
    logPath: `/logs/${id}.log`, ...extra,
  });

  it('startRun, finishRun and getRun', async () => {
    await startRun(db, run('r1', { changeId: 'cr-1', state: 'succeeded' }));
    let got = await getRun(db, 'r1');
    // startRun always starts in running, whatever the record says.
    expect(got).toMatchObject({
      id: 'r1', product: 'shop', release: '1.0', changeId: 'cr-1', deploymentId: null, step: 'build', argv: ['make', 'build'],
      commitSha: 'abc', state: 'running', exitCode: null, durationMs: null, logPath: '/logs/r1.log', finishedAt: null,
    });
    expect(got?.startedAt).toBeInstanceOf(Date);

    await finishRun(db, 'r1', { state: 'failed', exitCode: 2, durationMs: 1234 });
    got = await getRun(db, 'r1');
    expect(got).toMatchObject({ state: 'failed', exitCode: 2, durationMs: 1234 });
    expect(got?.finishedAt).toBeInstanceOf(Date);

    await finishRun(db, 'r1', { state: 'timed_out', exitCode: null, durationMs: 60_000 });
    expect(await getRun(db, 'r1')).toMatchObject({ state: 'timed_out', exitCode: null, durationMs: 60_000 });
    expect(await getRun(db, 'missing')).toBeUndefined();
  });

  it('startRun again with the same id resets the run to running', async () => {
    await startRun(db, run('r1'));
    const first = await getRun(db, 'r1');
    await finishRun(db, 'r1', { state: 'failed', exitCode: 1, durationMs: 10 });
    await clockMoves();
    await startRun(db, run('r1'));
    const again = await getRun(db, 'r1');
    expect(again).toMatchObject({ state: 'running', exitCode: null, durationMs: null, finishedAt: null });
    expect(again!.startedAt.getTime()).toBeGreaterThan(first!.startedAt.getTime());
    expect(await runsByIds(db, ['r1'])).toHaveLength(1);
  });

  it('runsOfRelease lists one release, newest first, with a limit', async () => {
    for (const id of ['r1', 'r2', 'r3']) {
      await startRun(db, run(id));
      await clockMoves();
    }
    await startRun(db, run('x1', { release: '2.0' }));
    await startRun(db, run('y1', { product: 'other' }));
    expect((await runsOfRelease(db, 'shop', '1.0')).map((r) => r.id)).toEqual(['r3', 'r2', 'r1']);
    expect((await runsOfRelease(db, 'shop', '1.0', 2)).map((r) => r.id)).toEqual(['r3', 'r2']);
    expect((await runsOfRelease(db, 'shop', '2.0')).map((r) => r.id)).toEqual(['x1']);
    expect(await runsOfRelease(db, 'shop', '3.0')).toEqual([]);
  });

  it('runsByIds returns the known runs among the ids', async () => {
    await startRun(db, run('r1'));
    await startRun(db, run('r2', { deploymentId: 'd1' }));
    await startRun(db, run('r3'));
    expect((await runsByIds(db, ['r3', 'r1', 'nope'])).map((r) => r.id).sort()).toEqual(['r1', 'r3']);
    expect(await runsByIds(db, [])).toEqual([]);
    expect((await runsByIds(db, ['r2']))[0]?.deploymentId).toBe('d1');
  });
});

describe('deployments', () => {
  useDatabase();

  const deployment = (id: string, extra: Partial<DeploymentRecord> = {}): DeploymentRecord => ({
    id, product: 'shop', release: '1.0', environment: 'staging', commitSha: 'abc', trigger: 'deploy.clicked',
    requestedBy: 'olga', state: 'pending', runId: null, ...extra,
  });

  it('upsertDeployment inserts and moves through the states', async () => {
    await upsertDeployment(db, deployment('d1'));
    expect(await getDeployment(db, 'd1')).toMatchObject({ state: 'pending', runId: null, finishedAt: null, environment: 'staging' });
    await upsertDeployment(db, deployment('d1', { state: 'running', runId: 'run-1' }));
    expect(await getDeployment(db, 'd1')).toMatchObject({ state: 'running', runId: 'run-1', finishedAt: null });
    // runId is kept when a later upsert has none.
    await upsertDeployment(db, deployment('d1', { state: 'succeeded', runId: null }));
    const done = await getDeployment(db, 'd1');
    expect(done).toMatchObject({ state: 'succeeded', runId: 'run-1' });
    expect(done?.finishedAt).toBeInstanceOf(Date);
    expect(await getDeployment(db, 'missing')).toBeUndefined();
    expect(await db.select({ n: count() }).from(deployments)).toEqual([{ n: 1 }]);
  });

  it('a finished deployment never goes back to pending or running', async () => {
    await upsertDeployment(db, deployment('d1', { state: 'running', runId: 'run-1' }));
    await upsertDeployment(db, deployment('d1', { state: 'failed' }));
    const failed = await getDeployment(db, 'd1');
    expect(failed?.state).toBe('failed');
    expect(failed?.finishedAt).toBeInstanceOf(Date);

    await clockMoves();
    for (const state of ['pending', 'running', 'succeeded'] as const) {
      await upsertDeployment(db, deployment('d1', { state, runId: 'run-2' }));
      const row = await getDeployment(db, 'd1');
      expect(row?.state).toBe('failed');
      expect(row?.finishedAt?.getTime()).toBe(failed?.finishedAt?.getTime());
    }

    await upsertDeployment(db, deployment('d2', { state: 'succeeded' }));
    await upsertDeployment(db, deployment('d2', { state: 'running' }));
    await upsertDeployment(db, deployment('d2', { state: 'pending' }));
    expect((await getDeployment(db, 'd2'))?.state).toBe('succeeded');
  });

  it('deploymentsOfProduct and deploymentsOfRelease list newest first', async () => {
    const ids = ['d1', 'd2', 'd3', 'd4'];
    for (const [i, id] of ids.entries()) {
      await upsertDeployment(db, deployment(id, { release: i % 2 === 0 ? '1.0' : '2.0' }));
      await clockMoves();
    }
    await upsertDeployment(db, deployment('o1', { product: 'other' }));
    // Updating an old deployment does not move it up.
    await upsertDeployment(db, deployment('d1', { state: 'running' }));
    expect((await deploymentsOfProduct(db, 'shop')).map((d) => d.id)).toEqual(['d4', 'd3', 'd2', 'd1']);
    expect((await deploymentsOfProduct(db, 'shop', 2)).map((d) => d.id)).toEqual(['d4', 'd3']);
    expect((await deploymentsOfRelease(db, 'shop', '1.0')).map((d) => d.id)).toEqual(['d3', 'd1']);
    expect((await deploymentsOfProduct(db, 'other')).map((d) => d.id)).toEqual(['o1']);
    expect(await deploymentsOfProduct(db, 'none')).toEqual([]);
  });
});

describe('tokens', () => {
  useDatabase();

  it('issueToken stores only the sha256 hash of the secret', async () => {
    const { token, secret } = await issueToken(db, { name: 'ci', role: 'ci', products: ['shop'] });
    expect(secret).toMatch(/^cvt_/);
    const rows = await db.select().from(apiTokens);
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row.secretHash).toBe(createHash('sha256').update(secret).digest('hex'));
    expect(row.secretHash).toBe(hashSecret(secret));
    expect(JSON.stringify(row)).not.toContain(secret);
    expect(JSON.stringify(row)).not.toContain(secret.slice(4));
    expect(row).toMatchObject({ id: token.id, name: 'ci', role: 'ci', products: ['shop'], revokedAt: null });
  });

  it('findToken finds by secret, and only by the right one', async () => {
    const a = await issueToken(db, { name: 'admin', role: 'admin', products: null });
    const b = await issueToken(db, { name: 'viewer', role: 'viewer', products: ['shop', 'other'] });
    expect(a.secret).not.toBe(b.secret);
    expect((await findToken(db, a.secret))?.id).toBe(a.token.id);
    expect(await findToken(db, b.secret)).toMatchObject({ id: b.token.id, role: 'viewer', products: ['shop', 'other'] });
    expect((await findToken(db, a.secret))?.products).toBeNull();
    expect(await findToken(db, 'cvt_wrong')).toBeUndefined();
    expect(await findToken(db, a.token.secretHash)).toBeUndefined();
  });

  it('a revoked token is not found', async () => {
    const { token, secret } = await issueToken(db, { name: 'ci', role: 'ci', products: null });
    const other = await issueToken(db, { name: 'ci2', role: 'ci', products: null });
    await db.update(apiTokens).set({ revokedAt: new Date() }).where(eq(apiTokens.id, token.id));
    expect(await findToken(db, secret)).toBeUndefined();
    expect((await findToken(db, other.secret))?.id).toBe(other.token.id);
  });

  it('issueToken with the same given secret twice returns the same token', async () => {
    const given = 'cvt_bootstrap-admin-secret';
    const first = await issueToken(db, { name: 'bootstrap', role: 'admin', products: null, secret: given });
    const second = await issueToken(db, { name: 'bootstrap', role: 'admin', products: null, secret: given });
    expect(first.secret).toBe(given);
    expect(second.secret).toBe(given);
    expect(second.token).toEqual(first.token);
    expect(await db.select().from(apiTokens)).toHaveLength(1);
    expect((await findToken(db, given))?.id).toBe(first.token.id);
  });
});

describe('audit', () => {
  useDatabase();

  it('appendAudit and auditOfProduct: one product, newest first, with a limit', async () => {
    await appendAudit(db, { actor: 'olga', action: 'product.create', product: 'shop', details: { flow: 'pull-request' } });
    await appendAudit(db, { actor: 'ci', tokenId: 't1', action: 'release.cut', product: 'shop', release: '1.0', target: '1.0' });
    await appendAudit(db, { actor: 'olga', action: 'product.create', product: 'other' });
    await appendAudit(db, { actor: 'piet', action: 'change.approve', product: 'shop', release: '1.0', target: 'cr-1', details: { comment: 'lgtm' } });
    await appendAudit(db, { actor: 'admin', action: 'token.issue' });

    const entries = await auditOfProduct(db, 'shop');
    expect(entries.map((e) => e.action)).toEqual(['change.approve', 'release.cut', 'product.create']);
    expect(entries[0]).toMatchObject({ actor: 'piet', release: '1.0', target: 'cr-1', details: { comment: 'lgtm' }, tokenId: null });
    expect(entries[1]).toMatchObject({ actor: 'ci', tokenId: 't1', details: null });
    expect(entries[2]?.details).toEqual({ flow: 'pull-request' });
    expect(entries.every((e) => e.at instanceof Date)).toBe(true);
    expect(typeof entries[0]?.id).toBe('number');
    expect(entries[0]!.id).toBeGreaterThan(entries[1]!.id);

    expect((await auditOfProduct(db, 'shop', 2)).map((e) => e.action)).toEqual(['change.approve', 'release.cut']);
    expect((await auditOfProduct(db, 'other')).map((e) => e.actor)).toEqual(['olga']);
    expect(await auditOfProduct(db, 'none')).toEqual([]);
  });

  it('audited writes the entry before the action and settles it after: done, or refused with the answer', async () => {
    const actor: Actor = { name: 'olga', role: 'owner', products: ['shop'], tokenId: 't1' };
    let during: AuditEntry | undefined;
    const result = await audited(db, actor, 'release.freeze', { product: 'shop', release: '1.0' }, async () => {
      during = (await auditOfProduct(db, 'shop'))[0];
      return 42;
    }, (n) => ({ answer: n }));
    expect(result).toBe(42);
    expect(during).toMatchObject({ action: 'release.freeze', actor: 'olga', tokenId: 't1', outcome: 'pending', refusal: null });
    expect((await auditOfProduct(db, 'shop'))[0]).toMatchObject({ id: during?.id, outcome: 'done', details: { answer: 42 } });

    const refused = audited(db, actor, 'release.close', { product: 'shop', release: '1.0' }, () => Promise.reject(new ApiError('release_closed', 'release shop/1.0 is already closed')));
    await expect(refused).rejects.toThrow('already closed');
    expect((await auditOfProduct(db, 'shop'))[0]).toMatchObject({
      action: 'release.close', outcome: 'refused', refusal: { code: 'release_closed', message: 'release shop/1.0 is already closed' },
    });
    // Paging by id.
    const [newest, older] = await auditOfProduct(db, 'shop');
    expect((await auditOfProduct(db, 'shop', 10, newest?.id))[0]?.id).toBe(older?.id);
  });
});

describe('pick previews', () => {
  useDatabase();

  const row = (changeId: string, outcome: PreviewRow['outcome'], extra: Partial<PreviewRow> = {}): PreviewRow =>
    ({ changeId, outcome, paths: [], presentSha: null, detail: null, ...extra });

  it('savePreviews stores the answers on a head and replaces older ones; previewsOf reads them back by request', async () => {
    await savePreviews(db, 'shop', '1.0', 'a'.repeat(40), [
      row('cr-1', 'applies', { paths: ['src/a.ts', 'ü/b c.txt'] }), row('cr-2', 'conflicts', { paths: ['shared.txt'] }), row('cr-3', 'error', { detail: 'gone' }),
    ]);
    await savePreviews(db, 'shop', '2.0', 'a'.repeat(40), [row('cr-1', 'applies')]);
    const first = await previewsOf(db, 'shop', '1.0');
    expect([...first.keys()].sort()).toEqual(['cr-1', 'cr-2', 'cr-3']);
    expect(first.get('cr-1')).toMatchObject({ headSha: 'a'.repeat(40), outcome: 'applies', paths: ['src/a.ts', 'ü/b c.txt'], presentSha: null, detail: null });
    expect(first.get('cr-1')?.computedAt).toBeInstanceOf(Date);

    // The head moved: the new answer replaces the old one; a request not answered again keeps its old (stale) one.
    await savePreviews(db, 'shop', '1.0', 'b'.repeat(40), [row('cr-2', 'already-present', { presentSha: 'c'.repeat(40), detail: 'the same patch' })]);
    const second = await previewsOf(db, 'shop', '1.0');
    expect(second.get('cr-2')).toMatchObject({ headSha: 'b'.repeat(40), outcome: 'already-present', paths: [], presentSha: 'c'.repeat(40), detail: 'the same patch' });
    expect(second.get('cr-1')?.headSha).toBe('a'.repeat(40));
    expect([...(await previewsOf(db, 'shop', '1.0', ['cr-3', 'cr-9'])).keys()]).toEqual(['cr-3']);
    expect((await previewsOf(db, 'shop', '1.0', [])).size).toBe(0);
    expect([...(await previewsOf(db, 'shop', '2.0')).keys()]).toEqual(['cr-1']);
  });

  it('with prune, the answers of requests no longer awaiting a decision go; undecidedPicks lists what is left to answer', async () => {
    await withRelease();
    await upsertChanges(db, 'shop', '1.0', [
      change(1, { kind: 'pick', state: 'awaiting-decision', commits: ['1'.repeat(40)] }),
      change(2, { kind: 'pick', state: 'checking', commits: ['2'.repeat(40), '3'.repeat(40)] }),
      change(3, { kind: 'pick', state: 'merged', commits: ['4'.repeat(40)] }),
      change(4, { kind: 'merge', state: 'awaiting-decision', branch: 'feature' }),
    ]);
    expect(await undecidedPicks(db, 'shop', '1.0')).toEqual([
      { id: 'cr-1', seq: 1, commits: ['1'.repeat(40)] }, { id: 'cr-2', seq: 2, commits: ['2'.repeat(40), '3'.repeat(40)] },
    ]);
    await savePreviews(db, 'shop', '1.0', 'a'.repeat(40), [row('cr-1', 'applies'), row('cr-3', 'applies'), row('cr-gone', 'error')]);
    await savePreviews(db, 'shop', '1.0', 'b'.repeat(40), [row('cr-2', 'conflicts', { paths: ['x'] })], { prune: true });
    const left = await previewsOf(db, 'shop', '1.0');
    expect([...left.keys()].sort()).toEqual(['cr-1', 'cr-2']);
    expect(left.get('cr-1')?.headSha).toBe('a'.repeat(40));
  });
});

describe('migrations', () => {
  useDatabase();

  it('runs on the database DATABASE_URL selects', () => {
    expect(database.kind).toBe(process.env.DATABASE_URL ? 'postgres' : 'pglite');
  });

  it('running migrate() again on a migrated database is a no-op', async () => {
    await createProduct(db, productConfig('shop'));
    const journal = JSON.parse(readFileSync(new URL('../db/migrations/meta/_journal.json', import.meta.url), 'utf8')) as { entries: unknown[] };
    const applied = async (): Promise<number> => {
      const rows = await db.select({ n: count() }).from(sql`drizzle.__drizzle_migrations`);
      return rows[0]?.n ?? -1;
    };
    expect(await applied()).toBe(journal.entries.length);
    await database.migrate();
    await database.migrate();
    expect(await applied()).toBe(journal.entries.length);
    expect(await database.ping()).toBe(true);
    // The data survived and the schema still works.
    expect((await listProducts(db)).map((p) => p.config.name)).toEqual(['shop']);
    await withRelease('kept', '1.0');
    expect((await getRelease(db, 'kept', '1.0'))?.state).toBe('open');
  });
});
