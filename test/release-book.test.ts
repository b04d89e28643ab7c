import { describe, expect, it } from 'vitest';
import type { Change } from '../domain/changes.ts';
import type { Actor, ProductConfig } from '../domain/types.ts';
import { Book } from '../workflows/release/book.ts';
import type { BookState, Known } from '../workflows/release/book.ts';

// The change queue of a release as plain TypeScript: what the release workflows' handlers and loop call.

const owner: Actor = { name: 'olivia', role: 'owner', products: ['p'], tokenId: null };
const other: Actor = { name: 'oscar', role: 'owner', products: ['p'], tokenId: null };
const ci: Actor = { name: 'ci-bot', role: 'ci', products: ['p'], tokenId: null };
const at = '2026-11-30T12:00:00.000Z';

function product(extra: Partial<ProductConfig> = {}): ProductConfig {
  return { name: 'p', repository: '/r.git', flow: 'cherry-pick', trunk: 'main', owners: [], steps: {}, triggers: [], environments: [], ...extra };
}

function book(extra: Partial<ProductConfig> = {}, state: Partial<BookState> = {}): Book {
  const b = new Book({
    product: product(extra), name: 'r1', branch: 'releases/r1', production: true, cutFrom: 'a'.repeat(40), createdBy: 'olivia', state: 'open',
    headSha: 'a'.repeat(40), seq: 0, rev: 0, epoch: 1, frozenBy: null, backlog: { approved: false, checks: false }, ...state,
  });
  b.epochRecorded = true;
  return b;
}

const pick = (id: string, order: number, dependsOn: string[] = []) => ({ id, kind: 'pick' as const, commits: [id.padEnd(40, '0')], reason: 'fix', severity: 'normal', dependsOn });
const inspectedPick = (id: string, order: number) => ({
  kind: 'pick' as const, commits: [{ sha: id.padEnd(40, '0'), subject: id, author: 'a <a@x>', authorDate: at, files: 1, insertions: 1, deletions: 0, paths: ['x'] }],
  trunkOrder: order, alreadyPresent: false,
});

function stored(b: Book, id: string): Change {
  const c = b.changes.get(id);
  if (!c) throw new Error(`no ${id}`);
  return { ...c };
}

describe('the change queue of a release (Book)', () => {
  it('files requests once, numbers them, and records each change at a new revision', () => {
    const b = book();
    const c1 = b.file(ci, pick('c1', 5), inspectedPick('c1', 5), undefined, at);
    const again = b.file(ci, pick('c1', 5), inspectedPick('c1', 5), undefined, at);
    const c2 = b.file(ci, pick('c2', 3), inspectedPick('c2', 3), undefined, at);
    expect(again).toBe(c1);
    expect([c1.seq, c2.seq]).toEqual([1, 2]);
    expect([c1.rev, c2.rev]).toEqual([1, 2]);
    expect(b.outbox.get('c1')?.events).toEqual([{ at, state: 'awaiting-decision', rev: 1, by: 'ci-bot', note: 'requested by ci-bot' }]);
    expect(b.outbox.get('c1')?.details?.[0]?.subject).toBe('c1');
  });

  it('approves by policy, applies picks in trunk order after their dependencies, and settles them', () => {
    const b = book({ approval: { rule: 'quorum', quorum: 2 } });
    b.file(ci, pick('late', 9), inspectedPick('late', 9), undefined, at);
    b.file(ci, pick('early', 1), inspectedPick('early', 1), undefined, at);
    b.file(ci, pick('dep', 4, ['late']), inspectedPick('dep', 4), undefined, at);
    const first = b.decide(owner, ['late', 'early', 'dep'].map((id) => ({ id, decision: 'approve' as const })), undefined, at);
    expect(first.results.map((r) => r.ok && r.state)).toEqual(['awaiting-decision', 'awaiting-decision', 'awaiting-decision']);
    b.decide(other, ['late', 'early', 'dep'].map((id) => ({ id, decision: 'approve' as const })), undefined, at);
    expect(b.nextBatch().ready.map((c) => c.id)).toEqual(['early', 'late', 'dep']);
    // A dependency that ended badly fails its dependants for good.
    const late = b.changes.get('late') as Change;
    b.settle(late, 'conflict', at, { conflictPaths: ['x'], note: 'conflicts in x' });
    const next = b.nextBatch();
    expect(next.ready.map((c) => c.id)).toEqual(['early']);
    expect(next.blocked.map((x) => [x.change.id, x.dependency, x.state])).toEqual([['dep', 'late', 'conflict']]);
  });

  it('refuses what it must: wrong flow, unknown severity, own vote, failed checks, a decision on a change in work', () => {
    const b = book({ approval: { rule: 'any-owner', excludeRequester: true }, triggers: [{ on: 'change.requested', run: 'test' }] });
    expect(b.refusal(ci, { id: 'm', kind: 'merge', branch: 'x' }, undefined)?.code).toBe('flow_mismatch');
    expect(b.refusal(ci, { ...pick('s', 1), severity: 'urgent' }, undefined)?.code).toBe('unknown_severity');
    expect(b.refusal(ci, pick('d', 1, ['nope']), { epoch: 1, changes: [] })?.code).toBe('dependency_unknown');
    const c = b.file(owner, pick('c', 1), inspectedPick('c', 1), undefined, at);
    expect(c.state).toBe('checking');
    expect(b.startCheck(at)?.id).toBe('c');
    expect(b.judge(other, { id: 'c', decision: 'approve' }, undefined)).toMatchObject({ ok: false, code: 'change_not_decidable' });
    b.checked('c', { outcome: 'failed', runId: 'run-1' }, at);
    expect(b.judge(other, { id: 'c', decision: 'approve' }, undefined)).toMatchObject({ ok: false, code: 'checks_failed' });
    expect(b.judge(owner, { id: 'c', decision: 'reject' }, undefined)).toMatchObject({ ok: false, code: 'own_vote_excluded' });
    // Its checks run again when an owner asks.
    expect(b.retry(other, 'c', undefined, at)).toMatchObject({ state: 'checking', check: 'queued' });
    expect(b.checkQueue).toEqual(['c']);
  });

  it('takes a change it has not touched from the API reading, but only a reading of this run', () => {
    const b = book({}, { epoch: 3 });
    const reading: Change = { ...stored(fileInto(book(), 'x'), 'x'), rev: 7 };
    const fresh: Known = { epoch: 3, changes: [reading] };
    expect(() => b.judge(owner, { id: 'x', decision: 'approve' }, { epoch: 2, changes: [reading] })).toThrow(/moved on/);
    b.epochRecorded = false;
    expect(() => b.judge(owner, { id: 'x', decision: 'approve' }, fresh)).toThrow(/moved on/);
    b.epochRecorded = true;
    const { results } = b.decide(owner, [{ id: 'x', decision: 'approve' }], fresh, at);
    expect(results[0]).toEqual({ id: 'x', ok: true, state: 'approved' });
    // Now this run's own: a later message needs no reading, and a stale one is not even looked at.
    expect(b.changes.get('x')?.rev).toBe(b.s.rev);
    expect(b.judge(other, { id: 'x', decision: 'reject' }, { epoch: 1, changes: [] })).toMatchObject({ ok: true, state: 'rejected' });
    expect(b.approved).toEqual(['x']);
  });

  it('freezes (undecided rejected, approved kept) and closes (all open withdrawn but what a unit of work holds)', () => {
    const b = book({ flow: 'binary' });
    for (const [id, order] of [['a', 1], ['b', 2], ['c', 3]] as const) b.file(ci, pick(id, order), inspectedPick(id, order), undefined, at);
    b.decide(owner, [{ id: 'a', decision: 'approve' }, { id: 'b', decision: 'approve' }], undefined, at);
    b.applying.add('b');
    const frozen = b.freeze(owner, at);
    expect(frozen.map((c) => [c.id, c.state])).toEqual([['c', 'rejected']]);
    expect(b.refusal(ci, pick('d', 4), undefined)?.code).toBe('release_frozen');
    const closed = b.close('olivia', at);
    expect(closed.map((c) => [c.id, c.state])).toEqual([['a', 'withdrawn']]);
    expect(b.changes.get('b')?.state).toBe('approved');
    expect(b.approved).toEqual(['b']);
  });

  it('keeps in the outbox what was not recorded yet, and drops what was', () => {
    const b = book();
    b.file(ci, pick('a', 1), inspectedPick('a', 1), undefined, at);
    const taken = b.pendingWrites();
    b.decide(owner, [{ id: 'a', decision: 'approve' }], undefined, at);
    b.recorded(taken);
    // The approval came after the recording was handed over: it stays, with its event only.
    expect(b.outbox.get('a')?.change.state).toBe('approved');
    expect(b.outbox.get('a')?.events.map((e) => e.state)).toEqual(['approved']);
    b.recorded(b.pendingWrites());
    expect(b.outbox.size).toBe(0);
  });

  it('knows which pending writes an Update answer handed to the API, until the change moves again', () => {
    const b = book();
    b.file(ci, pick('a', 1), inspectedPick('a', 1), undefined, at);
    b.file(ci, pick('b', 2), inspectedPick('b', 2), undefined, at);
    const a = b.writeOf('a');
    if (!a) throw new Error('no write of a');
    b.handedOver([a]);
    expect([...b.answered]).toEqual(['a']);
    expect(b.hasUnansweredWrites()).toBe(true);
    // A lean copy (no commit details) is not the whole write: the recorder must still hurry for it.
    const lean = b.writeOf('b');
    if (!lean) throw new Error('no write of b');
    b.handedOver([{ change: lean.change, events: lean.events }]);
    expect(b.answered.has('b')).toBe(false);
    b.handedOver([b.writeOf('b') as NonNullable<typeof lean>]);
    expect(b.hasUnansweredWrites()).toBe(false);
    // An older copy of a write that moved since is not what the API stored.
    b.decide(owner, [{ id: 'a', decision: 'approve' }], undefined, at);
    expect(b.answered.has('a')).toBe(false);
    b.handedOver([a]);
    expect(b.answered.has('a')).toBe(false);
    expect(b.hasUnansweredWrites()).toBe(true);
    b.recorded(b.pendingWrites());
    expect(b.outbox.size).toBe(0);
    expect(b.answered.size).toBe(0);
  });
});

function fileInto(b: Book, id: string): Book {
  b.file(ci, pick(id, 1), inspectedPick(id, 1), undefined, at);
  return b;
}
