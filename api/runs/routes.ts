import { readFile } from 'node:fs/promises';
import { getRun } from '../../db/repos/runs.ts';
import { requireView } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import type { Routes } from '../route.ts';
import { param } from '../route.ts';

export function runRoutes(r: Routes, deps: AppDeps): void {
  const load = async (id: string) => {
    const run = await getRun(deps.db, id);
    if (!run) throw new ApiError('run_not_found', `no run ${id}`);
    return run;
  };

  r.add({ method: 'get', path: '/v1/runs/:id', tag: 'runs', summary: 'A step run: step, commit, state, exit code, duration', responses: { 200: 'the run', 404: 'unknown' } }, async ({ actor, c }) => {
    const run = await load(param(c, 'id'));
    requireView(actor, run.product);
    // Where the log lives on the worker's host is nobody's business: GET .../log serves it.
    const { logPath: _hostPath, ...shown } = run;
    return c.json(shown);
  });

  r.add({ method: 'get', path: '/v1/runs/:id/log', tag: 'runs', summary: "A step run's log, as text", responses: { 200: 'text/plain log', 404: 'unknown' } }, async ({ actor, c }) => {
    const run = await load(param(c, 'id'));
    requireView(actor, run.product);
    let text: string;
    try {
      text = await readFile(run.logPath, 'utf8');
    } catch (err) {
      throw new ApiError('not_found', `the log of run ${run.id} is not on this host`, undefined, { cause: err });
    }
    return c.text(text);
  });
}
