import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { loadDevServerConfig, testServerOptions } from '../cli/dev-server-config.ts';
import { requireTemporalCli } from '../cli/temporal-cli.ts';
import { workflowsPath } from '../cli/worker.ts';
import { collectHistories, saveHistories } from './helpers/histories.ts';

const culvertWorkflowTypes = ['releaseWorkflow', 'deploymentWorkflow', 'scheduledCutWorkflow', 'indexTrunkWorkflow'];

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
  const cfg = loadDevServerConfig();
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: requireTemporalCli() },
      ...testServerOptions(cfg, { dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': testContinueAsNewThreshold } }),
    },
  });
  const dir = await mkdtemp(join(tmpdir(), 'culvert-bundle-'));
  const { code } = await bundleWorkflowCode({ workflowsPath, logger: quietLogger });
  const workflowBundlePath = join(dir, 'workflows.js');
  await writeFile(workflowBundlePath, code);
  project.provide('temporalAddress', env.address);
  project.provide('temporalNamespace', env.namespace ?? cfg.namespace);
  project.provide('workflowBundlePath', workflowBundlePath);
  return async () => {
    // Every history this run produced must replay against the code that wrote it (and will run it next).
    const exportDir = process.env.CULVERT_EXPORT_HISTORIES;
    if (exportDir) {
      const histories = await collectHistories(env.client, culvertWorkflowTypes);
      await saveHistories(exportDir, histories);
      console.log(`saved ${histories.length} histories to ${exportDir}`);
    }
    await env.teardown();
    await rm(dir, { recursive: true, force: true });
  };
}

const noop = (): void => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error, log: noop };
