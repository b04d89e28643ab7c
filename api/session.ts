// Browser sessions for the Temporal UI's codec server. The UI decodes payloads by calling this API from
// its own origin; it cannot send a Culvert token, only the browser's cookies ("include cross-origin
// credentials" in its codec settings). An admin signs in once on the API's own page and gets a cookie
// that names their token, not its secret: signed with a key every API process derives from the payload
// key (so any of them accepts it and none keeps state), short-lived, and re-checked against the token on
// every use, so revoking or expiring the token ends the session at once.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';

/** Cookie name; its path keeps it off every route but the codec's. */
export const sessionCookie = 'culvert_codec_session';
export const sessionPath = '/v1/codec';
/** How long a session lasts (a working day); the token's own expiry, if sooner, ends it first. */
export const sessionSeconds = 8 * 60 * 60;

interface Claims { t: string; e: number }

/**
 * What a session is for: the codec's (the Temporal UI's decode calls) or the web page's (api/web). Each
 * is signed under its own label, so neither cookie is ever taken for the other.
 */
export type SessionPurpose = 'codec' | 'web';
const labels: Record<SessionPurpose, string> = { codec: 'culvert-session/1', web: 'culvert-web-session/1' };

const sign = (key: Uint8Array, body: string, purpose: SessionPurpose): Buffer => createHmac('sha256', key).update(`${labels[purpose]}\0${body}`).digest();

/** The cookie value for a session of this token until `expiresAt`. */
export function sealSession(key: Uint8Array, tokenId: string, expiresAt: Date, purpose: SessionPurpose = 'codec'): string {
  const body = Buffer.from(JSON.stringify({ t: tokenId, e: Math.floor(expiresAt.getTime() / 1000) } satisfies Claims)).toString('base64url');
  return `${body}.${sign(key, body, purpose).toString('base64url')}`;
}

/** The token id a cookie value names, if it is ours, intact and not expired; undefined otherwise. */
export function openSession(key: Uint8Array, value: string, now = new Date(), purpose: SessionPurpose = 'codec'): string | undefined {
  const [body, mac, extra] = value.split('.');
  if (!body || !mac || extra !== undefined) return undefined;
  const given = Buffer.from(mac, 'base64url');
  const expected = sign(key, body, purpose);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  let claims: Partial<Claims>;
  try {
    claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Partial<Claims>;
  } catch {
    return undefined;
  }
  if (typeof claims.t !== 'string' || typeof claims.e !== 'number' || claims.e * 1000 <= now.getTime()) return undefined;
  return claims.t;
}

/**
 * When a session of `token` begun now ends (after `seconds`, or at the token's own expiry if sooner) and
 * its cookie's Max-Age, from one reading of the clock: a full session's Max-Age is exactly `seconds`.
 */
export function sessionSpan(token: { expiresAt: Date | null }, seconds: number, now = Date.now()): { until: Date; maxAge: number } {
  const until = Math.min(now + seconds * 1000, token.expiresAt?.getTime() ?? Infinity);
  return { until: new Date(until), maxAge: Math.max(1, Math.floor((until - now) / 1000)) };
}

/** Whether the caller reached this API over https (directly or through a proxy that says so). */
export function overHttps(c: Context): boolean {
  return new URL(c.req.url).protocol === 'https:' || (c.req.header('x-forwarded-proto') ?? '').split(',')[0]?.trim() === 'https';
}

/**
 * The Set-Cookie header of a session (or of its end, `value` null): HttpOnly (no script reads it),
 * SameSite=Strict (no other site's page sends it), on the codec's path only, Secure over https.
 */
export function sessionSetCookie(c: Context, value: string | null, maxAgeSeconds = sessionSeconds): string {
  const parts = [`${sessionCookie}=${value ?? ''}`, `Path=${sessionPath}`, 'HttpOnly', 'SameSite=Strict', `Max-Age=${value === null ? 0 : maxAgeSeconds}`];
  if (overHttps(c)) parts.push('Secure');
  return parts.join('; ');
}
