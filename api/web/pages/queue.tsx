/** @jsxImportSource hono/jsx */
// The triage queue of a release: one row per request with what an owner needs to decide without another
// click, filters and sorts as query parameters (a link is a saved view), and a bulk approve/reject form
// whose per-request results come back in place. Keyboard: j/k move, x selects, a/r decide, / searches.
import type { ChangeRequest, Release } from '../../../db/schema.ts';
import type { DecisionResult } from '../../../domain/messages.ts';
import { Csrf, Layout, Sha, State, ago, enc, productUrl, releaseUrl } from '../layout.tsx';
import type { PageContext } from '../layout.tsx';

export const queueStates = ['requested', 'checking', 'awaiting-decision', 'approved', 'rejected', 'merged', 'conflict', 'failed', 'already-present', 'withdrawn'] as const;

export interface QueueFilter {
  state: string[];
  severity?: string;
  requester?: string;
  q?: string;
  sort: 'seq' | 'trunk' | 'age' | 'severity';
  offset: number;
  limit: number;
}

/** Whether the request applies on the release's head now (worker-computed; `pending` until then). */
export interface Applies { state: string; head?: string; paths?: string[]; presentSha?: string | null; detail?: string | null }

export interface QueueView {
  release: Release;
  /** The live-refresh stamp when the page's data was read. */
  stamp: string;
  items: ChangeRequest[];
  total: number;
  filter: QueueFilter;
  mayDecide: boolean;
  severities: string[];
  /** Numbers of requests named by id (dependencies), to show them as #seq. */
  seqOf: Map<string, number>;
  applies: Map<string, Applies>;
  results?: { result: DecisionResult; seq: number | null }[];
  comment?: string;
}

function filterQuery(f: QueueFilter, over: Partial<Record<string, string>>): string {
  const p = new URLSearchParams();
  const base: Record<string, string | undefined> = {
    state: f.state.join(','), severity: f.severity, requester: f.requester, q: f.q, sort: f.sort === 'seq' ? undefined : f.sort,
  };
  for (const [k, v] of Object.entries({ ...base, ...over })) if (v) p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
}

const AppliesCell = ({ a, kind }: { a: Applies | undefined; kind: string }) => {
  if (kind !== 'pick') return <span class="muted">—</span>;
  if (!a || a.state === 'pending') return <span class="muted" title="Culvert is trying it on the release's head">checking…</span>;
  if (a.state === 'applies') return <span class="pill ok">applies cleanly</span>;
  if (a.state === 'already-present') return <span class="pill ok">already in the release{a.presentSha ? <> (as <Sha sha={a.presentSha} />)</> : null}</span>;
  if (a.state === 'conflicts') return <span class="pill bad" title={(a.paths ?? []).join('\n')}>conflicts in {(a.paths ?? []).slice(0, 3).join(', ')}{(a.paths ?? []).length > 3 ? ` +${(a.paths ?? []).length - 3}` : ''}</span>;
  return <span class="pill bad">{a.detail ?? a.state}</span>;
};

function Row({ x, v, now }: { x: ChangeRequest; v: QueueView; now: number }) {
  const files = x.commitDetails.reduce((n, c) => n + c.files, 0);
  const ins = x.commitDetails.reduce((n, c) => n + c.insertions, 0);
  const del = x.commitDetails.reduce((n, c) => n + c.deletions, 0);
  const paths = [...new Set(x.commitDetails.flatMap((c) => c.paths))];
  const decidable = v.mayDecide && x.state === 'awaiting-decision';
  return (
    <tr data-id={x.id} data-seq={String(x.seq)} data-state={x.state}>
      <td>{decidable ? <input type="checkbox" name="ids" value={x.id} form="bulk" aria-label={`select #${x.seq}`} /> : null}</td>
      <td><a href={`${releaseUrl(v.release.product, v.release.name)}/changes/${enc(x.id)}`}>#{x.seq}</a></td>
      <td>{x.kind}</td>
      <td><State s={x.state} />{x.conflictPaths && x.conflictPaths.length > 0 ? <div class="small muted">conflicts: {x.conflictPaths.join(', ')}</div> : null}
        {x.failure ? <div class="small muted">{x.failure}</div> : null}</td>
      <td class="commits">
        {x.kind === 'merge' ? <div><code>{x.branch}</code> <Sha sha={x.sourceSha} /></div> : null}
        {x.commitDetails.map((c) => <div><Sha sha={c.sha} n={9} /> {c.subject} <span class="muted">— {c.author.replace(/\s*<[^>]*>$/, '')}</span></div>)}
        {x.commitDetails.length === 0 && x.commits.length > 0 ? x.commits.map((c) => <div><Sha sha={c} n={9} /></div>) : null}
        {x.reason ? <div class="small">“{x.reason}”</div> : null}
      </td>
      <td>{x.requester}</td>
      <td>{x.severity ? <span class={`pill ${x.severity === 'normal' ? '' : 'warn'}`}>{x.severity}</span> : null}</td>
      <td class="wide"><span class="pill">+{ins} −{del}</span> <span class="muted">{files} file{files === 1 ? '' : 's'}</span>
        <div class="small muted paths">{paths.slice(0, 4).join(', ')}{paths.length > 4 ? ` +${paths.length - 4}` : ''}</div></td>
      <td><AppliesCell a={v.applies.get(x.id)} kind={x.kind} /></td>
      <td>{x.checkOutcome === 'none' ? <span class="muted">—</span> : x.checkRunId
        ? <a href={`/ui/runs/${enc(x.checkRunId)}/log`}><State s={x.checkOutcome} /></a> : <State s={x.checkOutcome} />}</td>
      <td class="wide small">{x.votes.length === 0 ? <span class="muted">—</span> : x.votes.map((b) => <div>{b.decision === 'approve' ? '+1' : '−1'} {b.by}</div>)}</td>
      <td class="small">{ago(x.createdAt, now)}</td>
      <td class="wide small">{x.dependsOn.map((d) => `#${v.seqOf.get(d) ?? d.slice(0, 8)}`).join(' ')}{x.revertOf ? `reverts #${v.seqOf.get(x.revertOf) ?? x.revertOf.slice(0, 8)}` : ''}</td>
    </tr>
  );
}

export function QueuePage({ ctx, v }: { ctx: PageContext; v: QueueView }) {
  const r = v.release;
  const f = v.filter;
  const here = `${releaseUrl(r.product, r.name)}/queue`;
  const now = Date.now();
  return (
    <Layout ctx={ctx} title={`${r.product}/${r.name} triage`} stamp={`${releaseUrl(r.product, r.name)}/stamp`} stampValue={v.stamp}>
      <h1><a href={productUrl(r.product)}>{r.product}</a> / <a href={releaseUrl(r.product, r.name)}>{r.name}</a> · triage <State s={r.state} /></h1>
      {v.results ? (
        <div class="notice" id="results">
          <strong>{v.results.filter((x) => x.result.ok).length} of {v.results.length} decided</strong>{v.comment ? <> with “{v.comment}”</> : null}
          <ul class="results">
            {v.results.map(({ result, seq }) => (
              <li class={result.ok ? 'ok' : 'bad'} data-result-id={result.id}>
                #{seq ?? result.id.slice(0, 8)}: {result.ok ? <State s={result.state} /> : <><span class="pill bad">{result.code}</span> {result.message}</>}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <form class="bar" method="get" action={here}>
        <label>State <select name="state">
          <option value="awaiting-decision" selected={f.state.join(',') === 'awaiting-decision'}>awaiting decision</option>
          <option value="" selected={f.state.length === 0}>all</option>
          {queueStates.filter((s) => s !== 'awaiting-decision').map((s) => <option value={s} selected={f.state.join(',') === s}>{s}</option>)}
        </select></label>
        <label>Severity <select name="severity">
          <option value="">any</option>
          {v.severities.map((s) => <option value={s} selected={f.severity === s}>{s}</option>)}
        </select></label>
        <label>Requester <input type="text" name="requester" value={f.requester ?? ''} size={10} /></label>
        <label>Find <input type="search" name="q" value={f.q ?? ''} placeholder="text or SHA ( / )" size={18} /></label>
        <label>Sort <select name="sort">
          <option value="seq" selected={f.sort === 'seq'}>number</option>
          <option value="trunk" selected={f.sort === 'trunk'}>trunk order</option>
          <option value="age" selected={f.sort === 'age'}>age</option>
          <option value="severity" selected={f.sort === 'severity'}>severity</option>
        </select></label>
        <button type="submit">Filter</button>
        <span class="muted" id="count">{v.total} request{v.total === 1 ? '' : 's'}</span>
      </form>
      {v.mayDecide && r.state === 'open' ? (
        <form class="bar" id="bulk" method="post" action={`${here}${filterQuery(f, {})}`}>
          <Csrf token={ctx.csrf} />
          <select name="decision" aria-label="decision"><option value="approve">Approve</option><option value="reject">Reject</option></select>
          <input type="text" name="comment" placeholder="comment (kept with each vote)" size={32} maxlength={4000} />
          <button type="submit" class="primary">Decide selected</button>
          <span class="muted small">j/k move · x select · shift-click range · a approve · r reject · / find</span>
        </form>
      ) : null}
      <table id="queue">
        <thead><tr>
          <th>{v.mayDecide ? <input type="checkbox" id="select-all" aria-label="select all" /> : null}</th>
          <th>#</th><th>Kind</th><th>State</th><th>Commits and reason</th><th>Requester</th><th>Severity</th><th class="wide">Diff</th>
          <th>Applies to head</th><th>Check</th><th class="wide">Votes</th><th>Age</th><th class="wide">Needs</th>
        </tr></thead>
        <tbody id="queue-rows" data-live="1">
          {v.items.map((x) => <Row x={x} v={v} now={now} />)}
          {v.items.length === 0 ? <tr><td colspan={13} class="muted">Nothing here.</td></tr> : null}
        </tbody>
      </table>
      {v.total > f.offset + v.items.length ? (
        <p><a href={`${here}${filterQuery(f, { offset: String(f.offset + f.limit) })}`}>Next {f.limit}</a></p>
      ) : null}
    </Layout>
  );
}
