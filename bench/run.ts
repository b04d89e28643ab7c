// `npm run bench [-- --only <name>] [-- --n <count>]`: one Temporal dev server and one workflow bundle
// for the whole run, then each benchmark, then a table. Figures are ratios against a baseline measured
// in the same run; this is never a test and never fails on a number.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, bundleWorkflowCode } from '@temporalio/worker';
import { loadDevServerConfig, testServerOptions } from '../cli/dev-server-config.ts';
import { requireTemporalCli } from '../cli/temporal-cli.ts';
import { workflowInterceptorModules, workflowsPath } from '../cli/worker.ts';
import { approvalRoundtrip } from './approval-roundtrip.ts';
import type { BenchResult, Benchmark } from './lib.ts';
import { formatResult } from './lib.ts';
import { picksBench } from './picks.ts';
import { traceBench } from './trace.ts';
import { trainBench } from './train.ts';
import { updateRoundtrip } from './update-roundtrip.ts';
import { webQueueBench } from './web-queue.ts';

const benchmarks: Benchmark[] = [approvalRoundtrip, updateRoundtrip, traceBench, picksBench, webQueueBench, trainBench];
const noopWorkflowPath = fileURLToPath(new URL('./noop-workflow.ts', import.meta.url));

function usage(): string {
  return [
    'usage: npm run bench -- [--only <name>[,<name>...]] [--n <count>]',
    '',
    ...benchmarks.map((b) => `  ${b.name.padEnd(20)} ${b.description}`),
  ].join('\n');
}

function parseCli(argv: string[]): { only: Benchmark[]; n: number | undefined } {
  const { values } = parseArgs({
    args: argv,
    options: { only: { type: 'string', multiple: true }, n: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    console.log(usage());
    process.exit(0);
  }
  let n: number | undefined;
  if (values.n !== undefined) {
    n = Number(values.n);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--n wants a positive integer, not ${JSON.stringify(values.n)}`);
  }
  const names = (values.only ?? []).flatMap((o) => o.split(',')).map((o) => o.trim()).filter(Boolean);
  for (const name of names) {
    if (!benchmarks.some((b) => b.name === name)) throw new Error(`no benchmark ${JSON.stringify(name)}\n${usage()}`);
  }
  return { only: names.length === 0 ? benchmarks : benchmarks.filter((b) => names.includes(b.name)), n };
}

const noop = (): void => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error, log: noop };

async function main(): Promise<void> {
  const { only, n } = parseCli(process.argv.slice(2));
  // Workers log warnings and errors only; the no-op worker's "no activities registered" is expected.
  Runtime.install({
    logger: new DefaultLogger('WARN', (entry) => {
      if (entry.message.startsWith('No activities registered')) return;
      process.stderr.write(`[${entry.level}] ${entry.message}${entry.meta ? ` ${JSON.stringify(entry.meta)}` : ''}\n`);
    }),
  });
  const progress = (message: string) => process.stderr.write(`[bench ${(performance.now() / 1000).toFixed(1)}s] ${message}\n`);

  const cfg = loadDevServerConfig();
  const dir = await mkdtemp(join(tmpdir(), 'culvert-bench-bundle-'));
  let env: TestWorkflowEnvironment | undefined;
  const results: BenchResult[] = [];
  try {
    progress('starting a Temporal dev server and bundling the workflows');
    const [started, culvertCode, noopCode] = await Promise.all([
      TestWorkflowEnvironment.createLocal({
        server: { executable: { type: 'existing-path', path: requireTemporalCli() }, ...testServerOptions(cfg) },
      }),
      bundleWorkflowCode({ workflowsPath, workflowInterceptorModules, logger: quietLogger }),
      bundleWorkflowCode({ workflowsPath: noopWorkflowPath, logger: quietLogger }),
    ]);
    env = started;
    const workflowBundlePath = join(dir, 'workflows.js');
    const noopBundlePath = join(dir, 'noop-workflow.js');
    await writeFile(workflowBundlePath, culvertCode.code);
    await writeFile(noopBundlePath, noopCode.code);

    for (const bench of only) {
      progress(`${bench.name}: ${bench.description}`);
      const started = performance.now();
      const result = await bench.run({
        address: env.address, namespace: env.namespace ?? cfg.namespace, workflowBundlePath, noopBundlePath, n, progress,
      });
      results.push(result);
      progress(`${bench.name}: done in ${((performance.now() - started) / 1000).toFixed(1)}s`);
      console.log(`\n${formatResult(result)}\n`);
    }
  } finally {
    await env?.teardown();
    await rm(dir, { recursive: true, force: true });
  }
  progress(`all done (${results.length} benchmark${results.length === 1 ? '' : 's'})`);
}

main().then(
  // Whatever native handle the SDK or PGlite still holds must not keep a finished bench alive.
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
