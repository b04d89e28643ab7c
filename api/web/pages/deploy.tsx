/** @jsxImportSource hono/jsx */
// The deploy click with its preview (what the environment would gain and lose, by request), and the gates
// waiting for people with their quorum progress and a vote.
import type { Approval, Release } from '../../../db/schema.ts';
import type { DeploymentPreview } from '../../notes/preview.ts';
import { notesMarkdown } from '../../notes/notes.ts';
import { Csrf, Layout, Sha, State, productUrl } from '../layout.tsx';
import type { PageContext } from '../layout.tsx';

export function DeployPage({ ctx, product, preview, releases, nonce, mayDeploy }: {
  ctx: PageContext; product: string; preview: DeploymentPreview; releases: Release[]; nonce: string; mayDeploy: boolean;
}) {
  const p = preview;
  return (
    <Layout ctx={ctx} title={`Deploy to ${p.environment}`}>
      <h1><a href={productUrl(product)}>{product}</a> · deploy {p.release} to {p.environment}{p.production ? <span class="pill warn">production</span> : null}</h1>
      <form method="get" action={`${productUrl(product)}/deploy`} class="bar">
        <input type="hidden" name="environment" value={p.environment} />
        <label>Release <select name="release">{releases.map((r) => <option value={r.name} selected={r.name === p.release}>{r.name} ({r.state})</option>)}</select></label>
        <button type="submit">Preview</button>
      </form>
      <dl class="facts" id="preview">
        <dt>Runs now</dt><dd>{p.current ? <>{p.current.release} <Sha sha={p.current.commitSha} /> since {p.current.since ?? '—'}</> : <span class="muted">nothing</span>}</dd>
        <dt>Would run</dt><dd>{p.release} <Sha sha={p.commitSha} /></dd>
        <dt>Change</dt><dd id="summary">{p.unchanged ? 'nothing: it runs this already'
          : `${p.added.count} commit${p.added.count === 1 ? '' : 's'} added, ${p.removed.count} removed`}</dd>
      </dl>
      {p.refusal ? <div class="notice error" role="alert">{p.refusal.message}</div> : null}
      {!p.unchanged && p.added.count > 0 ? <><h2>Added</h2><pre class="md" id="added">{notesMarkdown(`${p.environment} gains`, p.added, 'runs already')}</pre></> : null}
      {!p.unchanged && p.removed.count > 0 ? <><h2>Removed (a rollback)</h2><pre class="md" id="removed">{notesMarkdown(`${p.environment} loses`, p.removed, 'kept')}</pre></> : null}
      {mayDeploy && !p.refusal ? (
        <form method="post" action={`${productUrl(product)}/deploy`} class="bar">
          <Csrf token={ctx.csrf} />
          <input type="hidden" name="environment" value={p.environment} />
          <input type="hidden" name="release" value={p.release} />
          {/* One click, one deployment: a form sent twice carries the same key. */}
          <input type="hidden" name="key" value={nonce} />
          <label class="small"><input type="checkbox" name="confirm" value="yes" required /> I read the changes above</label>
          <button type="submit" class="primary" id="deploy">Deploy {p.release} to {p.environment}</button>
        </form>
      ) : null}
    </Layout>
  );
}

export function GatesPage({ ctx, gates, mayVote }: { ctx: PageContext; gates: Approval[]; mayVote: (g: Approval) => boolean }) {
  return (
    <Layout ctx={ctx} title="Gates">
      <h1>Gates waiting for people</h1>
      <table id="gates">
        <thead><tr><th>Where</th><th>Subject</th><th>Quorum</th><th class="wide">Votes</th><th class="wide">Group</th><th class="wide">Deadline</th><th>Vote</th></tr></thead>
        <tbody>{gates.map((g) => (
          <tr id={g.id} data-gate={g.id}>
            <td>{g.product}{g.release ? `/${g.release}` : ''}</td>
            <td>{g.subject}</td>
            <td><State s={g.state} /> {g.votes.filter((v) => v.decision === 'approve').length} of {g.quorum}</td>
            <td class="small wide">{g.votes.map((v) => <div>{v.decision === 'approve' ? '+1' : '−1'} {v.by}{v.comment ? `: ${v.comment}` : ''}</div>)}</td>
            <td class="small wide">{g.group.join(', ')}{g.excluded ? <div class="muted">not {g.excluded}</div> : null}</td>
            <td class="small wide">{g.deadline ? g.deadline.toISOString() : '—'}</td>
            <td>{mayVote(g) ? (
              <form method="post" action={`/ui/gates/${encodeURIComponent(g.id)}`} class="bar">
                <Csrf token={ctx.csrf} />
                <input type="text" name="comment" placeholder="comment" size={14} maxlength={4000} />
                <button type="submit" name="decision" value="approve" class="primary">Approve</button>
                <button type="submit" name="decision" value="reject" class="danger">Reject</button>
              </form>
            ) : null}</td>
          </tr>
        ))}
        {gates.length === 0 ? <tr><td colspan={7} class="muted">No gate waits.</td></tr> : null}</tbody>
      </table>
    </Layout>
  );
}
