import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

// The client's settings, parsed once. Precedence: flag > environment > default; the token falls back
// to the admin token `npm start` keeps in the data dir, so the local walk-through needs no setup.

const clientSchema = z.object({
  url: z.string().url('CULVERT_URL (or --url) must be a URL such as http://127.0.0.1:8080'),
  token: z.string({ message: 'no token: set CULVERT_TOKEN (or --token) to a Culvert API token' }).min(1, 'CULVERT_TOKEN is empty'),
  json: z.boolean(),
});

export type ClientConfig = z.infer<typeof clientSchema>;

export class ClientUsageError extends Error {
  override name = 'ClientUsageError';
}

export interface ParsedArgs {
  positional: string[];
  options: Record<string, string | true>;
}

/** Known options of every client command; those with a value take the next argument (or `--x=value`). */
const valued = new Set(['url', 'token', 'state', 'severity', 'q', 'sort', 'limit', 'comment', 'product', 'data-dir', 'candidate', 'component']);
const switches = new Set(['json', 'all-awaiting']);

/** Options one command takes besides those every command knows (e.g. train-act's --yes). */
export interface CommandOptions { valued?: readonly string[]; switches?: readonly string[] }

export function parseArgs(argv: string[], own: CommandOptions = {}): ParsedArgs {
  const positional: string[] = [];
  const options: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (switches.has(name) || own.switches?.includes(name)) {
      options[name] = true;
    } else if (valued.has(name) || own.valued?.includes(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new ClientUsageError(`--${name} needs a value`);
      options[name] = value;
    } else {
      throw new ClientUsageError(`unknown option --${name}`);
    }
  }
  return { positional, options };
}

function localAdminToken(dataDir: string): string | undefined {
  try {
    return readFileSync(join(dataDir, 'admin-token'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Where `npm start` listens, read as the server reads it (CULVERT_HOST, CULVERT_PORT; 127.0.0.1:8080 by
 * default): a server bound to every address is reached on the loopback one.
 */
function localUrl(env: NodeJS.ProcessEnv): string {
  const given = env.CULVERT_HOST || '127.0.0.1';
  const host = given === '0.0.0.0' ? '127.0.0.1' : given === '::' ? '::1' : given;
  return `http://${host.includes(':') ? `[${host}]` : host}:${env.CULVERT_PORT || '8080'}`;
}

export function clientConfig(args: ParsedArgs, env: NodeJS.ProcessEnv, defaultDataDir: string): ClientConfig {
  const opt = (name: string): string | undefined => (typeof args.options[name] === 'string' ? (args.options[name] as string) : undefined);
  const dataDir = opt('data-dir') ?? env.CULVERT_DATA_DIR ?? defaultDataDir;
  const parsed = clientSchema.safeParse({
    url: opt('url') ?? env.CULVERT_URL ?? localUrl(env),
    token: opt('token') ?? (env.CULVERT_TOKEN || undefined) ?? localAdminToken(dataDir),
    json: args.options.json === true,
  });
  if (!parsed.success) throw new ClientUsageError(parsed.error.issues.map((i) => i.message).join('\n'));
  return parsed.data;
}
