// When an Update must be taken by: the API sets it on every Update it sends, the workflows refuse an
// Update whose workflow task started after it (workflows/interceptors.ts). So an Update the API gave up
// on is never taken later, and the API's "nothing was done, try again" is true: without it an Update the
// server had admitted ran whenever a worker came back, and a client that had been told "may still take
// effect", looked for a while and tried again, filed a second change (seen in CI, concurrency story).

/** The field of an Update's first argument that carries it (epoch milliseconds). */
export const takeByField = 'culvertTakeBy';

/** The refusal's type: the Update came too late and was not taken; nothing was done. */
export const takeByExpired = 'update_expired';
/**
 * The refusal's type: the Update carried no deadline, so it was not sent through a Culvert client with
 * the payload key (the codec takes the field out of payloads that are not encrypted with it).
 */
export const takeByUnsealed = 'update_unsealed';

/** How long an Update sent without a deadline of its own (tests, tools, the cut) may wait to be taken. */
export const defaultTakeByMs = 60_000;

/** The deadline an Update's first argument carries, if any. */
export function takeByOf(arg: unknown): number | undefined {
  if (typeof arg !== 'object' || arg === null) return undefined;
  const v = (arg as Record<string, unknown>)[takeByField];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** The first argument with a deadline (only a plain object argument can carry one). */
export function withTakeBy(args: readonly unknown[], at: number): unknown[] {
  const [first, ...rest] = args;
  if (typeof first !== 'object' || first === null || Array.isArray(first)) return [...args];
  return [{ ...first, [takeByField]: at }, ...rest];
}

/** The arguments as the handlers know them: without the deadline. */
export function withoutTakeBy(args: readonly unknown[]): unknown[] {
  const [first, ...rest] = args;
  if (takeByOf(first) === undefined) return [...args];
  const { [takeByField]: _dropped, ...plain } = first as Record<string, unknown>;
  return [plain, ...rest];
}

// Starts and signals carry the same field as a seal of their own: a trailing argument `{ culvertTakeBy: 0 }`
// (its value means nothing). Only a payload encrypted with the key keeps the field, so a start or a
// signal without it was not sent by Culvert (workflows/seals.ts refuses it where a run began sealed).

function isSeal(arg: unknown): boolean {
  return typeof arg === 'object' && arg !== null && !Array.isArray(arg) && Object.keys(arg).length === 1 && takeByField in arg;
}

/** The arguments of a start or a signal, sealed (once). */
export function withSeal(args: readonly unknown[]): unknown[] {
  return isSeal(args.at(-1)) ? [...args] : [...args, { [takeByField]: 0 }];
}

/** Whether a start's or signal's arguments were sealed, and the arguments as the workflow knows them. */
export function unseal(args: readonly unknown[]): { sealed: boolean; args: unknown[] } {
  return isSeal(args.at(-1)) ? { sealed: true, args: args.slice(0, -1) } : { sealed: false, args: [...args] };
}
