import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, getExternalWorkflowHandle, patched, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import type { CulvertActivities } from '../activities/index.ts';
import { releaseWorkflowId } from '../domain/types.ts';
import type { Actor } from '../domain/types.ts';
import { scheduledCloseSignal } from './messages.ts';
import { releaseWorkflow } from './legacy/release.ts';
import { releaseWorkflowType } from './release/flows.ts';
import type { ReleaseInput } from './release/state.ts';
import { releaseSearchAttributes } from './search-attributes.ts';
import { keepTasksEventful } from './interceptors.ts';

export interface ScheduledCutInput {
  product: string;
  closePrevious: boolean;
  production: boolean;
}

const acts = proxyActivities<CulvertActivities>({ startToCloseTimeout: '1 minute', retry: { maximumAttempts: 10 } });

const scheduler: Actor = { name: 'culvert-schedule', role: 'admin', products: null, tokenId: null };

/** What a Temporal Schedule starts: cut the product's next release from trunk, and maybe close the last one. */
export async function scheduledCutWorkflow(input: ScheduledCutInput): Promise<{ release: string | null; closed: string | null }> {
  keepTasksEventful();
  const at = new Date(workflowInfo().startTime).toISOString();
  const plan = await acts.planScheduledCut({ product: input.product, at });
  if (!plan) return { release: null, closed: null };
  try {
    const release = { product: plan.config, name: plan.name, from: null, production: input.production, createdBy: scheduler };
    const options = {
      workflowId: releaseWorkflowId(input.product, plan.name),
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: releaseSearchAttributes({ product: input.product, release: plan.name, flow: plan.config.flow, state: 'open' }),
    };
    // Cuts started after 2026-11 run today's workflow type of the product's flow.
    if (patched('culvert-flow-workflows')) await startChild(releaseWorkflowType(plan.config.flow), { ...options, args: [release satisfies ReleaseInput] });
    else await startChild(releaseWorkflow, { ...options, args: [release] });
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
