// Read-your-writes for tracing answers. A unit of work writes its outcome (a request `merged`, the
// release's new head) right after its push, and the trace of what the move brought in follows in an
// activity of its own (tens of milliseconds later): so that `culvert where`, the notes and deployment
// previews never contradict a `merged` the caller just read, they wait for that trace first, briefly.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from '../../db/client.ts';
import { untracedReleases } from '../../db/repos/trace.ts';

/** Only releases that moved this recently are waited for: one whose trace failed for good is not waited on forever. */
const recentMs = 60_000;

/**
 * Waits until no release of `products` (null: any) that moved recently is ahead of its trace, or
 * `maxMs` passed (then answers with what is traced: the trace is late, not lost, and the workflow
 * shows it as blocked meanwhile).
 */
export async function awaitTraces(db: Db, products: string[] | null, maxMs = 3_000): Promise<void> {
  const deadline = Date.now() + maxMs;
  let delay = 10;
  for (;;) {
    const behind = await untracedReleases(db, products, new Date(Date.now() - recentMs));
    if (behind.length === 0 || Date.now() >= deadline) return;
    await sleep(delay);
    delay = Math.min(delay * 2, 100);
  }
}
