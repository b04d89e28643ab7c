// "Deployment changes": what deploying a release's head to an environment would add and take away,
// compared with what the environment runs now, answered before the click.
import type { Db } from '../../db/client.ts';
import { currentDeployments } from '../../db/repos/deployments.ts';
import { emptySnapshot, moveTo, snapshotOf } from '../../db/repos/trace.ts';
import type { Release } from '../../db/schema.ts';
import type { EnvironmentConfig } from '../../domain/types.ts';
import { ApiError } from '../errors.ts';
import { changesBetween } from './notes.ts';
import type { ChangeSet } from './notes.ts';

export interface DeploymentPreview {
  product: string;
  environment: string;
  production: boolean;
  release: string;
  commitSha: string;
  /** Why the deploy would be refused, if it would be. */
  refusal: { code: string; message: string } | null;
  current: { release: string; commitSha: string; deploymentId: string; since: string | null } | null;
  unchanged: boolean;
  added: ChangeSet;
  removed: ChangeSet;
}

export async function previewDeployment(db: Db, product: string, env: EnvironmentConfig, release: Release, limit: number): Promise<DeploymentPreview> {
  const target = await snapshotOf(db, product, release.name, null);
  if (!target) throw new ApiError('release_untraced', `release ${product}/${release.name} was cut before Culvert traced commits`, { release: release.name });
  const current = (await currentDeployments(db, product, [env.name])).get(env.name);
  let running = emptySnapshot;
  if (current) {
    const move = await moveTo(db, product, current.release, current.commitSha);
    const snap = move ? await snapshotOf(db, product, current.release, move.move) : null;
    if (!snap) {
      throw new ApiError('release_untraced', `${env.name} runs ${current.commitSha.slice(0, 12)} of ${current.release}, a head Culvert never recorded`, {
        environment: env.name, release: current.release, commitSha: current.commitSha,
      });
    }
    running = snap;
  }
  const [added, removed] = await Promise.all([changesBetween(db, running, target, limit), changesBetween(db, target, running, limit)]);
  const refusal = env.production && !release.production
    ? { code: 'release_not_production', message: `release ${product}/${release.name} is not a production release and can never reach ${env.name}` }
    : null;
  return {
    product, environment: env.name, production: env.production, release: release.name, commitSha: release.headSha, refusal,
    current: current ? { release: current.release, commitSha: current.commitSha, deploymentId: current.id, since: current.finishedAt?.toISOString() ?? null } : null,
    unchanged: added.count === 0 && removed.count === 0,
    added, removed,
  };
}
