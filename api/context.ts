import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import type { Db } from '../db/client.ts';
import type { ReleaseFeed } from '../db/feed.ts';
import type { ApiToken } from '../db/schema.ts';
import { tmpdir } from 'node:os';
import type { RepositoryPlaces } from '../domain/repositories.ts';
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
  /** Wakes long polls of change requests when they are written (db/feed.ts); without it they poll. */
  feed?: ReleaseFeed;
  temporal: TemporalDeps;
  /** Largest accepted request body, in bytes. */
  bodyLimit?: number;
  /** Where local repositories may be (config `repositoryRoots`) and the data dir that never is one. */
  repositories?: RepositoryPlaces;
  /** Signs browser sessions (api/session.ts); every API process must have the same (it derives from the payload key). */
  sessionKey?: Uint8Array;
  /**
   * Origins whose pages may call the codec server with a session (CORS): the Temporal UI's. Default: the
   * origin of `temporal.uiUrl`.
   */
  codecOrigins?: string[];
  /** GitHub's webhooks (api/github): the secret they are signed with; without it the route is off. */
  github?: { webhookSecret: string };
}

/** Without configuration: local repositories under the system's temporary directory, as the README's walk-through uses. */
export const defaultRepositoryPlaces: RepositoryPlaces = { roots: [tmpdir()], dataDir: null };

export interface AppEnv {
  Variables: { actor: Actor; token: ApiToken };
}

export function workflowLink(t: TemporalDeps, workflowId: string): string | null {
  if (!t.uiUrl) return null;
  return `${t.uiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(t.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
