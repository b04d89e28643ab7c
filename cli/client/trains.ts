// Trains and the plans their members are made from: list them, start one, and act on every member at
// once. An act is asked first (the pre-flight: who can, why not the others) and done only when the
// owner confirms, so a bare `train-act` is always safe to type.
import { ApiCallError } from './api.ts';
import type { CommandContext } from './commands.ts';
import { ClientUsageError } from './config.ts';
import type { CommandOptions } from './config.ts';
import { table } from './format.ts';

const seg = encodeURIComponent;
const opt = (ctx: CommandContext, name: string): string | undefined => (typeof ctx.args.options[name] === 'string' ? (ctx.args.options[name] as string) : undefined);
const flag = (ctx: CommandContext, name: string): boolean => ctx.args.options[name] === true;

/** The polls of `train-act --wait`: quick enough to feel live, and bounded so a stuck train does not hold a terminal. */
const waitPolicy = { everyMs: 250, giveUpMs: 10 * 60_000 };

const usage = {
  train: 'usage: culvert train <name>',
  start: 'usage: culvert train-start <name> <release> (--plan p | --products a,b,c)',
  act: 'usage: culvert train-act <name> deploy <env> | freeze | close | pick <sha>... --reason text [--severity s] [--yes | --all] [--wait]',
  plan: 'usage: culvert plan <name>',
};

type Action = { kind: 'cut' } | { kind: 'deploy'; environment: string } | { kind: 'freeze' } | { kind: 'close' } | { kind: 'pick'; commits: string[]; reason: string; severity?: string };
interface Outcome { ok: boolean; detail: string; code?: string }
interface TrainView { name: string; release: string; plan: string | null; state: string; createdBy: string; createdAt: string }
interface TrainDetail extends TrainView {
  members: { product: string; release: string | null; state: string | null; headSha: string | null; environments: Record<string, string>; last: (Outcome & { seq: number; kind: string }) | null }[];
  actions: { seq: number; action: Action; requestedBy: string; state: string; members: number; done: number; failed: number; createdAt: string }[];
}
interface MemberCheck { product: string; release: string | null; ready: boolean; reasons: string[] }
interface Preflight { ready: MemberCheck[]; cannot: MemberCheck[]; summary: string }
interface Queued { seq: number; preflight: Preflight; members: string[]; url: string }
interface ActionView { seq: number; action: Action; state: 'running' | 'done'; done: number; failed: number; outcomes: { product: string; outcome: Outcome | null }[] }
interface PlanView { name: string; flow: string; memberCount: number }
interface PlanDetail { name: string; flow: string; members: { name: string; repository: string; parameters: Record<string, unknown>; overrides: string[] }[] }

/** Options only the train commands take (the shared parser refuses them elsewhere: `culvert releases x --yes` stays a mistake). */
export const trainOptions: Record<string, CommandOptions> = {
  'train-start': { valued: ['plan', 'products'] },
  'train-act': { valued: ['reason'], switches: ['yes', 'all', 'wait'] },
};

function print(ctx: CommandContext, value: unknown, text: () => string): number {
  ctx.out(ctx.json ? JSON.stringify(value, null, 2) : text());
  return 0;
}

/** `2026-11-30 12:03 UTC`: to the minute is what a person compares trains by. */
function when(iso: string | null | undefined): string {
  const d = new Date(iso ?? '');
  return Number.isNaN(d.getTime()) ? (iso ?? '-') : `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function describeAction(a: Action): string {
  if (a.kind === 'deploy') return `deploy ${a.environment}`;
  if (a.kind === 'pick') return `pick ${a.commits.map((c) => c.slice(0, 12)).join(' ')}`;
  return a.kind;
}

const outcomeText = (o: Outcome): string => `${o.ok ? 'ok' : 'failed'}: ${o.detail}${o.code ? ` (${o.code})` : ''}`;

export async function trains(ctx: CommandContext): Promise<number> {
  const { items } = await ctx.api.json<{ items: TrainView[] }>('GET', '/v1/trains');
  return print(ctx, items, () => (items.length === 0 ? 'no trains' : table(['train', 'release', 'state', 'created'], items.map((t) => [
    t.name, t.release, t.state, `${when(t.createdAt)} by ${t.createdBy}`,
  ]))));
}

export async function train(ctx: CommandContext): Promise<number> {
  const name = ctx.args.positional[0];
  if (!name || ctx.args.positional.length > 1) throw new ClientUsageError(usage.train);
  const t = await ctx.api.json<TrainDetail>('GET', `/v1/trains/${seg(name)}`);
  return print(ctx, t, () => [
    `train ${t.name}: release ${t.release}, ${t.state}${t.plan ? `, plan ${t.plan}` : ''}, started ${when(t.createdAt)} by ${t.createdBy}`,
    table(['product', 'release', 'state', 'head', 'environments', 'last action'], t.members.map((m) => [
      m.product, m.release ?? '-', m.state ?? '-', m.headSha?.slice(0, 12) ?? '-',
      Object.entries(m.environments).map(([env, sha]) => `${env}=${sha.slice(0, 12)}`).join(' ') || '-',
      m.last ? `#${m.last.seq} ${m.last.kind} ${outcomeText(m.last)}` : '-',
    ])),
    '',
    t.actions.length === 0 ? 'no actions yet' : table(['action', 'what', 'by', 'state', 'members', 'done', 'failed', 'asked'], t.actions.map((a) => [
      `#${a.seq}`, describeAction(a.action), a.requestedBy, a.state, String(a.members), String(a.done), String(a.failed), when(a.createdAt),
    ])),
  ].join('\n'));
}

export async function trainStart(ctx: CommandContext): Promise<number> {
  const [name, release, extra] = ctx.args.positional;
  const plan = opt(ctx, 'plan');
  const listed = opt(ctx, 'products');
  if (!name || !release || extra !== undefined || (plan === undefined) === (listed === undefined)) throw new ClientUsageError(usage.start);
  const products = listed?.split(',').map((p) => p.trim()).filter(Boolean);
  if (products?.length === 0) throw new ClientUsageError(`--products names no product; ${usage.start}`);
  const started = await ctx.api.json<TrainView & { members: { product: string }[] }>('POST', '/v1/trains', { name, release, ...(plan ? { plan } : { products }) });
  const n = started.members.length;
  return print(ctx, started, () => `train ${started.name}: release ${started.release}, ${started.state}${started.plan ? `, plan ${started.plan}` : ''}\ncutting ${n} release${n === 1 ? '' : 's'}`);
}

function actionArg(ctx: CommandContext): Action {
  const [, kind, ...rest] = ctx.args.positional;
  const reason = opt(ctx, 'reason');
  const severity = opt(ctx, 'severity');
  if (kind !== 'pick' && (reason !== undefined || severity !== undefined)) throw new ClientUsageError(`--reason and --severity go with pick; ${usage.act}`);
  if (kind === 'deploy' && rest.length === 1) return { kind, environment: rest[0] as string };
  if ((kind === 'freeze' || kind === 'close') && rest.length === 0) return { kind };
  if (kind === 'pick' && rest.length > 0) {
    if (!reason) throw new ClientUsageError(`say why the pick is needed: --reason text; ${usage.act}`);
    return { kind, commits: rest, reason, ...(severity ? { severity } : {}) };
  }
  throw new ClientUsageError(usage.act);
}

function preflightLines(p: Preflight): string[] {
  return [
    p.summary,
    ...p.cannot.map((m) => `  cannot: ${m.product}: ${m.reasons.join('; ')}`),
    // A ready member's reasons are what it will wait for (a gate's sign-off): worth knowing before confirming.
    ...p.ready.filter((m) => m.reasons.length > 0).map((m) => `  ready:  ${m.product}: ${m.reasons.join('; ')}`),
  ];
}

async function untilDone(ctx: CommandContext, name: string, seq: number): Promise<ActionView> {
  const deadline = Date.now() + waitPolicy.giveUpMs;
  for (;;) {
    const a = await ctx.api.json<ActionView>('GET', `/v1/trains/${seg(name)}/actions/${seq}`);
    if (a.state === 'done') return a;
    if (Date.now() >= deadline) {
      throw new ApiCallError(0, 'timeout', `action #${seq} of train ${name} is still running after ${Math.round(waitPolicy.giveUpMs / 60_000)} minutes (${a.done} done, ${a.failed} failed so far); see culvert train ${name}`);
    }
    await new Promise((resolve) => setTimeout(resolve, waitPolicy.everyMs));
  }
}

export async function trainAct(ctx: CommandContext): Promise<number> {
  const name = ctx.args.positional[0];
  if (!name) throw new ClientUsageError(usage.act);
  const action = actionArg(ctx);
  const [yes, all, wait] = [flag(ctx, 'yes'), flag(ctx, 'all'), flag(ctx, 'wait')];
  if (yes && all) throw new ClientUsageError('give --yes (the ready members) or --all (every member), not both');
  if (wait && !yes && !all) throw new ClientUsageError('--wait waits for an action: confirm it with --yes or --all');
  const path = `/v1/trains/${seg(name)}/actions`;
  if (!yes && !all) {
    const asked = await ctx.api.json<{ preflight: Preflight }>('POST', path, { action });
    return print(ctx, asked, () => [
      ...preflightLines(asked.preflight),
      `nothing done: --yes acts on the ${asked.preflight.ready.length} ready, --all on every member`,
    ].join('\n'));
  }
  const queued = await ctx.api.json<Queued>('POST', path, { action, confirm: yes ? 'ready' : 'all' });
  const n = queued.members.length;
  // With --wait and --json, the finished action alone: it carries the pre-flight too, and one document parses.
  if (!wait || !ctx.json) print(ctx, queued, () => `${queued.preflight.summary}\naction #${queued.seq} queued for ${n} member${n === 1 ? '' : 's'}`);
  if (!wait) return 0;
  const finished = await untilDone(ctx, name, queued.seq);
  if (ctx.json) {
    ctx.out(JSON.stringify(finished, null, 2));
  } else {
    for (const { product, outcome } of finished.outcomes) if (outcome && !outcome.ok) ctx.out(`  ${product} ${outcomeText(outcome)}`);
    ctx.out(`done: ${finished.done}, failed: ${finished.failed}`);
  }
  return finished.failed > 0 ? 1 : 0;
}

export async function plans(ctx: CommandContext): Promise<number> {
  const { items } = await ctx.api.json<{ items: PlanView[] }>('GET', '/v1/plans');
  return print(ctx, items, () => (items.length === 0 ? 'no plans' : table(['plan', 'flow', 'members'], items.map((p) => [p.name, p.flow, String(p.memberCount)]))));
}

export async function plan(ctx: CommandContext): Promise<number> {
  const name = ctx.args.positional[0];
  if (!name || ctx.args.positional.length > 1) throw new ClientUsageError(usage.plan);
  const p = await ctx.api.json<PlanDetail>('GET', `/v1/plans/${seg(name)}`);
  const value = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));
  return print(ctx, p, () => [
    `plan ${p.name}: ${p.flow}, ${p.members.length} member${p.members.length === 1 ? '' : 's'}`,
    ...(p.members.length === 0 ? [] : [table(['member', 'parameters', 'overrides'], p.members.map((m) => [
      m.name, Object.entries(m.parameters).map(([k, v]) => `${k}=${value(v)}`).join(' ') || '-', m.overrides.join(', ') || '-',
    ]))]),
  ].join('\n'));
}
