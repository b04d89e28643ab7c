/** @jsxImportSource hono/jsx */
// The web page's train routes: the list, a train, its pre-flight and the confirmation. They read and act
// through api/trains/routes.ts (trainView, trainPreflight, confirmTrainAction), so who may see and do
// what, the audit and the train workflow's Update are the API's own.
import { randomUUID } from 'node:crypto';
import type { Hono } from 'hono';
import type { TrainAction } from '../../domain/trains.ts';
import { mayDecide } from '../../domain/types.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import { trainStamp } from '../../db/repos/trains.ts';
import { confirmTrainAction, trainActionSchema, trainPreflight, trainView, visibleTrain, visibleTrains } from '../trains/routes.ts';
import { ctxOf, signedIn, slugOf } from './context.ts';
import type { WebContext, WebEnv } from './context.ts';
import { TrainPage, TrainsPage, trainUrl } from './pages/trains.tsx';
import type { TrainPageProps } from './pages/trains.tsx';

type Form = Record<string, string | File>;

/** The action a form names, checked by the API's own schema (the page offers deploy, freeze and close). */
function actionOf(form: Form): TrainAction {
  const kind = form.kind;
  const raw = kind === 'deploy' ? { kind, environment: form.environment } : { kind };
  if (kind !== 'deploy' && kind !== 'freeze' && kind !== 'close') throw new ApiError('bad_request', 'choose deploy, freeze or close');
  const parsed = trainActionSchema.safeParse(raw);
  if (!parsed.success) throw new ApiError('bad_request', kind === 'deploy' ? 'choose an environment to deploy to' : 'choose an action');
  return parsed.data as TrainAction;
}

export function trainWebRoutes(web: Hono<WebEnv>, deps: AppDeps): void {
  web.get('/trains', async (c) => c.html(<TrainsPage ctx={ctxOf(c)} trains={await visibleTrains(deps, signedIn(c))} />));

  const trainPage = async (c: WebContext, more: Pick<TrainPageProps, 'notice' | 'checked'> = {}) => {
    const actor = signedIn(c);
    // Read before the view: a change made while the page renders is seen by the live refresh's first tick.
    const stamp = await trainStamp(deps.db, slugOf(c, 'train'));
    const v = await trainView(deps, actor, slugOf(c, 'train'));
    // An owner of any member sees the form; the pre-flight then names the members that are not theirs.
    const mayAct = v.members.some((m) => mayDecide(actor, m.product));
    return c.html(<TrainPage ctx={ctxOf(c)} v={v} mayAct={mayAct} nonce={randomUUID()} stamp={stamp} {...more} />);
  };

  web.get('/trains/:train/stamp', async (c) => {
    const name = slugOf(c, 'train');
    await visibleTrain(deps, signedIn(c), name);
    return c.json({ stamp: await trainStamp(deps.db, name) });
  });

  web.get('/trains/:train', (c) => {
    const queued = c.req.query('queued');
    return trainPage(c, /^\d{1,9}$/.test(queued ?? '') ? { notice: `Action #${queued} queued: the members' outcomes appear here as the train does it.` } : {});
  });

  // Asking changes nothing, so a viewer may ask too (as over the API); only owners are offered the buttons.
  web.post('/trains/:train/preflight', async (c) => {
    const action = actionOf(await c.req.parseBody());
    const { report } = await trainPreflight(deps, signedIn(c), slugOf(c, 'train'), action);
    return trainPage(c, { checked: { action, report } });
  });

  web.post('/trains/:train/actions', async (c) => {
    const actor = signedIn(c);
    const name = slugOf(c, 'train');
    const form = await c.req.parseBody();
    const action = actionOf(form);
    const confirm = form.confirm === 'ready' || form.confirm === 'all' ? form.confirm : null;
    if (!confirm) throw new ApiError('bad_request', 'confirm for the ready members or for all');
    const key = typeof form.key === 'string' && /^[0-9a-f-]{36}$/.test(form.key) ? `web-${form.key}` : undefined;
    const done = await confirmTrainAction(deps, actor, name, action, confirm, key);
    return c.redirect(`${trainUrl(name)}?queued=${done.seq}`, 303);
  });
}
