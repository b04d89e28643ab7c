import type { ActivityDeps } from './deps.ts';
import { recordActivities } from './records.ts';
import { releaseGitActivities } from './release-git.ts';
import { stepActivities } from './step-activities.ts';

export type { ActivityDeps } from './deps.ts';

export function createActivities(deps: ActivityDeps) {
  return {
    ...recordActivities(deps),
    ...releaseGitActivities(deps),
    ...stepActivities(deps),
  };
}

export type CulvertActivities = ReturnType<typeof createActivities>;
