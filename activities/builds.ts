import { readdir, stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { withHeartbeat } from './heartbeat.ts';
import { getCandidate, markCandidateDeployed, upsertArtifacts, upsertCandidate } from '../db/repos/candidates.ts';
import { classified } from './faults.ts';
import { appendAudit } from '../db/repos/audit.ts';
import { recordGate } from '../db/repos/approvals.ts';
import type { ProductConfig } from '../domain/types.ts';
import type { Gate } from '../domain/gate.ts';
import { artifactStoreFor } from './artifacts/store.ts';
import type { ActivityDeps } from './deps.ts';
import { mirrorFor } from './deps.ts';
import { executeStep } from './step-exec.ts';

/** The file a slot's pattern names in the checkout: a plain path, or `*` within the last part. */
async function findSlot(dir: string, pattern: string): Promise<string | null> {
  const full = resolve(dir, pattern);
  if (relative(dir, full).startsWith('..')) return null;
  const cut = full.lastIndexOf('/');
  const folder = full.slice(0, cut);
  const leaf = full.slice(cut + 1);
  if (!leaf.includes('*')) return (await stat(full).then((s) => s.isFile(), () => false)) ? full : null;
  const re = new RegExp(`^${leaf.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  const names = await readdir(folder).catch(() => [] as string[]);
  const match = names.filter((n) => re.test(n)).sort()[0];
  return match ? join(folder, match) : null;
}

interface BuildInput {
  product: ProductConfig; release: string; candidateId: string; number: number; final: boolean; label: string; commit: string; runId: string;
}

export function buildActivities(deps: ActivityDeps) {
  const store = artifactStoreFor(deps.dataDir);
  /** Builds one candidate; a candidate already built (an earlier attempt finished) is answered from the record. */
  async function build(i: BuildInput): Promise<{ state: 'built' | 'failed'; failure: string | null }> {
    const done = await getCandidate(deps.db, i.candidateId);
    if (done?.state === 'built') return { state: 'built', failure: null };
    const base = {
      id: i.candidateId, product: i.product.name, release: i.release, number: i.number, final: i.final, label: i.label,
      commitSha: i.commit, buildRunId: i.runId,
    };
    await upsertCandidate(deps.db, { ...base, state: 'building' });
    const mirror = await withHeartbeat(async () => {
      const m = await mirrorFor(deps, i.product.repository);
      await m.fetch();
      return m;
    });
    let missing: string | null = null;
    const collected: { name: string; sha256: string; size: number; location: string }[] = [];
    const outcome = await executeStep(deps, {
      mirror, product: i.product, release: i.release, runId: i.runId, stepName: 'build', commit: i.commit,
      env: { CULVERT_CANDIDATE: i.label, CULVERT_VERSION: i.release },
      afterSuccess: async (dir) => {
        for (const slot of i.product.artifacts ?? []) {
          const file = await findSlot(dir, slot.path);
          if (!file) {
            missing = `expected artifact ${slot.name} (${slot.path}) was not produced by the build`;
            return;
          }
          collected.push({ name: slot.name, ...(await store.put(file)) });
        }
      },
    });
    const failure = outcome.state !== 'succeeded' ? `build step ${outcome.state} (exit ${outcome.exitCode ?? outcome.state})` : missing;
    if (!failure) {
      await upsertArtifacts(deps.db, collected.map((a) => ({ id: `${i.candidateId}:${a.name}`, runId: i.runId, candidateId: i.candidateId, ...a })));
    }
    await upsertCandidate(deps.db, { ...base, state: failure ? 'failed' : 'built', failure });
    return { state: failure ? 'failed' : 'built', failure };
  }

  return {
    /** Builds one release candidate (or the final) of exactly `commit` and collects its artifacts. */
    async buildCandidate(i: BuildInput): Promise<{ state: 'built' | 'failed'; failure: string | null }> {
      return classified(() => build(i));
    },

    async recordCandidateDeployed(i: { candidateId: string; environment: string }): Promise<void> {
      await markCandidateDeployed(deps.db, i.candidateId, i.environment);
    },

    async recordGate(i: { product: string; release: string; workflowId: string; gate: Gate; reminded?: boolean; rev?: number }): Promise<void> {
      await classified(async () => {
        const g = i.gate;
        await recordGate(deps.db, i);
        if (i.reminded) {
          await appendAudit(deps.db, {
            actor: 'culvert', action: 'approval.remind', product: i.product, release: i.release, target: g.id,
            details: { waitingFor: g.escalatedTo ?? g.group, votes: g.votes.length, quorum: g.quorum },
          });
        }
      });
    },
  };
}
