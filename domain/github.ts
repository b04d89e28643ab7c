// GitHub-backed products (issue 14): a product whose repository lives on GitHub names it, and how
// Culvert authenticates there, by secret name. GitHub's webhooks come in (api/github), are handed to a
// workflow per delivery (workflows/github.ts) and become Culvert's own operations; what Culvert decides
// goes back out as commit statuses (activities/github/). Pure: read by the API, activities and workflows.
import type { Actor } from './types.ts';

/** How Culvert authenticates to GitHub: a fine-grained token, or a GitHub App installation; secrets by name. */
export type GithubAuth =
  | { token: { secret: string } }
  | { app: { appId: number; installationId: number; privateKey: { secret: string } } };

export interface GithubConfig {
  /** `owner/name` on GitHub. */
  repository: string;
  /** GitHub Enterprise Server's API, e.g. https://ghe.example.com/api/v3 (default api.github.com). */
  baseUrl?: string;
  auth: GithubAuth;
  /** A label on a merged pull request that files a pick of its merge commit: `{release}` is the release (default `pick:{release}`). */
  pickLabel?: string;
}

export const defaultPickLabel = 'pick:{release}';

/** The release a label names under the product's pick label, or null when it is not one. */
export function releaseOfPickLabel(label: string, pattern = defaultPickLabel): string | null {
  const at = pattern.indexOf('{release}');
  if (at < 0) return null;
  const before = pattern.slice(0, at);
  const after = pattern.slice(at + '{release}'.length);
  if (!label.startsWith(before) || !label.endsWith(after) || label.length <= before.length + after.length) return null;
  const release = label.slice(before.length, label.length - after.length);
  return /^[a-z0-9][a-z0-9._-]{0,99}$/.test(release) ? release : null;
}

/** GitHub names repositories case-insensitively. */
export function sameGithubRepository(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** What the webhook route hands to the delivery's workflow: the event, trimmed to what Culvert reads. */
export interface GithubDelivery {
  id: string;
  event: string;
  action: string | null;
  repository: string;
  sender: string | null;
  /** push */
  ref?: string;
  after?: string;
  /** pull_request, pull_request_review */
  pull?: {
    number: number; state: string; draft: boolean; merged: boolean; mergeCommitSha: string | null;
    headRef: string; headSha: string; headRepository: string | null; baseRef: string; author: string; htmlUrl: string;
  };
  label?: string;
  review?: { state: string; by: string };
  /** deployment_protection_rule: GitHub asks whether a deployment to an environment may go on. */
  protection?: { environment: string; callbackUrl: string; sha: string | null };
}

/** One thing a delivery led to, kept with the delivery. */
export interface GithubOutcome {
  product: string;
  did: string;
  ok: boolean;
  changeId?: string;
}

/** The statuses Culvert posts on a pull request's head. */
export const statusContexts = { check: 'culvert/check', approval: 'culvert/approval', build: 'culvert/build' } as const;

export function githubDeliveryWorkflowId(delivery: string): string {
  return `culvert-github/${delivery}`;
}

/** What a delivery asks Culvert to do, through the API's own operations (api/github/operations.ts). */
export type GithubChangeOp =
  | { kind: 'merge'; branch: string }
  | { kind: 'pick'; commits: string[]; reason: string }
  | { kind: 'approve'; changeId: string; comment: string };

export interface GithubOpOutcome { ok: boolean; detail: string; code?: string; changeId?: string }

/** Given to the worker by whoever starts it: a delivery does nothing a person could not do over the API. */
export interface GithubOps {
  act(actor: Actor, product: string, release: string, op: GithubChangeOp, key: string): Promise<GithubOpOutcome>;
  /** Culvert's notes of a release since the one cut before it (Markdown), for its GitHub Release. */
  releaseNotes(product: string, release: string): Promise<string>;
}

/** A pull request Culvert filed a merge request for, and the head it was filed at. */
export interface PullFollow {
  product: string;
  release: string;
  number: number;
  changeId: string;
  headSha: string;
}

export function githubPullWorkflowId(product: string, number: number): string {
  return `culvert-github-pull/${product}/${number}`;
}

/** A request as the follower sees it. */
export interface SeenChange {
  rev: number;
  seq: number;
  state: string;
  check: string;
  terminal: boolean;
  decidedBy: string | null;
  failure: string | null;
  /** The commit a merged request made on the release, and the paths a conflicting one conflicted in. */
  resultSha?: string | null;
  conflictPaths?: string[];
}

/** A pick request filed from a pull request's label, followed until it ends and then told on the pull request. */
export interface PickFollow {
  product: string;
  release: string;
  number: number;
  changeId: string;
}

export function githubPickWorkflowId(product: string, release: string, number: number): string {
  return `culvert-github-pick/${product}/${release}/${number}`;
}

/** What the pull request is told once its pick ended; the marker makes the comment findable (posted once). */
export function pickComment(f: PickFollow, c: SeenChange): { marker: string; body: string } {
  const marker = `<!-- culvert:${f.changeId}:${c.state} -->`;
  const where = `\`${f.release}\``;
  const text = {
    merged: `Culvert picked this pull request into ${where}${c.resultSha ? ` as ${c.resultSha.slice(0, 12)}` : ''} (request #${c.seq}${c.decidedBy ? `, approved by ${c.decidedBy}` : ''}).`,
    'already-present': `${where} already has this pull request's change: nothing was picked (request #${c.seq}).`,
    conflict: `Culvert could not pick this pull request into ${where}: it conflicts in ${(c.conflictPaths ?? []).map((p) => `\`${p}\``).join(', ') || 'some paths'} (request #${c.seq}). A backport made by hand can be requested instead.`,
    rejected: `The pick of this pull request into ${where} was rejected${c.decidedBy ? ` by ${c.decidedBy}` : ''} (request #${c.seq}).`,
    failed: `The pick of this pull request into ${where} failed: ${c.failure ?? 'see Culvert'} (request #${c.seq}).`,
    withdrawn: `The pick of this pull request into ${where} was withdrawn: the release closed first (request #${c.seq}).`,
  } as Record<string, string>;
  return { marker, body: `${text[c.state] ?? `The pick into ${where} ended ${c.state} (request #${c.seq}).`}\n\n${marker}` };
}


/** The commit statuses a request's state and check mean on the pull request's head (null: none). */
export function statusesOf(c: SeenChange): { context: string; state: 'pending' | 'success' | 'failure' | 'error'; description: string }[] {
  const out: { context: string; state: 'pending' | 'success' | 'failure' | 'error'; description: string }[] = [];
  if (c.check === 'queued' || c.check === 'running') out.push({ context: statusContexts.check, state: 'pending', description: `Culvert's check is ${c.check}` });
  else if (c.check === 'passed') out.push({ context: statusContexts.check, state: 'success', description: 'Culvert\'s check passed' });
  else if (c.check === 'failed') out.push({ context: statusContexts.check, state: 'failure', description: 'Culvert\'s check failed' });
  const by = c.decidedBy ? ` by ${c.decidedBy}` : '';
  const approval = ({
    requested: ['pending', `request #${c.seq} filed`], checking: ['pending', `request #${c.seq} is being checked`],
    'awaiting-decision': ['pending', `request #${c.seq} awaits an owner's decision`], approved: ['pending', `approved${by}; merging`],
    merged: ['success', `merged by Culvert (request #${c.seq}, approved${by})`], 'already-present': ['success', 'already on the release'],
    rejected: ['failure', `rejected${by}`], conflict: ['failure', 'conflicts with the release: rebase and push'],
    failed: ['error', `failed: ${(c.failure ?? 'see Culvert').slice(0, 100)}`], withdrawn: ['error', 'withdrawn'],
  } as Record<string, ['pending' | 'success' | 'failure' | 'error', string]>)[c.state];
  if (approval) out.push({ context: statusContexts.approval, state: approval[0], description: approval[1].slice(0, 140) });
  return out;
}

/** A Culvert deployment of a GitHub-backed product, mirrored as a GitHub Deployment. */
export interface DeploymentMirror {
  product: string;
  release: string;
  deploymentId: string;
  environment: string;
  commitSha: string;
  production: boolean;
  /** What started it: a `release.final` deployment that succeeds publishes the release on GitHub too. */
  trigger?: string;
}

/** GitHub's deployment state for Culvert's. */
export function githubDeploymentState(state: string): 'queued' | 'in_progress' | 'success' | 'failure' | null {
  return ({ pending: 'queued', running: 'in_progress', succeeded: 'success', failed: 'failure' } as Record<string, 'queued' | 'in_progress' | 'success' | 'failure'>)[state] ?? null;
}

/** A GitHub deployment waiting on Culvert's gate of an environment (a custom deployment protection rule). */
export interface ProtectionAsk {
  product: string;
  release: string;
  environment: string;
  callbackUrl: string;
  gateId: string;
  subject: string;
  requestedBy: string;
}

export function githubProtectionWorkflowId(delivery: string): string {
  return `culvert-github-gate/${delivery}`;
}

/** Whether a callback URL GitHub gave is on the API the product talks to (the token goes nowhere else). */
export function callbackOnApi(callbackUrl: string, baseUrl = 'https://api.github.com'): boolean {
  try {
    const u = new URL(callbackUrl);
    const b = new URL(baseUrl.replace(/\/+$/, ''));
    return u.origin === b.origin && u.pathname.startsWith(`${b.pathname.replace(/\/$/, '')}/repos/`) && /\/actions\/runs\/\d+\/deployment_protection_rule$/.test(u.pathname);
  } catch {
    return false;
  }
}

/** A candidate build of a GitHub-backed product, told on the commit it builds as culvert/build. */
export interface BuildFollow {
  product: string;
  candidateId: string;
  label: string;
  commit: string;
}
