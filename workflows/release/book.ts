// The change queue of one release: plain TypeScript, no Temporal. The release workflows keep one Book
// and call its methods from thin handlers; tests call them directly.
//
// What the Book holds in memory is only what this run touched: every change a handler or a unit of
// work changed, and the work queued on them. Everything else lives in the database, which the workflow
// brings up to date before each continue-as-new. A message about a change this run has not touched
// carries the API's reading of the database (`Known`), taken together with the release's epoch (its
// run number); a reading from an earlier run may miss what that run did at its end, so it is refused
// as stale and the API reads again.
import type { Ballot, Change, ChangeEvent, ChangeWrite, CommitDetail } from '../../domain/changes.ts';
import { refuse } from '../../domain/errors.ts';
import { jsonSize } from '../../domain/records.ts';
import { castVote, verdict } from '../../domain/policy.ts';
import { defaultSeverities, isTerminal, mayDecide, mayRequest, nextVersion } from '../../domain/types.ts';
import type { FileRequest, Inspected } from '../../domain/requests.ts';
import type { Actor, ChangeKind, ChangeState, ProductConfig, ReleaseState } from '../../domain/types.ts';

/** The API's reading of the database for the changes a message names. */
export interface Known {
  /** The release's epoch when it read. */
  epoch: number;
  changes: Change[];
}

/** What a release carries from one run to the next; small whatever the queue length. */
export interface BookState {
  product: ProductConfig;
  name: string;
  branch: string;
  production: boolean;
  cutFrom: string;
  createdBy: string;
  state: ReleaseState;
  headSha: string;
  /** Last change number given out. */
  seq: number;
  /** Last revision given out (see Change.rev). */
  rev: number;
  /** This run's number: 1 for the first run, one more at each continue-as-new. */
  epoch: number;
  frozenBy: string | null;
  /** Work the database holds that this run has not loaded yet. */
  backlog: { approved: boolean; checks: boolean };
}

export type { FileRequest, Inspected } from '../../domain/requests.ts';

export type DecisionResult =
  | { id: string; ok: true; state: ChangeState }
  | { id: string; ok: false; code: string; message: string };

export interface Decision { id: string; decision: 'approve' | 'reject'; comment?: string }

/** Every change, whatever its state, as the API shows it: the Update answers carry these. */
export type { Change } from '../../domain/changes.ts';

const settledOk = (state: ChangeState | undefined): boolean => state === 'merged' || state === 'already-present';
const firstRev = (w: ChangeWrite): number => Math.min(w.change.rev, ...w.events.map((e) => e.rev ?? w.change.rev));
const copyWrite = (w: ChangeWrite): ChangeWrite => ({ ...w, change: { ...w.change }, events: [...w.events] });

export class Book {
  readonly changes = new Map<string, Change>();
  /** Writes not yet in the database, by change id (newest fields, every event since). */
  readonly outbox = new Map<string, ChangeWrite>();
  /**
   * Pending writes handed, as they stand, to the API in an Update's answer: the API stores them itself,
   * so the recorder need not hurry for them (it still writes them: the API may have failed to).
   */
  readonly answered = new Set<string>();
  /** Changes handed to a unit of work that has not ended: no decision may take them back. */
  readonly applying = new Set<string>();
  /** Approved changes, in the order they were approved (merges go in this order; picks by trunk order). */
  approved: string[] = [];
  /** Changes whose check waits for a slot, in filing order. */
  checkQueue: string[] = [];
  /** Whether the database holds this run's epoch yet (until then a reading of it cannot be trusted). */
  epochRecorded = false;

  constructor(readonly s: BookState) {}

  get where(): string {
    return `${this.s.product.name}/${this.s.name}`;
  }

  // ------------------------------------------------------------------ reading changes

  /**
   * The change with this id: this run's copy, else the API's reading. Throws `stale_snapshot` when a
   * reading is needed and cannot be trusted; undefined when the change does not exist. A message
   * without a reading (a tool talking to Temporal directly) sees only this run's changes.
   */
  find(id: string, known: Known | undefined): Change | undefined {
    const mine = this.changes.get(id);
    if (!known) return mine;
    const read = known.changes.find((c) => c.id === id);
    if (mine) {
      // A unit of work records its outcome itself, before this run hears of it: a reading that newer wins.
      if (read && read.rev > mine.rev && this.trusted(known)) return read;
      return mine;
    }
    this.trust(known);
    return read;
  }

  private trusted(known: Known): boolean {
    return known.epoch === this.s.epoch && this.epochRecorded;
  }

  /** Throws unless `known` was read in this run's epoch, after this run recorded it. */
  trust(known: Known): void {
    if (!this.trusted(known)) {
      throw refuse('stale_snapshot', `release ${this.where} moved on while the request was read; read it again`, {
        epoch: this.s.epoch, read: known.epoch,
      });
    }
  }

  /** Takes the API's reading of a change into this run (it is then this run's to change). */
  adopt(change: Change): Change {
    const mine = this.changes.get(change.id);
    if (mine) {
      // A newer revision was written by a unit of work this run has not heard back from yet.
      if (change.rev > mine.rev) {
        Object.assign(mine, { ...change, votes: [...change.votes], commits: [...change.commits], dependsOn: [...change.dependsOn] });
        if (mine.state !== 'approved') this.approved = this.approved.filter((id) => id !== mine.id);
      }
      return mine;
    }
    const copy: Change = { ...change, votes: [...change.votes], commits: [...change.commits], dependsOn: [...change.dependsOn] };
    this.changes.set(copy.id, copy);
    if (copy.state === 'approved' && !this.approved.includes(copy.id)) this.approved.push(copy.id);
    if (copy.state === 'checking' && copy.check === 'queued' && !this.checkQueue.includes(copy.id)) this.checkQueue.push(copy.id);
    return copy;
  }

  /**
   * Takes requests an earlier run left queued (read back from the database): their approvals are older
   * than any of this run, so they go first.
   */
  adoptQueued(changes: Change[]): void {
    const before = new Set(this.approved);
    for (const c of changes) this.adopt(c);
    const loaded = this.approved.filter((id) => !before.has(id));
    this.approved = [...loaded, ...this.approved.filter((id) => before.has(id))];
  }

  // ------------------------------------------------------------------ revisions and records

  /** Gives `change` the next revision and queues it for the database with one history entry. */
  touch(change: Change, at: string, event: { by?: string; note?: string } = {}): void {
    change.rev = ++this.s.rev;
    this.changes.set(change.id, change);
    this.answered.delete(change.id);
    const entry: ChangeEvent = { at, state: change.state, rev: change.rev, ...(event.by ? { by: event.by } : {}), ...(event.note ? { note: event.note } : {}) };
    const pending = this.outbox.get(change.id);
    if (pending) {
      pending.change = { ...change };
      pending.events.push(entry);
    } else {
      this.outbox.set(change.id, { change: { ...change }, events: [entry] });
    }
  }

  /** The write for one change as it stands now (for the API to store an Update's answer at once). */
  writeOf(id: string): ChangeWrite | undefined {
    const pending = this.outbox.get(id);
    return pending ? { change: { ...pending.change }, events: [...pending.events], ...(pending.details ? { details: pending.details } : {}) } : undefined;
  }

  /** Marks the writes an Update's answer carried (see answered), where they are still the pending ones. */
  handedOver(writes: ChangeWrite[]): void {
    for (const w of writes) {
      const pending = this.outbox.get(w.change.id);
      // A write left lean (no commit details, to keep the answer small) is the recorder's to complete.
      if (pending?.change.rev === w.change.rev && (!pending.details || w.details)) this.answered.add(w.change.id);
    }
  }

  /** Whether a pending write is one the API was not handed. */
  hasUnansweredWrites(): boolean {
    return this.outbox.size > this.answered.size;
  }

  /** Every pending write (what continue-as-new carries); they leave the outbox once recorded (see recorded). */
  pendingWrites(): ChangeWrite[] {
    return [...this.outbox.values()].map(copyWrite);
  }

  /**
   * The oldest pending writes, about `maxBytes` of them (one at least), for one recording; and the
   * oldest revision of what is left for the next (Infinity when nothing is).
   */
  takeWrites(maxBytes: number): { writes: ChangeWrite[]; leftFrom: number } {
    const all = [...this.outbox.values()].sort((a, b) => firstRev(a) - firstRev(b));
    const writes: ChangeWrite[] = [];
    let bytes = 0;
    let i = 0;
    for (; i < all.length; i++) {
      const w = all[i] as ChangeWrite;
      const n = jsonSize(w);
      if (writes.length > 0 && bytes + n > maxBytes) break;
      writes.push(copyWrite(w));
      bytes += n;
    }
    const left = all.slice(i).map(firstRev);
    return { writes, leftFrom: left.length > 0 ? Math.min(...left) : Infinity };
  }

  /** About how large the pending writes are (as JSON). */
  outboxBytes(): number {
    let n = 0;
    for (const w of this.outbox.values()) n += jsonSize(w);
    return n;
  }

  /** Drops the writes the database now holds (up to their revision; later ones stay). */
  recorded(writes: ChangeWrite[]): void {
    for (const w of writes) {
      const pending = this.outbox.get(w.change.id);
      if (!pending) continue;
      if (pending.change.rev <= w.change.rev) {
        this.outbox.delete(w.change.id);
        this.answered.delete(w.change.id);
      } else pending.events = pending.events.filter((e) => (e.rev ?? 0) > w.change.rev);
    }
  }

  // ------------------------------------------------------------------ filing

  mustBeOpen(): void {
    switch (this.s.state) {
      case 'open':
        return;
      case 'frozen': {
        const next = this.s.product.flow === 'binary' ? nextVersion([this.s.name]) : 'the next release';
        throw refuse('release_frozen', `release ${this.where} is frozen; request the change on ${next}`, { release: this.where, next });
      }
      case 'closed':
        throw refuse('release_closed', `release ${this.where} is closed and accepts nothing`, { release: this.where });
    }
  }

  /** Why this request cannot be filed, or null; synchronous (validators call it). */
  refusal(actor: Actor, req: FileRequest, known: Known | undefined): { code: string; message: string; details?: Record<string, unknown> } | null {
    try {
      this.checkRequest(actor, req, known);
      return null;
    } catch (err) {
      const f = err as { type?: string; message: string; details?: unknown[] };
      if (f.type === 'stale_snapshot') throw err;
      return { code: f.type ?? 'bad_request', message: f.message, ...(f.details?.[0] ? { details: f.details[0] as Record<string, unknown> } : {}) };
    }
  }

  private checkRequest(actor: Actor, req: FileRequest, known: Known | undefined): void {
    const p = this.s.product;
    if (!mayRequest(actor, p.name)) throw refuse('forbidden', `${actor.name} may not request changes on ${p.name}`);
    if (this.find(req.id, known)) return; // a retry of a filed request: answered with what was filed
    this.mustBeOpen();
    switch (req.kind) {
      case 'merge':
        if (p.flow !== 'pull-request') throw refuse('flow_mismatch', `product ${p.name} uses the ${p.flow} flow: request picks, not merges`);
        return;
      case 'pick': {
        if (p.flow === 'pull-request') throw refuse('flow_mismatch', `product ${p.name} uses the pull-request flow: request merges, not picks`);
        const severities = p.severities ?? defaultSeverities;
        if (!severities.includes(req.severity)) throw refuse('unknown_severity', `severity ${req.severity} is not one of ${severities.join(', ')}`);
        for (const dep of req.dependsOn ?? []) {
          if (!this.find(dep, known)) throw refuse('dependency_unknown', `change ${dep} is not a request on ${this.where}`, { dependsOn: dep });
        }
        return;
      }
      case 'revert': {
        if (p.flow === 'pull-request') throw refuse('flow_mismatch', `product ${p.name} uses the pull-request flow: only picks can be reverted`);
        const target = this.find(req.revertOf, known);
        if (target?.state !== 'merged' || target.kind !== 'pick') {
          throw refuse('change_not_decidable', `change ${req.revertOf} is not a merged pick of ${this.where}; only those can be reverted`);
        }
        return;
      }
    }
  }

  /** Whether the request's check step runs when it is filed. */
  hasCheck(kind: ChangeKind): boolean {
    return kind !== 'revert' && this.s.product.triggers.some((t) => t.on === 'change.requested');
  }

  /**
   * Files a request that `refusal` accepted and git inspected. Idempotent by id: a request filed
   * already (in this run or, by `known`, before) is answered as it stands.
   */
  file(actor: Actor, req: FileRequest, inspected: Inspected, known: Known | undefined, at: string): Change {
    const existing = this.find(req.id, known);
    if (existing) return this.adopt(existing);
    this.mustBeOpen();
    const check = this.hasCheck(req.kind);
    const change: Change = {
      id: req.id, seq: ++this.s.seq, kind: req.kind, state: check ? 'checking' : 'awaiting-decision', check: check ? 'queued' : 'none',
      branch: null, sourceSha: null, commits: [], trunkOrder: 0, dependsOn: [], revertOf: null, reason: null, severity: null,
      requester: actor.name, votes: [], decidedBy: null, decisionComment: null, checkRunId: null, resultSha: null, conflictPaths: null,
      failure: null, rev: 0,
    };
    let details: CommitDetail[] | undefined;
    if (req.kind === 'merge' && inspected.kind === 'merge') {
      Object.assign(change, { branch: req.branch, sourceSha: inspected.sourceSha });
      if (inspected.tip) details = [inspected.tip];
    } else if (req.kind === 'pick' && inspected.kind === 'pick') {
      details = inspected.commits;
      Object.assign(change, {
        commits: inspected.commits.map((c) => c.sha), trunkOrder: inspected.trunkOrder, reason: req.reason, severity: req.severity,
        dependsOn: req.dependsOn ?? [],
      });
      if (inspected.alreadyPresent) Object.assign(change, { state: 'already-present', check: 'none' });
    } else if (req.kind === 'revert') {
      // After every pick, and still within the Postgres integer column it is recorded in.
      Object.assign(change, { revertOf: req.revertOf, reason: req.reason, trunkOrder: 2 ** 31 - 1 });
    } else {
      throw refuse('bad_request', `inspection of a ${req.kind} request answered for a ${inspected.kind}`);
    }
    const twins = inspected.kind === 'pick' && inspected.presentAs ? Object.values(inspected.presentAs) : [];
    const note = change.state !== 'already-present' ? `requested by ${actor.name}`
      : twins.length > 0 ? `its commits are already in the release (the same patch as ${twins.map((s) => s.slice(0, 12)).join(', ')})` : 'its commits are already in the release';
    this.touch(change, at, { by: actor.name, note });
    const pending = this.outbox.get(change.id);
    if (pending && details) pending.details = details;
    if (change.check === 'queued') this.checkQueue.push(change.id);
    return change;
  }

  // ------------------------------------------------------------------ decisions

  judge(actor: Actor, d: Decision, known: Known | undefined): DecisionResult {
    const change = this.find(d.id, known);
    if (!change) return { id: d.id, ok: false, code: 'change_not_found', message: `no change ${d.id} on ${this.where}` };
    if (!mayDecide(actor, this.s.product.name)) return { id: d.id, ok: false, code: 'forbidden', message: `${actor.name} may not decide on ${this.s.product.name}` };
    // Until a unit of work takes an approved change, it can still be passed: the pass takes it back.
    const passQueued = change.state === 'approved' && d.decision === 'reject' && !this.applying.has(change.id);
    if (change.state !== 'awaiting-decision' && !passQueued) {
      return isTerminal(change.state)
        ? { id: d.id, ok: false, code: 'change_not_decidable', message: `change ${d.id} is already ${change.state}` }
        : { id: d.id, ok: false, code: 'change_not_decidable', message: `change #${change.seq} is ${change.state}, not awaiting a decision` };
    }
    if (d.decision === 'approve' && change.check === 'failed') {
      return { id: d.id, ok: false, code: 'checks_failed', message: `change #${change.seq} failed its checks and cannot be approved` };
    }
    if (this.s.product.approval?.excludeRequester && actor.name === change.requester) {
      return { id: d.id, ok: false, code: 'own_vote_excluded', message: `${actor.name} requested change #${change.seq}; their own vote does not count` };
    }
    const outcome = verdict(this.s.product.approval, castVote(change.votes, { by: actor.name, decision: d.decision }), change.requester);
    return { id: d.id, ok: true, state: outcome === 'pending' ? 'awaiting-decision' : outcome };
  }

  /** Synchronous checks of a whole decision call (the validator): refuses only when nothing in it could apply. */
  checkDecisions(actor: Actor, decisions: Decision[], known: Known | undefined): void {
    this.mustBeOpen();
    if (!mayDecide(actor, this.s.product.name)) throw refuse('forbidden', `${actor.name} (${actor.role}) may not approve or reject on ${this.s.product.name}`);
    const ids = new Set<string>();
    for (const d of decisions) {
      if (ids.has(d.id)) throw refuse('bad_request', `change ${d.id} appears twice in one call`);
      ids.add(d.id);
    }
    const results = decisions.map((d) => this.judge(actor, d, known));
    if (!results.some((r) => r.ok)) {
      const first = results[0];
      if (first && !first.ok) throw refuse(first.code as Parameters<typeof refuse>[0], first.message, { results });
      throw refuse('bad_request', 'no decisions given');
    }
  }

  decide(actor: Actor, decisions: Decision[], known: Known | undefined, at: string): { results: DecisionResult[]; changed: Change[] } {
    const results = decisions.map((d) => this.judge(actor, d, known));
    const changed: Change[] = [];
    decisions.forEach((d, i) => {
      if (!results[i]?.ok) return;
      const change = this.adopt(this.find(d.id, known) as Change);
      const before = change.state;
      change.votes = castVote(change.votes, { by: actor.name, decision: d.decision, at });
      const outcome = verdict(this.s.product.approval, change.votes, change.requester);
      if (outcome !== 'pending') {
        change.state = outcome;
        change.decidedBy = actor.name;
      }
      if (d.comment) change.decisionComment = d.comment;
      if (change.state === 'approved' && before !== 'approved') this.approved.push(change.id);
      if (change.state === 'rejected') this.approved = this.approved.filter((id) => id !== change.id);
      this.touch(change, at, { by: actor.name, note: `${actor.name} ${d.decision === 'approve' ? 'wants' : 'passes'} it${d.comment ? `: ${d.comment}` : ''}` });
      changed.push(change);
    });
    return { results, changed };
  }

  /**
   * What retrying this change would do: send a failed change back to the queue, or a change whose
   * checks failed back to its checks. Throws the refusal otherwise (validators call it).
   */
  retryKind(actor: Actor, id: string, known: Known | undefined): 'requeue' | 'recheck' {
    this.mustBeOpen();
    if (!mayDecide(actor, this.s.product.name)) throw refuse('forbidden', `${actor.name} may not retry work on ${this.s.product.name}`);
    const change = this.find(id, known);
    if (!change) throw refuse('change_not_found', `no change ${id} on ${this.where}`);
    if (change.state === 'failed' && change.decidedBy) return 'requeue';
    if ((change.state === 'awaiting-decision' || change.state === 'checking') && change.check === 'failed' && this.hasCheck(change.kind)) return 'recheck';
    throw refuse('change_not_decidable', `change #${change.seq} is ${change.state} (checks ${change.check}): only a failed change, or one whose checks failed, can be retried`);
  }

  retry(actor: Actor, id: string, known: Known | undefined, at: string): Change {
    const kind = this.retryKind(actor, id, known);
    const change = this.adopt(this.find(id, known) as Change);
    change.failure = null;
    if (kind === 'requeue') {
      change.state = 'approved';
      this.approved.push(change.id);
      this.touch(change, at, { by: actor.name, note: `${actor.name} retries it` });
    } else {
      change.state = 'checking';
      change.check = 'queued';
      this.checkQueue.push(change.id);
      this.touch(change, at, { by: actor.name, note: `${actor.name} runs its checks again` });
    }
    return change;
  }

  // ------------------------------------------------------------------ checks

  /** The next change whose check may start, if any (its check is then running). */
  startCheck(at: string): Change | undefined {
    for (;;) {
      const id = this.checkQueue.shift();
      if (id === undefined) return undefined;
      const change = this.changes.get(id);
      if (!change || change.state !== 'checking' || change.check !== 'queued') continue;
      change.check = 'running';
      this.touch(change, at, { note: 'checks started' });
      return change;
    }
  }

  /** A check job ended: passed, failed (the step failed) or could not run (`failure`). */
  checked(id: string, result: { outcome: 'passed' | 'failed' | 'conflict'; runId: string | null; conflicts?: string[]; failure?: string }, at: string): Change | undefined {
    const change = this.changes.get(id);
    if (!change || change.check !== 'running') return undefined;
    change.check = result.outcome === 'passed' ? 'passed' : 'failed';
    if (change.state === 'checking') change.state = 'awaiting-decision';
    change.checkRunId = result.runId ?? change.checkRunId;
    if (result.conflicts) change.conflictPaths = result.conflicts;
    change.failure = result.failure ?? null;
    const note = result.failure ? `checks could not run: ${result.failure}` : result.outcome === 'conflict' ? `conflicts in ${(result.conflicts ?? []).join(', ')}` : `checks ${result.outcome}`;
    this.touch(change, at, { note });
    return change;
  }

  // ------------------------------------------------------------------ units of work

  /** The approved merge to do next (pull-request flow: one at a time, in approval order). */
  nextMerge(): Change | undefined {
    while (this.approved.length > 0) {
      const change = this.changes.get(this.approved[0] as string);
      if (change?.state === 'approved') return change;
      this.approved.shift();
    }
    return undefined;
  }

  /**
   * Every approved pick that can apply now, in trunk order of its commits, each after the changes it
   * depends on; and the approved ones that never can (a dependency ended badly).
   */
  nextBatch(): { ready: Change[]; blocked: { change: Change; dependency: string; state: ChangeState }[] } {
    const queued = this.approved.map((id) => this.changes.get(id)).filter((c): c is Change => c?.state === 'approved');
    queued.sort((a, b) => a.trunkOrder - b.trunkOrder || a.seq - b.seq);
    const ready: Change[] = [];
    const blocked: { change: Change; dependency: string; state: ChangeState }[] = [];
    const inBatch = new Set<string>();
    const pending = [...queued];
    let progressed = true;
    while (progressed) {
      progressed = false;
      for (let i = 0; i < pending.length; i++) {
        const change = pending[i] as Change;
        let ok = true;
        for (const dep of change.dependsOn) {
          if (inBatch.has(dep)) continue;
          const state = this.changes.get(dep)?.state;
          if (settledOk(state)) continue;
          if (state !== undefined && isTerminal(state)) {
            blocked.push({ change, dependency: dep, state });
            pending.splice(i--, 1);
          }
          ok = false;
          break;
        }
        if (!ok) continue;
        ready.push(change);
        inBatch.add(change.id);
        pending.splice(i--, 1);
        progressed = true;
      }
    }
    return { ready, blocked };
  }

  /** Ends a change in `state` with a history entry; it leaves every queue. */
  settle(change: Change, state: ChangeState, at: string, extra: Partial<Change> & { note: string; by?: string }): void {
    const { note, by, ...fields } = extra;
    Object.assign(change, fields);
    change.state = state;
    this.approved = this.approved.filter((id) => id !== change.id);
    this.applying.delete(change.id);
    this.touch(change, at, { note, ...(by ? { by } : {}) });
  }

  /**
   * Takes a change as an activity recorded it (a merge or pick batch writes its outcome itself, in the
   * transaction that moves the branch): same revision, nothing more to write.
   */
  settledElsewhere(written: Change): void {
    const change = this.changes.get(written.id);
    if (!change) return;
    Object.assign(change, written);
    // A write still pending (its history entries not recorded yet) now carries the settled fields: a
    // continue-as-new must not carry the change as still approved (it would be applied again).
    const pending = this.outbox.get(written.id);
    if (pending && pending.change.rev < written.rev) pending.change = { ...written };
    this.approved = this.approved.filter((id) => id !== change.id);
    this.applying.delete(change.id);
    if (written.rev > this.s.rev) this.s.rev = written.rev;
  }

  /** A revision for a unit of work to record its outcome with (reserved now, so nothing else takes it). */
  reserveRev(): number {
    return ++this.s.rev;
  }

  // ------------------------------------------------------------------ freeze and close

  /** Requests that can no longer get a decision are rejected (in memory; the database's rest by `bulk`). */
  freeze(actor: Actor, at: string): Change[] {
    this.s.state = 'frozen';
    this.s.frozenBy = actor.name;
    const note = `release frozen by ${actor.name} before a decision`;
    return this.endOpen(['requested', 'checking', 'awaiting-decision'], 'rejected', at, note);
  }

  /** Every open request ends `withdrawn` but those a unit of work holds now (they end with it). */
  close(by: string, at: string): Change[] {
    this.s.state = 'closed';
    this.approved = this.approved.filter((id) => this.applying.has(id));
    return this.endOpen(['requested', 'checking', 'awaiting-decision', 'approved'], 'withdrawn', at, `release closed by ${by}`);
  }

  private endOpen(from: ChangeState[], to: ChangeState, at: string, note: string): Change[] {
    const ended: Change[] = [];
    for (const change of this.changes.values()) {
      if (!from.includes(change.state) || this.applying.has(change.id)) continue;
      change.state = to;
      // A check that was waiting or running never reports (its job is cancelled).
      if (change.check === 'queued' || change.check === 'running') change.check = 'none';
      this.touch(change, at, { note });
      ended.push(change);
    }
    this.checkQueue = [];
    return ended;
  }

  // ------------------------------------------------------------------ views

  view() {
    const s = this.s;
    return {
      product: s.product.name, name: s.name, flow: s.product.flow, branch: s.branch, state: s.state, production: s.production,
      headSha: s.headSha, cutFrom: s.cutFrom,
    };
  }

  /** Whether anything is queued that a unit of work could take. */
  hasApproved(): boolean {
    return this.approved.some((id) => this.changes.get(id)?.state === 'approved');
  }

  votesOf(id: string): Ballot[] {
    return this.changes.get(id)?.votes ?? [];
  }
}
