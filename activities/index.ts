import type { ActivityDeps } from './deps.ts';
import { buildActivities } from './builds.ts';
import { cutActivities } from './cut.ts';
import { inspectActivities } from './inspect.ts';
import { releaseRecordActivities } from './release-records.ts';
import { unitActivities } from './units.ts';
import { pickActivities } from './picks.ts';
import { previewActivities } from './preview.ts';
import { recordActivities } from './records.ts';
import { releaseGitActivities } from './release-git.ts';
import { scheduleActivities } from './schedule.ts';
import { stepActivities } from './step-activities.ts';
import { traceActivities } from './trace/index.ts';
import { trainActivities } from './trains.ts';
import { dependencyActivities } from './dependencies.ts';
import { componentActivities } from './components.ts';
import { githubActivities } from './github/index.ts';

export type { ActivityDeps } from './deps.ts';

export function createActivities(deps: ActivityDeps) {
  const activities = {
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
    ...previewActivities(deps),
    ...trainActivities(deps),
    ...dependencyActivities(deps),
    ...componentActivities(deps),
    ...githubActivities(deps),
  };
  const around = deps.faults?.around;
  if (!around) return activities;
  // Tests arm a fault point at any activity boundary (e.g. to kill the worker right after a push).
  const wrapped = Object.fromEntries(Object.entries(activities).map(([name, fn]) => [name, async (...args: unknown[]) => {
    await around(name, 'before');
    const result: unknown = await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
    await around(name, 'after');
    return result;
  }]));
  return wrapped as typeof activities;
}

export type CulvertActivities = ReturnType<typeof createActivities>;
