// Who is waiting for a release's change requests to move: every write of change requests notifies the
// release's channel (delivered when its transaction commits), and a reader that long-polls a change
// (GET .../changes/:id?after=<rev>&wait=<s>) is woken by it instead of asking again and again. On
// PostgreSQL the notification reaches every API process (LISTEN/NOTIFY); on PGlite, the one process.
import { sql } from 'drizzle-orm';
import type { Database, Db } from './client.ts';

const channel = 'culvert_release_changes';

type Writer = Pick<Db, 'execute'>;

/** Tells waiting readers that `release`'s requests changed; inside a transaction, once it commits. */
export async function notifyRelease(tx: Writer, product: string, release: string): Promise<void> {
  await tx.execute(sql`select pg_notify(${channel}, ${JSON.stringify([product, release])})`);
}

export interface Wake {
  /** Settles on the release's next notification, at the deadline, or when the feed closes: whichever is first. */
  readonly woken: Promise<void>;
  /** Stops waiting (the reader found what it wanted before sleeping). */
  cancel(): void;
}

/**
 * Notifications by release, for long polls. Subscribes on first use. A notification lost to a reconnect
 * only delays a waiter until its deadline, which callers keep short (they read again then).
 */
export class ReleaseFeed {
  private readonly waiters = new Map<string, Set<() => void>>();
  private subscribed: Promise<(() => Promise<void>) | null> | null = null;
  private closed = false;

  /** After close(): waiters answer with what they have. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * How long a waiter sleeps before reading again though nothing woke it: long with a listener (a lost
   * notification costs this much), short without one (then this is a poll).
   */
  readonly recheckMs: number;

  constructor(private readonly listen: Database['listen'] | undefined) {
    this.recheckMs = listen ? 1000 : 200;
  }

  /**
   * Starts waiting for `release`'s next change, up to `ms`. Call before reading, then read, then await
   * `woken`: a write that lands between the read and the wait still wakes it.
   */
  async next(product: string, release: string, ms: number): Promise<Wake> {
    const key = JSON.stringify([product, release]);
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => {
      wake = resolve;
    });
    const timer = setTimeout(() => done(), ms);
    const set = this.waiters.get(key) ?? new Set();
    this.waiters.set(key, set);
    const done = (): void => {
      clearTimeout(timer);
      set.delete(done);
      if (set.size === 0 && this.waiters.get(key) === set) this.waiters.delete(key);
      wake();
    };
    set.add(done);
    if (this.closed) done();
    // Without a listener (or one that failed) every wait runs to its deadline: a slower poll, not a wrong one.
    else await this.subscribe();
    return { woken, cancel: done };
  }

  /** Wakes every waiter and stops listening. */
  async close(): Promise<void> {
    this.closed = true;
    for (const set of [...this.waiters.values()]) for (const done of [...set]) done();
    const stop = await this.subscribed?.catch(() => null);
    await stop?.().catch(() => undefined);
  }

  private subscribe(): Promise<unknown> {
    if (!this.listen) return Promise.resolve();
    this.subscribed ??= this.listen(channel, (payload) => this.notified(payload)).catch(() => {
      // Try again on the next wait.
      this.subscribed = null;
      return null;
    });
    return this.subscribed;
  }

  private notified(payload: string): void {
    const set = this.waiters.get(payload);
    if (set) for (const done of [...set]) done();
  }
}
