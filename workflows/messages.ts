import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Gate } from '../domain/gate.ts';
import type { Actor, ProductConfig } from '../domain/types.ts';
import type {
  ChangeView, DecideInput, DecisionResult, DeployAccepted, DeployInput, ReleaseSummary, ReleaseView, RequestChangeInput, VoteInput,
} from '../domain/messages.ts';

export type {
  ChangeView, DecideInput, DecisionResult, DeployAccepted, DeployInput, ReleaseSummary, ReleaseView, RequestChangeInput, VoteInput,
} from '../domain/messages.ts';

// The one place where message names are spelled; api/ imports these definitions.

export const cutUpdate = defineUpdate<ReleaseView, []>('culvert.cut');
export const requestChangeUpdate = defineUpdate<ChangeView, [RequestChangeInput]>('culvert.requestChange');
export const decideUpdate = defineUpdate<{ results: DecisionResult[] }, [DecideInput]>('culvert.decide');
export const deployUpdate = defineUpdate<DeployAccepted, [DeployInput]>('culvert.deploy');

export const freezeUpdate = defineUpdate<ReleaseView, [{ actor: Actor }]>('culvert.freeze');
/** `gate` and `rev` come from gate workflows (the API stores them at once); legacy gates answer without. */
export const voteUpdate = defineUpdate<{ gateId: string; state: string; votes: number; gate?: Gate; rev?: number }, [VoteInput]>('culvert.vote');
export const closeUpdate = defineUpdate<ReleaseView, [{ actor: Actor }]>('culvert.close');
/** Closing by automation (a schedule that cut the next release); people close through closeUpdate. */
export const scheduledCloseSignal = defineSignal<[]>('culvert.scheduledClose');
export const productUpdatedSignal = defineSignal<[ProductConfig]>('culvert.productUpdated');
export const summaryQuery = defineQuery<ReleaseSummary>('culvert.summary');
