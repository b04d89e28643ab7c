import { z } from 'zod';
import type { DocumentedRoute } from './route.ts';

const errorBody = {
  type: 'object',
  required: ['code', 'message'],
  properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
};

function jsonSchema(schema: z.ZodType): unknown {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
}

/** Builds the OpenAPI 3.1 document from the routes as registered. */
export function openApiDocument(routes: DocumentedRoute[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const params = [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const query = r.query ? jsonSchema(r.query) as { properties?: Record<string, unknown> } : undefined;
    for (const [name, schema] of Object.entries(query?.properties ?? {})) params.push({ name, in: 'query', required: false, schema: schema as { type: string } });
    const responses: Record<string, unknown> = {};
    for (const [status, description] of Object.entries(r.responses)) {
      responses[status] = Number(status) >= 400
        ? { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }
        : { description };
    }
    responses['400'] ??= { description: 'bad input', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    if (r.auth) responses['401'] ??= { description: 'no or unknown token', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    paths[path] ??= {};
    paths[path][r.method] = {
      summary: r.summary, tags: [r.tag], parameters: params,
      ...(r.auth ? { security: [{ bearer: [] }] } : { security: [] }),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body) } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Culvert', version: '1', description: 'Release server: releases, change requests, approvals, deployments.' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, schemas: { Error: errorBody } },
    paths,
  };
}

const escape = (s: string): string => s.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch] ?? ch);

/** A self-contained page (no CDN: Culvert runs where the internet may not be). */
export function docsPage(routes: DocumentedRoute[]): string {
  const rows = routes.map((r) => {
    const body = r.body ? `<details><summary>body</summary><pre>${escape(JSON.stringify(jsonSchema(r.body), null, 2))}</pre></details>` : '';
    const statuses = Object.entries(r.responses).map(([s, d]) => `<code>${s}</code> ${escape(d)}`).join('<br>');
    return `<tr><td><code>${r.method.toUpperCase()}</code></td><td><code>${escape(r.path)}</code></td><td>${escape(r.summary)}${body}</td><td>${statuses}</td><td>${r.auth ? 'bearer' : 'public'}</td></tr>`;
  }).join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>Culvert API</title>
<style>body{font:14px system-ui,sans-serif;margin:2rem;max-width:80rem}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;vertical-align:top;text-align:left}pre{background:#f6f6f6;padding:.5rem;overflow:auto}</style>
</head><body><h1>Culvert API v1</h1><p>JSON in and out. Send <code>Authorization: Bearer &lt;token&gt;</code>. Errors are <code>{ code, message, details? }</code>. Machine-readable: <a href="/openapi.json">/openapi.json</a>.</p>
<table><tr><th>method</th><th>path</th><th>what</th><th>answers</th><th>auth</th></tr>
${rows}
</table></body></html>`;
}
