// From the release workflow of 2026-11 (releaseWorkflow) to today's types: a running legacy release
// continues as new as pullRequestRelease, stableRelease or binaryRelease at its next step (or at once
// when the API sends culvert.migrate), carrying its state over. Its requests are in the database
// already (it recorded every change before going on); queued checks are marked queued again there.
import { defineSignal } from '@temporalio/workflow';
import type { Carried } from '../release/state.ts';
import type { CarriedState } from './release-state.ts';

/** Asks a legacy release workflow to move to today's workflow type now. */
export const migrateSignal = defineSignal('culvert.migrate');

export function carriedFromLegacy(s: CarriedState): Carried {
  const approvedWaiting = s.mergeQueue.length > 0 || Object.values(s.open).some((c) => c.state === 'approved');
  const checksWaiting = Object.values(s.open).some((c) => c.state === 'checking');
  const pendingGate = s.gate && s.gate.state === 'pending' && s.stage === 'signoff' ? s.gate : null;
  return {
    book: {
      product: s.product, name: s.name, branch: s.branch, production: s.production, cutFrom: s.cutFrom, createdBy: s.createdBy,
      state: s.state, headSha: s.headSha, seq: s.seq, rev: 0, epoch: 1, frozenBy: s.frozenBy,
      backlog: { approved: approvedWaiting, checks: checksWaiting },
    },
    writes: [],
    release: { epoch: 1, bulk: [], deployments: [], requeueChecks: true },
    jobs: {},
    deployQueue: [...s.deployQueue],
    deploysOwed: [...s.updateDeploysOwed],
    blocked: {},
    binary: s.product.flow === 'binary'
      ? {
        stage: s.stage, candidates: s.candidates, candidateOwed: s.candidateOwed, stopped: s.stage === 'stopped' ? 'stopped before the migration' : null,
        publishing: {}, gateId: s.gate?.id ?? null,
      }
      : null,
    ...(pendingGate ? { legacyGate: pendingGate } : {}),
  };
}
