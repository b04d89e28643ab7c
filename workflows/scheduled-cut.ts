import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, getExternalWorkflowHandle, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import type { CulvertActivities } from '../activities/index.ts';
import { releaseWorkflowId } from '../domain/types.ts';
import type { Actor } from '../domain/types.ts';
import { scheduledCloseSignal } from './messages.ts';
import { releaseWorkflow } from './release.ts';
import { releaseSearchAttributes } from './search-attributes.ts';

export interface ScheduledCutInput {
  product: string;
  closePrevious: boolean;
  production: boolean;
}

const acts = proxyActivities<CulvertActivities>({ startToCloseTimeout: '1 minute', retry: { maximumAttempts: 10 } });

const scheduler: Actor = { name: 'culvert-schedule', role: 'admin', products: null, tokenId: null };

/** What a Temporal Schedule starts: cut the product's next release from trunk, and maybe close the last one. */
export async function scheduledCutWorkflow(input: ScheduledCutInput): Promise<{ release: string | null; closed: string | null }> {
  const at = new Date(workflowInfo().startTime).toISOString();
  const plan = await acts.planScheduledCut({ product: input.product, at });
  if (!plan) return { release: null, closed: null };
  try {
    await startChild(releaseWorkflow, {
      workflowId: releaseWorkflowId(input.product, plan.name),
      args: [{ product: plan.config, name: plan.name, from: null, production: input.production, createdBy: scheduler }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: releaseSearchAttributes({ product: input.product, release: plan.name, flow: plan.config.flow, state: 'open' }),
    });
  } catch (err) {
    // A retried or doubled trigger: the release is already there.
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  let closed: string | null = null;
  if (input.closePrevious && plan.previous) {
    await getExternalWorkflowHandle(releaseWorkflowId(input.product, plan.previous)).signal(scheduledCloseSignal);
    closed = plan.previous;
  }
  return { release: plan.name, closed };
}
