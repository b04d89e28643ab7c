// What a train's worker does to each member: the API's own operations, with their checks, as the actor
// who confirmed the action (domain/trains.ts ReleaseOps). A refusal a caller would get (4xx) is the
// member's outcome; anything else (an outage) is thrown for the activity to retry.
import type { MemberOutcome, ReleaseOps, TrainAction } from '../../domain/trains.ts';
import type { Actor } from '../../domain/types.ts';
import { fileChange } from '../changes/routes.ts';
import type { AppDeps } from '../context.ts';
import { deployClick } from '../deployments/routes.ts';
import { toApiError } from '../errors.ts';
import { closeRelease, cutRelease, freezeRelease } from '../releases/routes.ts';

/** Refusals that mean a retry found its own earlier work done. */
const alreadyDone: Record<TrainAction['kind'], string[]> = {
  cut: ['release_exists'], deploy: [], freeze: ['release_frozen'], close: ['release_closed'], pick: [],
};

export function releaseOperations(deps: AppDeps): ReleaseOps {
  return {
    async act(actor: Actor, product: string, release: string, action: TrainAction, key: string, production: boolean): Promise<MemberOutcome> {
      try {
        return await perform(deps, actor, product, release, action, key, production);
      } catch (thrown) {
        // As the API would answer it: a refusal the release workflow gave (an Update's failure) is a 4xx too.
        const err = toApiError(thrown);
        if (err.status >= 500) throw thrown;
        if (alreadyDone[action.kind].includes(err.code)) return { ok: true, detail: `already done: ${err.message}` };
        return { ok: false, code: err.code, detail: err.message };
      }
    },
  };
}

async function perform(deps: AppDeps, actor: Actor, product: string, release: string, action: TrainAction, key: string, production: boolean): Promise<MemberOutcome> {
  switch (action.kind) {
    case 'cut': {
      const r = await cutRelease(deps, actor, product, { name: release, production });
      return { ok: true, detail: `cut ${r.branch} at ${r.headSha.slice(0, 12)}` };
    }
    case 'deploy': {
      const d = await deployClick(deps, actor, product, release, { environment: action.environment }, key);
      return { ok: true, detail: `deployment ${d.deploymentId} of ${d.commitSha.slice(0, 12)} to ${d.environment}`, deploymentId: d.deploymentId };
    }
    case 'freeze':
      await freezeRelease(deps, actor, product, release);
      return { ok: true, detail: 'frozen' };
    case 'close':
      await closeRelease(deps, actor, product, release);
      return { ok: true, detail: 'closed' };
    case 'pick': {
      const c = await fileChange(deps, product, release, { kind: 'pick', commits: action.commits, reason: action.reason, severity: action.severity }, actor, key);
      return { ok: true, detail: c.state === 'already-present' ? 'already present' : `pick #${c.seq} filed (${c.state})`, changeId: c.id };
    }
  }
}
