// The baseline of bench/update-roundtrip.ts: a workflow that does nothing but answer one Update at once.
// Bundled on its own (bench/run.ts) and run by a worker of its own; never part of Culvert's workflows.
import { condition, defineSignal, defineUpdate, setHandler } from '@temporalio/workflow';

export const noopUpdate = defineUpdate<number, [number]>('bench.noop');
export const noopStopSignal = defineSignal('bench.stop');

export async function noopWorkflow(): Promise<void> {
  let stopped = false;
  setHandler(noopUpdate, (n) => n);
  setHandler(noopStopSignal, () => {
    stopped = true;
  });
  await condition(() => stopped);
}
