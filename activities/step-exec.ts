import { execFile } from 'node:child_process';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { activityInfo, cancellationDetails, cancellationSignal, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { finishRun, startRun } from '../db/repos/runs.ts';
import type { ProductConfig } from '../domain/types.ts';
import type { ActivityDeps } from './deps.ts';
import { runLogPath } from './deps.ts';
import type { Mirror } from './git/index.ts';
import { withHeartbeat } from './heartbeat.ts';
import { maskLog, resolveSecrets } from './secrets.ts';
import { ownerTag, runStep, stopRecordedStep } from './steps/index.ts';
import type { StepOutcome } from './steps/index.ts';

export interface StepJob {
  mirror: Mirror;
  product: ProductConfig;
  release: string;
  runId: string;
  stepName: string;
  commit: string;
  changeId?: string;
  deploymentId?: string;
  env: Record<string, string>;
  /** Runs in the checkout after a successful step, before it is removed (e.g. to collect artifacts). */
  afterSuccess?: (dir: string) => Promise<void>;
}

/** Where a run's step records its process group while it runs (see steps/procs.ts). */
export const stepPidFile = (dataDir: string, runId: string): string => join(dataDir, 'work', `${runId}.pid`);

/** Runs one step in a fresh checkout of exactly `commit`, keeping its log and its run record. */
export async function executeStep(deps: ActivityDeps, job: StepJob): Promise<StepOutcome> {
  const step = job.product.steps[job.stepName];
  if (!step) throw ApplicationFailure.nonRetryable(`product ${job.product.name} has no step ${job.stepName}`);
  // Named secrets come from this worker; a missing one fails the step before anything runs.
  const { env: stepEnv, secrets } = await resolveSecrets(step.env);
  // Isolated steps get their checkout outside the data dir (steps/isolation.ts).
  const iso = deps.stepIsolation;
  const work = iso ? iso.root : join(deps.dataDir, 'work');
  await mkdir(work, { recursive: true });
  if (iso) await chmod(work, 0o711);
  await mkdir(join(deps.dataDir, 'work'), { recursive: true });
  // An earlier attempt of this run may still be running on this host (its worker stuck past the
  // heartbeat timeout, or killed together with its step supervisor): it goes before this one starts.
  const pidFile = stepPidFile(deps.dataDir, job.runId);
  await withHeartbeat(() => stopRecordedStep(pidFile));
  const logPath = runLogPath(deps.dataDir, job.runId);
  await mkdir(join(deps.dataDir, 'runs'), { recursive: true });
  await rm(logPath, { force: true });
  await startRun(deps.db, {
    id: job.runId, product: job.product.name, release: job.release, changeId: job.changeId ?? null,
    deploymentId: job.deploymentId ?? null, step: job.stepName, argv: step.argv, commitSha: job.commit, state: 'running', logPath,
  });
  // The owner tag lets a worker starting later remove this checkout if this process dies.
  const dir = join(work, `${job.runId}-${activityInfo().attempt}${ownerTag()}`);
  const checkout = await withHeartbeat(() => job.mirror.checkout(job.commit, dir));
  if (iso) {
    // The step user's own, and nobody else's.
    await withHeartbeat(() => promisify(execFile)('chown', ['-R', '--', `${iso.uid}:${iso.gid}`, dir]));
    await chmod(dir, 0o700);
  }
  let outcome: StepOutcome;
  try {
    outcome = await runStep({ ...step, env: stepEnv }, {
      dir, logPath, pidFile, signal: cancellationSignal(), ...(iso ? { isolation: iso } : {}),
      extraEnv: {
        CULVERT_PRODUCT: job.product.name, CULVERT_RELEASE: job.release, CULVERT_COMMIT: job.commit,
        CULVERT_RUN_ID: job.runId, ...job.env,
      },
      onHeartbeat: (p) => heartbeat(p),
    });
    const { afterSuccess } = job;
    if (outcome.state === 'succeeded' && afterSuccess) await withHeartbeat(() => afterSuccess(dir));
  } finally {
    await withHeartbeat(() => checkout.dispose());
    await maskLog(logPath, secrets).catch(() => undefined);
  }
  await finishRun(deps.db, job.runId, { state: outcome.state, exitCode: outcome.exitCode, durationMs: Math.round(outcome.durationMs) });
  if (outcome.state === 'cancelled') {
    // Cancelled on purpose (its request was withdrawn): an outcome. Cut short because this worker stops
    // (or lost its activity): another worker runs the step again.
    if (cancellationDetails()?.cancelRequested) throw ApplicationFailure.nonRetryable(`step ${job.stepName} was cancelled`);
    throw ApplicationFailure.retryable(`step ${job.stepName} was cut short: the worker running it stopped`, 'worker_stopped');
  }
  return outcome;
}
