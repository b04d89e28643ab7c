// A three-way merge of trees for the common pick: every path the pick changes is one the release has
// left as it was at the pick's parent. Such a merge needs no content merge and no rename detection,
// only tree objects, so it is done here, in process, instead of by a merge-tree process per pick;
// anything else is left to merge-tree.

export interface TreeEntry {
  mode: string;
  /** The name's bytes, one char per byte (latin1), so that names that are not UTF-8 survive. */
  name: string;
  sha: string;
}

export interface TreeStore {
  /** The entries of a tree object, or null when the object is not a tree. */
  readTree(sha: string): Promise<TreeEntry[] | null>;
  writeTree(entries: TreeEntry[]): Promise<string>;
}

export const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
const TREE_MODE = '40000';

export function parseTree(body: Buffer): TreeEntry[] {
  const entries: TreeEntry[] = [];
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(32, at);
    const nul = body.indexOf(0, space + 1);
    if (space < 0 || nul < 0 || nul + 21 > body.length) throw new Error('malformed tree object');
    entries.push({
      mode: body.subarray(at, space).toString('latin1'),
      name: body.subarray(space + 1, nul).toString('latin1'),
      sha: body.subarray(nul + 1, nul + 21).toString('hex'),
    });
    at = nul + 21;
  }
  return entries;
}

/** Git's order of tree entries: by name bytes, a subtree's name read as if it ended in "/". */
const sortKey = (e: TreeEntry): string => (e.mode === TREE_MODE ? `${e.name}/` : e.name);

export function serializeTree(entries: TreeEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => {
    const x = sortKey(a);
    const y = sortKey(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  return Buffer.concat(sorted.flatMap((e) => [Buffer.from(`${e.mode} ${e.name}\0`, 'latin1'), Buffer.from(e.sha, 'hex')]));
}

const same = (a: TreeEntry | undefined, b: TreeEntry | undefined): boolean => a?.mode === b?.mode && a?.sha === b?.sha;

/**
 * The merge of `ours` and `theirs` against `base`, when no path changed on both sides: a path
 * `theirs` left alone keeps ours, a path ours left alone takes theirs. Null as soon as some path
 * changed on both sides (even identically: a file deleted on one side may have been renamed on the
 * other, which only merge-tree can tell).
 */
export async function mergeDisjoint(store: TreeStore, base: string, ours: string, theirs: string): Promise<string | null> {
  if (theirs === base) return ours;
  if (ours === base) return theirs;
  const [b, o, t] = await Promise.all([store.readTree(base), store.readTree(ours), store.readTree(theirs)]);
  if (!b || !o || !t) return null;
  const byName = (entries: TreeEntry[]) => new Map(entries.map((e) => [e.name, e]));
  const [bm, om, tm] = [byName(b), byName(o), byName(t)];
  const merged: TreeEntry[] = [];
  for (const name of new Set([...bm.keys(), ...om.keys(), ...tm.keys()])) {
    const [be, oe, te] = [bm.get(name), om.get(name), tm.get(name)];
    let result: TreeEntry | undefined;
    if (same(te, be)) result = oe;
    else if (same(oe, be)) result = te;
    else if (be?.mode === TREE_MODE && oe?.mode === TREE_MODE && te?.mode === TREE_MODE) {
      const sub = await mergeDisjoint(store, be.sha, oe.sha, te.sha);
      if (sub === null) return null;
      // A directory left with nothing in it is no directory, as in any git merge.
      result = sub === EMPTY_TREE ? undefined : { mode: TREE_MODE, name, sha: sub };
    } else {
      return null;
    }
    if (result) merged.push(result);
  }
  return store.writeTree(merged);
}
