import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { getRun } from '../../db/repos/runs.ts';
import { requireView } from '../auth.ts';
import type { StepRun } from '../../db/schema.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import type { Routes } from '../route.ts';
import { param } from '../route.ts';

const logQuery = z.strictObject({
  // The end of a log is what one reads first; a step may write hundreds of megabytes.
  tail: z.coerce.number().int().min(1).max(64 * 1024 * 1024).optional(),
});

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

  r.add({
    method: 'get', path: '/v1/runs/:id/log', tag: 'runs', query: logQuery,
    summary: "A step run's log as text, streamed (never read whole into memory); `tail=N` gives its last N bytes. `Culvert-Log-Size` says how long it was when asked",
    responses: { 200: 'text/plain log', 404: 'unknown' },
  }, async ({ actor, query, c }) => {
    const run = await load(param(c, 'id'));
    requireView(actor, run.product);
    const log = await readLog(run, query.tail);
    return log.body ? c.body(log.body, 200, log.headers) : c.body(null, 200, log.headers);
  });
}

/**
 * A run's log as a stream of what was written when asked (a running step's log keeps growing, the
 * answer does not), all of it or its last `tail` bytes: the API's route and the web page.
 */
export async function readLog(run: StepRun, tail: number | undefined): Promise<{ body: ReadableStream<Uint8Array> | null; headers: Record<string, string> }> {
  let size: number;
  try {
    size = (await stat(run.logPath)).size;
  } catch (err) {
    throw new ApiError('not_found', `the log of run ${run.id} is not on this host`, undefined, { cause: err });
  }
  const start = tail === undefined ? 0 : Math.max(0, size - tail);
  const headers = { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(size - start), 'culvert-log-size': String(size) };
  if (size === start) return { body: null, headers };
  const file = createReadStream(run.logPath, { start, end: size - 1, highWaterMark: 256 * 1024 });
  return { body: Readable.toWeb(file) as ReadableStream<Uint8Array>, headers };
}
