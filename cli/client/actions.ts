// The owner's and QA's other clicks: gates waiting for votes, a vote, a deploy click, a freeze.
import type { CommandContext } from './commands.ts';
import { releaseArg } from './commands.ts';
import { ClientUsageError } from './config.ts';
import { table } from './format.ts';
import type { AuditView, GateView } from './views.ts';

const seg = encodeURIComponent;
const opt = (ctx: CommandContext, name: string): string | undefined => (typeof ctx.args.options[name] === 'string' ? (ctx.args.options[name] as string) : undefined);

function print(ctx: CommandContext, value: unknown, text: string): number {
  ctx.out(ctx.json ? JSON.stringify(value, null, 2) : text);
  return 0;
}

export async function gates(ctx: CommandContext): Promise<number> {
  const query = new URLSearchParams({ state: opt(ctx, 'state') ?? 'pending' });
  const product = opt(ctx, 'product');
  if (product) query.set('product', product);
  const { items } = await ctx.api.json<{ items: GateView[] }>('GET', `/v1/approvals?${query}`);
  return print(ctx, items, items.length === 0 ? `no ${query.get('state')} gates` : table(['gate', 'release', 'subject', 'state', 'votes', 'group'], items.map((g) => [
    g.id, `${g.product}/${g.release}`, g.subject, g.state,
    `${g.votes.filter((v) => v.decision === 'approve').length}/${g.quorum}${g.votes.some((v) => v.decision === 'reject') ? ' (rejected by one)' : ''}`,
    `${g.group.join(',')}${g.escalatedTo ? ` -> ${g.escalatedTo.join(',')}` : ''}`,
  ])));
}

export async function vote(ctx: CommandContext): Promise<number> {
  const [id, decision] = ctx.args.positional;
  if (!id || (decision !== 'approve' && decision !== 'reject')) throw new ClientUsageError('usage: culvert vote <gate-id> approve|reject [--comment text]');
  const comment = opt(ctx, 'comment');
  const gate = await ctx.api.json<GateView>('POST', `/v1/approvals/${seg(id)}`, { decision, ...(comment ? { comment } : {}) });
  const approvals = gate.votes.filter((v) => v.decision === 'approve').length;
  return print(ctx, gate, `gate ${gate.id} (${gate.subject}): ${gate.state}, ${approvals} of ${gate.quorum} approvals`);
}

export async function deploy(ctx: CommandContext): Promise<number> {
  const { base, product, release } = releaseArg(ctx.args, 0);
  const environment = ctx.args.positional[1];
  if (!environment) throw new ClientUsageError('usage: culvert deploy <product>/<release> <environment> [--candidate "3.11 RC1"]');
  const candidate = opt(ctx, 'candidate');
  const started = await ctx.api.json<{ deploymentId: string; commitSha: string; state: string }>('POST', `${base}/deployments`, { environment, ...(candidate ? { candidate } : {}) });
  return print(ctx, started, `deployment ${started.deploymentId}: ${product}/${release}${candidate ? ` (${candidate})` : ''} at ${started.commitSha.slice(0, 12)} to ${environment}, ${started.state}`);
}

export async function freeze(ctx: CommandContext): Promise<number> {
  const { base, product, release } = releaseArg(ctx.args, 0);
  const frozen = await ctx.api.json<{ state: string }>('POST', `${base}/freeze`);
  return print(ctx, frozen, `${product}/${release} is ${frozen.state}`);
}

export async function audit(ctx: CommandContext): Promise<number> {
  const product = ctx.args.positional[0];
  if (!product) throw new ClientUsageError('usage: culvert audit <product> [--limit n]');
  const { items } = await ctx.api.json<{ items: AuditView[] }>('GET', `/v1/products/${seg(product)}/audit?limit=${seg(opt(ctx, 'limit') ?? '50')}`);
  return print(ctx, items, table(['when', 'who', 'action', 'on', 'outcome'], items.map((e) => [
    e.at, e.actor, e.action, [e.release, e.target].filter(Boolean).join(' '),
    e.outcome === 'refused' && e.refusal ? `refused: ${e.refusal.code}` : e.outcome,
  ])));
}
