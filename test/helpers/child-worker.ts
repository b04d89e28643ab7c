// Culvert workers in child processes, for tests that SIGKILL them (test/helpers/worker-main.ts).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { inject } from 'vitest';
import type { ChildWorkerSpec } from './worker-main.ts';

export interface ChildWorker {
  process: ChildProcess;
  /** Resolves when the process has exited, however. */
  exited: Promise<number | null>;
}

export async function startChildWorker(spec: Omit<ChildWorkerSpec, 'address' | 'namespace' | 'bundlePath'>): Promise<ChildWorker> {
  const full: ChildWorkerSpec = { address: inject('temporalAddress'), namespace: inject('temporalNamespace'), bundlePath: inject('workflowBundlePath'), ...spec };
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'worker-main.ts')], {
    env: { ...process.env, CULVERT_CHILD_WORKER: JSON.stringify(full) }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('worker running')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`child worker exited early with ${code}`)));
  });
  return { process: child, exited };
}

export async function stopChildWorker(w: ChildWorker, signal: NodeJS.Signals): Promise<void> {
  if (w.process.exitCode === null && w.process.signalCode === null) w.process.kill(signal);
  await w.exited;
}
