import type { BlockedView, ChangeView, CommitView, DecisionView, ReleaseView } from './views.ts';
import type { ApiClient } from './api.ts';
import { ClientUsageError } from './config.ts';
import type { ParsedArgs } from './config.ts';
import { age, clip, table } from './format.ts';

export interface CommandContext {
  api: ApiClient;
  args: ParsedArgs;
  json: boolean;
  out: (text: string) => void;
}

const seg = encodeURIComponent;
const opt = (args: ParsedArgs, name: string): string | undefined => (typeof args.options[name] === 'string' ? (args.options[name] as string) : undefined);

/** `product/release` as one argument, the way people name a release. */
export function releaseArg(args: ParsedArgs, at: number): { product: string; release: string; base: string } {
  const given = args.positional[at];
  const [product, release, extra] = (given ?? '').split('/');
  if (!product || !release || extra !== undefined) throw new ClientUsageError(`name the release as <product>/<release>, e.g. shop/2026-w47 (got ${JSON.stringify(given ?? '')})`);
  return { product, release, base: `/v1/products/${seg(product)}/releases/${seg(release)}` };
}

function what(c: ChangeView): string {
  if (c.kind === 'merge') return `merge ${c.branch ?? ''}`;
  if (c.kind === 'revert') return `revert ${c.revertOf ?? ''}`;
  const [first, ...more] = c.commitDetails;
  return `${first ? `${first.sha.slice(0, 10)} ${clip(first.subject, 60)}` : c.commits.join(' ')}${more.length ? ` (+${more.length} more)` : ''}`;
}

async function allChanges(ctx: CommandContext, base: string, state?: string): Promise<ChangeView[]> {
  const items: ChangeView[] = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await ctx.api.json<{ items: ChangeView[]; total: number }>('GET', `${base}/changes?limit=1000&offset=${offset}${state ? `&state=${seg(state)}` : ''}`);
    items.push(...page.items);
    if (page.items.length === 0 || items.length >= page.total) return items;
  }
}

export async function releases(ctx: CommandContext): Promise<number> {
  const product = ctx.args.positional[0];
  if (!product) throw new ClientUsageError('usage: culvert releases <product>');
  const { items } = await ctx.api.json<{ items: ReleaseView[] }>('GET', `/v1/products/${seg(product)}/releases`);
  if (ctx.json) {
    ctx.out(JSON.stringify(items, null, 2));
    return 0;
  }
  ctx.out(table(['release', 'flow', 'state', 'head', 'production', 'branch', 'waiting on'], items.map((r) => [
    r.name, r.flow, r.state, r.headSha.slice(0, 12), r.production ? 'yes' : 'no', r.branch, r.blocked?.[0] ? blockedLine(r.blocked[0]) : '-',
  ])));
  return 0;
}

/** `picks: the git remote cannot be reached (since 12:03, 14 attempts)` */
export function blockedLine(b: BlockedView): string {
  const since = new Date(b.since);
  const at = Number.isNaN(since.getTime()) ? b.since : since.toISOString().slice(11, 16);
  return `blocked: ${b.what}: ${b.reason} (since ${at} UTC, ${b.attempts} attempt${b.attempts === 1 ? '' : 's'})`;
}

export async function changes(ctx: CommandContext): Promise<number> {
  const { base } = releaseArg(ctx.args, 0);
  const query = new URLSearchParams();
  for (const name of ['state', 'severity', 'q', 'sort', 'limit']) {
    const value = opt(ctx.args, name);
    if (value !== undefined) query.set(name, value);
  }
  const [page, release] = await Promise.all([
    ctx.api.json<{ items: ChangeView[]; total: number }>('GET', `${base}/changes?${query}`),
    ctx.api.json<ReleaseView>('GET', base),
  ]);
  if (ctx.json) {
    ctx.out(JSON.stringify(page, null, 2));
    return 0;
  }
  for (const b of release.blocked ?? []) ctx.out(blockedLine(b));
  ctx.out(table(['#', 'state', 'check', 'severity', 'requester', 'age', 'diff', 'votes', 'what'], page.items.map((c) => [
    `#${c.seq}`, c.state, c.check ?? '-', c.severity ?? '-', c.requester, age(c.ageSeconds),
    `+${c.diff.insertions} -${c.diff.deletions} (${c.diff.files})`,
    `${c.wantedBy.length ? `+${c.wantedBy.join(',')}` : ''}${c.passedBy.length ? ` -${c.passedBy.join(',')}` : ''}`.trim() || '-',
    what(c),
  ])));
  ctx.out(`${page.items.length} of ${page.total}`);
  return 0;
}

/** approve and reject: by `#seq` or id, or every request awaiting a decision; one call per 1,000. */
export async function decide(ctx: CommandContext, decision: 'approve' | 'reject'): Promise<number> {
  const { base, product, release } = releaseArg(ctx.args, 0);
  const refs = ctx.args.positional.slice(1);
  const everyAwaiting = ctx.args.options['all-awaiting'] === true;
  if (refs.length === 0 && !everyAwaiting) throw new ClientUsageError(`usage: culvert ${decision} <product>/<release> <#seq|id>... | --all-awaiting [--comment text]`);
  if (refs.length > 0 && everyAwaiting) throw new ClientUsageError('give requests or --all-awaiting, not both');
  const known = await allChanges(ctx, base, everyAwaiting ? 'awaiting-decision' : undefined);
  const bySeq = new Map(known.map((c) => [String(c.seq), c]));
  const byId = new Map(known.map((c) => [c.id, c]));
  let targets: ChangeView[];
  const skipped: string[] = [];
  if (everyAwaiting) {
    // Approving what failed its checks is refused anyway: leave it out and say so.
    targets = decision === 'approve' ? known.filter((c) => c.check !== 'failed') : known;
    for (const c of known) if (!targets.includes(c)) skipped.push(`#${c.seq} skipped: its checks failed`);
  } else {
    targets = refs.map((ref) => {
      const found = /^#?\d+$/.test(ref) ? bySeq.get(ref.replace(/^#/, '')) : byId.get(ref);
      if (!found) throw new ClientUsageError(`no change request ${ref} on ${product}/${release}`);
      return found;
    });
  }
  const comment = opt(ctx.args, 'comment');
  const results: DecisionView[] = [];
  for (let i = 0; i < targets.length; i += 1000) {
    const decisions = targets.slice(i, i + 1000).map((c) => ({ id: c.id, decision, ...(comment ? { comment } : {}) }));
    results.push(...(await ctx.api.json<{ results: DecisionView[] }>('POST', `${base}/changes/decisions`, { decisions })).results);
  }
  const refused = results.filter((r) => !r.ok).length;
  if (ctx.json) {
    ctx.out(JSON.stringify({ results, skipped }, null, 2));
    return refused > 0 ? 1 : 0;
  }
  const seqOf = new Map(targets.map((c) => [c.id, c.seq]));
  for (const r of results) ctx.out(r.ok ? `#${seqOf.get(r.id)} ${r.state}` : `#${seqOf.get(r.id)} refused (${r.code}): ${r.message}`);
  for (const s of skipped) ctx.out(s);
  ctx.out(`${results.length - refused} ${decision === 'approve' ? 'approved' : 'rejected'}${refused ? `, ${refused} refused` : ''}${targets.length === 0 ? ' (nothing was awaiting a decision)' : ''}`);
  return refused > 0 ? 1 : 0;
}

export async function where(ctx: CommandContext): Promise<number> {
  const sha = ctx.args.positional[0];
  if (!sha) throw new ClientUsageError('usage: culvert where <sha> [--product p]');
  const product = opt(ctx.args, 'product');
  const c = await ctx.api.json<CommitView>('GET', `/v1/commits/${seg(sha)}${product ? `?product=${seg(product)}` : ''}`);
  if (ctx.json) {
    ctx.out(JSON.stringify(c, null, 2));
    return 0;
  }
  ctx.out(`${c.sha} ${c.subject ?? ''}`.trimEnd());
  if (c.origin) ctx.out(`  a pick of ${c.origin.sha}`);
  ctx.out(c.releases.length === 0 ? '  in no release' : table(['  release', 'how', 'since'], c.releases.map((r) => [
    `  ${r.product}/${r.release}`, r.how === 'pick' ? `pick ${r.pickSha?.slice(0, 12) ?? ''}` : (r.via ?? 'direct'), r.since ?? '-',
  ])));
  if (c.environments.length > 0) {
    ctx.out(table(['  environment', 'runs it now', 'first reached'], c.environments.map((e) => [
      `  ${e.product}/${e.environment}${e.production ? ' (production)' : ''}`,
      e.runsNow === null ? 'unknown' : e.runsNow ? 'yes' : 'no',
      e.firstReached ? `${e.firstReached.at ?? '?'} with ${e.firstReached.release}` : '-',
    ])));
  }
  ctx.out(`  in production: ${c.inProduction ? 'yes' : 'no'}`);
  return 0;
}

export async function notes(ctx: CommandContext): Promise<number> {
  const [product, from, to] = ctx.args.positional;
  if (!product || !from || !to) throw new ClientUsageError('usage: culvert notes <product> <from-release> <to-release> [--component c]');
  const component = opt(ctx.args, 'component');
  const path = `/v1/products/${seg(product)}/notes?from=${seg(from)}&to=${seg(to)}${component ? `&component=${seg(component)}` : ''}`;
  ctx.out(ctx.json ? JSON.stringify(await ctx.api.json('GET', path), null, 2) : await ctx.api.text(`${path}&format=md`));
  return 0;
}

interface ManifestView { product: string; release: string; components: { name: string; repository: string; branch: string | null; cutFrom: string | null; head: string | null; state: string }[] }

/** A release's manifest: every repository it is made of, where each was cut and where its branch is now. */
export async function manifest(ctx: CommandContext): Promise<number> {
  const { base } = releaseArg(ctx.args, 0);
  const m = await ctx.api.json<ManifestView>('GET', `${base}/manifest`);
  if (ctx.json) {
    ctx.out(JSON.stringify(m, null, 2));
    return 0;
  }
  ctx.out(table(['component', 'state', 'cut from', 'head', 'branch', 'repository'], m.components.map((c) => [
    c.name, c.state, c.cutFrom?.slice(0, 12) ?? '-', c.head?.slice(0, 12) ?? '-', c.branch ?? '-', c.repository,
  ])));
  return 0;
}
