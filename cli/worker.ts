import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import type { NativeConnection, WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import type { ActivityDeps } from '../activities/index.ts';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface WorkerSetup {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** A prebuilt bundle (tests build one per run); otherwise the workflows are bundled at start. */
  workflowBundle?: { codePath: string };
  options?: Partial<WorkerOptions>;
}

export function createWorker(s: WorkerSetup): Promise<Worker> {
  return Worker.create({
    connection: s.connection,
    namespace: s.namespace,
    taskQueue: s.taskQueue,
    activities: createActivities(s.deps),
    ...(s.workflowBundle ? { workflowBundle: s.workflowBundle } : { workflowsPath }),
    // Long steps run as activities; leave room for several at once without starving git work.
    maxConcurrentActivityTaskExecutions: 20,
    ...s.options,
  });
}
