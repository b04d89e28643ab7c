import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { loadHistories, replayAll } from './helpers/histories.ts';

// Histories written by the workflow code of the previous release (the suite of 2026-11-24, saved with
// CULVERT_EXPORT_HISTORIES): releases started then may still be running, so today's code must replay them.
const v1 = fileURLToPath(new URL('./histories/v1', import.meta.url));

describe('histories of the previous release of the workflows', () => {
  it('replay against the current workflow code', async () => {
    const histories = await loadHistories(v1);
    expect(histories.length).toBeGreaterThan(50);
    const types = new Set(histories.map((h) => h.type));
    expect([...types].sort()).toEqual(['deploymentWorkflow', 'indexTrunkWorkflow', 'releaseWorkflow', 'scheduledCutWorkflow']);
    const { replayed, failures } = await replayAll(inject('workflowBundlePath'), histories);
    expect(failures).toEqual([]);
    expect(replayed).toBe(histories.length);
  });
});
