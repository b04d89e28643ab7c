// The memos workflows/interceptors.ts adds must come out in the same order whether sdk-core hands a
// workflow task's jobs over in one activation (a replay) or in two (a live worker catching up after a
// task timed out: seen in CI's kill-boundaries run, whose binary release then did not replay). This
// drives the interceptor with both shapes of one task: a signal the loop only notes, then a timer whose
// firing schedules an activity and the next timer.
import { describe, expect, it } from 'vitest';
import type { coresdk } from '@temporalio/proto';
import { EventfulTasks } from '../workflows/interceptors.ts';
import type { EventfulMode } from '../workflows/interceptors.ts';

type Job = coresdk.workflow_activation.IWorkflowActivationJob;
type Command = coresdk.workflow_commands.IWorkflowCommand;

const signal: Job = { signalWorkflow: { signalName: 'culvert.jobDone', input: [] } };
const timerFired: Job = { fireTimer: { seq: 1 } };
const schedule: Command = { scheduleActivity: { seq: 5, activityType: 'recordRelease' } };
const startTimer: Command = { startTimer: { seq: 2 } };

/** Runs activations through the interceptor; `answer` gives the workflow's own commands for each. */
function run(mode: EventfulMode, activations: { jobs: Job[]; own: Command[] }[]): string[] {
  const interceptor = new EventfulTasks(() => mode);
  const out: Command[] = [];
  for (const a of activations) {
    interceptor.activate({ activation: { jobs: a.jobs, historyLength: 59 }, batchIndex: 0 }, () => undefined);
    out.push(...interceptor.concludeActivation({ commands: a.own }, (input) => input).commands);
  }
  return out.map((c) => Object.keys(c)[0] ?? '?');
}

const merged = [{ jobs: [signal, timerFired], own: [schedule, startTimer] }];
const split = [{ jobs: [signal], own: [] }, { jobs: [timerFired], own: [schedule, startTimer] }];

describe('eventful tasks', () => {
  it('gives one task the same events whether its jobs come in one activation or two (memos first)', () => {
    const one = run('jobs-first', merged);
    expect(one).toEqual(['modifyWorkflowProperties', 'modifyWorkflowProperties', 'scheduleActivity', 'startTimer']);
    expect(run('jobs-first', split)).toEqual(one);
  });

  it('memos after the commands (the rule of runs under culvert-eventful-jobs) differ between the two: the fault CI saw', () => {
    expect(run('jobs', split)).not.toEqual(run('jobs', merged));
  });

  it('adds nothing for activations that bring no result or signal, nor in runs before the patches', () => {
    expect(run('jobs-first', [{ jobs: [{ doUpdate: { id: 'u', name: 'culvert.file' } }], own: [] }])).toEqual([]);
    expect(run('off', merged)).toEqual(['scheduleActivity', 'startTimer']);
  });
});
