import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import type { PayloadCodec } from '@temporalio/common';
import type { NativeConnection, WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import type { ActivityDeps } from '../activities/index.ts';
import { cleanStaleWork } from '../activities/steps/cleanup.ts';
import { startStepSupervisor } from '../activities/steps/index.ts';
import { culvertDataConverter, sealingInterceptor } from './temporal-connection.ts';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
/** Bundled with the workflows wherever they are bundled (workflows/interceptors.ts says why). */
export const workflowInterceptorModules = [fileURLToPath(new URL('../workflows/interceptors.ts', import.meta.url))];

export interface WorkerSetup {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** The installation's payload codec (cli/payload-codec.ts): every worker and API must share its key. */
  codec: PayloadCodec;
  /** A prebuilt bundle (tests build one per run); otherwise the workflows are bundled at start. */
  workflowBundle?: { codePath: string };
  options?: Partial<WorkerOptions>;
}

export async function createWorker(s: WorkerSetup): Promise<Worker> {
  // A worker that died on this host may have left checkouts, still-running steps and worktree
  // entries behind; none of that may stop this one from starting.
  try {
    const report = await cleanStaleWork(s.deps.dataDir);
    const { removed, pidFiles, killed, pruned, errors } = report;
    if (removed.length + pidFiles.length + pruned.length > 0) {
      console.warn(`culvert: cleaned up after dead workers: ${removed.length} checkouts removed, ${pidFiles.length} step pid files (${killed.length} steps still running, killed), worktrees pruned in ${pruned.length} mirrors`);
    }
    for (const error of errors) console.error(`culvert: cleaning up after dead workers: ${error}`);
  } catch (err) {
    console.error('culvert: cleaning up after dead workers failed:', err);
  }
  startStepSupervisor();
  return Worker.create({
    connection: s.connection,
    namespace: s.namespace,
    taskQueue: s.taskQueue,
    activities: createActivities(s.deps),
    dataConverter: culvertDataConverter(s.codec),
    // The worker's own client (activities signal waiting deployments with it) seals what it sends, as the API's does.
    ...(s.workflowBundle
      ? { workflowBundle: s.workflowBundle, interceptors: { client: { workflow: [sealingInterceptor] } } }
      : { workflowsPath, interceptors: { workflowModules: workflowInterceptorModules, client: { workflow: [sealingInterceptor] } } }),
    // Long steps run as activities; leave room for several at once without starving git work.
    maxConcurrentActivityTaskExecutions: 20,
    // A stopping worker lets what runs finish for a while; a step still running then is cut short and
    // runs again on another worker (a retryable failure, never the step's outcome).
    shutdownGraceTime: '10 seconds',
    ...s.options,
  });
}
