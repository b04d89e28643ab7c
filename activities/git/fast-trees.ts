import { ObjectReader } from './cat-file.ts';
import { mergeDisjoint, parseTree, serializeTree } from './tree-merge.ts';
import type { TreeEntry, TreeStore } from './tree-merge.ts';

// Trees a batch has read or written, kept for the next picks (they share most of them).
const CACHE_LIMIT = 20_000;

/**
 * In-process tree merges for one batch of picks or reverts (see tree-merge.ts), reading through one
 * `git cat-file --batch` and writing loose objects. Answers null whenever merge-tree must decide,
 * including when anything here goes wrong: the slow path is always correct.
 */
export class FastTrees implements TreeStore {
  private readonly reader: ObjectReader;
  private readonly trees = new Map<string, TreeEntry[]>();
  private readonly commitTrees = new Map<string, string>();
  private broken = false;

  constructor(gitDir: string, private readonly write: (body: Buffer) => Promise<string | null>) {
    this.reader = new ObjectReader(gitDir);
  }

  /** The tree of target + (pick - parent), or null. */
  pick(targetTree: string, pick: string, parent: string): Promise<string | null> {
    return this.attempt(async () => {
      const [base, theirs] = await Promise.all([this.treeOf(parent), this.treeOf(pick)]);
      return base && theirs ? mergeDisjoint(this, base, targetTree, theirs) : null;
    });
  }

  /** The tree of target - (commit - parent), or null. */
  revert(targetTree: string, commit: string, parent: string): Promise<string | null> {
    return this.attempt(async () => {
      const [base, theirs] = await Promise.all([this.treeOf(commit), this.treeOf(parent)]);
      return base && theirs ? mergeDisjoint(this, base, targetTree, theirs) : null;
    });
  }

  close(): void {
    this.reader.close();
  }

  async readTree(sha: string): Promise<TreeEntry[] | null> {
    const known = this.trees.get(sha);
    if (known) return known;
    const object = await this.reader.read(sha);
    if (object?.type !== 'tree') return null;
    return this.remember(sha, parseTree(object.body));
  }

  async writeTree(entries: TreeEntry[]): Promise<string> {
    const sha = await this.write(serializeTree(entries));
    if (!sha) throw new Error('cannot write tree objects here');
    this.remember(sha, entries);
    return sha;
  }

  private async treeOf(commit: string): Promise<string | null> {
    const known = this.commitTrees.get(commit);
    if (known) return known;
    const object = await this.reader.read(commit);
    const tree = object?.type === 'commit' ? /^tree ([0-9a-f]{40})\n/.exec(object.body.toString('latin1', 0, 46))?.[1] : undefined;
    if (!tree) return null;
    this.commitTrees.set(commit, tree);
    return tree;
  }

  private remember(sha: string, entries: TreeEntry[]): TreeEntry[] {
    if (this.trees.size >= CACHE_LIMIT) this.trees.clear();
    this.trees.set(sha, entries);
    return entries;
  }

  private async attempt(fn: () => Promise<string | null>): Promise<string | null> {
    if (this.broken) return null;
    try {
      return await fn();
    } catch {
      this.broken = true;
      return null;
    }
  }
}
