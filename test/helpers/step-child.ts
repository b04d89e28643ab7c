// A stand-in for a worker, in a child process that tests SIGKILL while its step runs:
// runs one step with runStep, after making a checkout-like directory tagged with its own pid.
// Started as `node --import tsx step-child.ts '<StepChildSpec as JSON>'`.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ownerTag, runStep } from '../../activities/steps/index.ts';

export interface StepChildSpec {
  argv: string[];
  /** The checkout: made as `<workDir>/<name><ownerTag>` when workDir is given, else `dir` as is. */
  workDir?: string;
  name?: string;
  dir?: string;
  logPath: string;
  pidFile?: string;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as StepChildSpec;
const dir = spec.workDir ? join(spec.workDir, `${spec.name ?? 'run'}${ownerTag()}`) : (spec.dir as string);
await mkdir(dir, { recursive: true });
const outcome = await runStep({ argv: spec.argv }, { dir, logPath: spec.logPath, pidFile: spec.pidFile });
process.stdout.write(`${JSON.stringify(outcome)}\n`);
