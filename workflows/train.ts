// A train (domain/trains.ts): one workflow over many member releases. It holds no release state of its
// own: each member is a release workflow of its product, acted on through the API's operations (an
// activity per member, activities/trains.ts), so the train's history grows by a few events per member
// and action, and it continues as new between actions.
import {
  allHandlersFinished, ApplicationFailure, condition, continueAsNew, defineQuery, defineUpdate, patched, proxyActivities, setHandler, workflowInfo,
} from '@temporalio/workflow';
import type { CulvertActivities } from '../activities/index.ts';
import type { MemberOutcome, TrainAction } from '../domain/trains.ts';
import type { Actor } from '../domain/types.ts';
import { keepTasksEventful } from './interceptors.ts';

export interface QueuedTrainAction {
  seq: number;
  action: TrainAction;
  /** The members it acts on: those the pre-flight found ready, or all of them when the owner said so. */
  members: string[];
  actor: Actor;
  /** The pre-flight the owner confirmed, recorded with the action. */
  report: Record<string, unknown>;
}

export interface TrainInput {
  train: string;
  release: string;
  production: boolean;
  members: string[];
  actor: Actor;
  /** Carried across continue-as-new. */
  seq?: number;
  queue?: QueuedTrainAction[];
  /** Actions a run takes before it continues as new (default 10; tests make it small). */
  actionsPerRun?: number;
}

export interface TrainActInput {
  action: TrainAction;
  members: string[];
  actor: Actor;
  report: Record<string, unknown>;
}

export const trainActUpdate = defineUpdate<{ seq: number }, [TrainActInput]>('trainAct');
export const trainStateQuery = defineQuery<{ seq: number; running: number | null; queued: number[]; closing: boolean }>('trainState');

/** Member actions at once: enough to overlap git and step waits, few enough to leave the worker room. */
const parallel = 8;

const acts = proxyActivities<CulvertActivities>({
  startToCloseTimeout: '2 minutes',
  // An outage (Temporal, the database, a remote) is waited out; a refusal is an outcome, not an error.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** Following deployments: long, heartbeating, waited out whatever happens to the worker. */
const follow = proxyActivities<CulvertActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export async function trainWorkflow(input: TrainInput): Promise<{ actions: number }> {
  keepTasksEventful();
  const queue: QueuedTrainAction[] = input.queue ?? [];
  let seq = input.seq ?? 0;
  let running: number | null = null;
  if (input.seq === undefined) {
    seq = 1;
    queue.push({ seq, action: { kind: 'cut' }, members: input.members, actor: input.actor, report: {} });
  }
  const closing = () => queue.some((q) => q.action.kind === 'close');

  setHandler(trainActUpdate, (i) => {
    seq += 1;
    queue.push({ seq, action: i.action, members: i.members, actor: i.actor, report: i.report });
    return { seq };
  }, {
    validator: (i: TrainActInput) => {
      if (closing()) throw ApplicationFailure.create({ type: 'train_closed', message: `train ${input.train} is closing: it takes no more actions`, nonRetryable: true });
      if (i.members.some((m) => !input.members.includes(m))) {
        throw ApplicationFailure.create({ type: 'bad_request', message: `not members of train ${input.train}: ${i.members.filter((m) => !input.members.includes(m)).join(', ')}`, nonRetryable: true });
      }
    },
  });
  setHandler(trainStateQuery, () => ({ seq, running, queued: queue.map((q) => q.seq), closing: closing() }));

  const perRun = input.actionsPerRun ?? 10;
  for (let done = 0; ;) {
    await condition(() => queue.length > 0 || done >= perRun || workflowInfo().continueAsNewSuggested);
    const next = queue[0];
    if (!next) {
      // Between actions only: nothing is running, what is queued is carried.
      await condition(allHandlersFinished);
      if (queue.length > 0) continue;
      await continueAsNew<typeof trainWorkflow>({ ...input, seq, queue: [] });
    }
    if (!next) continue;
    running = next.seq;
    await acts.trainActionStarted({ train: input.train, seq: next.seq, action: next.action, actor: next.actor, members: next.members, report: next.report });
    await actOnMembers(input, next);
    // Trains since this patch wait for the deployments they started: a member's outcome is its deployment's end.
    if (next.action.kind === 'deploy' && patched('culvert-train-deployment-outcomes')) {
      while ((await follow.trainAwaitDeployments({ train: input.train, seq: next.seq })).running > 0);
    }
    const close = next.action.kind === 'close';
    await acts.trainActionFinished({ train: input.train, seq: next.seq, close });
    queue.shift();
    running = null;
    done += 1;
    if (close) {
      await condition(allHandlersFinished);
      return { actions: seq };
    }
  }
}

/** Every member's part, `parallel` at a time; one failing does not stop the others. */
async function actOnMembers(input: TrainInput, q: QueuedTrainAction): Promise<MemberOutcome[]> {
  const outcomes: MemberOutcome[] = [];
  let at = 0;
  const lane = async (): Promise<void> => {
    while (at < q.members.length) {
      const product = q.members[at++] as string;
      outcomes.push(await acts.trainMemberAct({
        train: input.train, seq: q.seq, product, release: input.release, production: input.production, action: q.action, actor: q.actor,
      }));
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, q.members.length) }, lane));
  return outcomes;
}
