// What the browser tests share: Debian's Chromium (through playwright-core), and the app served on a free port.
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';

export const chromiumPath = process.env.CULVERT_CHROMIUM ?? '/usr/bin/chromium';

/** CI installs Chromium (.ci/run) and so never skips; a developer's machine without it skips, saying why. */
export function browserMissing(what: string): boolean {
  const missing = !process.env.CI && !existsSync(chromiumPath);
  if (missing) console.warn(`skipping ${what}: no chromium at ${chromiumPath} (apt-get install chromium, or set CULVERT_CHROMIUM)`);
  return missing;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
}

export interface Served {
  base: string;
  close(): Promise<void>;
}

/** Serves `fetch` on 127.0.0.1 at a free port. */
export async function serveOnFreePort(fetch: (req: Request) => Response | Promise<Response>): Promise<Served> {
  const server = serve({ fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
