import type { Context, Hono } from 'hono';
import { z } from 'zod';
import type { Actor } from '../domain/types.ts';
import type { AppEnv } from './context.ts';
import { ApiError, fromZod } from './errors.ts';

type Method = 'get' | 'post' | 'patch' | 'delete';

export interface RouteSpec<B extends z.ZodType | undefined, Q extends z.ZodType | undefined> {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  /** false for the few public routes; everything else needs a bearer token. */
  auth?: boolean;
  body?: B;
  query?: Q;
  responses: Record<number, string>;
}

export interface Input<B, Q> {
  body: B;
  query: Q;
  actor: Actor;
  c: Context<AppEnv>;
}

type Out<S> = S extends z.ZodType ? z.infer<S> : undefined;

export interface DocumentedRoute { method: Method; path: string; summary: string; tag: string; auth: boolean; body?: z.ZodType; query?: z.ZodType; responses: Record<number, string> }

/** Registers a route on the app and in the OpenAPI registry: the document never drifts from the code. */
export class Routes {
  readonly documented: DocumentedRoute[] = [];
  constructor(readonly app: Hono<AppEnv>) {}

  add<B extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined>(
    spec: RouteSpec<B, Q>,
    handler: (input: Input<Out<B>, Out<Q>>) => Promise<Response> | Response,
  ): void {
    this.documented.push({ ...spec, auth: spec.auth !== false, body: spec.body, query: spec.query });
    this.app.on(spec.method.toUpperCase(), spec.path, async (c) => {
      // No NUL byte reaches a handler: PostgreSQL refuses them in text, and no name, ref or path has one.
      const params = c.req.param() as Record<string, string>;
      for (const [name, value] of [...Object.entries(params), ...Object.entries(c.req.query())]) {
        if (value.includes('\0') || name.includes('\0')) throw new ApiError('bad_request', `${name.replace(/\0/g, '\\0')} contains a NUL byte`);
      }
      const body = spec.body ? await parseBody(c, spec.body) : undefined;
      const query = spec.query ? parseWith('query', spec.query, c.req.query()) : undefined;
      return handler({ body: body as Out<B>, query: query as Out<Q>, actor: c.get('actor'), c });
    });
  }
}

export function parseWith<S extends z.ZodType>(where: string, schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw fromZod(where, parsed.error);
  return parsed.data;
}

async function parseBody<S extends z.ZodType>(c: Context<AppEnv>, schema: S): Promise<z.infer<S>> {
  const type = c.req.header('content-type') ?? '';
  if (!type.toLowerCase().startsWith('application/json')) {
    throw new ApiError('bad_request', 'request body must be JSON (Content-Type: application/json)');
  }
  const text = await c.req.text();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ApiError('bad_request', `request body is not valid JSON: ${(err as Error).message}`);
  }
  const nul = nulPath(value, '');
  if (nul !== null) throw new ApiError('bad_request', `request body has a NUL byte in ${nul || 'its value'}`, { path: nul });
  return parseWith('body', schema, value);
}

/** Where in a parsed JSON value a string (or key) holds a NUL byte, as a dotted path; null if nowhere. */
function nulPath(value: unknown, at: string): string | null {
  if (typeof value === 'string') return value.includes('\0') ? at : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = nulPath(value[i], at ? `${at}.${i}` : String(i));
      if (found !== null) return found;
    }
    return null;
  }
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const key = k.replace(/\0/g, '\\0');
      if (k.includes('\0')) return at ? `${at}.${key}` : key;
      const found = nulPath(v, at ? `${at}.${key}` : key);
      if (found !== null) return found;
    }
  }
  return null;
}

/** A field's description and an example, for /openapi.json and /docs (every body field has both: test/api-routes). */
export const doc = <T extends z.ZodType>(schema: T, description: string, example: unknown): T => schema.meta({ description, examples: [example] });

export const slug = z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'must be a slug: lowercase letters, digits, ".", "_" or "-", starting with a letter or digit').max(100);

export function param(c: Context<AppEnv>, name: string): string {
  const value = c.req.param(name);
  if (value === undefined) throw new ApiError('bad_request', `missing path parameter ${name}`);
  return value;
}

export function slugParam(c: Context<AppEnv>, name: string): string {
  const value = param(c, name);
  const parsed = slug.safeParse(value);
  if (!parsed.success) throw new ApiError('bad_request', `invalid ${name} "${value}": ${parsed.error.issues[0]?.message ?? 'not a slug'}`);
  return parsed.data;
}
