import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import type { Db } from '../db/client.ts';
import type { ApiToken } from '../db/schema.ts';
import type { Actor } from '../domain/types.ts';

export interface TemporalDeps {
  client: Client;
  namespace: string;
  taskQueue: string;
  /** Base URL of the Temporal UI, for links to runs; null when there is none. */
  uiUrl: string | null;
  /** The payload codec the client uses, for the codec server route (admins only). */
  codec?: PayloadCodec;
}

export interface AppDeps {
  db: Db;
  temporal: TemporalDeps;
  /** Largest accepted request body, in bytes. */
  bodyLimit?: number;
}

export interface AppEnv {
  Variables: { actor: Actor; token: ApiToken };
}

export function workflowLink(t: TemporalDeps, workflowId: string): string | null {
  if (!t.uiUrl) return null;
  return `${t.uiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(t.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
