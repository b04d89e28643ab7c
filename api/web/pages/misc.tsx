/** @jsxImportSource hono/jsx */
// The smaller pages: sign-in, errors, a product (releases and what runs where), a change, "where is this
// commit?", release notes and the audit trail.
import type { AuditEntry, ChangeRequest, Deployment, Release, StepRun } from '../../../db/schema.ts';
import type { EnvironmentConfig } from '../../../domain/types.ts';
import type { CommitAnswer } from '../../commits/trace.ts';
import type { ChangeSet } from '../../notes/notes.ts';
import { NotesView } from './notes-view.tsx';
import { Csrf, Layout, Sha, State, ago, enc, productUrl, releaseUrl } from '../layout.tsx';
import type { PageContext } from '../layout.tsx';

export function SignInPage({ ctx, message, next }: { ctx: PageContext; message?: string; next?: string }) {
  return (
    <Layout ctx={ctx} title="Sign in">
      <h1>Sign in to Culvert</h1>
      <p>Paste your Culvert token once; this browser keeps only a session cookie (eight hours, or until the token is revoked).</p>
      {message ? <div class="notice error" role="alert">{message}</div> : null}
      <form method="post" action="/ui/sign-in" class="bar">
        <input type="hidden" name="next" value={next ?? '/ui'} />
        <label>Token <input type="password" name="token" autocomplete="off" required size={48} /></label>
        <button type="submit" class="primary">Sign in</button>
      </form>
    </Layout>
  );
}

export function ErrorPage({ ctx, status, code, message }: { ctx: PageContext; status: number; code: string; message: string }) {
  return (
    <Layout ctx={ctx} title={`${status} ${code}`}>
      <h1>{status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : status >= 500 ? 'Something is down' : 'That did not work'}</h1>
      <div class="notice error" role="alert" data-code={code}>{message}</div>
      <p><a href="/ui">Home</a></p>
    </Layout>
  );
}

export interface EnvRow { env: EnvironmentConfig; current: Deployment | undefined; history: Deployment[] }

export function ProductPage({ ctx, product, releases, envs, stamp, notice }: {
  ctx: PageContext; product: string; releases: Release[]; envs: EnvRow[]; stamp: string; notice?: string;
}) {
  const now = Date.now();
  return (
    <Layout ctx={ctx} title={product} stamp={`${productUrl(product)}/stamp`} stampValue={stamp}>
      <h1>{product}</h1>
      {notice ? <div class="notice" role="status">{notice}</div> : null}
      <h2>Environments</h2>
      <table id="environments">
        <thead><tr><th>Environment</th><th>Runs now</th><th>Since</th><th>Deployed by</th><th>Before that</th><th></th></tr></thead>
        <tbody id="environments-rows" data-live="1">{envs.map(({ env, current, history }) => (
          <tr data-env={env.name}>
            <td>{env.name}{env.production ? <span class="pill warn">production</span> : null}</td>
            <td>{current ? <><a href={releaseUrl(product, current.release)}>{current.release}</a> <Sha sha={current.commitSha} /></> : <span class="muted">nothing yet</span>}</td>
            <td>{current?.finishedAt ? `${ago(current.finishedAt, now)} ago` : '—'}</td>
            <td>{current?.requestedBy ?? '—'}</td>
            <td class="small">{history.filter((d) => d.id !== current?.id).slice(0, 3).map((d) => <div>{d.release} <Sha sha={d.commitSha} n={8} /> <State s={d.state} /></div>)}</td>
            <td><a href={`${productUrl(product)}/deploy?environment=${enc(env.name)}`}>Deploy or roll back…</a></td>
          </tr>
        ))}</tbody>
      </table>
      <h2>Releases</h2>
      <table id="releases">
        <thead><tr><th>Release</th><th>State</th><th>Head</th><th>Created</th><th></th></tr></thead>
        <tbody>{releases.map((r) => (
          <tr><td><a href={releaseUrl(product, r.name)}>{r.name}</a></td><td><State s={r.state} /></td><td><Sha sha={r.headSha} /></td>
            <td>{ago(r.createdAt, now)} ago by {r.createdBy}</td><td><a href={`${releaseUrl(product, r.name)}/queue`}>triage</a></td></tr>
        ))}</tbody>
      </table>
      <p><a href={`${productUrl(product)}/notes`}>Release notes</a> · <a href={`${productUrl(product)}/audit`}>Audit</a></p>
    </Layout>
  );
}

export function ChangePage({ ctx, x, runs }: { ctx: PageContext; x: ChangeRequest; runs: StepRun[] }) {
  return (
    <Layout ctx={ctx} title={`#${x.seq}`}>
      <h1><a href={productUrl(x.product)}>{x.product}</a> / <a href={releaseUrl(x.product, x.release)}>{x.release}</a> / #{x.seq} <State s={x.state} /></h1>
      <dl class="facts">
        <dt>Kind</dt><dd>{x.kind}</dd>
        <dt>Requester</dt><dd>{x.requester}</dd>
        {x.reason ? <><dt>Reason</dt><dd>{x.reason}</dd></> : null}
        {x.branch ? <><dt>Branch</dt><dd><code>{x.branch}</code> <Sha sha={x.sourceSha} /></dd></> : null}
        <dt>Result</dt><dd><Sha sha={x.resultSha} n={40} /></dd>
        {x.conflictPaths && x.conflictPaths.length > 0 ? <><dt>Conflicts</dt><dd>{x.conflictPaths.join(', ')}</dd></> : null}
        {x.failure ? <><dt>Failure</dt><dd>{x.failure}</dd></> : null}
      </dl>
      <h2>Commits</h2>
      <table><thead><tr><th>Commit</th><th>Subject</th><th>Author</th><th>Diff</th><th>Paths</th></tr></thead>
        <tbody>{x.commitDetails.map((c) => <tr><td><a href={`/ui/commits?sha=${enc(c.sha)}`}><Sha sha={c.sha} /></a></td><td>{c.subject}</td><td>{c.author}</td><td>+{c.insertions} −{c.deletions}</td><td class="small">{c.paths.join(', ')}</td></tr>)}</tbody></table>
      <h2>Checks</h2>
      <table><tbody>{runs.map((r) => <tr><td><a href={`/ui/runs/${enc(r.id)}/log`}>{r.step}</a></td><td><State s={r.state} /></td><td>{r.exitCode ?? '—'}</td></tr>)}</tbody></table>
      <h2>History</h2>
      <table><thead><tr><th>At</th><th>State</th><th>By</th><th>Note</th></tr></thead>
        <tbody>{x.history.map((e) => <tr><td>{e.at}</td><td><State s={e.state} /></td><td>{e.by ?? ''}</td><td>{e.note ?? ''}</td></tr>)}</tbody></table>
    </Layout>
  );
}

export function CommitPage({ ctx, sha, answer, message }: { ctx: PageContext; sha: string; answer: CommitAnswer | null; message?: string }) {
  return (
    <Layout ctx={ctx} title="Where is a commit?">
      <h1>Where is this commit?</h1>
      <form method="get" action="/ui/commits" class="bar">
        <label>SHA <input type="search" name="sha" value={sha} size={42} required pattern="[0-9a-fA-F]{4,40}" /></label>
        <button type="submit" class="primary">Look up</button>
      </form>
      {message ? <div class="notice error" role="alert">{message}</div> : null}
      {answer ? (
        <div id="answer">
          <p><Sha sha={answer.sha} n={40} /> {answer.subject} <span class="muted">— {answer.author}</span>
            {answer.inProduction ? <span class="pill ok">in production</span> : <span class="pill">not in production</span>}</p>
          {answer.origin ? <p>A pick of <a href={`/ui/commits?sha=${enc(answer.origin.sha)}`}><Sha sha={answer.origin.sha} /></a> (found by {answer.origin.pickedBy ?? 'record'}{answer.origin.evidence ? `: ${answer.origin.evidence}` : ''})</p> : null}
          <h2>Releases</h2>
          <table id="releases"><thead><tr><th>Release</th><th>How</th><th>Found by</th><th>Since</th></tr></thead>
            <tbody>{answer.releases.map((r) => (
              <tr><td><a href={releaseUrl(r.product, r.release)}>{r.product}/{r.release}</a></td>
                <td>{r.how === 'pick' ? <>pick <Sha sha={r.pickSha} /></> : `direct (${r.via ?? 'move'})`}</td>
                <td>{r.how === 'pick' ? <>{r.pickedBy ?? 'record'}{r.pickedBy === 'similar' ? <span class="pill warn" title={r.evidence}>probably: {r.evidence}</span> : null}</> : 'git history'}</td>
                <td>{r.since ?? '—'}</td></tr>
            ))}
            {answer.releases.length === 0 ? <tr><td colspan={4} class="muted">In no release.</td></tr> : null}</tbody></table>
          <h2>Environments</h2>
          <table id="environments"><thead><tr><th>Environment</th><th>Runs it now</th><th>First reached</th></tr></thead>
            <tbody>{answer.environments.map((e) => (
              <tr><td>{e.product}/{e.environment}{e.production ? <span class="pill warn">production</span> : null}</td>
                <td>{e.runsNow === null ? <span class="muted">unknown</span> : e.runsNow ? <span class="pill ok">yes{e.how === 'pick' ? ' (as a pick)' : ''}</span> : <span class="pill">no</span>}</td>
                <td>{e.firstReached ? `${e.firstReached.at ?? '—'} with ${e.firstReached.release}` : '—'}</td></tr>
            ))}</tbody></table>
        </div>
      ) : null}
    </Layout>
  );
}

export function NotesPage({ ctx, product, releases, from, to, markdown, set, message }: {
  ctx: PageContext; product: string; releases: Release[]; from: string; to: string; markdown: string | null; set?: ChangeSet; message?: string;
}) {
  const pick = (name: string, selected: string) => (
    <select name={name}>{releases.map((r) => <option value={r.name} selected={r.name === selected}>{r.name}</option>)}</select>
  );
  return (
    <Layout ctx={ctx} title={`${product} notes`}>
      <h1><a href={productUrl(product)}>{product}</a> · release notes</h1>
      <form method="get" action={`${productUrl(product)}/notes`} class="bar">
        <label>From {pick('from', from)}</label><label>To {pick('to', to)}</label>
        <label><input type="checkbox" name="merges" value="exclude" /> leave out merge commits</label>
        <button type="submit" class="primary">Show</button>
      </form>
      {message ? <div class="notice error" role="alert">{message}</div> : null}
      {markdown !== null ? (
        <>
          {set ? <NotesView set={set} alreadyLabel={from} /> : null}
          <p><button type="button" id="copy-md">Copy as Markdown</button></p>
          <details><summary>Markdown</summary><pre class="md" id="notes-md">{markdown}</pre></details>
        </>
      ) : null}
    </Layout>
  );
}

export function AuditPage({ ctx, product, entries, next }: { ctx: PageContext; product: string; entries: AuditEntry[]; next: number | null }) {
  return (
    <Layout ctx={ctx} title={`${product} audit`}>
      <h1><a href={productUrl(product)}>{product}</a> · audit</h1>
      <table id="audit"><thead><tr><th>At</th><th>Who</th><th>Action</th><th>Release</th><th>Target</th><th>Outcome</th></tr></thead>
        <tbody>{entries.map((e) => (
          <tr><td class="small">{e.at.toISOString()}</td><td>{e.actor}</td><td><code>{e.action}</code></td><td>{e.release ?? ''}</td><td class="small">{e.target ?? ''}</td><td><State s={e.outcome} /></td></tr>
        ))}</tbody></table>
      {next !== null ? <p><a href={`${productUrl(product)}/audit?before=${next}`}>Older</a></p> : null}
    </Layout>
  );
}

export { Csrf };
