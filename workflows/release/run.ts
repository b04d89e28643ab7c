// One run of a release workflow: the Book, what it carries besides, and the loop that does the work
// (its handlers: handlers.ts).
//
// Handlers only change state (filing alone first waits on a bounded git inspection) and answer; the
// loop alone starts work, and never waits on it: every activity and child it starts settles into the
// state when it ends. So no handler waits on a retry, continue-as-new is taken whenever nothing is in
// flight, and a fault never fails the workflow: permanent ones become outcomes, transient ones wait
// with capped backoff, shown as `blocked`.
import {
  ParentClosePolicy, WorkflowIdReusePolicy, allHandlersFinished, condition, getExternalWorkflowHandle, patched, sleep, startChild,
  upsertSearchAttributes, uuid4, workflowInfo,
} from '@temporalio/workflow';
import type { DeployJob } from '../../domain/deploy.ts';
import { emptyReleaseWrite, isEmptyReleaseWrite } from '../../domain/records.ts';
import type { Blocked, ReleaseWrite } from '../../domain/records.ts';
import { deploymentWorkflowId } from '../../domain/types.ts';
import { blockedKey, releaseSearchAttributes } from '../search-attributes.ts';
import { records, units } from './acts.ts';
import { Book } from './book.ts';
import { backoffMs, blockedAgain, outcomeOf } from './faults.ts';
import type { JobResult } from './messages.ts';
import type { BinaryState, Carried, JobRef } from './state.ts';

/** Checks running at once per release. */
const checkSlots = 4;
/** Changes loaded from the database per read (each is a few hundred bytes of history). */
const loadPage = 500;
/** Writes carried into the next run rather than waited for (as JSON); more than this and the run waits for the recorder. */
const carryBytes = 32 * 1024;
/** Writes per recording (as JSON): an activity's input stays far below Temporal's 2 MiB. */
const recordBytes = 512 * 1024;
/**
 * How long writes the API already stored (an Update's answer) may wait to be recorded: one recording
 * for a burst of decisions or filings, instead of one activity per Update competing with the next.
 */
const answeredWaitMs = 2_000;
/** Runs that started before answered writes could wait record every write at once (their histories say so). */
const answeredWaitPatch = 'culvert-answered-writes-wait';
/**
 * Runs that started before units wrote their outcome first traced each move inside the unit (their
 * histories say so); later ones trace it in an activity of their own right after, so that the API shows
 * `merged` as soon as the push is done.
 */
const traceLaterPatch = 'culvert-trace-after-outcome';
/**
 * Runs from this patch on apply the approved backlog of earlier runs a page at a time. Before, a run
 * loaded the whole backlog before any unit started, and a page never leaves the backlog until applied:
 * with more than a page approved at continue-as-new (decisions just before it), every run loaded the
 * first page again and again until its history was long enough to continue as new, forever (CI: epoch
 * 8 to 91 in five minutes, 750 approved picks never applied).
 */
const pagedBacklogPatch = 'culvert-backlog-pages';

/** What a flow adds to the run: its unit of work, and what happens when its children report. */
export interface FlowHooks {
  /** Starts the next unit of work if there is one; returns whether it did. */
  startUnit(run: ReleaseRun): boolean;
  /** Whether there is a unit to start now. */
  hasUnit(run: ReleaseRun): boolean;
  /** A build or gate this flow started reported. */
  onJob?(run: ReleaseRun, result: JobResult): void;
  /** Flow work besides units (binary: builds, sign-off, publish); returns whether it started something. */
  step?(run: ReleaseRun): boolean;
  hasStep?(run: ReleaseRun): boolean;
  /** Whether the flow still has work after the release closed (binary: a publish that closes it). */
  busyWhenClosed?(run: ReleaseRun): boolean;
}

export class ReleaseRun {
  readonly book: Book;
  readonly jobs: Record<string, JobRef>;
  deployQueue: DeployJob[];
  deploysOwed: string[];
  readonly blocked: Record<string, Blocked>;
  binary: BinaryState | null;
  /** The release-level write not yet recorded. */
  release: ReleaseWrite;
  /** A unit of work in flight (its key), a record in flight, loads in flight, children being started. */
  unit: string | null = null;
  private recording = false;
  private loading = false;
  starting = 0;
  /**
   * Blocked things waiting out their backoff, by key; each leaves when its timer fires. A timer, not a
   * comparison with the clock: what wakes the loop must be an event of the history (see loop()).
   */
  private readonly waiting = new Set<string>();
  /** The loop saw continue-as-new due and drains (set only in the loop, see loop()). */
  drainingNow = false;
  /** Work of the first run that continue-as-new and the end wait for (the cut of the components). */
  holds = 0;
  /** Deployments this run started, for a click sent again (the API looks earlier ones up itself). */
  readonly deploying = new Map<string, DeployJob>();
  private cancelQueue: string[] = [];
  private blockedShown: string | null = null;
  /** Whether answered writes wait (set when the loop starts: patched). */
  private answeredWait = false;
  /** A timer for answered writes runs; it ran out (they are due). */
  private answeredTimer = false;
  private answeredDue = false;
  /** Whether units leave the trace of their move to traceRelease (set when the loop starts: patched). */
  traceLater = false;
  /** Whether a loaded page of the approved backlog may be applied before the rest is loaded (set when the loop starts: patched). */
  private pagedBacklog = false;
  /** A page of the approved backlog is in memory and no unit has taken it yet (pagedBacklog only). */
  private backlogPage = false;
  /** Heads whose moves are still to be traced, oldest first; one trace runs at a time. */
  private traceOwed: string[];
  private tracing = false;

  /** The revision this run started at: the writes it carried in are older, and go before its epoch. */
  private readonly epochRev: number;

  constructor(carried: Carried, readonly flow: FlowHooks) {
    this.book = new Book(carried.book);
    this.epochRev = carried.book.rev;
    for (const change of carried.held ?? []) this.book.adopt(change);
    for (const w of carried.writes) {
      this.book.adopt(w.change);
      this.book.outbox.set(w.change.id, w);
    }
    this.jobs = carried.jobs;
    this.deployQueue = carried.deployQueue;
    this.deploysOwed = carried.deploysOwed;
    this.blocked = carried.blocked;
    this.binary = carried.binary;
    this.release = carried.release;
    this.traceOwed = carried.traceOwed ?? [];
  }

  get s() {
    return this.book.s;
  }

  now(): string {
    return new Date().toISOString();
  }

  // ------------------------------------------------------------------ state helpers

  setState(state: 'open' | 'frozen' | 'closed'): void {
    this.s.state = state;
    this.release.state = state;
    upsertSearchAttributes(releaseSearchAttributes({ product: this.s.product.name, release: this.s.name, flow: this.s.product.flow, state }));
  }

  close(by: string): void {
    const b = this.book;
    this.release.bulk.push({
      rev: b.reserveRev(), at: this.now(), from: ['requested', 'checking', 'awaiting-decision', 'approved'], to: 'withdrawn',
      note: `release closed by ${by}`, except: [...b.applying],
    });
    b.close(by, this.now());
    for (const [jobId, job] of Object.entries(this.jobs)) {
      if (job.kind === 'check') {
        this.cancelQueue.push(jobId);
        delete this.jobs[jobId];
        this.unblock(`job:${jobId}`);
      }
    }
    this.deploysOwed = [];
    for (const job of this.deployQueue.splice(0)) this.release.deployments.push({ job, state: 'failed', failure: `release closed by ${by} before it started` });
    this.setState('closed');
  }

  cancelCheckOf(changeId: string): void {
    for (const [jobId, job] of Object.entries(this.jobs)) {
      if (job.kind === 'check' && job.changeId === changeId) {
        this.cancelQueue.push(jobId);
        delete this.jobs[jobId];
        this.unblock(`job:${jobId}`);
      }
    }
  }

  queueDeploy(job: DeployJob): void {
    this.deployQueue.push(job);
    this.release.deployments.push({ job, state: 'pending' });
  }

  /** release.updated deploys owed after changes landed (never to production from a non-production release). */
  owePublish(): void {
    for (const t of this.s.product.triggers) {
      if (t.on === 'release.updated' && t.environment && !this.deploysOwed.includes(t.environment)) this.deploysOwed.push(t.environment);
    }
  }

  checksRunning(): number {
    return Object.values(this.jobs).filter((j) => j.kind === 'check').length;
  }

  setBlocked(key: string, blocked: Blocked): void {
    this.blocked[key] = blocked;
    this.release.blocked = Object.values(this.blocked);
    this.showBlocked();
  }

  unblock(key: string): void {
    if (!this.blocked[key]) return;
    delete this.blocked[key];
    this.release.blocked = Object.values(this.blocked);
    this.showBlocked();
  }

  /** A transient fault of `key`: shown, and tried again after the backoff. */
  failedAgain(key: string, what: string, reason: string): void {
    const blocked = blockedAgain(this.blocked[key], what, reason, new Date());
    this.setBlocked(key, blocked);
    if (this.waiting.has(key)) return;
    this.waiting.add(key);
    void sleep(backoffMs(blocked.attempts)).then(() => this.waiting.delete(key));
  }

  mayTry(key: string): boolean {
    return !this.waiting.has(key);
  }

  /** The search attribute follows whether anything is blocked (set once per change, not per attempt). */
  private showBlocked(): void {
    const first = Object.values(this.blocked)[0];
    const shown = first ? `${first.what}: ${first.reason}`.slice(0, 200) : '';
    if (shown === (this.blockedShown ?? '')) return;
    this.blockedShown = shown;
    upsertSearchAttributes([{ key: blockedKey, value: shown }]);
  }

  // ------------------------------------------------------------------ lanes

  private needsRecord(): boolean {
    if (this.recording || !this.mayTry('record')) return false;
    if (!isEmptyReleaseWrite(this.release)) return true;
    if (this.book.outbox.size === 0) return false;
    // Closing and continuing as new wait for no timer.
    return !this.answeredWait || this.answeredDue || this.drainingNow || this.s.state === 'closed' || this.book.hasUnansweredWrites();
  }

  /** Answered writes wait, and no timer runs for them yet. */
  private needsAnsweredTimer(): boolean {
    return this.answeredWait && !this.answeredTimer && !this.answeredDue && this.book.answered.size > 0;
  }

  private startAnsweredTimer(): void {
    this.answeredTimer = true;
    void sleep(answeredWaitMs).then(() => {
      this.answeredTimer = false;
      this.answeredDue = true;
    });
  }

  /** One transaction with every pending write; a fault leaves them pending and is shown. */
  private record(): void {
    const { writes, leftFrom } = this.book.takeWrites(recordBytes);
    if (leftFrom === Infinity) this.answeredDue = false;
    // The release write goes once every change written before it is in: a bulk ending spares the
    // requests written at a newer revision, and an epoch promises the reader what the last run wrote.
    const before = Math.max(this.epochRev, ...this.release.bulk.map((x) => x.rev));
    const withRelease = leftFrom > before || (this.release.bulk.length === 0 && this.release.epoch === undefined);
    const release = withRelease ? this.release : emptyReleaseWrite();
    if (withRelease) this.release = emptyReleaseWrite();
    this.recording = true;
    void outcomeOf(records.recordRelease({ product: this.s.product.name, release: this.s.name, writes, write: release })).then((o) => {
      this.recording = false;
      if (o.ok) {
        this.book.recorded(writes);
        if (release.epoch === this.s.epoch) this.book.epochRecorded = true;
        this.unblock('record');
        return;
      }
      // Not recorded: merge the release write back in front of anything newer.
      this.release = mergeReleaseWrites(release, this.release);
      this.failedAgain('record', 'recording to the database', o.reason);
    });
  }

  /** The branch moved to `head` (a unit landed, or someone else pushed): its move is to be traced. */
  oweTrace(head: string): void {
    if (this.traceLater && this.traceOwed.at(-1) !== head) this.traceOwed.push(head);
  }

  private needsTrace(): boolean {
    return !this.tracing && this.traceOwed.length > 0 && this.mayTry('trace');
  }

  /** Traces the oldest owed head (each unit's move is recorded as its own move, as inline tracing did). */
  private trace(): void {
    const to = this.traceOwed[0] as string;
    this.tracing = true;
    void outcomeOf(units.traceRelease({ product: this.s.product, release: this.s.name, to })).then((o) => {
      this.tracing = false;
      if (o.ok || o.permanent) {
        // A permanent fault (the release row is gone) is not tried again; the next move's trace covers it.
        this.traceOwed.shift();
        this.unblock('trace');
        return;
      }
      this.failedAgain('trace', 'tracing the commits the release brought in', o.reason);
    });
  }

  private canStartCheck(): boolean {
    return this.s.state !== 'closed' && this.checksRunning() + this.starting < checkSlots && this.book.checkQueue.length > 0;
  }

  private startChecks(): void {
    while (this.checksRunning() + this.starting < checkSlots) {
      const change = this.book.startCheck(this.now());
      if (!change) return;
      const jobId = `culvert-check/${this.s.product.name}/${this.s.name}/${change.id}/${change.rev}`;
      this.jobs[jobId] = { kind: 'check', changeId: change.id };
      this.startJob('releaseCheck', jobId, [{
        product: this.s.product, release: this.s.name, parent: workflowInfo().workflowId, changeId: change.id, baseSha: this.s.headSha,
        source: change.kind === 'merge' ? { kind: 'merge' as const, sha: change.sourceSha ?? '' } : { kind: 'pick' as const, commits: change.commits },
      }]);
    }
  }

  /** Starts a child that reports back by signal; it outlives this run (continue-as-new) and even the release. */
  startJob(type: string, jobId: string, args: unknown[]): void {
    this.starting++;
    void startChild(type, {
      workflowId: jobId, args, parentClosePolicy: ParentClosePolicy.ABANDON, workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    }).then(
      () => undefined,
      // Its id ran already (a deployment asked twice): that one reported or reports; nothing to wait for here.
      () => {
        delete this.jobs[jobId];
      },
    ).finally(() => {
      this.starting--;
    });
  }

  private needsLoad(): 'approved' | 'checks' | null {
    if (this.loading || !this.mayTry('load') || this.s.state === 'closed') return null;
    // What the last run carried unrecorded goes to the database first (with this run's epoch): a read
    // before it would find approvals and checks as they stood earlier, and queue or lose them.
    if (this.answeredWait && !this.book.epochRecorded) return null;
    // Approved requests of earlier runs come first, in the order they were approved, before any newer one applies.
    if (this.s.backlog.approved && this.unit === null && !this.backlogPage) return 'approved';
    if (this.s.backlog.checks && this.book.checkQueue.length === 0 && this.checksRunning() < checkSlots) return 'checks';
    return null;
  }

  private load(which: 'approved' | 'checks'): void {
    this.loading = true;
    void outcomeOf(records.loadChanges({ product: this.s.product.name, release: this.s.name, which, limit: loadPage })).then((o) => {
      this.loading = false;
      if (!o.ok) {
        this.failedAgain('load', 'reading queued work from the database', o.reason);
        return;
      }
      this.unblock('load');
      for (const c of o.value.dependencies) this.book.adopt(c);
      this.book.adoptQueued(o.value.changes);
      if (!o.value.more) this.s.backlog[which] = false;
      else if (which === 'approved' && this.pagedBacklog) this.backlogPage = true;
    });
  }

  private hasDeployWork(): boolean {
    return this.deploysOwed.length > 0 || this.deployQueue.length > 0;
  }

  /** Owed release.updated deploys become jobs; queued jobs become deployment workflows. */
  private startDeploys(): void {
    for (const envName of this.deploysOwed.splice(0)) {
      const env = this.s.product.environments.find((e) => e.name === envName);
      if (!env || (env.production && !this.s.production)) continue;
      const job: DeployJob = {
        deploymentId: uuid4(), environment: envName, commitSha: this.s.headSha,
        trigger: 'release.updated', requestedBy: 'culvert',
      };
      this.queueDeploy(job);
    }
    for (const job of this.deployQueue.splice(0)) this.startDeployment(job);
  }

  startDeployment(job: DeployJob): void {
    this.deploying.set(job.deploymentId, job);
    const jobId = deploymentWorkflowId(job.deploymentId);
    this.jobs[jobId] = { kind: 'deployment', deploymentId: job.deploymentId };
    this.startJob('deployment', jobId, [{ product: this.s.product, release: this.s.name, production: this.s.production, job, parent: workflowInfo().workflowId }]);
  }

  private cancelJobs(): void {
    for (const jobId of this.cancelQueue.splice(0)) {
      void getExternalWorkflowHandle(jobId).cancel().then(() => undefined, () => undefined);
    }
  }

  // ------------------------------------------------------------------ the loop

  /** A unit of work may start: none in flight, the backlog of earlier runs loaded (from the patch on, a page of it), the release not closed. */
  private mayStartUnit(): boolean {
    return this.unit === null && !this.loading && (!this.s.backlog.approved || this.backlogPage) && this.s.state !== 'closed';
  }

  private busy(): boolean {
    return this.unit !== null || this.recording || this.loading || this.starting > 0 || this.tracing || this.holds > 0;
  }

  private finished(): boolean {
    return this.s.state === 'closed' && !this.busy() && this.book.outbox.size === 0 && isEmptyReleaseWrite(this.release) &&
      !this.hasDeployWork() && !(this.flow.busyWhenClosed?.(this) ?? false) && this.traceOwed.length === 0;
  }

  /** The server suggests continue-as-new (or the history is long). Read in the loop only: see loop(). */
  private continueAsNewDue(): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength > 20_000;
  }

  private mayContinueAsNew(): boolean {
    // Beyond carryBytes of pending writes the recorder goes on first (the carried state stays small).
    return !this.busy() && allHandlersFinished() && this.book.outboxBytes() <= carryBytes;
  }

  /**
   * Whether there is work to start. Only state the history's own events change goes in here, never the
   * clock or the server's suggestion to continue as new: a workflow task that the history does not
   * show a cause for (one whose only Update was refused by its validator) must issue no command, or
   * the history no longer replays (reproduced in the cherry-pick story: a refused filing woke the loop,
   * which continued as new; the replay never woke there).
   */
  private wake(): boolean {
    if (this.finished() || this.cancelQueue.length > 0) return true;
    return this.needsRecord() || this.needsAnsweredTimer() || this.needsTrace() || this.canStartCheck() || this.needsLoad() !== null || (this.mayStartUnit() && this.flow.hasUnit(this)) ||
      (this.s.state !== 'closed' && this.hasDeployWork()) || (this.flow.hasStep?.(this) ?? false);
  }

  async loop(continueWith: (carried: Carried) => Promise<never>): Promise<void> {
    this.answeredWait = patched(answeredWaitPatch);
    this.traceLater = patched(traceLaterPatch);
    this.pagedBacklog = patched(pagedBacklogPatch);
    for (;;) {
      if (this.drainingNow) {
        // Draining: nothing new starts and filings are refused (the API sends them again) until nothing
        // is in flight; a timer every second keeps it moving whatever else happens.
        await condition(() => this.mayContinueAsNew() || (!this.busy() && this.needsRecord() && this.book.outboxBytes() > carryBytes), 1_000);
        if (this.mayContinueAsNew()) await continueWith(this.carry());
        if (!this.busy() && this.needsRecord() && this.book.outboxBytes() > carryBytes) this.record();
        if (this.cancelQueue.length > 0) this.cancelJobs();
        continue;
      }
      await condition(() => this.wake());
      if (this.finished()) {
        await condition(allHandlersFinished);
        if (this.finished()) return;
      }
      if (this.cancelQueue.length > 0) this.cancelJobs();
      if (this.continueAsNewDue()) {
        this.drainingNow = true;
        continue;
      }
      if (this.needsRecord()) this.record();
      if (this.needsAnsweredTimer()) this.startAnsweredTimer();
      if (this.needsTrace()) this.trace();
      const load = this.needsLoad();
      if (load) this.load(load);
      if (this.canStartCheck()) this.startChecks();
      // A unit that took the loaded page (or settled part of it) lets the next page load.
      if (this.mayStartUnit() && this.flow.startUnit(this)) this.backlogPage = false;
      if (this.s.state !== 'closed' && this.hasDeployWork()) this.startDeploys();
      this.flow.step?.(this);
    }
  }

  carry(): Carried {
    const b = this.book;
    const approvedWaiting = b.approved.some((id) => b.changes.get(id)?.state === 'approved');
    return {
      book: {
        ...this.s, epoch: this.s.epoch + 1,
        backlog: { approved: this.s.backlog.approved || approvedWaiting, checks: this.s.backlog.checks || b.checkQueue.length > 0 },
      },
      writes: b.pendingWrites(),
      held: Object.values(this.jobs).flatMap((j) => {
        const change = j.kind === 'check' ? b.changes.get(j.changeId) : undefined;
        return change && !b.outbox.has(change.id) ? [{ ...change }] : [];
      }),
      release: { ...this.release, epoch: this.s.epoch + 1 },
      jobs: this.jobs, deployQueue: this.deployQueue, deploysOwed: this.deploysOwed, blocked: this.blocked, binary: this.binary,
      ...(this.traceOwed.length > 0 ? { traceOwed: this.traceOwed } : {}),
    };
  }
}

/** Two release writes as one, `later` winning where both say something. */
export function mergeReleaseWrites(earlier: ReleaseWrite, later: ReleaseWrite): ReleaseWrite {
  return {
    ...(earlier.state !== undefined || later.state !== undefined ? { state: later.state ?? earlier.state } : {}),
    ...(earlier.epoch !== undefined || later.epoch !== undefined ? { epoch: later.epoch ?? earlier.epoch } : {}),
    ...(earlier.blocked !== undefined || later.blocked !== undefined ? { blocked: later.blocked ?? earlier.blocked } : {}),
    bulk: [...earlier.bulk, ...later.bulk],
    deployments: [...earlier.deployments, ...later.deployments],
  };
}
