// The page where an admin signs the browser in for the Temporal UI's codec calls. Static: the token is
// sent by the page's own script as a bearer token to POST /v1/codec/session (same origin), whose answer
// sets the session cookie; the token is never put in a URL, a form post or storage.
import { createHash } from 'node:crypto';

const script = `
const form = document.getElementById('sign-in');
const out = document.getElementById('result');
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const token = form.elements.token.value.trim();
  form.elements.token.value = '';
  const res = await fetch('session', { method: 'POST', headers: { authorization: 'Bearer ' + token }, credentials: 'same-origin' });
  const body = await res.json().catch(() => ({}));
  out.textContent = res.ok ? 'Signed in as ' + body.name + ' until ' + body.expiresAt + '.' : 'Not signed in: ' + (body.message || res.status);
  out.dataset.state = res.ok ? 'signed-in' : 'refused';
});
document.getElementById('sign-out').addEventListener('click', async () => {
  await fetch('sign-out', { method: 'POST', credentials: 'same-origin' });
  out.textContent = 'Signed out.';
  out.dataset.state = 'signed-out';
});
`;

/** The Content-Security-Policy of the page: its own script (by hash) and requests to this origin only. */
export const signInPolicy = `default-src 'none'; script-src 'sha256-${createHash('sha256').update(script).digest('base64')}'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'`;

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** The page; `endpoint` is what to enter as the codec server in the Temporal UI. */
export function signInPage(endpoint: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Culvert: read Temporal payloads</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}input{width:100%;font:inherit;padding:.3rem}code{background:#eee;padding:0 .2rem}</style>
</head><body>
<h1>Read Temporal payloads in the Temporal UI</h1>
<p>Culvert encrypts what it gives Temporal; the Temporal UI shows it in clear to admins through this API.
Paste an admin token to sign this browser in for eight hours (the token stays here; the browser keeps only a session cookie).</p>
<form id="sign-in"><label>Admin token <input name="token" type="password" autocomplete="off" required></label>
<p><button type="submit">Sign in</button> <button type="button" id="sign-out">Sign out</button></p></form>
<p id="result" role="status"></p>
<p>Then, in the Temporal UI, open the codec server settings, choose to use the browser's setting, set the endpoint to
<code>${escapeHtml(endpoint)}</code> and turn on <em>Include cross-origin credentials</em>.</p>
<script>${script}</script>
</body></html>`;
}
