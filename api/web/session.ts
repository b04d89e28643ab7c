// The web page's browser session and its CSRF token. The cookie names the token (never its secret),
// is signed under its own label (api/session.ts), HttpOnly and SameSite=Strict, on /ui only, and is
// re-checked against the token on every request, so revoking the token ends the session at once.
// Every state-changing form carries a CSRF token bound to the session: a page of another site can
// neither read it nor, with SameSite=Strict, send the cookie, and both are checked anyway.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { overHttps } from '../session.ts';

export const webCookie = 'culvert_web';
export const webPath = '/ui';
/** A working day; the token's own expiry, if sooner, ends it first. */
export const webSessionSeconds = 8 * 60 * 60;

export function webSetCookie(c: Context, value: string | null, maxAgeSeconds = webSessionSeconds): string {
  const parts = [`${webCookie}=${value ?? ''}`, `Path=${webPath}`, 'HttpOnly', 'SameSite=Strict', `Max-Age=${value === null ? 0 : maxAgeSeconds}`];
  if (overHttps(c)) parts.push('Secure');
  return parts.join('; ');
}

/** The CSRF token of a session (its cookie value): forms carry it in `_csrf`. */
export function csrfFor(key: Uint8Array, session: string): string {
  return createHmac('sha256', key).update(`culvert-web-csrf/1\0${session}`).digest('base64url');
}

export function csrfMatches(key: Uint8Array, session: string, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(csrfFor(key, session));
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Whether a state-changing request comes from this site's own pages: browsers send Origin on every
 * form post (and Sec-Fetch-Site); a request from another origin is refused even before the token.
 */
export function sameOrigin(c: Context): boolean {
  const site = c.req.header('sec-fetch-site');
  if (site && site !== 'same-origin') return false;
  const origin = c.req.header('origin');
  if (!origin) return site === 'same-origin';
  const host = c.req.header('x-forwarded-host') ?? c.req.header('host');
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
