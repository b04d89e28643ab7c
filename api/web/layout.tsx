/** @jsxImportSource hono/jsx */
// The frame of every page: header with navigation and who is signed in, and small shared pieces.
import type { Child } from 'hono/jsx';
import type { Actor } from '../../domain/types.ts';
import { cssPath, scriptPath } from './assets.ts';

export interface PageContext {
  actor: Actor | null;
  csrf: string;
}

/** A hidden CSRF field: every state-changing form has one. */
export const Csrf = ({ token }: { token: string }) => <input type="hidden" name="_csrf" value={token} />;

export const enc = encodeURIComponent;
export const productUrl = (p: string) => `/ui/p/${enc(p)}`;
export const releaseUrl = (p: string, r: string) => `/ui/p/${enc(p)}/r/${enc(r)}`;

export const Sha = ({ sha, n = 12 }: { sha: string | null | undefined; n?: number }) =>
  (sha ? <code class="sha" title={sha}>{sha.slice(0, n)}</code> : <span class="muted">—</span>);

export function ago(d: Date | string | null | undefined, now = Date.now()): string {
  if (!d) return '—';
  const s = Math.max(0, Math.round((now - new Date(d).getTime()) / 1000));
  if (s < 90) return `${s}s`;
  if (s < 90 * 60) return `${Math.round(s / 60)}m`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

const stateTone: Record<string, string> = {
  merged: 'ok', succeeded: 'ok', approved: 'ok', passed: 'ok', open: 'info', 'awaiting-decision': 'warn', pending: 'warn', checking: 'info',
  requested: 'info', running: 'info', queued: 'info', rejected: 'bad', conflict: 'bad', failed: 'bad', frozen: 'warn', closed: '', withdrawn: '',
  'already-present': 'ok', applies: 'ok', conflicts: 'bad', error: 'bad',
};
export const State = ({ s }: { s: string | null | undefined }) => <span class={`pill ${stateTone[s ?? ''] ?? ''}`}>{s ?? '—'}</span>;

export function Layout(props: { ctx: PageContext; title: string; stamp?: string; stampValue?: string; children?: Child }) {
  const { actor, csrf } = props.ctx;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · Culvert`}</title>
        <link rel="stylesheet" href={cssPath} />
      </head>
      <body data-stamp={props.stamp} data-stamp-value={props.stampValue}>
        <header>
          <a href="/ui">Culvert</a>
          {actor ? (
            <nav>
              <a href="/ui">Home</a>
              <a href="/ui/commits">Where is a commit?</a>
              <a href="/ui/gates">Gates</a>
              <a href="/ui/trains">Trains</a>
            </nav>
          ) : <nav />}
          {actor ? (
            <form method="post" action="/ui/sign-out">
              <span class="who">{actor.name} ({actor.role}) </span>
              <Csrf token={csrf} />
              <button type="submit">Sign out</button>
            </form>
          ) : null}
        </header>
        <main>{props.children}</main>
        <script src={scriptPath} defer></script>
      </body>
    </html>
  );
}
