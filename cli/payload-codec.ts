// Every payload between Culvert and Temporal is encrypted and authenticated (AES-256-GCM): the history
// holds no product configuration, commit data or request in clear, and whoever lacks the key cannot
// write a payload that reads as Culvert's. The key comes from CULVERT_PAYLOAD_KEY (32 bytes, base64 or
// hex) or from `payload-key` in the data dir, generated there (0600) when neither exists. Keys being
// rotated out are given in CULVERT_PAYLOAD_KEYS_PREVIOUS: payloads they sealed still read (running
// releases replay), and nothing new is sealed with them.
//
// Payloads written before the codec (histories of releases started earlier) are in clear and still
// read: a release must replay. What a clear payload can no longer do is carry an Update's seal (the
// deadline field of domain/take-by.ts): it is taken out here, so an Update sent without the key has no
// seal and the release refuses it (workflows/interceptors.ts).
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';
import { takeByField } from '../domain/take-by.ts';

const ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined): string => (b ? new TextDecoder().decode(b) : '');

export class PayloadKeyError extends Error {}

/** The key as bytes, from its text form (base64 or hex of 32 bytes). */
export function parsePayloadKey(value: string): Buffer {
  const v = value.trim();
  const key = /^[0-9a-f]{64}$/i.test(v) ? Buffer.from(v, 'hex') : Buffer.from(v, 'base64');
  if (key.length !== 32) throw new PayloadKeyError('CULVERT_PAYLOAD_KEY must be 32 bytes, as base64 or hex (e.g. `openssl rand -base64 32`)');
  return key;
}

/** The key from the environment's value, or the data dir's file (made, 0600, when there is none). */
export function loadPayloadKey(dataDir: string, fromEnv = process.env.CULVERT_PAYLOAD_KEY): Buffer {
  if (fromEnv) return parsePayloadKey(fromEnv);
  const file = join(dataDir, 'payload-key');
  if (existsSync(file)) return parsePayloadKey(readFileSync(file, 'utf8'));
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return parsePayloadKey(readFileSync(file, 'utf8'));
}

/** Keys being rotated out, from their text forms separated by commas or spaces; none when unset. */
export function previousPayloadKeys(fromEnv = process.env.CULVERT_PAYLOAD_KEYS_PREVIOUS): Buffer[] {
  const values = (fromEnv ?? '').split(/[\s,]+/).filter(Boolean);
  try {
    return values.map(parsePayloadKey);
  } catch {
    throw new PayloadKeyError('CULVERT_PAYLOAD_KEYS_PREVIOUS must be keys of 32 bytes, as base64 or hex, separated by commas');
  }
}

interface Sealer { key: Buffer; aad: Buffer }

const keyIdOf = (key: Buffer) => createHash('sha256').update(key).digest('hex').slice(0, 16);

export class CulvertPayloadCodec implements PayloadCodec {
  readonly keyId: string;
  private readonly key: Buffer;
  private readonly aad: Buffer;
  /** Every key that opens payloads, by id: the current one and those being rotated out. */
  private readonly openers = new Map<string, Sealer>();

  constructor(key: Buffer, previous: readonly Buffer[] = []) {
    this.key = key;
    this.keyId = keyIdOf(key);
    this.aad = Buffer.from(`culvert-payload/1/${this.keyId}`);
    for (const k of [key, ...previous]) {
      const id = keyIdOf(k);
      if (!this.openers.has(id)) this.openers.set(id, { key: k, aad: Buffer.from(`culvert-payload/1/${id}`) });
    }
  }

  /**
   * The key that signs the API's browser sessions (api/session.ts): derived from the payload key, so every
   * API process that can read Temporal's payloads accepts the same sessions, and no second secret is kept.
   */
  sessionKey(): Buffer {
    return Buffer.from(hkdfSync('sha256', this.key, Buffer.alloc(0), 'culvert/browser-session/1', 32));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', this.key, iv);
      cipher.setAAD(this.aad);
      const plain = proto.temporal.api.common.v1.Payload.encode(p).finish();
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { encoding: utf8(ENCODING), [KEY_ID]: utf8(this.keyId) }, data: sealed };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => (text(p.metadata?.encoding) === ENCODING ? this.open(p) : unsealed(p)));
  }

  private open(p: Payload): Payload {
    const data = p.data ?? new Uint8Array();
    const opener = this.openers.get(text(p.metadata?.[KEY_ID]));
    if (!opener || data.length < IV_BYTES + TAG_BYTES) return unreadable('it was sealed with another key');
    try {
      const decipher = createDecipheriv('aes-256-gcm', opener.key, data.subarray(0, IV_BYTES));
      decipher.setAAD(opener.aad);
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      return proto.temporal.api.common.v1.Payload.decode(plain) as Payload;
    } catch {
      return unreadable('it does not authenticate');
    }
  }
}

/**
 * A payload that cannot be read: its encoding is one no converter knows, so the workflow fails to read
 * it where it would read it (an Update with it is refused before it is accepted) and no worker task dies
 * in the codec.
 */
function unreadable(why: string): Payload {
  return { metadata: { encoding: utf8('binary/culvert-unreadable') }, data: utf8(`this payload is not Culvert's: ${why}`) };
}

/** A clear payload, without the seal field at its top level if it is a JSON object that has one. */
function unsealed(p: Payload): Payload {
  if (text(p.metadata?.encoding) !== 'json/plain' || !p.data) return p;
  const raw = text(p.data);
  if (!raw.includes(takeByField)) return p;
  try {
    const value: unknown = JSON.parse(raw);
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !(takeByField in value)) return p;
    const { [takeByField]: _taken, ...rest } = value as Record<string, unknown>;
    return { ...p, data: utf8(JSON.stringify(rest)) };
  } catch {
    return p;
  }
}
