// sdk-core merges, on replay, a workflow task that completed with no command into the next task when
// that one followed at once (an Update's task): results the first task brought are then processed after
// the second task's Updates, and the replay takes another path than the live run (sdk-core #1146).
// workflows/interceptors.ts keeps such tasks from being empty; this shows the fault without it (so that
// the day sdk-core fixes it, this test says the workaround can go) and that the interceptor avoids it.
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sealingInterceptor } from '../cli/temporal-connection.ts';
import { workflowInterceptorModules } from '../cli/worker.ts';
import { mergedTasks, pokeUpdate } from './fixtures/task-merge-workflows.ts';
import { waitFor } from './helpers/wait.ts';

const workflowsPath = fileURLToPath(new URL('./fixtures/task-merge-workflows.ts', import.meta.url));
const quiet = (): void => undefined;
const logger = { trace: quiet, debug: quiet, info: quiet, warn: quiet, error: console.error, log: quiet };
const { EventType } = proto.temporal.api.enums.v1;
type History = proto.temporal.api.history.v1.IHistory;

describe('a workflow task with no command, followed at once by an Update', () => {
  let connection: Connection;
  let client: Client;
  let bare: string;
  let intercepted: string;
  beforeAll(async () => {
    connection = await Connection.connect({ address: inject('temporalAddress') });
    // Starts sealed as Culvert's are (workflows/seals.ts); these workers have no payload key, so the seal is read in clear.
    client = new Client({ connection, namespace: inject('temporalNamespace'), interceptors: { workflow: [sealingInterceptor] } });
    [bare, intercepted] = await Promise.all([
      bundleWorkflowCode({ workflowsPath, logger }).then((b) => b.code),
      bundleWorkflowCode({ workflowsPath, workflowInterceptorModules, logger }).then((b) => b.code),
    ]);
  }, 120_000);
  afterAll(async () => {
    await connection?.close();
  });

  /**
   * Runs mergedTasks live on `code`: quick ends, then slow ends, each in its own task; then the worker
   * stops (its cache is lost, as at any restart) and a new one takes the Update's task with the whole
   * history.
   */
  async function runLive(code: string): Promise<{ history: History; sawSlow: boolean }> {
    const taskQueue = `merge-${randomUUID()}`;
    let releaseSlow = (): void => undefined;
    const slowGate = new Promise<void>((resolve) => {
      releaseSlow = resolve;
    });
    const startWorker = async () => {
      const native = await NativeConnection.connect({ address: inject('temporalAddress') });
      const worker = await Worker.create({
        connection: native, namespace: inject('temporalNamespace'), taskQueue, workflowBundle: { code },
        activities: { quick: async () => undefined, slow: () => slowGate, after: async () => undefined },
      });
      const running = worker.run();
      return async () => {
        worker.shutdown();
        await running;
        await native.close();
      };
    };
    let stop = await startWorker();
    const wfId = `merge-${randomUUID()}`;
    try {
      const handle = await client.workflow.start(mergedTasks, { taskQueue, workflowId: wfId });
      // A task completed after the activity's result, and none is pending: the next event is ours to cause.
      const settledAfter = (completions: number) => async () => {
        const events = (await handle.fetchHistory()).events ?? [];
        const done = events.filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED).length;
        return done === completions && !(await handle.describe()).raw.pendingWorkflowTask;
      };
      await waitFor('the task after quick', settledAfter(1), 15_000);
      releaseSlow();
      await waitFor('the task after slow', settledAfter(2), 30_000);
      await stop();
      stop = await startWorker();
      const sawSlow = await handle.executeUpdate(pokeUpdate);
      await handle.result();
      return { history: await handle.fetchHistory(), sawSlow };
    } catch (err) {
      if (process.env.MERGE_DEBUG) console.log((await import('./helpers/history-listing.ts')).listEvents(await client.workflow.getHandle(wfId).fetchHistory()).join('\n'));
      throw err;
    } finally {
      await stop();
    }
  }

  async function replay(code: string, history: History): Promise<string | null> {
    try {
      await Worker.runReplayHistory({ workflowBundle: { code } }, history);
      return null;
    } catch (err) {
      return String(err);
    }
  }

  it('does not replay when the tasks are left empty (the fault in sdk-core)', async () => {
    const { history, sawSlow } = await runLive(bare);
    // The new worker took the two tasks for one (the first looked like a task heartbeat): the Update ran
    // before slow's result; the replay of the finished history keeps them apart.
    expect(sawSlow, 'live, on the new worker, the Update ran before slow\'s result').toBe(false);
    const error = await replay(bare, history);
    if (process.env.MERGE_DEBUG) console.log((await import('./helpers/history-listing.ts')).listEvents(history).join('\n'));
    expect(error ?? '', 'the replay takes the other branch: an activity where the history has a timer').toMatch(/Nondeterminism/);
  }, 120_000);

  it('replays when each result a task brought upserts a memo', async () => {
    const { history, sawSlow } = await runLive(intercepted);
    expect(sawSlow, 'the Update ran after slow ended, as it did').toBe(true);
    const memos = (history.events ?? []).filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED);
    // One per job that brought something: the start, each activity's result, each timer that fired.
    const brought = [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, EventType.EVENT_TYPE_TIMER_FIRED];
    const bringing = (history.events ?? []).filter((e) => brought.includes(e.eventType ?? 0));
    expect(bringing.filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED).length, 'quick and slow at least').toBeGreaterThanOrEqual(2);
    expect(memos.length, 'one memo per job that brought something').toBe(bringing.length);
    expect(await replay(intercepted, history)).toBeNull();
  }, 120_000);
});
