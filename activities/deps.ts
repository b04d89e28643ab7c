import { join } from 'node:path';
import type { Db } from '../db/client.ts';
import type { StepIsolation } from './steps/isolation.ts';
import { Mirror } from './git/index.ts';

export interface Identity { name: string; email: string }

/** Test-only fault points: lets a crash test stop a worker at an exact moment. */
export interface Faults {
  beforePush?: (changeId: string) => Promise<void>;
  afterPush?: (changeId: string) => Promise<void>;
  /** Around every activity: before it starts and after it finished (its side effects done, its result not yet reported). */
  around?: (activity: string, phase: 'before' | 'after') => Promise<void>;
}

export interface ActivityDeps {
  db: Db;
  /** Where mirrors, step logs and checkouts live (`.culvert/` by default). */
  dataDir: string;
  identity?: Identity;
  faults?: Faults;
  /** How steps are kept from the worker (steps/isolation.ts); absent: they run as the worker's user. */
  stepIsolation?: StepIsolation;
}

export const culvertIdentity: Identity = { name: 'Culvert', email: 'culvert@localhost' };

export function mirrorFor(deps: ActivityDeps, repository: string): Promise<Mirror> {
  return Mirror.open(join(deps.dataDir, 'mirrors'), repository);
}

export const runLogPath = (dataDir: string, runId: string): string => join(dataDir, 'runs', `${runId}.log`);
