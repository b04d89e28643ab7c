import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { loadHistories, replayAll } from './helpers/histories.ts';

// Histories written by earlier releases of the workflow code, saved with CULVERT_EXPORT_HISTORIES:
// releases started under that code may still be running, so today's code must replay every one of them.
//   v1: the suite of 2026-11-24 (one releaseWorkflow type for every flow);
//   v2: the suite of 2026-11-30 (one workflow type per flow, jobs as child workflows; its releaseWorkflow
//       runs are legacy releases moving to the new types), chosen by scripts/select-histories.ts;
//   v3: the flow, train, dependency, preview and kill-boundary suites of 2026-12-07 (jobs-first memos,
//       pick previews, trains, deployments waiting on dependencies), chosen the same way and saved
//       decrypted (scripts/select-histories.ts with the run's key), so they replay as runs from before seals.
// A change to the workflows that cannot replay a set needs patched() or a new workflow type, not a new set.
const root = fileURLToPath(new URL('./histories', import.meta.url));

const expectedTypes: Record<string, string[]> = {
  v1: ['deploymentWorkflow', 'indexTrunkWorkflow', 'releaseWorkflow', 'scheduledCutWorkflow'],
  v2: ['binaryRelease', 'candidateBuild', 'deployment', 'gate', 'indexTrunkWorkflow', 'pullRequestRelease', 'releaseCheck', 'releaseWorkflow', 'scheduledCutWorkflow', 'stableRelease'],
  v3: ['binaryRelease', 'candidateBuild', 'deployment', 'gate', 'previewPicksWorkflow', 'pullRequestRelease', 'releaseCheck', 'scheduledCutWorkflow', 'stableRelease', 'trainWorkflow'],
};

describe('saved histories of earlier releases of the workflows', () => {
  it('are all here', async () => {
    expect((await readdir(root)).sort()).toEqual(Object.keys(expectedTypes).sort());
  });

  for (const [set, types] of Object.entries(expectedTypes)) {
    it(`${set} replays against the current workflow code`, async () => {
      const histories = await loadHistories(`${root}/${set}`);
      expect(histories.length).toBeGreaterThan(50);
      expect([...new Set(histories.map((h) => h.type))].sort()).toEqual(types);
      const { replayed, failures } = await replayAll(inject('workflowBundlePath'), histories);
      expect(failures).toEqual([]);
      expect(replayed).toBe(histories.length);
    });
  }
});
