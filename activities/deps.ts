import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { localRepositoryProblem } from '../domain/repositories.ts';
import { permanent } from './faults.ts';
import type { Db } from '../db/client.ts';
import type { StepIsolation } from './steps/isolation.ts';
import type { GithubOps } from '../domain/github.ts';
import type { ReleaseOps } from '../domain/trains.ts';
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
  /** Directories local repositories may be in (config `repositoryRoots`); absent: not checked here. */
  repositoryRoots?: string[];
  /**
   * The API's operations on releases (cut, deploy click, file, freeze, close), for trains: what a train
   * does to a member is what its owner could do through the API. Given by whoever starts the worker.
   */
  releaseOps?: ReleaseOps;
  /** What a GitHub delivery does through the API's own operations (domain/github.ts). */
  githubOps?: GithubOps;
}

export const culvertIdentity: Identity = { name: 'Culvert', email: 'culvert@localhost' };

const real = (path: string) => realpath(path).catch(() => path);

/**
 * The mirror of a product's repository. A local repository is checked again here, links resolved, as
 * the API checked its path: a product stored before the roots were set, or a symlink under a root that
 * points into the data dir, reaches no git command.
 */
export async function mirrorFor(deps: ActivityDeps, repository: string): Promise<Mirror> {
  if (deps.repositoryRoots && repository.startsWith('/')) {
    const problem = localRepositoryProblem(await real(repository), {
      roots: await Promise.all(deps.repositoryRoots.map(real)), dataDir: await real(deps.dataDir),
    }, false);
    if (problem) throw permanent(`repository ${repository} ${problem}`);
  }
  return Mirror.open(join(deps.dataDir, 'mirrors'), repository);
}

export const runLogPath = (dataDir: string, runId: string): string => join(dataDir, 'runs', `${runId}.log`);
