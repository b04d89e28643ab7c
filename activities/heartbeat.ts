import { heartbeat } from '@temporalio/activity';

/**
 * Heartbeats while `fn` runs, so a worker that dies mid-activity is noticed within the heartbeat
 * timeout instead of the (much longer) start-to-close timeout.
 */
export async function withHeartbeat<T>(fn: () => Promise<T>, everyMs = 2000): Promise<T> {
  heartbeat();
  const timer = setInterval(() => heartbeat(), everyMs);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}
