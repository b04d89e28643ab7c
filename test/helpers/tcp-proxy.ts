import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';

export interface TcpProxy {
  /** The port on 127.0.0.1 to point a client at instead of the target. */
  port: number;
  /** An outage: resets every open connection and every new one, until restore(). */
  cut(): void;
  /** The target is reachable again through the proxy. */
  restore(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 to targetHost:targetPort that a test can cut, to take away a database or a
 * Temporal server from a client that keeps its address. While cut it keeps listening (the port stays
 * ours) and resets each connection as it arrives, like a host whose server is down: a reset (RST), not
 * a clean close, because some clients (postgres.js) silently reconnect forever on a clean close during
 * their handshake.
 */
export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  let down = false;

  const server = createServer((client) => {
    client.on('error', () => undefined);
    if (down) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(targetPort, targetHost);
    upstream.on('error', () => undefined);
    const pair = { client, upstream };
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    // Outside a cut, either side closing is passed on as it happened (pipe() ends the other side).
    client.on('close', () => {
      pairs.delete(pair);
      upstream.destroy();
    });
    upstream.on('close', (hadError) => {
      pairs.delete(pair);
      if (hadError && !client.destroyed) client.resetAndDestroy();
      else client.end();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('tcp proxy has no port');

  const dropAll = (): void => {
    for (const { client, upstream } of [...pairs]) {
      if (!client.destroyed) client.resetAndDestroy();
      upstream.destroy();
    }
    pairs.clear();
  };

  return {
    port: address.port,
    cut() {
      down = true;
      dropAll();
    },
    restore() {
      down = false;
    },
    async close() {
      down = true;
      dropAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
