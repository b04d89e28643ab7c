// "Does this pick apply?" in the change list. The API has no git: the worker works it out
// (workflows/preview-picks.ts) and stores the answers by release head; the list shows the answer for
// the release's current head, or `pending` while there is none and asks the worker for it.
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { previewsOf, undecidedStates } from '../../db/repos/pick-previews.ts';
import { getProduct } from '../../db/repos/products.ts';
import type { ChangeRequest, PreviewOutcome, Release } from '../../db/schema.ts';
import type { ProductConfig } from '../../domain/types.ts';
import { previewWorkflowId } from '../../domain/types.ts';
import { previewPicksWorkflow } from '../../workflows/preview-picks.ts';
import type { AppDeps, TemporalDeps } from '../context.ts';

/** A pick request's answer on the release head `head`; `pending` until the worker has one. */
export interface Applies {
  state: PreviewOutcome | 'pending';
  head: string;
  /** applies: the paths it changes; conflicts: the conflicting ones. */
  paths?: string[];
  /** already-present: the release's commit that already holds it. */
  presentSha?: string;
  detail?: string;
}

/**
 * Starts the preview of `release`'s undecided picks on `head`, without waiting for it. Readers racing
 * for the same head share one run (USE_EXISTING); a run that finished is started again, and answers
 * only what is still missing.
 */
export async function requestPreview(temporal: TemporalDeps, product: ProductConfig, release: string, head: string): Promise<void> {
  try {
    await temporal.client.workflow.start(previewPicksWorkflow, {
      workflowId: previewWorkflowId(product.name, release, head), taskQueue: temporal.taskQueue,
      workflowIdConflictPolicy: 'USE_EXISTING', args: [{ product, release, head }],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}

const undecided = (x: ChangeRequest): boolean => x.kind === 'pick' && (undecidedStates as readonly string[]).includes(x.state);

/** Previews this API process is starting: a burst of readers sends one start, not one each. */
const starting = new Set<string>();

/**
 * The `applies` of each undecided pick request among `items` (a page of the list), by id. When one has
 * no answer on the release's current head, the preview is requested in the background: a later reading
 * shows it. Only an open release is asked: nothing can be approved on another.
 */
export async function appliesOf(deps: AppDeps, rel: Release, items: ChangeRequest[]): Promise<Map<string, Applies>> {
  const out = new Map<string, Applies>();
  const picks = rel.state === 'open' ? items.filter(undecided) : [];
  if (picks.length === 0) return out;
  const head = rel.headSha;
  const previews = await previewsOf(deps.db, rel.product, rel.name, picks.map((x) => x.id));
  let missing = false;
  for (const x of picks) {
    const p = previews.get(x.id);
    if (!p || p.headSha !== head) {
      missing = true;
      out.set(x.id, { state: 'pending', head });
      continue;
    }
    out.set(x.id, {
      state: p.outcome, head,
      ...(p.outcome === 'applies' || p.outcome === 'conflicts' ? { paths: p.paths } : {}),
      ...(p.presentSha ? { presentSha: p.presentSha } : {}),
      ...(p.detail ? { detail: p.detail } : {}),
    });
  }
  if (missing) askInBackground(deps, rel.product, rel.name, head);
  return out;
}

function askInBackground(deps: AppDeps, product: string, release: string, head: string): void {
  const key = previewWorkflowId(product, release, head);
  if (starting.has(key)) return;
  starting.add(key);
  void (async () => {
    const config = (await getProduct(deps.db, product))?.config;
    if (config) await requestPreview(deps.temporal, config, release, head);
  })().catch((err: unknown) => {
    // The list was answered already; the next reading asks again.
    console.warn(`culvert api: preview of ${product}/${release} at ${head.slice(0, 12)} not started: ${err instanceof Error ? err.message : String(err)}`);
  }).finally(() => starting.delete(key));
}
