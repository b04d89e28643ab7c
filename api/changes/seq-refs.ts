// Requests name other requests (a revert's target, a pick's dependencies) by id or, as people and the
// CLI do, by `#seq`: the API reads the number's id from the database before the release sees it, so the
// workflow and the stored request only ever hold ids.
import type { Db } from '../../db/client.ts';
import { idsBySeq } from '../../db/repos/changes.ts';
import { ApiError } from '../errors.ts';

const seqRef = /^#(\d{1,9})$/;

interface Refers { kind: string; revertOf?: string; dependsOn?: string[] }

/** `requests` with every `#seq` reference replaced by the id of that request of the release; unknown ones are 404. */
export async function resolveSeqRefs<T extends Refers>(db: Db, product: string, release: string, requests: T[]): Promise<T[]> {
  const refs = requests.flatMap((q) => [...(q.revertOf ? [q.revertOf] : []), ...(q.dependsOn ?? [])]);
  const seqs = [...new Set(refs.flatMap((r) => {
    const m = seqRef.exec(r);
    return m ? [Number(m[1])] : [];
  }))];
  if (seqs.length === 0) return requests;
  const idOf = new Map([...await idsBySeq(db, product, release, seqs)].map(([seq, id]) => [`#${seq}`, id]));
  const resolve = (ref: string): string => {
    if (!seqRef.test(ref)) return ref;
    const id = idOf.get(`#${Number(ref.slice(1))}`);
    if (!id) throw new ApiError('change_not_found', `no change ${ref} on ${product}/${release}`, { ref });
    return id;
  };
  return requests.map((q) => ({
    ...q,
    ...(q.revertOf ? { revertOf: resolve(q.revertOf) } : {}),
    ...(q.dependsOn ? { dependsOn: q.dependsOn.map(resolve) } : {}),
  }));
}
