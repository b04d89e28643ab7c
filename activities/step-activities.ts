import { ApplicationFailure } from '@temporalio/common';
import { componentsOfDeployment, getDeployment, upsertDeployment } from '../db/repos/deployments.ts';
import { markCandidateDeployed } from '../db/repos/candidates.ts';
import { getRun } from '../db/repos/runs.ts';
import type { DeployJob } from '../domain/deploy.ts';
import type { ProductConfig, TriggerEvent } from '../domain/types.ts';
import type { ActivityDeps } from './deps.ts';
import { culvertIdentity, mirrorFor, runLogPath } from './deps.ts';
import { classified, permanent } from './faults.ts';
import { readFile } from 'node:fs/promises';
import type { DependencyConfig, ResolvedDependency } from '../domain/dependencies.ts';
import { versionFromOutput } from '../domain/dependencies.ts';
import { executeStep } from './step-exec.ts';
import type { StepJob } from './step-exec.ts';
import type { Mirror } from './git/index.ts';
import { withHeartbeat } from './heartbeat.ts';

export function stepsTriggeredBy(product: ProductConfig, event: TriggerEvent): string[] {
  return product.triggers.filter((t) => t.on === event).map((t) => t.run);
}

type CheckSource = { kind: 'merge'; sha: string } | { kind: 'pick'; commits: string[] };

export function stepActivities(deps: ActivityDeps) {
  const identity = deps.identity ?? culvertIdentity;

  /** The commit a check tests: the merge or the picks on top of the release head, made without a working tree. */
  async function candidate(m: Mirror, base: string, source: CheckSource, changeId: string): Promise<string | { conflicts: string[] }> {
    const author = { ...identity, date: '1700000000 +0000' };
    const message = `Culvert check of change ${changeId}`;
    if (source.kind === 'merge') {
      const merged = await m.mergeTrees(base, source.sha);
      if (!merged.clean) return { conflicts: merged.conflicts };
      return m.commitTree({ tree: merged.tree, parents: [base, source.sha], message, author });
    }
    let tip = base;
    for (const sha of source.commits) {
      const picked = await m.pickTree(tip, sha);
      if (picked.kind === 'conflict') return { conflicts: picked.conflicts };
      if (picked.kind === 'clean') tip = await m.commitTree({ tree: picked.tree, parents: [tip], message, author });
    }
    return tip;
  }

  const execute = (job: StepJob) => executeStep(deps, job);

  const fetched = (repository: string) => withHeartbeat(async () => {
    const m = await mirrorFor(deps, repository);
    await m.fetch();
    return m;
  });

  return {
    /** Runs the change.requested steps on the merge result, computed without a working tree. */
    async runCheck(i: {
      product: ProductConfig; release: string; changeId: string; runId: string; baseSha: string; source: CheckSource;
    }): Promise<{ outcome: 'passed' | 'failed' | 'conflict'; conflicts?: string[]; runId: string | null }> {
      return classified(async () => {
        const mirror = await fetched(i.product.repository);
        const commit = await withHeartbeat(() => candidate(mirror, i.baseSha, i.source, i.changeId));
        if (typeof commit !== 'string') return { outcome: 'conflict' as const, conflicts: commit.conflicts, runId: null };
        const names = stepsTriggeredBy(i.product, 'change.requested');
        for (const [n, stepName] of names.entries()) {
          const runId = n === 0 ? i.runId : `${i.runId}-${n}`;
          const outcome = await execute({
            mirror, product: i.product, release: i.release, runId, stepName, commit, changeId: i.changeId,
            env: { CULVERT_CHANGE_ID: i.changeId },
          });
          if (outcome.state !== 'succeeded') return { outcome: 'failed' as const, runId };
        }
        return { outcome: 'passed' as const, runId: names.length > 0 ? i.runId : null };
      });
    },

    /**
     * Runs the deploy step for one deployment and records its outcome, once: a deployment already
     * finished (or whose step run finished before its worker died) is answered from the record.
     */
    /**
     * The versions of a deployment's dependencies that its commit names (versionFrom): each named step run
     * once on the commit, its last JSON line read. A step that fails, or names nothing usable, is permanent.
     */
    async readDependencyVersions(i: { product: ProductConfig; release: string; job: DeployJob; runId: string; needs: DependencyConfig[] }): Promise<ResolvedDependency[]> {
      return classified(async () => {
        const outputs = new Map<string, string>();
        const mirror = await fetched(i.product.repository);
        const resolved: ResolvedDependency[] = [];
        for (const d of i.needs) {
          if (d.version !== undefined) {
            resolved.push({ ...d, version: d.version });
            continue;
          }
          const from = d.versionFrom as NonNullable<DependencyConfig['versionFrom']>;
          let output = outputs.get(from.step);
          if (output === undefined) {
            const runId = `${i.runId}-${from.step}`;
            const outcome = await execute({
              mirror, product: i.product, release: i.release, runId, stepName: from.step, commit: i.job.commitSha,
              deploymentId: i.job.deploymentId, env: { CULVERT_ENVIRONMENT: i.job.environment, CULVERT_DEPLOYMENT_ID: i.job.deploymentId },
            });
            if (outcome.state !== 'succeeded') throw permanent(`step ${from.step}, which names the versions to wait for, ${outcome.state === 'timed_out' ? 'timed out' : 'failed'}`);
            output = await readFile(runLogPath(deps.dataDir, runId), 'utf8').then((t) => t.slice(-65_536), () => '');
            outputs.set(from.step, output);
          }
          const read = versionFromOutput(output, from.key ?? d.product);
          if ('error' in read) throw permanent(`step ${from.step} does not say which ${d.product} to wait for: ${read.error}`);
          resolved.push({ ...d, version: read.version });
        }
        return resolved;
      });
    },

    async runDeploy(i: { product: ProductConfig; release: string; job: DeployJob; runId: string }): Promise<{ state: 'succeeded' | 'failed'; runId: string }> {
      return classified(async () => {
        const { job } = i;
        const record = (state: 'running' | 'succeeded' | 'failed', runId: string) => upsertDeployment(deps.db, {
          id: job.deploymentId, product: i.product.name, release: i.release, environment: job.environment,
          commitSha: job.commitSha, trigger: job.trigger, requestedBy: job.requestedBy, state, runId,
        });
        const settle = async (state: 'succeeded' | 'failed', runId: string) => {
          await record(state, runId);
          if (state === 'succeeded' && job.candidateId) await markCandidateDeployed(deps.db, job.candidateId, job.environment);
          return { state, runId };
        };
        const before = await getDeployment(deps.db, job.deploymentId);
        if (before?.state === 'succeeded' || before?.state === 'failed') return settle(before.state, before.runId ?? i.runId);
        const earlier = before?.runId ? await getRun(deps.db, before.runId) : undefined;
        // A step that ran to its own end (not one cut short with its worker) is the deployment's outcome.
        if (earlier && (earlier.state === 'succeeded' || earlier.state === 'failed' || earlier.state === 'timed_out')) {
          return settle(earlier.state === 'succeeded' ? 'succeeded' : 'failed', earlier.id);
        }
        await record('running', i.runId);
        const trigger = i.product.triggers.find((t) => t.on === job.trigger && (t.environment === undefined || t.environment === job.environment));
        const stepName = trigger?.run ?? 'deploy';
        const mirror = await fetched(i.product.repository);
        // A release across repositories: the step is told which commit of each component it deploys.
        // A release across repositories: the step is told which commit of each component it deploys.
        const declared = i.product.components ?? [];
        const components = await componentsOfDeployment(deps.db, job.deploymentId, declared.map((c) => c.name));
        const manifest: Record<string, string> = components.length > 0 ? {
          CULVERT_COMPONENTS: JSON.stringify(components.map((x) => ({
            name: x.component, repository: declared.find((c) => c.name === x.component)?.repository ?? null, commit: x.commitSha,
          }))),
        } : {};
        try {
          const outcome = await execute({
            mirror, product: i.product, release: i.release, runId: i.runId, stepName, commit: job.commitSha,
            deploymentId: job.deploymentId, env: { CULVERT_ENVIRONMENT: job.environment, CULVERT_DEPLOYMENT_ID: job.deploymentId, ...manifest },
          });
          return await settle(outcome.state === 'succeeded' ? 'succeeded' : 'failed', i.runId);
        } catch (err) {
          // A step that can never run (none configured, a bad spec) is a failed deployment, not a fault.
          if (err instanceof ApplicationFailure && err.nonRetryable && err.type !== 'worker_stopped') return settle('failed', i.runId);
          throw err;
        }
      });
    },
  };
}
