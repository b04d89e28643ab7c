import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { loadDevServerConfig, testServerOptions } from '../cli/dev-server-config.ts';
import { requireTemporalCli } from '../cli/temporal-cli.ts';
import { workflowInterceptorModules, workflowsPath } from '../cli/worker.ts';
import * as culvertWorkflows from '../workflows/index.ts';
import { collectHistories, replayAll, saveHistories } from './helpers/histories.ts';
import { failingEventId, listEvents } from './helpers/history-listing.ts';

/** Every workflow type the worker registers: their histories are replayed at the end of the run. */
const culvertWorkflowTypes = Object.keys(culvertWorkflows);

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalNamespace: string;
    workflowBundlePath: string;
  }
}

/** History length at which the test server suggests continue-as-new: low, so every suite crosses runs. */
export const testContinueAsNewThreshold = 400;

// One real dev server and one workflow bundle for the whole run; tests isolate by task queue and ids.
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The replay at the end runs workers in this process: warnings and errors only.
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Installed already (vitest --watch runs setup again in the same process).
  }
  // One payload key for the run, in the environment every test process and child worker inherits.
  process.env.CULVERT_PAYLOAD_KEY ??= randomBytes(32).toString('base64');
  const cfg = loadDevServerConfig();
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: requireTemporalCli() },
      ...testServerOptions(cfg, { dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': testContinueAsNewThreshold } }),
    },
  });
  const dir = await mkdtemp(join(tmpdir(), 'culvert-bundle-'));
  const { code } = await bundleWorkflowCode({ workflowsPath, workflowInterceptorModules, logger: quietLogger });
  const workflowBundlePath = join(dir, 'workflows.js');
  await writeFile(workflowBundlePath, code);
  project.provide('temporalAddress', env.address);
  project.provide('temporalNamespace', env.namespace ?? cfg.namespace);
  project.provide('workflowBundlePath', workflowBundlePath);
  return async () => {
    // Every history this run produced must replay against the code that wrote it (and will run it next).
    try {
      const histories = await collectHistories(env.address, env.namespace ?? cfg.namespace, culvertWorkflowTypes);
      const exportDir = process.env.CULVERT_EXPORT_HISTORIES;
      if (exportDir) {
        await saveHistories(exportDir, histories);
        console.log(`saved ${histories.length} histories to ${exportDir}`);
      }
      const started = Date.now();
      const byType = new Map<string, number>();
      for (const h of histories) byType.set(h.type, (byType.get(h.type) ?? 0) + 1);
      console.log(`histories of this run by workflow type: ${[...byType].map(([t, n]) => `${t} ${n}`).join(', ')}`);
      const { replayed, failures } = await replayAll(workflowBundlePath, histories);
      console.log(`replayed ${replayed} workflow histories of this run against the current workflow code in ${Date.now() - started} ms: ${failures.length} failed`);
      if (failures.length > 0) {
        for (const f of failures.slice(0, 10)) {
          console.error(`history that does not replay: ${f.type} ${f.workflowId} ${f.runId}\n  ${f.error}`);
          // The events before the one replay could not match, to see what the workflow task saw.
          const h = histories.find((x) => x.runId === f.runId);
          const at = failingEventId(f.error);
          if (h && at !== undefined) console.error(listEvents(h.history, at - 60, at + 10).join('\n'));
        }
        const failedDir = join(tmpdir(), `culvert-unreplayable-${Date.now()}`);
        await saveHistories(failedDir, histories.filter((h) => failures.some((f) => f.runId === h.runId)));
        console.error(`histories that do not replay saved to ${failedDir}`);
        throw new Error(`${failures.length} of ${replayed} workflow histories of this run do not replay against the current workflow code`);
      }
    } finally {
      await env.teardown();
      await rm(dir, { recursive: true, force: true });
    }
  };
}

const noop = (): void => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error, log: noop };
