/** @jsxImportSource hono/jsx */
// A release: state, head, cut point, candidates and their artifacts, deployments by environment, the
// merge/pick history, freeze/close (owners, with confirmation) and its run in the Temporal UI.
import type { Approval, Artifact, Candidate, ChangeRequest, DependencyWait, Deployment, Release, StepRun } from '../../../db/schema.ts';
import { Csrf, Layout, Sha, State, ago, enc, productUrl, releaseUrl } from '../layout.tsx';
import type { PageContext } from '../layout.tsx';
import type { ComponentOfRelease } from '../../../db/repos/components.ts';

export interface ReleaseView {
  release: Release;
  /** The live-refresh stamp when the page's data was read. */
  stamp: string;
  temporalUrl: string | null;
  mayDecide: boolean;
  changes: ChangeRequest[];
  runs: StepRun[];
  deployments: Deployment[];
  candidates: Candidate[];
  artifacts: Artifact[];
  approvals: Approval[];
  /** Deployments held by the versions they depend on (domain/dependencies.ts). */
  waits: DependencyWait[];
  /** A release across repositories: each component as cut, with its head now (domain/components.ts). */
  components: ComponentOfRelease[];
  awaiting: number;
  notice?: string;
}

export function ReleasePage({ ctx, v }: { ctx: PageContext; v: ReleaseView }) {
  const r = v.release;
  const url = releaseUrl(r.product, r.name);
  const now = Date.now();
  const byEnv = new Map<string, Deployment[]>();
  for (const d of v.deployments) byEnv.set(d.environment, [...(byEnv.get(d.environment) ?? []), d]);
  return (
    <Layout ctx={ctx} title={`${r.product}/${r.name}`} stamp={`${url}/stamp`} stampValue={v.stamp}>
      <h1><a href={productUrl(r.product)}>{r.product}</a> / {r.name} <State s={r.state} /></h1>
      {v.notice ? <div class="notice">{v.notice}</div> : null}
      <div id="release-facts" data-live="1">
        <dl class="facts">
          <dt>Flow</dt><dd>{r.flow}</dd>
          <dt>Branch</dt><dd><code>{r.branch}</code></dd>
          <dt>Head</dt><dd><Sha sha={r.headSha} n={40} /></dd>
          <dt>Cut from</dt><dd><Sha sha={r.cutFrom} n={40} /> by {r.createdBy}, {ago(r.createdAt, now)} ago</dd>
          <dt>Requests</dt><dd><a href={`${url}/queue`}>{v.awaiting} awaiting decision</a> · <a href={`${url}/queue?state=`}>all requests</a></dd>
          {r.blocked.length > 0 ? <><dt>Blocked</dt><dd>{r.blocked.map((b) => <div class="pill warn">{b.what}: {b.reason} since {b.since}, {b.attempts} attempts</div>)}</dd></> : null}
          <dt>Run</dt><dd>{v.temporalUrl ? <a href={v.temporalUrl}>{r.workflowId} in the Temporal UI</a> : <code>{r.workflowId}</code>}</dd>
        </dl>
      </div>
      {v.mayDecide && r.state !== 'closed' ? (
        <div class="bar">
          {r.state === 'open' ? (
            <form method="post" action={`${url}/freeze`} data-confirm="Freeze this release? It will accept no more changes.">
              <Csrf token={ctx.csrf} /><button type="submit" id="freeze">Freeze…</button>
              <label class="small"><input type="checkbox" name="confirm" value="yes" required /> yes, freeze {r.name}</label>
            </form>
          ) : null}
          <form method="post" action={`${url}/close`}>
            <Csrf token={ctx.csrf} /><button type="submit" class="danger" id="close">Close…</button>
            <label class="small"><input type="checkbox" name="confirm" value="yes" required /> yes, close {r.name} (open requests are withdrawn)</label>
          </form>
        </div>
      ) : null}
      {v.components.length > 0 ? (
        <>
          <h2>Components</h2>
          <table id="components">
            <thead><tr><th>Component</th><th>State</th><th>Branch</th><th>Cut from</th><th>Head</th><th class="wide">Repository</th></tr></thead>
            <tbody id="component-rows" data-live="1">
              {v.components.map((x) => (
                <tr data-component={x.component}>
                  <td><a href={releaseUrl(x.componentProduct, r.name)}>{x.component}</a></td>
                  <td><State s={x.state} />{x.failure ? <span class="small"> {x.failure}</span> : null}</td>
                  <td>{x.branch ? <code>{x.branch}</code> : '—'}</td><td><Sha sha={x.cutFrom} /></td><td><Sha sha={x.head} /></td>
                  <td class="wide small"><code>{x.repository}</code></td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
      <h2>Deployments</h2>
      <table id="deployments">
        <thead><tr><th>Environment</th><th>State</th><th>Commit</th><th>By</th><th>Finished</th></tr></thead>
        <tbody>
          {[...byEnv].flatMap(([env, ds]) => ds.slice(0, 5).map((d) => (
            <tr><td>{env}</td><td><State s={d.state} /></td><td><Sha sha={d.commitSha} /></td><td>{d.requestedBy}</td><td>{d.finishedAt ? `${ago(d.finishedAt, now)} ago` : '—'}</td></tr>
          )))}
          {v.deployments.length === 0 ? <tr><td colspan={5} class="muted">Not deployed anywhere yet.</td></tr> : null}
        </tbody>
      </table>
      {v.waits.some((w) => w.state === 'waiting') ? (
        <ul id="dependency-waits">
          {v.waits.filter((w) => w.state === 'waiting').map((w) => (
            <li class="pill warn">deployment to {w.environment} waiting for {w.onProduct} {w.onVersion} in {w.onEnvironment} since {ago(w.since, now)} ago{w.escalatedTo && w.escalatedAt ? `; escalated to ${w.escalatedTo.join(', ')} ${ago(w.escalatedAt, now)} ago` : ''}{w.note ? ` (${w.onProduct}: ${w.note})` : ''}</li>
          ))}
        </ul>
      ) : null}
      {v.candidates.length > 0 ? (
        <>
          <h2>Candidates</h2>
          <table id="candidates">
            <thead><tr><th>Build</th><th>State</th><th>Commit</th><th>Artifacts</th><th>Deployed to</th></tr></thead>
            <tbody>{v.candidates.map((x) => (
              <tr><td>{x.label}</td><td><State s={x.state} />{x.failure ? <div class="small muted">{x.failure}</div> : null}</td><td><Sha sha={x.commitSha} /></td>
                <td>{v.artifacts.filter((a) => a.candidateId === x.id).map((a) => <div><a href={`/ui/artifacts/${enc(a.id)}`}>{a.name}</a> <span class="muted small">{a.size} B</span></div>)}</td>
                <td>{x.deployedTo ?? ''}</td></tr>
            ))}</tbody>
          </table>
        </>
      ) : null}
      {v.approvals.length > 0 ? (
        <>
          <h2>Gates</h2>
          <table><thead><tr><th>Subject</th><th>State</th><th>Votes</th></tr></thead>
            <tbody>{v.approvals.map((a) => <tr><td><a href={`/ui/gates#${a.id}`}>{a.subject}</a></td><td><State s={a.state} /></td><td>{a.votes.length}/{a.quorum}</td></tr>)}</tbody></table>
        </>
      ) : null}
      <h2>History</h2>
      <table id="history">
        <thead><tr><th>#</th><th>Kind</th><th>State</th><th>What</th><th>Result</th></tr></thead>
        <tbody>{v.changes.map((x) => (
          <tr><td><a href={`${url}/changes/${enc(x.id)}`}>#{x.seq}</a></td><td>{x.kind}</td><td><State s={x.state} /></td>
            <td>{x.branch ? <code>{x.branch}</code> : null}{x.commitDetails[0] ? ` ${x.commitDetails[0].subject}` : ''}{x.commitDetails.length > 1 ? ` +${x.commitDetails.length - 1}` : ''}</td>
            <td><Sha sha={x.resultSha} /></td></tr>
        ))}</tbody>
      </table>
      <h2>Step runs</h2>
      <table id="runs">
        <thead><tr><th>Step</th><th>State</th><th>Commit</th><th>Exit</th><th>Started</th></tr></thead>
        <tbody>{v.runs.map((x) => (
          <tr><td><a href={`/ui/runs/${enc(x.id)}/log`}>{x.step}</a></td><td><State s={x.state} /></td><td><Sha sha={x.commitSha} /></td><td>{x.exitCode ?? '—'}</td><td>{ago(x.startedAt, now)} ago</td></tr>
        ))}</tbody>
      </table>
    </Layout>
  );
}
