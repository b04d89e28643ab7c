// The binary flow's stages after changes land: release candidates, freeze, final build, QA sign-off,
// publish, close. Driven by the release workflow's main loop; all state lives in CarriedState.
import { log, uuid4, workflowInfo } from '@temporalio/workflow';
import { long, quick } from './proxies.ts';
import { gatePolicyOf, openGate } from './gate.ts';
import type { GatePolicy } from './gate.ts';
import type { CarriedState, DeployJob } from './release-state.ts';


export interface BinaryHooks {
  close(): Promise<void>;
  record(): Promise<void>;
}

export function gatePolicy(s: CarriedState): GatePolicy | null {
  return s.product.signoff ? gatePolicyOf(s.product.signoff) : null;
}

export function binaryHasWork(s: CarriedState, changesSettled: boolean): boolean {
  if (s.product.flow !== 'binary') return false;
  switch (s.stage) {
    case 'changes':
      return s.candidateOwed;
    case 'final':
      return changesSettled;
    case 'signoff':
      return s.gate !== null && s.gate.state !== 'pending';
    case 'publish':
      return true;
    case 'done':
    case 'stopped':
      return false;
  }
}

async function build(s: CarriedState, final: boolean): Promise<{ ok: boolean; candidateId: string; label: string }> {
  const number = final ? 0 : ++s.candidates;
  const label = final ? s.name : `${s.name} RC${number}`;
  const candidateId = `${s.product.name}/${s.name}/${final ? 'final' : `rc${number}`}`;
  const res = await long.buildCandidate({
    product: s.product, release: s.name, candidateId, number, final, label, commit: s.headSha, runId: uuid4(),
  });
  if (res.state === 'failed') log.warn('build failed', { label, failure: res.failure });
  return { ok: res.state === 'built', candidateId, label };
}

export async function binaryStep(s: CarriedState, hooks: BinaryHooks): Promise<void> {
  switch (s.stage) {
    case 'changes': {
      s.candidateOwed = false;
      const rc = await build(s, false);
      const env = s.product.testEnvironment;
      if (rc.ok && env) {
        const job: DeployJob = { deploymentId: uuid4(), environment: env, commitSha: s.headSha, trigger: 'release.updated', requestedBy: 'culvert', candidateId: rc.candidateId };
        await quick.recordDeployment({ product: s.product.name, release: s.name, job, state: 'pending' });
        s.deployQueue.push(job);
      }
      return;
    }
    case 'final': {
      const final = await build(s, true);
      if (!final.ok) {
        s.stage = 'stopped';
        await hooks.record();
        return;
      }
      const policy = gatePolicy(s);
      if (!policy) {
        s.stage = 'publish';
        return;
      }
      s.gate = openGate(`${s.product.name}/${s.name}/signoff`, `QA sign-off of ${s.product.name} ${s.name}`, policy, s.frozenBy ?? s.createdBy, new Date());
      s.stage = 'signoff';
      await quick.recordGate({ product: s.product.name, release: s.name, workflowId: workflowInfo().workflowId, gate: s.gate });
      return;
    }
    case 'signoff': {
      if (s.gate?.state === 'approved') s.stage = 'publish';
      else s.stage = 'stopped';
      await hooks.record();
      return;
    }
    case 'publish': {
      for (const t of s.product.triggers.filter((x) => x.on === 'release.final')) {
        const env = t.environment ? s.product.environments.find((e) => e.name === t.environment) : undefined;
        if (env?.production && !s.production) {
          log.warn('publish to a production environment skipped: not a production release', { env: env.name });
          continue;
        }
        const job: DeployJob = {
          deploymentId: uuid4(), environment: t.environment ?? 'publish', commitSha: s.headSha, trigger: 'release.final',
          requestedBy: 'culvert', candidateId: `${s.product.name}/${s.name}/final`,
        };
        await quick.recordDeployment({ product: s.product.name, release: s.name, job, state: 'pending' });
        const res = await long.runDeploy({ product: s.product, release: s.name, job, runId: uuid4() });
        if (res.state === 'failed') {
          s.stage = 'stopped';
          await hooks.record();
          return;
        }
      }
      s.stage = 'done';
      await hooks.close();
      return;
    }
    case 'done':
    case 'stopped':
      return;
  }
}

