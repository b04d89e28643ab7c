// The HTTP side of the command-line client: one call, one error shape (the API's `{ code, message }`).

export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

/** The API said no (or could not be reached): what it said, for the person at the terminal. */
export class ApiCallError extends Error {
  override name = 'ApiCallError';
  constructor(readonly status: number, readonly code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class ApiClient {
  constructor(private readonly baseUrl: string, private readonly token: string, private readonly fetchFn: Fetch) {}

  async json<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const res = await this.send(method, path, body);
    return (await res.json()) as T;
  }

  async text(path: string): Promise<string> {
    return (await this.send('GET', path)).text();
  }

  private async send(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Response> {
    const url = `${this.baseUrl.replace(/\/$/, '')}${path}`;
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await this.fetchFn(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      throw new ApiCallError(0, 'unreachable', `cannot reach Culvert at ${this.baseUrl}: ${(err as Error).message}; is it running, and is CULVERT_URL right?`, { cause: err });
    }
    if (res.ok) return res;
    const text = await res.text();
    let parsed: { code?: unknown; message?: unknown } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      // Not the API's error body (a proxy, say): show what came back.
    }
    const code = typeof parsed.code === 'string' ? parsed.code : `http_${res.status}`;
    const message = typeof parsed.message === 'string' ? parsed.message : text.slice(0, 200) || res.statusText;
    throw new ApiCallError(res.status, code, message);
  }
}
