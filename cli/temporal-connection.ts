import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Config } from './config.ts';

function tlsOptions(cfg: Config) {
  const wanted = cfg.temporalTls || cfg.temporalTlsCertPath || cfg.temporalTlsCaPath || cfg.temporalApiKey;
  if (!wanted) return undefined;
  return {
    ...(cfg.temporalTlsServerName ? { serverNameOverride: cfg.temporalTlsServerName } : {}),
    ...(cfg.temporalTlsCaPath ? { serverRootCACertificate: readFileSync(cfg.temporalTlsCaPath) } : {}),
    ...(cfg.temporalTlsCertPath && cfg.temporalTlsKeyPath
      ? { clientCertPair: { crt: readFileSync(cfg.temporalTlsCertPath), key: readFileSync(cfg.temporalTlsKeyPath) } }
      : {}),
  };
}

/**
 * The client SDK means to accept answers up to 128 MiB but spells the channel argument without its
 * `grpc.` prefix, so gRPC keeps its 4 MiB; a long release's history or a large answer needs more.
 */
export const clientChannelArgs = { 'grpc.max_receive_message_length': 128 * 1024 * 1024 };

export async function connectClient(cfg: Config, address: string): Promise<Client> {
  const connection = await Connection.connect({ address, tls: tlsOptions(cfg), apiKey: cfg.temporalApiKey, channelArgs: clientChannelArgs });
  return new Client({ connection, namespace: cfg.temporalNamespace });
}

export function connectWorker(cfg: Config, address: string): Promise<NativeConnection> {
  return NativeConnection.connect({ address, tls: tlsOptions(cfg), apiKey: cfg.temporalApiKey });
}
