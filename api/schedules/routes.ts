import { ScheduleAlreadyRunning, ScheduleNotFoundError } from '@temporalio/client';
import type { ScheduleDescription } from '@temporalio/client';
import { z } from 'zod';
import { scheduledCutWorkflow } from '../../workflows/scheduled-cut.ts';
import { audited } from '../audit/record.ts';
import { requireOwner, requireView } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import { loadProduct } from '../products/routes.ts';
import type { Routes } from '../route.ts';
import { doc, param, slugParam } from '../route.ts';

const every = z.string().regex(/^\d+(m|h|d)$/, 'every is a duration like 30m, 12h or 7d');

const scheduleSchema = z.strictObject({
  every: doc(every, 'Cut every so long (m, h or d); give this or cron', '7d').optional(),
  cron: doc(z.string().min(9).max(100).regex(/^[0-9*,/ -]+$/, 'cron is five fields of digits, *, ",", "/" and "-"'), 'Cut on a cron calendar (UTC); give this or every', '0 9 * * 1').optional(),
  closePrevious: doc(z.boolean().default(false), 'Whether a scheduled cut closes the release before it', true),
  production: doc(z.boolean().default(true), 'Whether the releases it cuts may reach production', true),
  paused: doc(z.boolean().default(false), 'Made paused: nothing is cut until it is resumed', false),
  note: doc(z.string().max(500), 'Shown with the schedule in Temporal', 'weekly train').optional(),
}).refine((s) => (s.every === undefined) !== (s.cron === undefined), 'give exactly one of every or cron');

const scheduleId = (product: string): string => `culvert-cut/${product}`;

function present(product: string, d: ScheduleDescription) {
  const spec = d.spec;
  return {
    id: d.scheduleId, product, paused: d.state.paused, note: d.state.note ?? null,
    intervals: (spec.intervals ?? []).map((i) => i.every), calendars: (spec.calendars ?? []).length,
    nextActionTimes: d.info.nextActionTimes.slice(0, 3), recentActions: d.info.recentActions.length,
  };
}

// Weekly (or any) cuts: a Temporal Schedule per product starts scheduledCutWorkflow.
export function scheduleRoutes(r: Routes, deps: AppDeps): void {
  const { client } = deps.temporal;
  const handleOf = async (product: string) => {
    const handle = client.schedule.getHandle(scheduleId(product));
    try {
      return { handle, description: await handle.describe() };
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) throw new ApiError('schedule_not_found', `product ${product} has no schedule`, undefined, { cause: err });
      throw err;
    }
  };

  r.add({
    method: 'post', path: '/v1/products/:product/schedules', tag: 'schedules',
    summary: 'Cut releases on a schedule (owner): every N or cron, optionally closing the previous release', body: scheduleSchema,
    responses: { 201: 'the schedule', 409: 'the product has one already' },
  }, async ({ body, actor, c }) => {
    const product = slugParam(c, 'product');
    requireOwner(actor, product);
    await loadProduct(deps.db, product);
    await audited(deps.db, actor, 'schedule.create', { product, details: body }, async () => {
      try {
        await client.schedule.create({
          scheduleId: scheduleId(product),
          spec: body.every ? { intervals: [{ every: body.every as `${number}d` }] } : { cronExpressions: [body.cron ?? ''] },
          action: {
            type: 'startWorkflow', workflowType: scheduledCutWorkflow, taskQueue: deps.temporal.taskQueue,
            args: [{ product, closePrevious: body.closePrevious, production: body.production }],
          },
          state: { paused: body.paused, note: body.note },
        });
      } catch (err) {
        if (err instanceof ScheduleAlreadyRunning) throw new ApiError('release_exists', `product ${product} already has a schedule`, undefined, { cause: err });
        throw err;
      }
    });
    return c.json(present(product, (await handleOf(product)).description), 201);
  });

  r.add({ method: 'get', path: '/v1/products/:product/schedules', tag: 'schedules', summary: "A product's schedules", responses: { 200: 'schedules' } }, async ({ actor, c }) => {
    const product = slugParam(c, 'product');
    requireView(actor, product);
    await loadProduct(deps.db, product);
    try {
      return c.json({ items: [present(product, (await handleOf(product)).description)] });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'schedule_not_found') return c.json({ items: [] });
      throw err;
    }
  });

  const actions = { pause: 'pause', unpause: 'unpause', trigger: 'trigger' } as const;
  r.add({
    method: 'post', path: '/v1/products/:product/schedules/:action', tag: 'schedules',
    summary: 'pause, unpause, or trigger now (owner)', responses: { 200: 'the schedule', 404: 'no schedule' },
  }, async ({ actor, c }) => {
    const product = slugParam(c, 'product');
    const action = param(c, 'action');
    // Own keys only: `constructor` and friends are no actions.
    if (!Object.hasOwn(actions, action)) throw new ApiError('not_found', `no schedule action ${action}; one of pause, unpause, trigger`);
    requireOwner(actor, product);
    const { handle } = await handleOf(product);
    await audited(deps.db, actor, `schedule.${action}`, { product }, async () => {
      if (action === 'pause') await handle.pause(`paused by ${actor.name}`);
      else if (action === 'unpause') await handle.unpause(`unpaused by ${actor.name}`);
      else await handle.trigger();
    });
    return c.json(present(product, await handle.describe()));
  });
}
