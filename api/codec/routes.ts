// The codec server of the Temporal tools (`temporal workflow show --codec-endpoint <api>/v1/codec
// --codec-auth "Bearer <admin token>"`) and of the Temporal UI (an admin's browser session, api/session.ts,
// from the UI's origin only: app.ts): payloads in Temporal are encrypted (cli/payload-codec.ts), and only
// an admin may read them in clear. It decodes only: sealing is the API's alone.
import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';
import { audit } from '../audit/record.ts';
import { requireAdmin } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import type { Routes } from '../route.ts';
import { doc } from '../route.ts';
import { sealSession, sessionPath, sessionSeconds, sessionSetCookie, sessionSpan } from '../session.ts';
import { signInPage, signInPolicy } from './sign-in-page.ts';

const base64 = z.string().max(4 * 1024 * 1024).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');
const payloadSchema = z.object({
  metadata: doc(z.record(z.string().max(256), base64), 'The payload\'s metadata, values in base64', { encoding: 'YmluYXJ5L2VuY3J5cHRlZA==' }).optional(),
  data: doc(base64, 'The payload\'s bytes in base64', 'AAECAw==').optional(),
}).strict();
const codecSchema = z.object({
  payloads: doc(z.array(payloadSchema).max(1000), 'Payloads as Temporal\'s codec server protocol carries them', [{ metadata: { encoding: 'YmluYXJ5L2VuY3J5cHRlZA==' }, data: 'AAECAw==' }]),
}).strict();

/** A payload as the codec server protocol carries it: metadata values and data in base64. */
export interface WirePayload { metadata?: Record<string, string>; data?: string }

const bytes = (b64: string): Uint8Array => new Uint8Array(Buffer.from(b64, 'base64'));
const b64 = (u: Uint8Array | null | undefined): string => Buffer.from(u ?? new Uint8Array()).toString('base64');

export const fromWire = (p: WirePayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, bytes(v)])),
  data: bytes(p.data ?? ''),
});
export const toWire = (p: Payload): WirePayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, b64(v)])), data: b64(p.data),
});

export function codecRoutes(r: Routes, deps: AppDeps): void {
  r.add({
    method: 'get', path: '/v1/codec/sign-in', tag: 'codec', auth: false,
    summary: 'A page where an admin signs this browser in for the Temporal UI\'s codec calls', responses: { 200: 'HTML' },
  }, ({ c }) => {
    c.header('Content-Security-Policy', signInPolicy);
    c.header('Cache-Control', 'no-store');
    return c.html(signInPage(new URL(sessionPath, c.req.url).href));
  });

  r.add({
    method: 'post', path: '/v1/codec/session', tag: 'codec',
    summary: 'Sign this browser in (admin): a session cookie that only the decode call accepts',
    responses: { 200: 'signed in; the cookie is set', 403: 'not an admin', 503: 'no session key configured' },
  }, async ({ actor, c }) => {
    requireAdmin(actor);
    if (!deps.sessionKey) throw new ApiError('unavailable', 'this API has no session key configured');
    const token = c.get('token');
    const { until: expiresAt, maxAge } = sessionSpan(token, sessionSeconds);
    c.header('Set-Cookie', sessionSetCookie(c, sealSession(deps.sessionKey, token.id, expiresAt), maxAge));
    c.header('Cache-Control', 'no-store');
    await audit(deps.db, actor, 'codec.sign-in', { details: { expiresAt: expiresAt.toISOString() } });
    return c.json({ name: actor.name, expiresAt: expiresAt.toISOString() });
  });

  r.add({
    method: 'post', path: '/v1/codec/sign-out', tag: 'codec', auth: false,
    summary: 'End this browser\'s session', responses: { 204: 'the cookie is cleared' },
  }, ({ c }) => {
    c.header('Set-Cookie', sessionSetCookie(c, null));
    return c.body(null, 204);
  });

  r.add({
    method: 'post', path: '/v1/codec/decode', tag: 'codec', body: codecSchema,
    summary: 'Decode Temporal payloads (admin): the codec server for the Temporal CLI and UI',
    responses: { 200: 'the payloads in clear', 403: 'not an admin', 503: 'no codec configured' },
  }, async ({ body, actor, c }) => {
    requireAdmin(actor);
    const codec: PayloadCodec | undefined = deps.temporal.codec;
    if (!codec) throw new ApiError('unavailable', 'this API has no payload codec configured');
    const decoded = await codec.decode(body.payloads.map(fromWire));
    await audit(deps.db, actor, 'codec.decode', { details: { payloads: decoded.length } });
    return c.json({ payloads: decoded.map(toWire) });
  });
}
