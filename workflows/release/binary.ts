// The binary flow's way from landed changes to a published release: a candidate build after each batch
// that landed something (deployed to the test environment), the final build once frozen, the QA
// sign-off gate, then publishing through the release.final deployments (each through its environment's
// gate) and closing. Builds, the gate and the deployments are child workflows that report back.
import type { DeployJob } from '../../domain/deploy.ts';
import { gatePolicyOf } from '../../domain/gate.ts';
import { deploymentWorkflowId } from '../../domain/types.ts';
import { uuid4, workflowInfo } from '@temporalio/workflow';
import type { JobResult } from './messages.ts';
import type { FlowHooks, ReleaseRun } from './run.ts';
import { hasPicks, startPicks } from './units.ts';

function building(run: ReleaseRun): boolean {
  return Object.values(run.jobs).some((j) => j.kind === 'build');
}

function changesSettled(run: ReleaseRun): boolean {
  return run.unit === null && !run.book.hasApproved() && !run.s.backlog.approved && run.book.applying.size === 0;
}

function startBuild(run: ReleaseRun, final: boolean): void {
  const bin = run.binary;
  if (!bin) return;
  const number = final ? 0 : ++bin.candidates;
  const label = final ? run.s.name : `${run.s.name} RC${number}`;
  const candidateId = `${run.s.product.name}/${run.s.name}/${final ? 'final' : `rc${number}`}`;
  const jobId = `culvert-build/${candidateId}/${run.s.rev}`;
  run.jobs[jobId] = { kind: 'build', candidateId, final };
  run.startJob('candidateBuild', jobId, [{
    product: run.s.product, release: run.s.name, parent: workflowInfo().workflowId, candidateId, number, final, label, commit: run.s.headSha,
  }]);
}

function hasStep(run: ReleaseRun): boolean {
  const bin = run.binary;
  if (!bin || run.s.state === 'closed' || building(run) || run.starting > 0) return false;
  switch (bin.stage) {
    case 'changes':
      return bin.candidateOwed && run.s.state === 'open';
    case 'final':
      return changesSettled(run);
    case 'publish':
      return Object.keys(bin.publishing).length === 0 || Object.values(bin.publishing).every((s) => s !== 'running');
    case 'signoff':
    case 'done':
    case 'stopped':
      return false;
  }
}

function step(run: ReleaseRun): boolean {
  const bin = run.binary;
  if (!bin || !hasStep(run)) return false;
  switch (bin.stage) {
    case 'changes':
      bin.candidateOwed = false;
      startBuild(run, false);
      return true;
    case 'final':
      startBuild(run, true);
      return true;
    case 'publish': {
      const states = Object.values(bin.publishing);
      if (states.length > 0) {
        const bad = Object.entries(bin.publishing).find(([, s]) => s !== 'succeeded');
        if (bad) {
          bin.stage = 'stopped';
          bin.stopped = `publishing deployment ${bad[0]} ${bad[1]}`;
        } else {
          bin.stage = 'done';
          run.close('culvert (published)');
        }
        return true;
      }
      const jobs: DeployJob[] = [];
      for (const t of run.s.product.triggers.filter((x) => x.on === 'release.final')) {
        const env = t.environment ? run.s.product.environments.find((e) => e.name === t.environment) : undefined;
        // A non-production release never publishes to a production environment.
        if (env?.production && !run.s.production) continue;
        jobs.push({
          deploymentId: uuid4(), environment: t.environment ?? 'publish', commitSha: run.s.headSha, trigger: 'release.final', requestedBy: 'culvert',
          candidateId: `${run.s.product.name}/${run.s.name}/final`,
        });
      }
      if (jobs.length === 0) {
        bin.stage = 'done';
        run.close('culvert (published)');
        return true;
      }
      for (const job of jobs) {
        bin.publishing[job.deploymentId] = 'running';
        run.release.deployments.push({ job, state: 'pending' });
        run.startDeployment(job);
      }
      return true;
    }
    default:
      return false;
  }
}

function onJob(run: ReleaseRun, result: JobResult): void {
  const bin = run.binary;
  if (!bin) return;
  switch (result.kind) {
    case 'build': {
      if (!result.final) {
        const env = run.s.product.testEnvironment;
        if (result.state === 'built' && env && run.s.state !== 'closed') {
          run.queueDeploy({
            deploymentId: uuid4(), environment: env, commitSha: run.s.headSha, trigger: 'release.updated', requestedBy: 'culvert',
            candidateId: result.candidateId,
          });
        }
        return;
      }
      if (bin.stage !== 'final') return;
      if (result.state !== 'built') {
        bin.stage = 'stopped';
        bin.stopped = `final build failed: ${result.failure ?? 'unknown'}`;
        return;
      }
      const policy = run.s.product.signoff ? gatePolicyOf(run.s.product.signoff) : null;
      if (!policy) {
        bin.stage = 'publish';
        return;
      }
      const gateId = `${run.s.product.name}/${run.s.name}/signoff${bin.gateId ? `-${run.s.rev}` : ''}`;
      bin.gateId = gateId;
      bin.stage = 'signoff';
      const jobId = `culvert-gate/${gateId}`;
      run.jobs[jobId] = { kind: 'gate', gateId };
      run.startJob('gate', jobId, [{
        id: gateId, subject: `QA sign-off of ${run.s.product.name} ${run.s.name}`, policy, requestedBy: run.s.frozenBy ?? run.s.createdBy,
        product: run.s.product.name, release: run.s.name, parent: workflowInfo().workflowId,
      }]);
      return;
    }
    case 'gate':
      if (bin.stage !== 'signoff' || result.gateId !== bin.gateId) return;
      if (result.state === 'approved') bin.stage = 'publish';
      else {
        bin.stage = 'stopped';
        bin.stopped = `sign-off ${result.state}`;
      }
      return;
    case 'deployment':
      if (bin.publishing[result.deploymentId] !== undefined) bin.publishing[result.deploymentId] = result.state;
      return;
    case 'check':
      return;
  }
}

export const binaryHooks: FlowHooks = {
  startUnit: startPicks,
  hasUnit: hasPicks,
  hasStep,
  step,
  onJob,
};

export const picksHooks: FlowHooks = {
  startUnit: startPicks,
  hasUnit: hasPicks,
};

/** The workflow id a deployment started by the binary flow runs under (for the API's links). */
export const publishDeploymentId = deploymentWorkflowId;
