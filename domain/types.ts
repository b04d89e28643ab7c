// Domain types shared by workflows, activities and the API. Pure types and pure functions only:
// this module is bundled into the workflow sandbox.
import type { DependencyConfig } from './dependencies.ts';
import type { GithubConfig } from './github.ts';

export type Flow = 'pull-request' | 'cherry-pick' | 'binary';
export type ReleaseState = 'open' | 'frozen' | 'closed';
export type Role = 'admin' | 'owner' | 'ci' | 'viewer';

/**
 * A step's environment variable: a value, or a named secret the worker resolves when the step runs
 * (activities/secrets.ts), so that no secret lives in the configuration, the API or Temporal's history.
 */
export type EnvValue = string | { secret: string };

export interface StepConfig {
  argv: string[];
  env?: Record<string, EnvValue>;
  cwd?: string;
  timeoutSeconds?: number;
}

export type TriggerEvent = 'release.cut' | 'change.requested' | 'release.updated' | 'deploy.clicked' | 'release.frozen' | 'release.final';

export interface TriggerConfig {
  on: TriggerEvent;
  run: string;
  /** For deploy-like steps: which environment the step targets (release.updated); deploy.clicked takes it from the click. */
  environment?: string;
}

export interface EnvironmentConfig {
  name: string;
  order: number;
  production: boolean;
  /** Approvals required before any deployment to this environment. */
  gate?: GatePolicyConfig;
}

/**
 * How votes on a change request decide it. `any-owner` is Releeph's rule: approved once one owner wants
 * it and none passes. `quorum`: approved once `quorum` owners want it and none passes.
 */
export interface ApprovalPolicy {
  rule: 'any-owner' | 'quorum';
  quorum?: number;
  /** The requester's own vote does not count. */
  excludeRequester?: boolean;
}

export interface ProductConfig {
  name: string;
  repository: string;
  flow: Flow;
  trunk: string;
  owners: string[];
  steps: Record<string, StepConfig>;
  triggers: TriggerConfig[];
  environments: EnvironmentConfig[];
  approval?: ApprovalPolicy;
  /** Severities a pick request may carry, most urgent first. */
  severities?: string[];
  /**
   * Release branch name; placeholders {product} {name} {yyyy} {mm} {dd} {ww}. Products created since
   * issue 10 get releases/{product}/{name} (domain/repositories.ts); older ones without it use releases/{name}.
   */
  branchTemplate?: string;
  /** Default release name when a cut gives none; same placeholders. */
  nameTemplate?: string;
  /** Shared configuration this product's settings are layered on. */
  template?: string;
  /** Versions of other products a deployment waits for (domain/dependencies.ts). */
  dependencies?: DependencyConfig[];
  /** Repositories released together with this one, each cut at every release (domain/components.ts). */
  components?: ComponentConfig[];
  /** Set by Culvert on a component's own product: the product it is part of. */
  partOf?: string;
  /** The repository on GitHub, and how Culvert reaches it (domain/github.ts): webhooks in, statuses out. */
  github?: GithubConfig;
  /** binary flow: how versions are numbered when a cut names none. */
  versioning?: { scheme: 'major.minor'; initial?: string };
  /** binary flow: files a build must produce, collected into artifact storage. */
  artifacts?: { name: string; path: string }[];
  /** binary flow: where every release candidate is deployed once built. */
  testEnvironment?: string;
  /** binary flow: the QA sign-off gate between the final build and publishing. */
  signoff?: GatePolicyConfig;
}

/** A repository released together with a product's own (domain/components.ts). */
export interface ComponentConfig {
  /** The component's name within the product (a lowercase identifier). */
  name: string;
  repository: string;
  /** Its trunk (default main). */
  trunk?: string;
  /** Its release branches (default: the product's, so that every repository has the same branch). */
  branchTemplate?: string;
  /** A step of the product that checks every pick requested into this component. */
  check?: string;
}

export interface GatePolicyConfig {
  group: string[];
  quorum: number;
  excludeRequester?: boolean;
  rejectStops?: boolean;
  timeoutSeconds?: number;
  remindEverySeconds?: number;
  onTimeout?: 'fail' | { escalateTo: string[] };
}

/** The next version after the highest existing one: 3.11 → 3.12. */
export function nextVersion(existing: string[], initial = '1.0'): string {
  let best: [number, number] | null = null;
  for (const name of existing) {
    const m = /^(\d+)\.(\d+)$/.exec(name);
    if (!m) continue;
    const v: [number, number] = [Number(m[1]), Number(m[2])];
    if (!best || v[0] > best[0] || (v[0] === best[0] && v[1] > best[1])) best = v;
  }
  return best ? `${best[0]}.${best[1] + 1}` : initial;
}

export const defaultSeverities = ['hotfix', 'release', 'normal'];

/** ISO-8601 week-numbering year and week of a date (UTC). */
export function isoWeek(d: Date): { year: number; week: number } {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  return { year: t.getUTCFullYear(), week: Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7) };
}

export function fillTemplate(template: string, name: string, at: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const { year, week } = isoWeek(at);
  return template
    .replaceAll('{name}', name)
    .replaceAll('{yyyy}', String(at.getUTCFullYear()))
    .replaceAll('{mm}', pad(at.getUTCMonth() + 1))
    .replaceAll('{dd}', pad(at.getUTCDate()))
    .replaceAll('{gggg}', String(year))
    .replaceAll('{ww}', pad(week));
}

/** The product's release branch template with {product} filled in (products made before issue 10 may set none). */
export function branchTemplateOf(product: Pick<ProductConfig, 'name' | 'branchTemplate'>): string {
  return (product.branchTemplate ?? 'releases/{name}').replaceAll('{product}', product.name);
}

export function releaseBranch(product: ProductConfig, name: string, at: Date): string {
  if (product.flow === 'pull-request') return product.trunk;
  return fillTemplate(branchTemplateOf(product), name, at);
}

/** Who acts, as the API authenticated them; the workflow checks it again in its validators. */
export interface Actor {
  name: string;
  role: Role;
  products: string[] | null;
  tokenId: string | null;
}

export function mayDecide(actor: Actor, product: string): boolean {
  switch (actor.role) {
    case 'admin':
      return true;
    case 'owner':
      return actor.products === null || actor.products.includes(product);
    case 'ci':
    case 'viewer':
      return false;
    default: {
      const never: never = actor.role;
      return never;
    }
  }
}

export function mayRequest(actor: Actor, product: string): boolean {
  switch (actor.role) {
    case 'admin':
      return true;
    case 'owner':
    case 'ci':
      return actor.products === null || actor.products.includes(product);
    case 'viewer':
      return false;
    default: {
      const never: never = actor.role;
      return never;
    }
  }
}

export type ChangeKind = 'merge' | 'pick' | 'revert';
export type ChangeState =
  | 'requested' | 'checking' | 'awaiting-decision' | 'approved' | 'rejected'
  | 'merged' | 'conflict' | 'failed' | 'already-present' | 'withdrawn';
/** `queued`: the check waits for a free slot; `running`: a check job is on it. */
export type CheckOutcome = 'none' | 'queued' | 'running' | 'passed' | 'failed';

export const terminalChangeStates: readonly ChangeState[] = ['rejected', 'merged', 'conflict', 'failed', 'already-present', 'withdrawn'];
export const openChangeStates: readonly ChangeState[] = ['requested', 'checking', 'awaiting-decision', 'approved'];

export function isTerminal(state: ChangeState): boolean {
  return terminalChangeStates.includes(state);
}

export function releaseWorkflowId(product: string, release: string): string {
  return `culvert/${product}/${release}`;
}

/** One trunk refresh per product at a time: concurrent lookups of new commits share it. */
export function trunkIndexWorkflowId(product: string): string {
  return `culvert-trunk/${product}`;
}

/**
 * One preview of a release's undecided picks per head: concurrent readers of the change list share it,
 * and a moved head gets its own.
 */
export function previewWorkflowId(product: string, release: string, head: string): string {
  return `culvert-preview/${product}/${release}/${head.slice(0, 12)}`;
}

export function deploymentWorkflowId(deploymentId: string): string {
  return `culvert-deploy/${deploymentId}`;
}

export function taskQueueDefault(): string {
  return 'culvert';
}
