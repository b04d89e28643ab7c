// Picks a saved history set for test/histories/<set> from a full export (CULVERT_EXPORT_HISTORIES=dir npm test):
// every history that shows something no smaller one already showed (an event type, an activity, a child
// workflow, an Update, a signal, a patch marker, a continue-as-new), smallest first, then a few more of each
// type, so the set stays small enough to keep in git while it covers what the suite exercised.
//   CULVERT_PAYLOAD_KEY=<the run's key> npx tsx scripts/select-histories.ts <export dir> <out dir> [per type extra = 6] [max bytes each = 400000]
// With the key of the run that exported them, encrypted payloads are saved decrypted, so that any later run
// (each has a key of its own) replays them; they replay as runs from before seals (workflows/seals.ts).
import proto from '@temporalio/proto';
import type { Payload } from '@temporalio/common';
import { CulvertPayloadCodec, parsePayloadKey } from '../cli/payload-codec.ts';
import { loadHistories, saveHistories, type SavedHistory } from '../test/helpers/histories.ts';

const { temporal } = proto;
const EventType = temporal.api.enums.v1.EventType;

function features(h: SavedHistory): Set<string> {
  const out = new Set<string>([`type:${h.type}`]);
  for (const e of h.history.events ?? []) {
    out.add(`${h.type}:event:${EventType[e.eventType ?? 0]}`);
    const scheduled = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (scheduled) out.add(`${h.type}:activity:${scheduled}`);
    const child = e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowType?.name;
    if (child) out.add(`${h.type}:child:${child}`);
    const update = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name;
    if (update) out.add(`${h.type}:update:${update}`);
    const signal = e.workflowExecutionSignaledEventAttributes?.signalName;
    if (signal) out.add(`${h.type}:signal:${signal}`);
    const marker = e.markerRecordedEventAttributes?.markerName;
    if (marker) out.add(`${h.type}:marker:${marker}`);
  }
  return out;
}

const size = (h: SavedHistory): number => temporal.api.history.v1.History.encode(h.history).finish().length;

const encrypted = (v: unknown): v is Payload => {
  const enc = (v as Payload | null)?.metadata?.encoding;
  return enc instanceof Uint8Array && Buffer.from(enc).toString() === 'binary/encrypted';
};

/** Replaces every encrypted payload in the history by its clear content (in place). */
async function decrypt(h: SavedHistory, codec: CulvertPayloadCodec): Promise<void> {
  const walk = async (o: unknown): Promise<void> => {
    if (!o || typeof o !== 'object') return;
    for (const [k, v] of Object.entries(o)) {
      if (encrypted(v)) {
        const [clear] = await codec.decode([v]);
        if (Buffer.from(clear?.metadata?.encoding ?? []).toString() === 'binary/culvert-unreadable') throw new Error(`${h.type} ${h.workflowId}: a payload of another key`);
        (o as Record<string, unknown>)[k] = clear;
      } else await walk(v);
    }
  };
  await walk(h.history);
}

async function main(): Promise<void> {
  const [from, to, extraArg, maxArg] = process.argv.slice(2);
  if (!from || !to) throw new Error('usage: select-histories <export dir> <out dir> [per type extra] [max bytes each]');
  const extra = Number(extraArg ?? 6);
  const maxBytes = Number(maxArg ?? 400_000);
  const all = (await loadHistories(from)).map((h) => ({ h, size: size(h) })).filter((x) => x.size <= maxBytes);
  all.sort((a, b) => a.size - b.size);
  const seen = new Set<string>();
  const chosen = new Set<SavedHistory>();
  for (const { h } of all) {
    const f = [...features(h)].filter((x) => !seen.has(x));
    if (f.length === 0) continue;
    chosen.add(h);
    for (const x of f) seen.add(x);
  }
  // A few more of each type, spread over sizes, so ordinary histories are in the set as well as unusual ones.
  const byType = new Map<string, SavedHistory[]>();
  for (const { h } of all) byType.set(h.type, [...(byType.get(h.type) ?? []), h]);
  for (const list of byType.values()) {
    const rest = list.filter((h) => !chosen.has(h));
    for (let i = 0; i < Math.min(extra, rest.length); i++) chosen.add(rest[Math.floor((i * rest.length) / Math.min(extra, rest.length))]!);
  }
  const out = all.map((x) => x.h).filter((h) => chosen.has(h));
  const key = process.env.CULVERT_PAYLOAD_KEY;
  if (key) {
    const codec = new CulvertPayloadCodec(parsePayloadKey(key));
    for (const h of out) await decrypt(h, codec);
  }
  await saveHistories(to, out);
  const counts = new Map<string, number>();
  for (const h of out) counts.set(h.type, (counts.get(h.type) ?? 0) + 1);
  console.log(`${out.length} of ${all.length} histories, ${seen.size} features: ${[...counts].map(([t, n]) => `${t} ${n}`).join(', ')}`);
}

await main();
