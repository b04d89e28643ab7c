// Dependency waits (issue 13): a product deploys only once the versions of other products it depends
// on are published to an environment ("component A 1.4 in production"). A deployment that needs one
// waits durably, resumed when A's deployment of that version there finishes (a signal, not a poll), up
// to a timeout, or sooner when an owner overrides the wait.

export interface DependencyConfig {
  /** The product depended on. */
  product: string;
  /** Its release that must be published: A's release name (a binary release's number, e.g. 1.4). */
  version: string;
  /** Where it must have been deployed successfully. */
  environment: string;
  /** Which of this product's environments need it (default: all of them). */
  for?: string[];
  /** How long a deployment waits before it fails, saying what it waited for (default 7 days). */
  timeoutSeconds?: number;
}

export const defaultDependencyTimeoutSeconds = 7 * 86_400;

/** The dependencies a deployment to `environment` waits for. */
export function dependenciesFor(deps: DependencyConfig[] | undefined, environment: string): DependencyConfig[] {
  return (deps ?? []).filter((d) => !d.for || d.for.includes(environment));
}

export function describeDependency(d: Pick<DependencyConfig, 'product' | 'version' | 'environment'>): string {
  return `${d.product} ${d.version} in ${d.environment}`;
}

/** A's deployment ended: sent to every deployment waiting on that product, version and environment. */
export interface DependencyEvent {
  product: string;
  version: string;
  environment: string;
  state: 'succeeded' | 'failed';
  at: string;
}

/** An owner lets a waiting deployment go ahead without its dependencies. */
export interface DependencyOverride {
  by: string;
  at: string;
}
