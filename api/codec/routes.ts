// The codec server of the Temporal tools (`temporal workflow show --codec-endpoint <api>/v1/codec
// --codec-auth "Bearer <admin token>"`): payloads in Temporal are encrypted (cli/payload-codec.ts), and
// only an admin may read them in clear. It decodes only: sealing is the API's alone.
import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';
import { audit } from '../audit/record.ts';
import { requireAdmin } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import type { Routes } from '../route.ts';

const base64 = z.string().max(4 * 1024 * 1024).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');
const payloadSchema = z.object({ metadata: z.record(z.string().max(256), base64).optional(), data: base64.optional() }).strict();
const codecSchema = z.object({ payloads: z.array(payloadSchema).max(1000) }).strict();

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
