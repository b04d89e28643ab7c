/** @jsxImportSource hono/jsx */
// Home: the products the token may see, their open releases, and what waits for me: requests awaiting
// a decision on releases I may decide, gates waiting for my vote.
import type { Approval, Release } from '../../../db/schema.ts';
import { Layout, Sha, State, ago, productUrl, releaseUrl } from '../layout.tsx';
import type { PageContext } from '../layout.tsx';

export interface HomeProduct {
  name: string;
  flow: string;
  mayDecide: boolean;
  releases: { release: Release; awaiting: number }[];
}

export function HomePage({ ctx, products, gates }: { ctx: PageContext; products: HomeProduct[]; gates: Approval[] }) {
  const waiting = products.flatMap((p) => (p.mayDecide ? p.releases.filter((r) => r.awaiting > 0) : []));
  const now = Date.now();
  return (
    <Layout ctx={ctx} title="Home">
      <h1>What waits for you</h1>
      <table id="waiting">
        <thead><tr><th>Where</th><th>What</th><th>Count</th></tr></thead>
        <tbody>
          {waiting.map(({ release: r, awaiting }) => (
            <tr><td><a href={`${releaseUrl(r.product, r.name)}/queue`}>{r.product}/{r.name}</a></td><td>requests awaiting your decision</td><td data-count>{awaiting}</td></tr>
          ))}
          {gates.map((g) => (
            <tr><td><a href={`/ui/gates#${g.id}`}>{g.product}{g.release ? `/${g.release}` : ''}</a></td><td>gate: {g.subject}</td><td>{g.votes.filter((v) => v.decision === 'approve').length}/{g.quorum}</td></tr>
          ))}
          {waiting.length === 0 && gates.length === 0 ? <tr><td colspan={3} class="muted">Nothing waits for you.</td></tr> : null}
        </tbody>
      </table>
      <h2>Products</h2>
      <table id="products">
        <thead><tr><th>Product</th><th>Flow</th><th>Open releases</th></tr></thead>
        <tbody>
          {products.map((p) => (
            <tr>
              <td><a href={productUrl(p.name)}>{p.name}</a></td>
              <td>{p.flow}</td>
              <td>{p.releases.length === 0 ? <span class="muted">none</span> : p.releases.map(({ release: r, awaiting }) => (
                <div>
                  <a href={releaseUrl(r.product, r.name)}>{r.name}</a> <State s={r.state} /> <Sha sha={r.headSha} />
                  {' '}<span class="muted small">updated {ago(r.updatedAt, now)} ago</span>
                  {awaiting > 0 ? <> · <a href={`${releaseUrl(r.product, r.name)}/queue`}>{awaiting} awaiting decision</a></> : null}
                  {r.blocked.length > 0 ? <div class="small pill warn">blocked: {r.blocked.map((b) => `${b.what}: ${b.reason} since ${b.since} (${b.attempts} attempts)`).join("; ")}</div> : null}
                </div>
              ))}</td>
            </tr>
          ))}
          {products.length === 0 ? <tr><td colspan={3} class="muted">This token may see no product.</td></tr> : null}
        </tbody>
      </table>
    </Layout>
  );
}
