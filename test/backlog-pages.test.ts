// A run that begins with more approved requests than one page of its backlog applies them all (issue 9;
// ff82189). Before, a run loaded the whole approved backlog before any unit started, and a page leaves
// the backlog only once applied: every load returned the first page again and the release stopped taking
// approved picks, for good, without an error. Seen only under load until now; here it is made to happen:
// a pick unit is held at its push while 1,000 approvals arrive, the history grows past the size at which
// the server suggests continue-as-new, the run drains (waiting for the held unit), and the unit is let go,
// so the next run starts with 1,000 approved in the database and a page of 500.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import proto from '@temporalio/proto';
import { summaryQuery } from '../workflows/release/messages.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';

const { EventType } = proto.temporal.api.enums.v1;
/** Approved while the unit is held: two pages of the backlog (run.ts loads 500 at a time). */
const approvedCount = 1_000;

describe('the approved backlog of an earlier run', () => {
  let stack: Stack;
  let repo: GitFixture;
  /** The first push waits here until the run is draining. */
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let reachedPush: () => void = () => undefined;
  const atPush = new Promise<void>((resolve) => {
    reachedPush = resolve;
  });

  beforeAll(async () => {
    stack = await startStack({
      faults: {
        beforePush: async () => {
          reachedPush();
          await held;
        },
      },
    });
    repo = await createRemote();
  });
  afterAll(async () => {
    release();
    await stack?.stop();
    await repo?.cleanup();
  });

  it(`applies ${approvedCount} approved requests a page at a time in the run after continue-as-new`, async () => {
    const product = unique('backlog');
    const workflowId = `culvert/${product}/r1`;
    await repo.commit({ 'README.md': 'backlog\n' }, 'base');
    const cutPoint = await repo.commit({ 'before-cut.txt': 'x\n' }, 'before the cut');
    const trunk: string[] = [];
    for (let i = 0; i < 6; i++) trunk.push(await repo.commit({ [`fixes/fix-${i}.txt`]: `fix ${i}\n` }, `fix ${i}`));
    await repo.push();
    expect((await stack.call('POST', '/v1/products', { body: { name: product, repository: repo.remote, flow: 'cherry-pick', trunk: 'main' } })).status).toBe(201);
    const cut = await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: 'r1', from: cutPoint } });
    expect(cut.status, cut.text).toBe(201);
    const changes = `/v1/products/${product}/releases/r1/changes`;
    const handle = stack.client.workflow.getHandle(workflowId);
    const fileBatch = async (n: number, commit: (k: number) => string): Promise<string[]> => {
      const filed = await stack.call('POST', `${changes}/batch`, {
        body: { requests: Array.from({ length: n }, (_, k) => ({ kind: 'pick', commits: [commit(k)], reason: `backport ${k} ${'r'.repeat(200)}`, severity: 'normal' })) },
      });
      expect(filed.status, filed.text.slice(0, 500)).toBe(200);
      return (filed.body.results as { id: string; ok: boolean }[]).map((r) => {
        expect(r.ok).toBe(true);
        return r.id;
      });
    };
    const approve = async (ids: string[]): Promise<void> => {
      const decided = await stack.call('POST', `${changes}/decisions`, { body: { decisions: ids.map((id) => ({ id, decision: 'approve' })) } });
      expect(decided.status, decided.text.slice(0, 500)).toBe(200);
    };

    // 1. One pick approved: its unit starts and is held at its push.
    const [first] = await fileBatch(1, () => trunk[0] as string);
    await approve([first as string]);
    await atPush;
    const firstRun = (await handle.describe()).runId;

    // 2. While it is held: 1,000 approvals (they wait behind the unit), and requests enough to pass the
    // history size at which the server suggests continue-as-new.
    const backlog = await fileBatch(approvedCount, (k) => trunk[1 + (k % 5)] as string);
    await approve(backlog);
    const suggestedBytes = 4 * 1024 * 1024;
    while (Number((await handle.describe()).raw.workflowExecutionInfo?.historySizeBytes ?? 0) < suggestedBytes) {
      await fileBatch(approvedCount, (k) => trunk[1 + (k % 5)] as string);
    }
    expect((await handle.query(summaryQuery)).approved).toBeGreaterThanOrEqual(approvedCount);

    // 3. The run drains (a one-second timer while it waits for the held unit), then the unit is let go.
    await waitFor('the run to drain for continue-as-new', async () => {
      const events = (await stack.client.workflow.getHandle(workflowId, firstRun).fetchHistory()).events ?? [];
      const last = events.filter((e) => e.eventType === EventType.EVENT_TYPE_TIMER_STARTED).at(-1);
      const seconds = Number(last?.timerStartedEventAttributes?.startToFireTimeout?.seconds ?? 0);
      return seconds === 1 ? true : undefined;
    }, 60_000);
    release();

    // 4. The next run applies all of them.
    await waitFor(`the ${approvedCount} approved picks to be applied`, async () => {
      const open = await stack.call('GET', `${changes}?state=approved&limit=1`);
      return open.body.total === 0 ? true : undefined;
    }, 180_000);
    const landed = await stack.call('GET', `${changes}?state=merged,already-present&limit=1`);
    expect(landed.body.total).toBe(approvedCount + 1);

    // It did so through the paged backlog: a later run loaded the approved backlog more than once.
    const runs: string[] = [];
    for await (const w of stack.client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) runs.push(w.runId);
    const loads: number[] = [];
    for (const runId of runs.filter((r) => r !== firstRun)) {
      const events = (await stack.client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
      loads.push(events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'loadChanges').length);
    }
    expect(Math.max(0, ...loads), `loads of the backlog per later run: ${loads.join(', ')}`).toBeGreaterThanOrEqual(2);
  }, 300_000);
});
