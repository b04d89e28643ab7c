// A release across repositories (domain/components.ts): once the product's own branch is cut, each
// component's release of the same name is cut through the API's own operation (deps.releaseOps), as
// whoever cut the product, and the snapshot recorded. A component cut before (a retry) is found cut;
// a refusal (its trunk is gone, a branch of that name exists elsewhere) is that component's outcome.
import { recordComponents } from '../db/repos/components.ts';
import type { ComponentOutcome } from '../db/repos/components.ts';
import { getRelease } from '../db/repos/releases.ts';
import { componentProductName } from '../domain/components.ts';
import type { Actor, ComponentConfig, ProductConfig } from '../domain/types.ts';
import type { ActivityDeps } from './deps.ts';
import { withHeartbeat } from './heartbeat.ts';

export interface CutComponentsInput {
  product: ProductConfig;
  release: string;
  production: boolean;
  actor: Actor;
  workflowId: string;
}

export function componentActivities(deps: ActivityDeps) {
  const row = (i: CutComponentsInput, c: ComponentConfig, rest: Pick<ComponentOutcome, 'state' | 'branch' | 'cutFrom' | 'failure'>): ComponentOutcome => ({
    product: i.product.name, release: i.release, component: c.name, componentProduct: componentProductName(i.product.name, c.name), repository: c.repository, ...rest,
  });
  return {
    async cutComponents(i: CutComponentsInput): Promise<{ cut: string[]; failed: string[] }> {
      return withHeartbeat(async () => {
        const components = i.product.components ?? [];
        await recordComponents(deps.db, components.map((c) => row(i, c, { state: 'cutting', branch: null, cutFrom: null, failure: null })));
        const ops = deps.releaseOps;
        if (!ops) throw new Error('this worker was started without the API\'s operations and cannot cut components');
        const rows = await Promise.all(components.map(async (c) => {
          const product = componentProductName(i.product.name, c.name);
          const outcome = await ops.act(i.actor, product, i.release, { kind: 'cut' }, `${i.workflowId}/component/${c.name}`, i.production);
          const cut = await getRelease(deps.db, product, i.release);
          if (outcome.ok && cut) return row(i, c, { state: 'cut', branch: cut.branch, cutFrom: cut.cutFrom, failure: null });
          return row(i, c, { state: 'failed', branch: null, cutFrom: null, failure: outcome.ok ? 'its release is missing after the cut' : outcome.detail });
        }));
        await recordComponents(deps.db, rows);
        return { cut: rows.filter((r) => r.state === 'cut').map((r) => r.component), failed: rows.filter((r) => r.state === 'failed').map((r) => r.component) };
      });
    },
  };
}
