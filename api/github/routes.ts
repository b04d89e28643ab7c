// GitHub's webhooks in (issue 14): POST /v1/github/webhooks checks the signature against the server's
// secret (X-Hub-Signature-256, by @octokit/webhooks-methods), keeps the delivery by its id and hands it to
// a workflow of its own (workflows/github.ts), answering at once. A redelivery of a handled delivery
// changes nothing; one whose handling did not finish is handed to the same workflow again.
import { verify } from '@octokit/webhooks-methods';
import { z } from 'zod';
import { listProducts } from '../../db/repos/products.ts';
import { receiveDelivery } from '../../db/repos/github.ts';
import { githubDeliveryWorkflowId, sameGithubRepository } from '../../domain/github.ts';
import type { GithubDelivery } from '../../domain/github.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import type { Routes } from '../route.ts';

const login = z.object({ login: z.string() }).loose();
const pullSchema = z.object({
  number: z.number().int(), state: z.string(), draft: z.boolean().optional(), merged: z.boolean().nullish(), merge_commit_sha: z.string().nullish(),
  html_url: z.string(), user: login,
  head: z.object({ ref: z.string(), sha: z.string(), repo: z.object({ full_name: z.string() }).loose().nullish() }).loose(),
  base: z.object({ ref: z.string() }).loose(),
}).loose();
const payloadSchema = z.object({
  action: z.string().optional(),
  repository: z.object({ full_name: z.string() }).loose(),
  sender: login.optional(),
  ref: z.string().optional(), after: z.string().optional(),
  pull_request: pullSchema.optional(),
  label: z.object({ name: z.string() }).loose().optional(),
  review: z.object({ state: z.string(), user: login }).loose().optional(),
  environment: z.string().optional(),
  deployment_callback_url: z.string().optional(),
  sha: z.string().optional(),
  deployment: z.object({ sha: z.string().nullish() }).loose().nullish(),
}).loose();

/** The event trimmed to what Culvert reads; null for events it does not read. */
export function deliveryOf(id: string, event: string, body: unknown): GithubDelivery | null {
  if (!['push', 'pull_request', 'pull_request_review', 'deployment_protection_rule'].includes(event)) return null;
  const parsed = payloadSchema.safeParse(body);
  if (!parsed.success) throw new ApiError('bad_request', `this ${event} event does not look like GitHub's: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? ''}`.trim());
  const p = parsed.data;
  const pr = p.pull_request;
  return {
    id, event, action: p.action ?? null, repository: p.repository.full_name, sender: p.sender?.login ?? null,
    ...(p.ref !== undefined ? { ref: p.ref } : {}), ...(p.after !== undefined ? { after: p.after } : {}),
    ...(pr ? {
      pull: {
        number: pr.number, state: pr.state, draft: pr.draft ?? false, merged: pr.merged ?? false, mergeCommitSha: pr.merge_commit_sha ?? null,
        headRef: pr.head.ref, headSha: pr.head.sha, headRepository: pr.head.repo?.full_name ?? null, baseRef: pr.base.ref, author: pr.user.login, htmlUrl: pr.html_url,
      },
    } : {}),
    ...(p.label ? { label: p.label.name } : {}),
    ...(p.review ? { review: { state: p.review.state, by: p.review.user.login } } : {}),
    ...(event === 'deployment_protection_rule' && p.environment && p.deployment_callback_url
      ? { protection: { environment: p.environment, callbackUrl: p.deployment_callback_url, sha: p.sha ?? p.deployment?.sha ?? null } } : {}),
  };
}

export function githubRoutes(r: Routes, deps: AppDeps): void {
  r.add({
    method: 'post', path: '/v1/github/webhooks', tag: 'github', auth: false,
    summary: 'GitHub\'s webhooks (push, pull_request, pull_request_review, deployment_protection_rule), signed with the server\'s secret: each delivery is handled once',
    responses: { 202: 'handed to its workflow (or not one Culvert reads)', 200: 'a redelivery of a handled delivery: nothing done again', 400: 'not a webhook', 401: 'the signature does not match', 404: 'webhooks are not configured' },
  }, async ({ c }) => {
    const secret = deps.github?.webhookSecret;
    if (!secret) throw new ApiError('not_found', 'GitHub webhooks are not configured on this server: set CULVERT_GITHUB_WEBHOOK_SECRET');
    const raw = await c.req.text();
    const signature = c.req.header('x-hub-signature-256') ?? '';
    const valid = /^sha256=[0-9a-f]{64}$/.test(signature) && await verify(secret, raw, signature).catch(() => false);
    if (!valid) throw new ApiError('unauthorized', 'the webhook\'s X-Hub-Signature-256 does not match this server\'s secret: nothing was done');
    const event = c.req.header('x-github-event') ?? '';
    const id = c.req.header('x-github-delivery') ?? '';
    if (!/^[a-z_]{1,50}$/.test(event)) throw new ApiError('bad_request', 'X-GitHub-Event is missing or not an event name');
    if (!/^[0-9A-Za-z-]{1,100}$/.test(id)) throw new ApiError('bad_request', 'X-GitHub-Delivery is missing or not a delivery id');
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      throw new ApiError('bad_request', 'the webhook\'s body is not JSON: configure the webhook with content type application/json');
    }
    if (event === 'ping') return c.json({ delivery: id, pong: true }, 200);
    const delivery = deliveryOf(id, event, body);
    if (!delivery) return c.json({ delivery: id, ignored: `Culvert does not read ${event} events` }, 202);
    const backed = (await listProducts(deps.db)).some((p) => p.config.github && sameGithubRepository(p.config.github.repository, delivery.repository));
    if (!backed) return c.json({ delivery: id, ignored: `no product is backed by ${delivery.repository}` }, 202);
    const row = await receiveDelivery(deps.db, { id, event, action: delivery.action, repository: delivery.repository });
    if (row.handledAt) return c.json({ delivery: id, duplicate: true, outcomes: row.outcomes }, 200);
    const workflowId = githubDeliveryWorkflowId(id);
    await deps.temporal.client.workflow.start('githubDeliveryWorkflow', {
      workflowId, taskQueue: deps.temporal.taskQueue, workflowIdConflictPolicy: 'USE_EXISTING', args: [delivery],
    });
    return c.json({ delivery: id, workflowId }, 202);
  });
}
