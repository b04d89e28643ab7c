import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { activityInfo, cancellationSignal, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { finishRun, startRun } from '../db/repos/runs.ts';
import type { ProductConfig } from '../domain/types.ts';
import type { ActivityDeps } from './deps.ts';
import { runLogPath } from './deps.ts';
import type { Mirror } from './git/index.ts';
import { runStep } from './steps/index.ts';
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

/** Runs one step in a fresh checkout of exactly `commit`, keeping its log and its run record. */
export async function executeStep(deps: ActivityDeps, job: StepJob): Promise<StepOutcome> {
  const step = job.product.steps[job.stepName];
  if (!step) throw ApplicationFailure.nonRetryable(`product ${job.product.name} has no step ${job.stepName}`);
  const logPath = runLogPath(deps.dataDir, job.runId);
  await mkdir(join(deps.dataDir, 'runs'), { recursive: true });
  await rm(logPath, { force: true });
  await startRun(deps.db, {
    id: job.runId, product: job.product.name, release: job.release, changeId: job.changeId ?? null,
    deploymentId: job.deploymentId ?? null, step: job.stepName, argv: step.argv, commitSha: job.commit, state: 'running', logPath,
  });
  const dir = join(deps.dataDir, 'work', `${job.runId}-${activityInfo().attempt}`);
  await mkdir(join(deps.dataDir, 'work'), { recursive: true });
  const checkout = await job.mirror.checkout(job.commit, dir);
  let outcome: StepOutcome;
  try {
    outcome = await runStep(step, {
      dir, logPath, signal: cancellationSignal(),
      extraEnv: {
        CULVERT_PRODUCT: job.product.name, CULVERT_RELEASE: job.release, CULVERT_COMMIT: job.commit,
        CULVERT_RUN_ID: job.runId, ...job.env,
      },
      onHeartbeat: (p) => heartbeat(p),
    });
    if (outcome.state === 'succeeded') await job.afterSuccess?.(dir);
  } finally {
    await checkout.dispose();
  }
  await finishRun(deps.db, job.runId, { state: outcome.state, exitCode: outcome.exitCode, durationMs: Math.round(outcome.durationMs) });
  if (outcome.state === 'cancelled') throw ApplicationFailure.nonRetryable(`step ${job.stepName} was cancelled`);
  return outcome;
}
