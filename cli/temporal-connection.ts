import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import type { ConnectionLike, WorkflowClientInterceptor } from '@temporalio/client';
import type { DataConverter, PayloadCodec } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';
import { defaultTakeByMs, takeByOf, withSeal, withTakeBy } from '../domain/take-by.ts';
import type { Config } from './config.ts';
import { CulvertPayloadCodec, loadPayloadKey, previousPayloadKeys } from './payload-codec.ts';

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

/** The codec of this installation: its key from CULVERT_PAYLOAD_KEY or the data dir, and the keys being rotated out. */
export function payloadCodecOf(cfg: Pick<Config, 'dataDir'>): CulvertPayloadCodec {
  return new CulvertPayloadCodec(loadPayloadKey(cfg.dataDir), previousPayloadKeys());
}

/** What every client and worker of Culvert converts payloads with. */
export const culvertDataConverter = (codec: PayloadCodec): DataConverter => ({ payloadCodecs: [codec] });

const sealed = (args: unknown[]): unknown[] => (takeByOf(args[0]) === undefined ? withTakeBy(args, Date.now() + defaultTakeByMs) : args);

/**
 * Gives every Update a deadline (the API's own when it set one): encrypted with the payload key, it is
 * the seal the release workflows ask of an Update (workflows/interceptors.ts).
 */
export const sealingInterceptor: WorkflowClientInterceptor = {
  startUpdate: (input, next) => next({ ...input, args: sealed(input.args) }),
  startUpdateWithStart: (input, next) => next({
    ...input, updateArgs: sealed(input.updateArgs), workflowStartOptions: { ...input.workflowStartOptions, args: withSeal(input.workflowStartOptions.args) },
  }),
  // Starts and signals carry a seal of their own (workflows/seals.ts).
  start: (input, next) => next({ ...input, options: { ...input.options, args: withSeal(input.options.args) } }),
  startWithDetails: (input, next) => next({ ...input, options: { ...input.options, args: withSeal(input.options.args) } }),
  signal: (input, next) => next({ ...input, args: withSeal(input.args) }),
  signalWithStart: (input, next) => next({ ...input, signalArgs: withSeal(input.signalArgs), options: { ...input.options, args: withSeal(input.options.args) } }),
};

/** A client that talks to Culvert's workflows: payloads encrypted, Updates sealed. */
export function culvertClient(connection: ConnectionLike, namespace: string, codec: PayloadCodec): Client {
  return new Client({ connection, namespace, dataConverter: culvertDataConverter(codec), interceptors: { workflow: [sealingInterceptor] } });
}

export async function connectClient(cfg: Config, address: string, codec: PayloadCodec): Promise<Client> {
  const connection = await Connection.connect({ address, tls: tlsOptions(cfg), apiKey: cfg.temporalApiKey, channelArgs: clientChannelArgs });
  return culvertClient(connection, cfg.temporalNamespace, codec);
}

export function connectWorker(cfg: Config, address: string): Promise<NativeConnection> {
  return NativeConnection.connect({ address, tls: tlsOptions(cfg), apiKey: cfg.temporalApiKey });
}
