import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db/client.ts';
import { queuedChanges, readKnown, writeBulk, writeChanges } from '../db/repos/change-writes.ts';
import { getChange } from '../db/repos/changes.ts';
import { createProduct } from '../db/repos/products.ts';
import { recordRelease } from '../db/repos/release-writes.ts';
import { getRelease, upsertRelease } from '../db/repos/releases.ts';
import type { Change, ChangeWrite } from '../domain/changes.ts';
import { openTestDatabase } from './helpers/db.ts';
import { ReleaseFeed } from '../db/feed.ts';

// Writes by revision: three writers (the workflow's recorder, the API, a merge activity) may write the
// same change at the same or older revisions in any order; the row ends at the newest, its history
// holding each entry once. Same tests on PGlite and, with DATABASE_URL, on PostgreSQL.

const sha = 'a'.repeat(40);
const base = (id: string, seq: number): Change => ({
  id, seq, kind: 'pick', state: 'awaiting-decision', check: 'none', branch: null, sourceSha: null, commits: [sha], trunkOrder: seq, dependsOn: [],
  revertOf: null, reason: 'r', severity: 'normal', requester: 'ci', votes: [], decidedBy: null, decisionComment: null, checkRunId: null,
  resultSha: null, conflictPaths: null, failure: null, rev: 0,
});
const at = (n: number) => `2026-11-30T12:00:${String(n).padStart(2, '0')}.000Z`;
const write = (c: Change, rev: number, fields: Partial<Change>, note: string, events?: number[]): ChangeWrite => ({
  change: { ...c, ...fields, rev },
  events: (events ?? [rev]).map((r) => ({ at: at(r), state: (fields.state ?? c.state) as string, note: `${note}@${r}`, rev: r })),
});

describe('change writes by revision', () => {
  let database: Database;
  beforeAll(async () => {
    database = await openTestDatabase();
    await createProduct(database.db, { name: 'p', repository: '/r.git', flow: 'cherry-pick', trunk: 'main', owners: [], steps: {}, triggers: [], environments: [] });
    await upsertRelease(database.db, {
      product: 'p', name: 'r', flow: 'cherry-pick', branch: 'releases/r', production: true, cutFrom: sha, headSha: sha, workflowId: 'w', createdBy: 'x',
      state: 'open', epoch: 1, engine: 2,
    });
  });
  afterAll(async () => {
    await database?.close();
  });

  it('keeps the newest revision whatever order the writes arrive in, and every history entry once, in order', async () => {
    const c = base('c1', 1);
    const filed = write(c, 1, {}, 'filed');
    const approved = write(c, 2, { state: 'approved', votes: [{ by: 'o', decision: 'approve', at: at(2) }], decidedBy: 'o' }, 'approved');
    const merged = write(c, 3, { state: 'merged', resultSha: 'b'.repeat(40), votes: [{ by: 'o', decision: 'approve', at: at(2) }], decidedBy: 'o' }, 'merged');
    // The merge activity first, then the API's late write of the approval, then the recorder with both.
    await writeChanges(database.db, 'p', 'r', [filed]);
    await writeChanges(database.db, 'p', 'r', [merged]);
    await writeChanges(database.db, 'p', 'r', [approved]);
    await writeChanges(database.db, 'p', 'r', [write(c, 3, { state: 'merged', resultSha: 'b'.repeat(40), decidedBy: 'o' }, 'recorder', [2, 3])]);
    const row = await getChange(database.db, 'p', 'r', 'c1');
    expect(row).toMatchObject({ state: 'merged', rev: 3, resultSha: 'b'.repeat(40), decidedBy: 'o' });
    // The approval arrived last: its fields lose to the newer merge, its history entry takes its place in order.
    expect(row?.history.map((e) => e.note)).toEqual(['filed@1', 'approved@2', 'merged@3']);
    expect(row?.votes).toEqual([{ by: 'o', decision: 'approve', at: at(2) }]);

    // The recorder carries every entry since its last write: those newer than the row go in, once.
    const c2 = base('c2', 2);
    await writeChanges(database.db, 'p', 'r', [write(c2, 4, {}, 'filed')]);
    await writeChanges(database.db, 'p', 'r', [write(c2, 6, { state: 'rejected' }, 'e', [5, 6])]);
    await writeChanges(database.db, 'p', 'r', [write(c2, 6, { state: 'rejected' }, 'e', [5, 6])]);
    expect((await getChange(database.db, 'p', 'r', 'c2'))?.history.map((e) => e.rev)).toEqual([4, 5, 6]);
  });

  it('ends the rest of a release in bulk, sparing what is excepted or newer, and reads back queued work', async () => {
    const ids = ['q1', 'q2', 'q3', 'q4'];
    await writeChanges(database.db, 'p', 'r', ids.map((id, i) => write(base(id, 10 + i), 10 + i, i === 3 ? { state: 'approved' } : {}, 'filed')));
    // q2 was approved at a revision after the bulk's: the bulk leaves it; q3 is in a unit of work.
    await writeChanges(database.db, 'p', 'r', [write(base('q2', 11), 30, { state: 'approved' }, 'approved')]);
    const ended = await database.db.transaction((tx) => writeBulk(tx, 'p', 'r', {
      rev: 20, at: at(20), from: ['awaiting-decision', 'approved'], to: 'withdrawn', note: 'closed', except: ['q3'],
    }));
    expect(ended).toBe(2);
    const states = await Promise.all(ids.map(async (id) => (await getChange(database.db, 'p', 'r', id))?.state));
    expect(states).toEqual(['withdrawn', 'approved', 'awaiting-decision', 'withdrawn']);
    const queued = await queuedChanges(database.db, 'p', 'r', 'approved', 10);
    expect(queued.changes.map((c) => c.id)).toEqual(['q2']);
    expect(queued.more).toBe(false);
  });

  it('reads a release epoch and the named changes as one reading, and records the release with its changes', async () => {
    const before = await readKnown(database.db, 'p', 'r', ['c1', 'nope']);
    expect(before?.epoch).toBe(1);
    expect(before?.changes.map((c) => c.id)).toEqual(['c1']);
    await recordRelease(database.db, 'p', 'r', [write(base('k1', 40), 40, {}, 'filed')], {
      epoch: 2, state: 'frozen', blocked: [{ what: 'picks', reason: 'the git remote cannot be reached', since: at(1), attempts: 3 }], bulk: [], deployments: [],
    });
    const after = await readKnown(database.db, 'p', 'r', ['k1']);
    expect(after).toMatchObject({ epoch: 2, engine: 2 });
    expect(after?.changes[0]?.id).toBe('k1');
    const rel = await getRelease(database.db, 'p', 'r');
    expect(rel).toMatchObject({ state: 'frozen', epoch: 2 });
    expect(rel?.blocked).toHaveLength(1);
    // An older epoch or an earlier state written late changes nothing.
    await recordRelease(database.db, 'p', 'r', [], { epoch: 1, state: 'open', bulk: [], deployments: [] });
    expect(await getRelease(database.db, 'p', 'r')).toMatchObject({ state: 'frozen', epoch: 2 });
    expect(await readKnown(database.db, 'p', 'nope', [])).toBeUndefined();
  });

  it('wakes the waiters of a release when its requests are written, once the transaction commits, and no others', async () => {
    const feed = new ReleaseFeed(database.listen);
    try {
      // Deadlines far beyond the test's timeout: only the notification can end these waits in time.
      const mine = await feed.next('p', 'r', 600_000);
      const other = await feed.next('p', 'r2', 600_000);
      let woke = false;
      void mine.woken.then(() => {
        woke = true;
      });
      let otherWoke = false;
      void other.woken.then(() => {
        otherWoke = true;
      });
      await database.db.transaction(async (tx) => {
        await writeChanges(tx, 'p', 'r', [write(base('feed-1', 90), 1, {}, 'filed')]);
        await new Promise((resolve) => setImmediate(resolve));
        expect(woke, 'woken before the write committed').toBe(false);
      });
      await mine.woken;
      expect(otherWoke).toBe(false);
      other.cancel();
      await other.woken;

      // A bulk ending (freeze, close) wakes too.
      const again = await feed.next('p', 'r', 600_000);
      await database.db.transaction((tx) => writeBulk(tx, 'p', 'r', { from: ['awaiting-decision'], to: 'withdrawn', note: 'closed', at: at(9), rev: 5, except: [] }));
      await again.woken;

      // Closing answers every waiter.
      const last = await feed.next('p', 'r', 600_000);
      await feed.close();
      await last.woken;
      expect(feed.isClosed).toBe(true);
    } finally {
      await feed.close();
    }
  });
});
