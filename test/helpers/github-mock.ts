// A local GitHub API held to GitHub's own contract: every request is validated against GitHub's official
// OpenAPI description (@octokit/openapi) by openapi-backend, and one the description does not allow is
// recorded as a violation (the tests assert there are none) and answered 422. Commit statuses
// pull request comments, deployments and releases are kept, so that what Culvert reads back is what it wrote; other operations
// answer the description's example.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { OpenAPIBackend } from 'openapi-backend';

export interface GithubCall { method: string; path: string; operationId: string | null; body: unknown; authorization: string | undefined }

export interface GithubMock {
  baseUrl: string;
  calls: GithubCall[];
  /** Requests GitHub's description does not allow, with why. */
  violations: { call: GithubCall; errors: string }[];
  /** Statuses posted per commit, oldest first. */
  statuses: Map<string, { state: string; context: string; description: string | null }[]>;
  /** Comments per issue (pull request) number, oldest first. */
  comments: Map<string, { id: number; body: string }[]>;
  /** GitHub Deployments, each with its statuses oldest first. */
  deployments: { id: number; sha: string; environment: string; payload: unknown; description: string | null; statuses: string[] }[];
  /** GitHub Releases with their uploaded assets. */
  releases: { id: number; tag_name: string; target_commitish: string; name: string | null; body: string | null; assets: { name: string; size: number }[] }[];
  /** Whether a webhook payload a test made is one GitHub's description allows (components.schemas[schema]). */
  checkWebhook(schema: string, payload: unknown): { valid: boolean; errors: string };
  loadWebhook(schema: string): Promise<void>;
  /** Validates one request as the server would (for a test that shows an invalid one is caught). */
  check(method: string, path: string, body?: unknown): { valid: boolean; errors: string };
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);
type Definition = ConstructorParameters<typeof OpenAPIBackend>[0]['definition'];

export async function startGithubMock(): Promise<GithubMock> {
  const spec = require.resolve('@octokit/openapi/generated/api.github.com.json');
  const definition = JSON.parse(await readFile(spec, 'utf8')) as { info: unknown; components: unknown };
  const api = new OpenAPIBackend({ definition: definition as Definition, quick: true });
  await api.init();
  // Webhook payloads are described under components too: one operation per asked schema, on GitHub's components.
  const hooks = new Map<string, OpenAPIBackend>();
  const hookApi = async (schema: string): Promise<OpenAPIBackend> => {
    let h = hooks.get(schema);
    if (!h) {
      h = new OpenAPIBackend({
        definition: {
          openapi: '3.1.0', info: definition.info, components: definition.components,
          paths: { '/hook': { post: { operationId: 'hook', requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${schema}` } } } }, responses: { 200: { description: 'ok' } } } } },
        } as Definition,
        quick: true,
      });
      await h.init();
      hooks.set(schema, h);
    }
    return h;
  };
  const calls: GithubCall[] = [];
  const violations: GithubMock['violations'] = [];
  const statuses: GithubMock['statuses'] = new Map();
  const comments: GithubMock['comments'] = new Map();
  const deployments: GithubMock['deployments'] = [];
  const releases: GithubMock['releases'] = [];

  const validate = (method: string, path: string, query: Record<string, string>, headers: Record<string, string>, body: unknown) => {
    const request = { method, path, query, headers, ...(body === undefined ? {} : { body }) };
    const operation = api.matchOperation(request);
    if (!operation) return { operation: null, valid: false, errors: `no operation ${method} ${path} in GitHub's description` };
    const result = api.validateRequest(request, operation);
    return { operation, valid: result.valid, errors: JSON.stringify(result.errors ?? []) };
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://github.test');
      const text = Buffer.concat(chunks).toString('utf8');
      // JSON bodies are read as JSON; an upload (a release asset) is its bytes.
      const json = (req.headers['content-type'] ?? '').includes('json');
      const body: unknown = text ? (json ? JSON.parse(text) : text) : undefined;
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v ?? '']));
      const method = req.method ?? 'GET';
      const checked = validate(method, url.pathname, Object.fromEntries(url.searchParams), headers, body);
      const call: GithubCall = { method, path: url.pathname, operationId: checked.operation?.operationId ?? null, body, authorization: req.headers.authorization };
      calls.push(call);
      const send = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      if (!checked.valid) {
        violations.push({ call, errors: checked.errors });
        send(422, { message: 'Validation Failed (against GitHub\'s OpenAPI description)', errors: checked.errors });
        return;
      }
      const sha = /\/(?:statuses|commits)\/([^/]+)(?:\/statuses)?$/.exec(url.pathname)?.[1] ?? '';
      if (call.operationId === 'repos/create-commit-status') {
        const b = body as { state: string; context?: string; description?: string };
        const status = { state: b.state, context: b.context ?? 'default', description: b.description ?? null };
        statuses.set(sha, [...(statuses.get(sha) ?? []), status]);
        send(201, { id: calls.length, url: '', state: status.state, context: status.context, description: status.description, created_at: new Date().toISOString() });
        return;
      }
      if (call.operationId === 'repos/list-commit-statuses-for-ref') {
        send(200, [...(statuses.get(sha) ?? [])].reverse());
        return;
      }
      const issue = /\/issues\/(\d+)\/comments$/.exec(url.pathname)?.[1] ?? '';
      if (call.operationId === 'issues/create-comment') {
        const comment = { id: calls.length, body: (body as { body: string }).body, user: { login: 'culvert[bot]' }, created_at: new Date().toISOString() };
        comments.set(issue, [...(comments.get(issue) ?? []), comment]);
        send(201, comment);
        return;
      }
      if (call.operationId === 'issues/list-comments') {
        send(200, comments.get(issue) ?? []);
        return;
      }
      const deploymentId = Number(/\/deployments\/(\d+)\/statuses$/.exec(url.pathname)?.[1] ?? 0);
      const [, owner = '', repo = ''] = /^\/repos\/([^/]+)\/([^/]+)/.exec(url.pathname) ?? [];
      if (call.operationId === 'repos/create-release') {
        const b = body as { tag_name: string; target_commitish?: string; name?: string; body?: string };
        const id = releases.length + 1;
        const created = { id, tag_name: b.tag_name, target_commitish: b.target_commitish ?? '', name: b.name ?? null, body: b.body ?? null, assets: [] as { name: string; size: number }[] };
        releases.push(created);
        send(201, { ...created, upload_url: `http://${req.headers.host}/repos/${owner}/${repo}/releases/${id}/assets{?name,label}` });
        return;
      }
      if (call.operationId === 'repos/get-release-by-tag') {
        const tag = decodeURIComponent(url.pathname.split('/').pop() ?? '');
        const found = releases.find((x) => x.tag_name === tag);
        if (!found) send(404, { message: 'Not Found' });
        else send(200, { ...found, upload_url: `http://${req.headers.host}/repos/${owner}/${repo}/releases/${found.id}/assets{?name,label}` });
        return;
      }
      if (call.operationId === 'repos/upload-release-asset') {
        const target = releases.find((x) => x.id === Number(/\/releases\/(\d+)\/assets$/.exec(url.pathname)?.[1]));
        const asset = { name: url.searchParams.get('name') ?? '', size: Buffer.byteLength(text) };
        target?.assets.push(asset);
        send(201, { id: calls.length, ...asset, state: 'uploaded' });
        return;
      }
      if (call.operationId === 'actions/review-custom-gates-for-run') {
        res.writeHead(204);
        res.end();
        return;
      }
      if (call.operationId === 'repos/create-deployment') {
        const b = body as { ref: string; environment?: string; payload?: unknown; description?: string };
        const created = { id: deployments.length + 1, sha: b.ref, ref: b.ref, environment: b.environment ?? 'production', payload: b.payload ?? {}, description: b.description ?? null, statuses: [] as string[] };
        deployments.push(created);
        send(201, { ...created, statuses: undefined });
        return;
      }
      if (call.operationId === 'repos/list-deployments') {
        const sha = url.searchParams.get('sha');
        const env = url.searchParams.get('environment');
        send(200, deployments.filter((x) => (!sha || x.sha === sha) && (!env || x.environment === env)).reverse().map((x) => ({ ...x, statuses: undefined })));
        return;
      }
      if (call.operationId === 'repos/create-deployment-status') {
        const target = deployments.find((x) => x.id === deploymentId);
        target?.statuses.push((body as { state: string }).state);
        send(201, { id: calls.length, state: (body as { state: string }).state });
        return;
      }
      if (call.operationId === 'repos/list-deployment-statuses') {
        send(200, [...(deployments.find((x) => x.id === deploymentId)?.statuses ?? [])].reverse().map((state, n) => ({ id: n + 1, state })));
        return;
      }
      const mock = api.mockResponseForOperation(checked.operation?.operationId ?? '');
      send(mock.status, mock.mock);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`, calls, violations, statuses, comments, deployments, releases,
    checkWebhook(schema, payload) {
      const h = hooks.get(schema);
      if (!h) throw new Error(`call loadWebhook(${schema}) first`);
      const r = h.validateRequest({ method: 'POST', path: '/hook', headers: { 'content-type': 'application/json' }, query: {}, body: payload });
      return { valid: r.valid, errors: JSON.stringify(r.errors ?? []) };
    },
    loadWebhook: async (schema) => {
      await hookApi(schema);
    },
    check(method, path, body) {
      const r = validate(method, path, {}, { 'content-type': 'application/json', accept: 'application/vnd.github+json' }, body);
      return { valid: r.valid, errors: r.errors };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
