// A GitHub delivery turned into Culvert's own operations (domain/github.ts), for every product backed by
// the repository it names: a push to trunk refreshes the trunk index; an opened or updated pull request
// into trunk files a merge request of its branch (pull-request flow) and is followed; an owner's
// approving review votes for it; a pick label on a merged pull request files a pick of its merge
// commit. Every operation is keyed by the pull request and its head (or label), so a retry or a
// redelivery finds its work done; the delivery's outcomes are kept with it.
import { Context } from '@temporalio/activity';
import { listProducts } from '../../db/repos/products.ts';
import type { ProductRecord } from '../../db/repos/products.ts';
import { listReleases } from '../../db/repos/releases.ts';
import { deliveryHandled, getPull, recordPull } from '../../db/repos/github.ts';
import { callbackOnApi, defaultPickLabel, githubPickWorkflowId, githubProtectionWorkflowId, githubPullWorkflowId, releaseOfPickLabel, sameGithubRepository } from '../../domain/github.ts';
import type { GithubChangeOp, GithubConfig, GithubDelivery, GithubOutcome, ProtectionAsk, PullFollow } from '../../domain/github.ts';
import { trunkIndexWorkflowId } from '../../domain/types.ts';
import type { Actor, ProductConfig } from '../../domain/types.ts';
import type { ActivityDeps } from '../deps.ts';

const filingActions = new Set(['opened', 'reopened', 'synchronize', 'ready_for_review']);

/** A GitHub user as Culvert sees them: `ci` files, `owner` decides, only on the one product. */
const userActor = (login: string, role: 'ci' | 'owner', product: string): Actor => ({ name: login, role, products: [product], tokenId: null });

export async function handleDelivery(deps: ActivityDeps, d: GithubDelivery): Promise<GithubOutcome[]> {
  const products = (await listProducts(deps.db)).filter((p) => p.config.github && sameGithubRepository(p.config.github.repository, d.repository));
  const outcomes: GithubOutcome[] = [];
  for (const p of products) outcomes.push(...await forProduct(deps, p, d));
  await deliveryHandled(deps.db, d.id, outcomes);
  return outcomes;
}

async function forProduct(deps: ActivityDeps, p: ProductRecord, d: GithubDelivery): Promise<GithubOutcome[]> {
  const product = p.config;
  const github = product.github as GithubConfig;
  const did = (what: string, ok = true, changeId?: string): GithubOutcome[] => [{ product: product.name, did: what, ok, ...(changeId ? { changeId } : {}) }];
  if (d.event === 'push') {
    if (d.ref !== `refs/heads/${product.trunk}`) return did(`push to ${d.ref ?? '?'}: not the trunk`);
    const { client, info } = Context.current();
    await client.workflow.start('indexTrunkWorkflow', {
      workflowId: trunkIndexWorkflowId(product.name), taskQueue: info.taskQueue, workflowIdConflictPolicy: 'USE_EXISTING', args: [{ product }],
    });
    return did(`trunk ${product.trunk} at ${(d.after ?? '').slice(0, 12)}: index refreshed`);
  }
  if (d.event === 'deployment_protection_rule') return guard(deps, product, d);
  const pull = d.pull;
  if (!pull) return did(`${d.event} ignored`);
  const ops = deps.githubOps;
  if (!ops) return did('this worker was started without the API\'s operations', false);
  const release = await releaseFor(deps, product, d);
  if (d.event === 'pull_request' && d.action && filingActions.has(d.action)) {
    if (product.flow !== 'pull-request') return did(`pull request #${pull.number}: ${product.name} does not take merges (${product.flow} flow)`);
    if (pull.draft) return did(`pull request #${pull.number} is a draft: nothing filed until it is ready`);
    if (pull.baseRef !== product.trunk) return did(`pull request #${pull.number} is into ${pull.baseRef}, not ${product.trunk}`);
    if (!pull.headRepository || !sameGithubRepository(pull.headRepository, github.repository)) return did(`pull request #${pull.number} is from a fork: Culvert merges branches of ${github.repository} only`, false);
    if (!release) return did(`no open release of ${product.name} to file pull request #${pull.number} into`, false);
    const o = await ops.act(userActor(pull.author, 'ci', product.name), product.name, release, { kind: 'merge', branch: pull.headRef }, `github:pr:${pull.number}:${pull.headSha}`);
    if (o.ok && o.changeId) await follow(deps, { product: product.name, release, number: pull.number, changeId: o.changeId, headSha: pull.headSha });
    return did(`pull request #${pull.number} at ${pull.headSha.slice(0, 12)}: ${o.detail}`, o.ok, o.changeId);
  }
  if (d.event === 'pull_request_review' && d.action === 'submitted' && d.review?.state.toLowerCase() === 'approved') {
    const by = d.review.by;
    if (!product.owners.includes(by)) return did(`review by ${by} on #${pull.number}: not an owner of ${product.name}, not a vote`);
    const filed = await getPull(deps.db, product.name, pull.number);
    if (!filed || filed.headSha !== pull.headSha) return did(`review by ${by} on #${pull.number}: no merge request of its head ${pull.headSha.slice(0, 12)}`, false);
    const op: GithubChangeOp = { kind: 'approve', changeId: filed.changeId, comment: `approving review on GitHub pull request #${pull.number}` };
    const o = await ops.act(userActor(by, 'owner', product.name), product.name, filed.release, op, `github:review:${d.id}`);
    return did(`review by ${by} on #${pull.number}: ${o.detail}`, o.ok, filed.changeId);
  }
  if (d.event === 'pull_request' && d.action === 'labeled' && d.label) {
    const target = releaseOfPickLabel(d.label, github.pickLabel ?? defaultPickLabel);
    if (!target) return did(`label ${d.label} on #${pull.number}: not a pick label`);
    if (!pull.merged || !pull.mergeCommitSha) return did(`label ${d.label} on #${pull.number}: the pull request is not merged`, false);
    const reason = `GitHub pull request #${pull.number} (${pull.htmlUrl}), labelled ${d.label} by ${d.sender ?? 'someone'}`;
    const o = await ops.act(userActor(d.sender ?? pull.author, 'ci', product.name), product.name, target, { kind: 'pick', commits: [pull.mergeCommitSha], reason }, `github:pick:${pull.number}:${target}`);
    if (o.ok && o.changeId) {
      // Told on the pull request once it ends (merged, conflicting, rejected, already there).
      const { client, info } = Context.current();
      await client.workflow.start('githubPickWorkflow', {
        workflowId: githubPickWorkflowId(product.name, target, pull.number), taskQueue: info.taskQueue, workflowIdConflictPolicy: 'USE_EXISTING',
        args: [{ product: product.name, release: target, number: pull.number, changeId: o.changeId }],
      });
    }
    return did(`label ${d.label} on #${pull.number}: ${o.detail}`, o.ok, o.changeId);
  }
  return did(`${d.event}${d.action ? `.${d.action}` : ''} on #${pull.number}: nothing to do`);
}

/** The release a pull request's merge request goes into: a pull-request product's one open release. */
async function releaseFor(deps: ActivityDeps, product: ProductConfig, d: GithubDelivery): Promise<string | null> {
  if (d.event !== 'pull_request' || product.flow !== 'pull-request') return null;
  return (await listReleases(deps.db, product.name)).find((r) => r.state === 'open')?.name ?? null;
}

/** Records the pull request's merge request and tells its follower (started if none runs). */
async function follow(deps: ActivityDeps, f: PullFollow): Promise<void> {
  await recordPull(deps.db, f);
  const { client, info } = Context.current();
  await client.workflow.signalWithStart('githubPullWorkflow', {
    workflowId: githubPullWorkflowId(f.product, f.number), taskQueue: info.taskQueue, args: [f], signal: 'githubPullHead', signalArgs: [f],
  });
}

/**
 * GitHub asks whether a deployment to an environment may go on (a custom deployment protection rule):
 * the environment's Culvert gate decides it (any quorum of its group, which GitHub's own reviewers cannot
 * express), and a workflow of its own answers GitHub once it is decided.
 */
async function guard(deps: ActivityDeps, product: ProductConfig, d: GithubDelivery): Promise<GithubOutcome[]> {
  const ask = d.protection;
  const did = (what: string, ok = true): GithubOutcome[] => [{ product: product.name, did: what, ok }];
  if (d.action !== 'requested' || !ask) return did(`deployment_protection_rule ${d.action ?? ''}: nothing to do`);
  const env = product.environments.find((e) => e.name === ask.environment);
  if (!env?.gate) return did(`no gate of ${product.name} guards environment ${ask.environment}: GitHub is not answered`, false);
  if (!callbackOnApi(ask.callbackUrl, product.github?.baseUrl)) return did(`the callback ${ask.callbackUrl.slice(0, 100)} is not on ${product.github?.baseUrl ?? 'api.github.com'}: not answered`, false);
  // The release whose head GitHub deploys, when Culvert knows it (the gate is listed under it).
  const release = ask.sha ? (await listReleases(deps.db, product.name)).find((r) => r.headSha === ask.sha)?.name : undefined;
  const input: ProtectionAsk = {
    product: product.name, release: release ?? (ask.sha ? ask.sha.slice(0, 12) : 'github'), environment: env.name, callbackUrl: ask.callbackUrl,
    gateId: `${product.name}/github/${d.id}`, subject: `GitHub deployment of ${product.name} ${release ?? ask.sha?.slice(0, 12) ?? ''} to ${env.name}`.trim(),
    requestedBy: d.sender ?? 'github',
  };
  const { client, info } = Context.current();
  await client.workflow.start('githubProtectionWorkflow', {
    workflowId: githubProtectionWorkflowId(d.id), taskQueue: info.taskQueue, workflowIdConflictPolicy: 'USE_EXISTING', args: [input],
  });
  return did(`gate ${input.gateId} of ${env.name} decides GitHub's deployment`);
}
