// Settings of the local Temporal dev server (temporal-dev.yaml at the repo root) and the argv built from them.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';

/** Repo root: this module lives in <root>/cli/. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_DEV_SERVER_CONFIG_PATH = resolve(REPO_ROOT, 'temporal-dev.yaml');

/** Search attribute type names as the CLI spells them (`--search-attribute NAME=TYPE`). */
const SEARCH_ATTRIBUTE_TYPES = {
  Text: SearchAttributeType.TEXT,
  Keyword: SearchAttributeType.KEYWORD,
  Int: SearchAttributeType.INT,
  Double: SearchAttributeType.DOUBLE,
  Bool: SearchAttributeType.BOOL,
  Datetime: SearchAttributeType.DATETIME,
  KeywordList: SearchAttributeType.KEYWORD_LIST,
} as const;
type CliSearchAttributeType = keyof typeof SEARCH_ATTRIBUTE_TYPES;
const searchAttributeTypeNames = Object.keys(SEARCH_ATTRIBUTE_TYPES) as [CliSearchAttributeType, ...CliSearchAttributeType[]];

const port = z.number().int().min(1).max(65535);
const identifier = /^[A-Za-z_][A-Za-z0-9_]*$/;
const dynamicConfigKey = /^[A-Za-z_][A-Za-z0-9_.]*$/;

export const devServerConfigSchema = z.strictObject({
  cli: z.strictObject({
    version: z.string().regex(/^\d+\.\d+\.\d+$/, 'expected a version like "1.9.1"'),
    pypiPackage: z.string().min(1),
    goModule: z.string().regex(/^[^@\s]+@v\d+\.\d+\.\d+$/, 'expected "<module path>@v<x.y.z>"'),
  }),
  ip: z.string().min(1),
  port,
  uiPort: port,
  ui: z.boolean(),
  /** Defaults to `ip`. */
  uiIp: z.string().min(1).optional(),
  /** HTTP API port; the CLI picks a free one when absent. */
  httpPort: port.optional(),
  /** /metrics port; the CLI picks a free one when absent. */
  metricsPort: port.optional(),
  namespace: z.string().min(1),
  /**
   * The Temporal UI's codec server (--ui-codec-endpoint): `api` for the Culvert API that `culvert start`
   * runs beside it (`<api>/v1/codec`), a URL, or null for none.
   */
  uiCodecEndpoint: z.union([z.literal('api'), z.url({ protocol: /^https?$/ })]).nullable().optional(),
  /** Relative to the repo root; null = in-memory. */
  dbFile: z.string().min(1).nullable(),
  logLevel: z.enum(['debug', 'info', 'warn', 'error', 'never']),
  searchAttributes: z.record(
    z.string().regex(identifier, 'search attribute names must be identifiers'),
    z.enum(searchAttributeTypeNames),
  ),
  dynamicConfig: z.record(
    z.string().regex(dynamicConfigKey, 'dynamic config keys look like "limit.historyCount.suggestContinueAsNew"'),
    z.json(),
  ),
});

export type DevServerConfig = z.infer<typeof devServerConfigSchema>;

export interface StartDevOverrides {
  port?: number;
  uiPort?: number;
  headless?: boolean;
  /** null = in-memory. */
  dbFile?: string | null;
  /** The UI's codec server, resolved (`api` replaced by the API's URL); null = none. */
  uiCodecEndpoint?: string | null;
  /** Merged over cfg.dynamicConfig; a key set to `undefined` is dropped. */
  dynamicConfig?: Record<string, unknown>;
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path
    .map((p, i) => {
      if (typeof p === 'number') return `[${p}]`;
      const key = String(p);
      if (!identifier.test(key)) return `[${JSON.stringify(key)}]`;
      return i === 0 ? key : `.${key}`;
    })
    .join('');
}

function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      let where = formatPath(issue.path);
      // Unknown keys are reported on the parent object; name them explicitly.
      if (issue.code === 'unrecognized_keys') {
        where = issue.keys.map((k) => formatPath([...issue.path, k])).join(', ');
        return `  - ${where}: unknown key`;
      }
      if (issue.code === 'invalid_key') {
        const inner = issue.issues.map((i) => i.message).join('; ');
        return `  - ${where}: invalid key${inner ? ` (${inner})` : ''}`;
      }
      return `  - ${where}: ${issue.message}`;
    })
    .join('\n');
}

/** Validates an already-parsed object; `source` only feeds the error message. */
export function parseDevServerConfig(data: unknown, source = 'temporal-dev.yaml'): DevServerConfig {
  const result = devServerConfigSchema.safeParse(data);
  if (!result.success) {
    throw new Error(`Invalid Temporal dev server config in ${source}:\n${formatIssues(result.error)}`);
  }
  return result.data;
}

/** Loads and validates temporal-dev.yaml (by default the one at the repo root). */
export function loadDevServerConfig(path: string = DEFAULT_DEV_SERVER_CONFIG_PATH): DevServerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`Cannot read Temporal dev server config ${path}: ${(err as Error).message}`, { cause: err });
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new Error(`Temporal dev server config ${path} is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  return parseDevServerConfig(data, path);
}

function mergedDynamicConfig(cfg: DevServerConfig, extra?: Record<string, unknown>): [string, unknown][] {
  const merged = new Map<string, unknown>(Object.entries(cfg.dynamicConfig));
  for (const [key, value] of Object.entries(extra ?? {})) {
    if (value === undefined) merged.delete(key);
    else merged.set(key, value);
  }
  return [...merged];
}

function dynamicConfigArgs(entries: [string, unknown][]): string[] {
  return entries.flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${JSON.stringify(value)}`]);
}

function searchAttributeArgs(cfg: DevServerConfig): string[] {
  return Object.entries(cfg.searchAttributes).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]);
}

/**
 * argv for the Temporal CLI: `server start-dev ...`. A relative dbFile is passed as is (relative to the CLI's cwd,
 * which startDevServer sets to the repo root).
 */
export function startDevArgs(cfg: DevServerConfig, overrides: StartDevOverrides = {}): string[] {
  const args = [
    'server', 'start-dev',
    '--ip', cfg.ip,
    '--port', String(overrides.port ?? cfg.port),
    '--namespace', cfg.namespace,
    '--log-level', cfg.logLevel,
  ];
  const headless = overrides.headless ?? !cfg.ui;
  if (headless) {
    args.push('--headless');
  } else {
    args.push('--ui-port', String(overrides.uiPort ?? cfg.uiPort));
    if (cfg.uiIp !== undefined) args.push('--ui-ip', cfg.uiIp);
    const codec = overrides.uiCodecEndpoint !== undefined ? overrides.uiCodecEndpoint : cfg.uiCodecEndpoint === 'api' ? null : cfg.uiCodecEndpoint ?? null;
    if (codec) args.push('--ui-codec-endpoint', codec);
  }
  const dbFile = overrides.dbFile !== undefined ? overrides.dbFile : cfg.dbFile;
  if (dbFile !== null) args.push('--db-filename', dbFile);
  if (cfg.httpPort !== undefined) args.push('--http-port', String(cfg.httpPort));
  if (cfg.metricsPort !== undefined) args.push('--metrics-port', String(cfg.metricsPort));
  args.push(...searchAttributeArgs(cfg));
  args.push(...dynamicConfigArgs(mergedDynamicConfig(cfg, overrides.dynamicConfig)));
  return args;
}

/**
 * Dynamic config keys the SDK's ephemeral dev server (sdk-core `TemporalDevServerConfig::start_server`) always passes
 * itself. We leave them out of extraArgs so that a key is never given twice.
 */
const SDK_DYNAMIC_CONFIG_KEYS = new Set([
  'frontend.enableServerVersionCheck',
  'frontend.enableUpdateWorkflowExecution',
  'frontend.enableUpdateWorkflowExecutionAsyncAccepted',
]);

/**
 * Flags for `TestWorkflowEnvironment.createLocal({ server: { extraArgs } })`: only what the SDK does not set itself.
 * The SDK already passes --ip, --port, --namespace, --log-format/--log-level (from `log`), --db-filename, --ui-port or
 * --headless (from `ui`/`uiPort`), three dynamic config values (see SDK_DYNAMIC_CONFIG_KEYS), and --search-attribute
 * (from `searchAttributes`, see searchAttributeKeys()). Fixed HTTP/metrics ports are left out on purpose so parallel
 * test servers don't collide. Of `overrides` only `dynamicConfig` matters here.
 */
export function extraArgsForTesting(cfg: DevServerConfig, overrides: StartDevOverrides = {}): string[] {
  const entries = mergedDynamicConfig(cfg, overrides.dynamicConfig).filter(([key]) => !SDK_DYNAMIC_CONFIG_KEYS.has(key));
  const args = dynamicConfigArgs(entries);
  if (cfg.uiIp !== undefined) args.push('--ui-ip', cfg.uiIp);
  return args;
}

export type SearchAttributeKeyOf = ReturnType<typeof defineSearchAttributeKey>;

/** `{ name, type }` keys for `TestWorkflowEnvironment.createLocal({ server: { searchAttributes } })`. */
export function searchAttributeKeys(cfg: DevServerConfig): SearchAttributeKeyOf[] {
  return Object.entries(cfg.searchAttributes).map(([name, type]) => defineSearchAttributeKey(name, SEARCH_ATTRIBUTE_TYPES[type]));
}

/**
 * Everything from the config the SDK's local dev server understands, ready to spread into
 * `TestWorkflowEnvironment.createLocal({ server: { ...testServerOptions(cfg), executable } })`.
 * Port, UI and DB file are left to the SDK (random free port, headless, in-memory) so tests never clash with a running
 * `culvert start`.
 */
export function testServerOptions(cfg: DevServerConfig, overrides: StartDevOverrides = {}): {
  ip: string;
  namespace: string;
  log: { format: string; level: string };
  searchAttributes: SearchAttributeKeyOf[];
  extraArgs: string[];
} {
  return {
    ip: cfg.ip,
    namespace: cfg.namespace,
    log: { format: 'pretty', level: cfg.logLevel },
    searchAttributes: searchAttributeKeys(cfg),
    extraArgs: extraArgsForTesting(cfg, overrides),
  };
}
