// Dependency waits (issue 13): a product deploys only once the versions of other products it depends
// on are published to an environment ("component A 1.4 in production"). A deployment that needs one
// waits durably, resumed when A's deployment of that version there finishes (a signal, not a poll), up
// to a timeout (which fails it, or escalates the wait to others), or sooner when an owner overrides the wait.

export interface DependencyConfig {
  /** The product depended on. */
  product: string;
  /** Its release that must be published: A's release name (a binary release's number, e.g. 1.4). */
  version?: string;
  /**
   * Or: the version the commit being deployed names, read by running this product's step `step` on it;
   * the step prints a JSON object as its last line of output, and `key` (default the product's name) is read.
   */
  versionFrom?: { step: string; key?: string };
  /** Where it must have been deployed successfully. */
  environment: string;
  /** Which of this product's environments need it (default: all of them). */
  for?: string[];
  /** How long a deployment waits before its timeout (default 7 days). */
  timeoutSeconds?: number;
  /**
   * At the timeout: fail the deployment, saying what it waited for (the default); or escalate: the wait
   * goes on until the dependency is met or someone overrides it, and the principals named may then let
   * the deployment go ahead as an owner can.
   */
  onTimeout?: 'fail' | { escalateTo: string[] };
}

export const defaultDependencyTimeoutSeconds = 7 * 86_400;

/** The dependencies a deployment to `environment` waits for. */
export function dependenciesFor(deps: DependencyConfig[] | undefined, environment: string): DependencyConfig[] {
  return (deps ?? []).filter((d) => !d.for || d.for.includes(environment));
}

/** Who a dependency's wait is handed to at its timeout; null when the deployment fails then. */
export function escalationOf(d: Pick<DependencyConfig, 'onTimeout'>): string[] | null {
  return d.onTimeout === undefined || d.onTimeout === 'fail' ? null : d.onTimeout.escalateTo;
}

/** A dependency whose version is known (given, or read by its step). */
export type ResolvedDependency = DependencyConfig & { version: string };

/** Reads `key` from the last line of a step's output that is a JSON object; why not, when it cannot. */
export function versionFromOutput(output: string, key: string): { version: string } | { error: string } {
  const lines = output.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('{'));
  const last = lines.at(-1);
  if (!last) return { error: 'its output has no JSON object line' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(last);
  } catch {
    return { error: `its last JSON line does not parse: ${last.slice(0, 80)}` };
  }
  const value = (parsed as Record<string, unknown>)[key];
  if (typeof value !== 'string' && typeof value !== 'number') return { error: `its JSON names no version for ${key}` };
  const version = String(value);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(version)) return { error: `it names ${version.slice(0, 40)} for ${key}, which is not a release name` };
  return { version };
}

export function describeDependency(d: Pick<ResolvedDependency, 'product' | 'version' | 'environment'>): string {
  return `${d.product} ${d.version} in ${d.environment}`;
}

/** One deployment's waits, as registered and checked (activities/dependencies.ts, workflows/dependency-wait.ts). */
export interface DependencyCheck {
  deploymentId: string;
  workflowId: string;
  product: string;
  release: string;
  environment: string;
  needs: ResolvedDependency[];
}

/** A's deployment ended: sent to every deployment waiting on that product, version and environment. */
export interface DependencyEvent {
  product: string;
  version: string;
  environment: string;
  state: 'succeeded' | 'failed';
  at: string;
}

/** A waiting deployment's dependencies whose timeout passed, handed to others (onTimeout.escalateTo). */
export interface DependencyEscalation {
  deploymentId: string;
  product: string;
  release: string;
  environment: string;
  escalations: { onProduct: string; on: string; escalateTo: string[] }[];
}

/** An owner (or, after an escalation, a principal it names) lets a waiting deployment go ahead without its dependencies. */
export interface DependencyOverride {
  by: string;
  at: string;
}
