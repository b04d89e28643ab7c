import { tmpdir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { REPO_ROOT } from './dev-server-config.ts';

// Parsed once, at start. Precedence: command-line flag > environment variable > default.

const bool = z.enum(['1', '0', 'true', 'false', 'yes', 'no']).transform((v) => v === '1' || v === 'true' || v === 'yes');

export const configSchema = z.object({
  dataDir: z.string().min(1),
  databaseUrl: z.string().regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must be a postgres:// URL').optional(),
  temporalAddress: z.string().regex(/^[^\s:]+:\d+$/, 'TEMPORAL_ADDRESS must be host:port').optional(),
  temporalNamespace: z.string().min(1),
  temporalApiKey: z.string().min(1).optional(),
  temporalTls: bool.optional(),
  temporalTlsCertPath: z.string().optional(),
  temporalTlsKeyPath: z.string().optional(),
  temporalTlsCaPath: z.string().optional(),
  temporalTlsServerName: z.string().optional(),
  temporalUiUrl: z.string().url('CULVERT_TEMPORAL_UI_URL must be a URL').optional(),
  taskQueue: z.string().min(1),
  host: z.string().min(1),
  port: z.coerce.number().int().min(0).max(65535, 'CULVERT_PORT must be a port number'),
  adminToken: z.string().min(16, 'CULVERT_ADMIN_TOKEN must be at least 16 characters').optional(),
  // Directories local repositories may be in, ':'-separated; empty: no local repositories at all.
  repositoryRoots: z.string().transform((v) => v.split(':').filter(Boolean))
    .refine((roots) => roots.every((r) => isAbsolute(r)), 'CULVERT_REPOSITORY_ROOTS must be absolute directories separated by ":"'),
  // The secret GitHub signs its webhooks with (the GitHub App's or the repository's webhook secret); unset: no webhooks.
  githubWebhookSecret: z.string().min(16, 'CULVERT_GITHUB_WEBHOOK_SECRET must be at least 16 characters').optional(),
}).superRefine((c, ctx) => {
  if ((c.temporalTlsCertPath === undefined) !== (c.temporalTlsKeyPath === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['temporalTlsCertPath'], message: 'set both TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH, or neither' });
  }
});

export type Config = z.infer<typeof configSchema>;

const flagNames: Record<string, keyof Config> = {
  '--data-dir': 'dataDir', '--database-url': 'databaseUrl', '--temporal-address': 'temporalAddress',
  '--namespace': 'temporalNamespace', '--task-queue': 'taskQueue', '--host': 'host', '--port': 'port',
  '--temporal-ui-url': 'temporalUiUrl', '--repository-roots': 'repositoryRoots',
};

const envNames: Partial<Record<keyof Config, string>> = {
  dataDir: 'CULVERT_DATA_DIR', databaseUrl: 'DATABASE_URL', temporalAddress: 'TEMPORAL_ADDRESS',
  temporalNamespace: 'TEMPORAL_NAMESPACE', temporalApiKey: 'TEMPORAL_API_KEY', temporalTls: 'TEMPORAL_TLS',
  temporalTlsCertPath: 'TEMPORAL_TLS_CLIENT_CERT_PATH', temporalTlsKeyPath: 'TEMPORAL_TLS_CLIENT_KEY_PATH',
  temporalTlsCaPath: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH', temporalTlsServerName: 'TEMPORAL_TLS_SERVER_NAME',
  temporalUiUrl: 'CULVERT_TEMPORAL_UI_URL', taskQueue: 'CULVERT_TASK_QUEUE', host: 'CULVERT_HOST', port: 'CULVERT_PORT',
  adminToken: 'CULVERT_ADMIN_TOKEN', repositoryRoots: 'CULVERT_REPOSITORY_ROOTS', githubWebhookSecret: 'CULVERT_GITHUB_WEBHOOK_SECRET',
};

export class ConfigError extends Error {}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): Config {
  const raw: Record<string, unknown> = {
    dataDir: resolve(REPO_ROOT, '.culvert'), temporalNamespace: 'default', taskQueue: 'culvert', host: '127.0.0.1', port: '8080',
    repositoryRoots: tmpdir(),
  };
  for (const [key, name] of Object.entries(envNames)) {
    const value = env[name];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  // Set and empty means none, not the default.
  if (env.CULVERT_REPOSITORY_ROOTS === '') raw.repositoryRoots = '';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [flag, inline] = arg.split('=', 2) as [string, string | undefined];
    const key = flagNames[flag];
    if (!key) throw new ConfigError(`unknown option ${flag}; known: ${Object.keys(flagNames).join(', ')}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new ConfigError(`${flag} needs a value`);
    raw[key] = value;
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const key = String(i.path[0] ?? '');
      const where = envNames[key as keyof Config] ?? key;
      return `  ${where}: ${i.message}`;
    });
    throw new ConfigError(`culvert: invalid configuration:\n${lines.join('\n')}`);
  }
  return { ...parsed.data, dataDir: resolve(parsed.data.dataDir) };
}
