import type { ActivityDeps } from './deps.ts';
import { buildActivities } from './builds.ts';
import { cutActivities } from './cut.ts';
import { inspectActivities } from './inspect.ts';
import { releaseRecordActivities } from './release-records.ts';
import { unitActivities } from './units.ts';
import { pickActivities } from './picks.ts';
import { recordActivities } from './records.ts';
import { releaseGitActivities } from './release-git.ts';
import { scheduleActivities } from './schedule.ts';
import { stepActivities } from './step-activities.ts';
import { traceActivities } from './trace/index.ts';

export type { ActivityDeps } from './deps.ts';

export function createActivities(deps: ActivityDeps) {
  return {
    ...recordActivities(deps),
    ...releaseGitActivities(deps),
    ...stepActivities(deps),
    ...pickActivities(deps),
    ...scheduleActivities(deps),
    ...traceActivities(deps),
    ...buildActivities(deps),
    ...cutActivities(deps),
    ...inspectActivities(deps),
    ...releaseRecordActivities(deps),
    ...unitActivities(deps),
  };
}

export type CulvertActivities = ReturnType<typeof createActivities>;
