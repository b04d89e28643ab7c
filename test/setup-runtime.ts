import { DefaultLogger, Runtime } from '@temporalio/worker';

// Workers in tests log only what matters; a failing test's own output stays readable.
try {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
} catch {
  // Already installed in this test process.
}
