// Small tools of the fault tests: HTTP with the headers the Stack helper does not return, git, processes.
import { readFile, readdir } from 'node:fs/promises';
import { git } from '../../activities/git/run.ts';
import type { createApp } from '../../api/app.ts';

export type App = ReturnType<typeof createApp>;
export interface Answer {
  status: number;
  // Tests read response bodies loosely and let their assertions check the shape.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  text: string;
  retryAfter: string | null;
}

/** One HTTP request to the in-process API, with the headers the Stack helper does not return. */
export async function request(app: App, token: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await app.request(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text, retryAfter: res.headers.get('retry-after') };
}

export const gitIn = async (dir: string, args: string[]): Promise<string> => (await git(args, { cwd: dir })).stdout.trim();
export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
export const lines = async (file: string): Promise<string[]> => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);

/** Pids of live processes whose command line contains `command` and whose environment has `envEntry` (read from /proc). */
export async function processesWith(command: string, envEntry: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = (await readFile(`/proc/${name}/cmdline`)).toString().split('\0').join(' ');
      if (!cmdline.includes(command)) continue;
      const status = await readFile(`/proc/${name}/status`, 'utf8');
      if (/^State:\s+Z/m.test(status)) continue; // a zombie runs nothing
      const environ = (await readFile(`/proc/${name}/environ`)).toString().split('\0');
      if (environ.includes(envEntry)) found.push(Number(name));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** Commits reachable from `ref` in `repo` whose message contains `needle` (git log --grep, fixed string). */
export async function commitsMentioning(repo: string, ref: string, needle: string): Promise<string[]> {
  const out = await gitIn(repo, ['log', '--format=%H', '--fixed-strings', `--grep=${needle}`, ref]);
  return out.split('\n').filter(Boolean);
}

