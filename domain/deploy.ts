// A deployment as the workflows queue it and the activities run it.
import type { GatePolicyConfig } from './types.ts';

/**
 * What decided a deployment, as it stood when its workflow started (the click accepted): recorded on
 * its row once and never rewritten, so that what was in force stays known whatever is patched later.
 */
export interface DeploymentFacts {
  environmentProduction: boolean;
  releaseProduction: boolean;
  /** The environment's gate in force then, passed before the step runs; null when it had none. */
  gate: GatePolicyConfig | null;
}

export interface DeployJob {
  deploymentId: string;
  environment: string;
  commitSha: string;
  trigger: 'deploy.clicked' | 'release.updated' | 'release.final';
  requestedBy: string;
  /** binary flow: the candidate this deployment ships. */
  candidateId?: string;
}
