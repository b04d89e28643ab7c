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

export async function connectClient(cfg: Config, address: string): Promise<Client> {
  const connection = await Connection.connect({ address, tls: tlsOptions(cfg), apiKey: cfg.temporalApiKey });
  return new Client({ connection, namespace: cfg.temporalNamespace });
}

export function connectWorker(cfg: Config, address: string): Promise<NativeConnection> {
  return NativeConnection.connect({ address, tls: tlsOptions(cfg), apiKey: cfg.temporalApiKey });
}
