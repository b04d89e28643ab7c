// A Culvert worker in a child process, for tests that SIGKILL it mid-activity.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import type { Faults } from '../../activities/deps.ts';
import { createWorker } from '../../cli/worker.ts';
import { testCodec } from './codec.ts';
import { openDatabase } from '../../db/client.ts';

export interface ChildWorkerSpec {
  address: string;
  namespace: string;
  taskQueue: string;
  dataDir: string;
  database: { url: string } | { dataDir: string };
  bundlePath: string;
  /** Write this file and hang (heartbeating) at that fault point, so the test can kill the worker there. */
  hang?: { at: 'beforePush' | 'afterPush'; marker: string };
  /** Write this file and SIGKILL this process the first time `activity` reaches `phase`. */
  kill?: { activity: string; phase: 'before' | 'after'; marker: string };
}

const spec = JSON.parse(process.env.CULVERT_CHILD_WORKER ?? '{}') as ChildWorkerSpec;
Runtime.install({ logger: new DefaultLogger('WARN') });

/** Written whole or not at all: a test waiting for the file reads what it says, never an empty file. */
async function writeMarker(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

const hangHere = async (changeId: string): Promise<void> => {
  if (!spec.hang) return;
  await writeMarker(spec.hang.marker, changeId);
  await new Promise<never>(() => undefined);
};
const faults: Faults = spec.hang?.at === 'beforePush' ? { beforePush: hangHere } : spec.hang?.at === 'afterPush' ? { afterPush: hangHere } : {};
if (spec.kill) {
  const { activity, phase, marker } = spec.kill;
  faults.around = async (name, at) => {
    if (name !== activity || at !== phase) return;
    await writeMarker(marker, `${name} ${at}`);
    process.kill(process.pid, 'SIGKILL');
    await new Promise<never>(() => undefined);
  };
}

const database = await openDatabase(spec.database);
const connection = await NativeConnection.connect({ address: spec.address });
const worker = await createWorker({
  connection, namespace: spec.namespace, taskQueue: spec.taskQueue, codec: testCodec(), deps: { db: database.db, dataDir: spec.dataDir, faults },
  workflowBundle: { codePath: spec.bundlePath },
  // A killed worker's sticky queue would hold workflow tasks (and queries) for the default 10 s.
  options: { stickyQueueScheduleToStartTimeout: '1s' },
});
process.on('SIGTERM', () => worker.shutdown());
const running = worker.run();
process.stdout.write('worker running\n');
await running;
await connection.close();
await database.close();
