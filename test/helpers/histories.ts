// Every workflow history a test run leaves on its dev server, for replay against the current workflow code.
import { gunzipSync, gzipSync } from 'node:zlib';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { clientChannelArgs, culvertDataConverter } from '../../cli/temporal-connection.ts';
import { testCodec } from './codec.ts';
import { Worker } from '@temporalio/worker';
import type { ReplayResult } from '@temporalio/worker';
import proto from '@temporalio/proto';

const { temporal } = proto;

type History = proto.temporal.api.history.v1.IHistory;

export interface SavedHistory {
  workflowId: string;
  runId: string;
  type: string;
  history: History;
}

/** Histories of every execution (every run) of the given workflow types on the server. */
export async function collectHistories(address: string, namespace: string, types: readonly string[]): Promise<SavedHistory[]> {
  // A long release's history passes gRPC's default 4 MiB (cli/temporal-connection.ts says why).
  const connection = await Connection.connect({ address, channelArgs: clientChannelArgs });
  try {
    // The listing decodes memos, which the codec encrypted.
    return await collect(new Client({ connection, namespace, dataConverter: culvertDataConverter(testCodec()) }), types);
  } finally {
    await connection.close();
  }
}

async function collect(client: Client, types: readonly string[]): Promise<SavedHistory[]> {
  const query = types.map((t) => `WorkflowType = "${t}"`).join(' OR ');
  const found: { workflowId: string; runId: string; type: string }[] = [];
  for await (const wf of client.workflow.list({ query })) found.push({ workflowId: wf.workflowId, runId: wf.runId, type: wf.type });
  const out: SavedHistory[] = [];
  // A few at a time: each fetch is one or more gRPC pages.
  for (let i = 0; i < found.length; i += 16) {
    const chunk = await Promise.all(found.slice(i, i + 16).map(async (w) => ({
      ...w, history: await client.workflow.getHandle(w.workflowId, w.runId).fetchHistory(),
    })));
    out.push(...chunk);
  }
  return out;
}

export interface ReplayFailure { workflowId: string; runId: string; type: string; error: string }

/** Replays each history against the bundle; returns the ones that do not replay. */
export async function replayAll(bundlePath: string, histories: SavedHistory[]): Promise<{ replayed: number; failures: ReplayFailure[] }> {
  const failures: ReplayFailure[] = [];
  const byId = new Map(histories.map((h) => [`${h.workflowId}\0${h.runId}`, h]));
  const results: AsyncIterable<ReplayResult> = Worker.runReplayHistories(
    { workflowBundle: { codePath: bundlePath }, replayName: 'culvert-replay', dataConverter: culvertDataConverter(testCodec()) },
    histories.map((h) => ({ workflowId: `${h.workflowId}\0${h.runId}`, history: h.history })),
  );
  let replayed = 0;
  for await (const r of results) {
    replayed++;
    if (r.error) {
      const h = byId.get(r.workflowId);
      failures.push({ workflowId: h?.workflowId ?? r.workflowId, runId: h?.runId ?? '', type: h?.type ?? '', error: String(r.error).slice(0, 2000) });
    }
  }
  return { replayed, failures };
}

/**
 * Writes histories as gzipped protobuf (the server's own encoding), one file each, named by type and a
 * counter; the ids go in the file name's companion index.
 */
export async function saveHistories(dir: string, histories: SavedHistory[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  const index: Record<string, { workflowId: string; runId: string; type: string }> = {};
  let n = 0;
  for (const h of histories) {
    const name = `${h.type}-${String(++n).padStart(4, '0')}.pb.gz`;
    await writeFile(join(dir, name), gzipSync(temporal.api.history.v1.History.encode(h.history).finish()));
    index[name] = { workflowId: h.workflowId, runId: h.runId, type: h.type };
  }
  await writeFile(join(dir, 'index.json'), `${JSON.stringify(index, null, 1)}\n`);
}

export async function loadHistories(dir: string): Promise<SavedHistory[]> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as Record<string, { workflowId: string; runId: string; type: string }>;
  const names = (await readdir(dir)).filter((n) => n.endsWith('.pb.gz')).sort();
  return Promise.all(names.map(async (name) => {
    const ids = index[name];
    if (!ids) throw new Error(`${name} is not in ${dir}/index.json`);
    return { ...ids, history: temporal.api.history.v1.History.decode(gunzipSync(await readFile(join(dir, name)))) };
  }));
}
