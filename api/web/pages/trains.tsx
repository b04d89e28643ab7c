/** @jsxImportSource hono/jsx */
// Trains (domain/trains.ts): the list, and one train's members across its environments with their last
// outcome, its recent actions and, for an owner, "Act on the train": a pre-flight first (who is ready,
// why the others cannot), then a confirmation for the ready ones or for all.
import type { Train } from '../../../db/schema.ts';
import type { Preflight, TrainAction } from '../../../domain/trains.ts';
import type { TrainView } from '../../trains/routes.ts';
import { Csrf, Layout, Sha, State, ago, enc, productUrl, releaseUrl } from '../layout.tsx';
import type { PageContext } from '../layout.tsx';

export const trainUrl = (t: string) => `/ui/trains/${enc(t)}`;

export function TrainsPage({ ctx, trains }: { ctx: PageContext; trains: { train: Train; members: number }[] }) {
  const now = Date.now();
  return (
    <Layout ctx={ctx} title="Trains">
      <h1>Trains</h1>
      <table id="trains">
        <thead><tr><th>Train</th><th>Release</th><th>State</th><th>Members</th><th class="wide">Started</th></tr></thead>
        <tbody>
          {trains.map(({ train: t, members }) => (
            <tr data-train={t.name}>
              <td><a href={trainUrl(t.name)}>{t.name}</a></td><td>{t.release}</td><td><State s={t.state} /></td><td>{members}</td>
              <td class="wide small">{ago(t.createdAt, now)} ago by {t.createdBy}</td>
            </tr>
          ))}
          {trains.length === 0 ? <tr><td colspan={5} class="muted">No trains you may see.</td></tr> : null}
        </tbody>
      </table>
    </Layout>
  );
}

/** "deploy to staging", "pick 2 commits", "freeze": an action as stored (a JSON object). */
export function describeAction(action: Record<string, unknown> | TrainAction): string {
  const a = action as Record<string, unknown>;
  const kind = String(a.kind);
  if (kind === 'deploy') return `deploy to ${String(a.environment)}`;
  if (kind === 'pick' && Array.isArray(a.commits)) return `pick ${a.commits.length} commit${a.commits.length === 1 ? '' : 's'}`;
  return kind;
}

export interface TrainPageProps {
  ctx: PageContext;
  v: TrainView;
  /** Whether the signed-in actor may act on at least one member (viewers may not). */
  mayAct: boolean;
  /** The key of this page's confirmation: one form sent twice is one action. */
  nonce: string;
  /** What the live refresh compares (read before the view). */
  stamp: string;
  notice?: string;
  /** The pre-flight asked for, and the action it was asked of. */
  checked?: { action: TrainAction; report: Preflight };
}

export function TrainPage({ ctx, v, mayAct, nonce, stamp, notice, checked }: TrainPageProps) {
  const url = trainUrl(v.name);
  const now = Date.now();
  const chosen = checked?.action;
  return (
    <Layout ctx={ctx} title={`Train ${v.name}`} stamp={`${url}/stamp`} stampValue={stamp}>
      <h1><a href="/ui/trains">Trains</a> / {v.name} <State s={v.state} /></h1>
      {notice ? <div class="notice" role="status">{notice}</div> : null}
      <dl class="facts">
        <dt>Release</dt><dd>{v.release}{v.production ? '' : ' (not for production)'}</dd>
        {v.plan ? <><dt>Plan</dt><dd>{v.plan}</dd></> : null}
        <dt>Started</dt><dd>{ago(v.createdAt, now)} ago by {v.createdBy}</dd>
        <dt>Run</dt><dd>{v.temporalUrl ? <a href={v.temporalUrl}>{v.workflowId} in the Temporal UI</a> : <code>{v.workflowId}</code>}</dd>
      </dl>
      {checked ? <PreflightView ctx={ctx} url={url} checked={checked} mayAct={mayAct} nonce={nonce} /> : null}
      {mayAct && v.state !== 'closed' ? (
        <form method="post" action={`${url}/preflight`} class="bar" id="act">
          <Csrf token={ctx.csrf} />
          <strong>Act on the train:</strong>
          <label>Action <select name="kind">
            {(['deploy', 'freeze', 'close'] as const).map((k) => <option value={k} selected={chosen?.kind === k}>{k}</option>)}
          </select></label>
          <label>Environment (deploy) <select name="environment">
            {v.environments.map((e) => <option value={e} selected={chosen?.kind === 'deploy' && chosen.environment === e}>{e}</option>)}
          </select></label>
          <button type="submit" id="check">Check</button>
          <span class="small muted">Asks every member first; nothing is done until you confirm.</span>
        </form>
      ) : null}
      <h2>Members ({v.members.length})</h2>
      <table id="members">
        <thead><tr><th>Product</th><th>Release</th><th>State</th><th>Head</th>{v.environments.map((e) => <th>{e}</th>)}<th class="wide">Last action</th></tr></thead>
        <tbody id="member-rows" data-live="1">{v.members.map((m) => (
          <tr data-product={m.product}>
            <td><a href={m.release ? releaseUrl(m.product, m.release) : productUrl(m.product)}>{m.product}</a></td>
            <td>{m.release ?? <span class="muted">—</span>}</td>
            <td><State s={m.state} /></td>
            <td><Sha sha={m.headSha} /></td>
            {v.environments.map((e) => <td data-env={e}><Sha sha={m.environments[e]} /></td>)}
            <td class="wide small">{m.last ? (
              <>#{m.last.seq} {m.last.kind}: {m.last.ok ? <span class="pill ok">ok</span> : <span class="pill bad">failed</span>} <span class={m.last.ok ? 'muted' : ''}>{m.last.detail}</span></>
            ) : <span class="muted">—</span>}</td>
          </tr>
        ))}</tbody>
      </table>
      <h2>Recent actions</h2>
      <table id="actions">
        <thead><tr><th>#</th><th>Action</th><th>By</th><th>State</th><th>Members</th><th>Done</th><th>Failed</th><th class="wide">Asked</th></tr></thead>
        <tbody id="action-rows" data-live="1">
          {v.actions.map((a) => (
            <tr data-seq={String(a.seq)}>
              <td>{a.seq}</td><td>{describeAction(a.action)}</td><td>{a.requestedBy}</td><td><State s={a.state === 'done' ? (a.failed > 0 ? 'failed' : 'succeeded') : a.state} /></td>
              <td>{a.members}</td><td>{a.done}</td><td>{a.failed}</td><td class="wide small">{ago(a.createdAt, now)} ago</td>
            </tr>
          ))}
          {v.actions.length === 0 ? <tr><td colspan={8} class="muted">No actions yet.</td></tr> : null}
        </tbody>
      </table>
    </Layout>
  );
}

/** The pre-flight's answer, and (for an owner) the two ways to confirm it. */
function PreflightView({ ctx, url, checked, mayAct, nonce }: { ctx: PageContext; url: string; checked: { action: TrainAction; report: Preflight }; mayAct: boolean; nonce: string }) {
  const { action, report } = checked;
  const notes = report.ready.filter((m) => m.reasons.length > 0);
  return (
    <section id="preflight">
      <h2>Pre-flight: {describeAction(action)}</h2>
      <p id="preflight-summary" class={`notice${report.cannot.length > 0 ? ' error' : ''}`}>{report.summary}</p>
      {report.cannot.length > 0 ? (
        <ul id="cannot">{report.cannot.map((m) => <li data-product={m.product}><strong>{m.product}</strong> {m.reasons.join(' and ')}</li>)}</ul>
      ) : null}
      {notes.length > 0 ? <ul id="waits" class="small muted">{notes.map((m) => <li>{m.product} {m.reasons.join(' and ')}</li>)}</ul> : null}
      {mayAct ? (
        <form method="post" action={`${url}/actions`} class="bar" id="confirm">
          <Csrf token={ctx.csrf} />
          <input type="hidden" name="kind" value={action.kind} />
          {action.kind === 'deploy' ? <input type="hidden" name="environment" value={action.environment} /> : null}
          <input type="hidden" name="key" value={nonce} />
          {report.ready.length > 0 ? (
            <button type="submit" name="confirm" value="ready" class="primary" id="do-ready">Do it for the {report.ready.length} ready</button>
          ) : null}
          <button type="submit" name="confirm" value="all" class="danger" id="do-all">Do it for all</button>
          <span class="small muted">For all: those that cannot fail with their reason.</span>
        </form>
      ) : null}
    </section>
  );
}
