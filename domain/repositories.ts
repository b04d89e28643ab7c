// Which repository a product writes to, and which of its branches (issue 10, finding 6). Two products
// on one repository must never move each other's branches: a product claims a branch namespace there
// (db/repos/branch-claims.ts keeps the claims, one transaction at a time), and local repositories are
// only taken from directories an admin configured, never from Culvert's own data dir.
// Not imported by workflows (node:path).
import { isAbsolute, relative, resolve } from 'node:path';
import { branchTemplateOf } from './types.ts';
import type { ProductConfig } from './types.ts';

/** Default release branches of new products name the product: two products on one repository never meet. */
export const defaultBranchTemplate = 'releases/{product}/{name}';

/**
 * One spelling per repository, so that `https://Host/x.git/` and `https://host/x` are one claim.
 * Different transports to one repository (ssh and https) are not recognised as one.
 */
export function repositoryKey(repository: string): string {
  if (repository.startsWith('/')) return resolve(repository).replace(/\/\.git$/, '').replace(/\.git$/, '');
  const trimmed = repository.replace(/\/+$/, '').replace(/\.git$/, '');
  const url = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/]*)(.*)$/.exec(trimmed);
  if (url) return `${(url[1] ?? '').toLowerCase()}${(url[2] ?? '').toLowerCase()}${url[3] ?? ''}`;
  const scp = /^([^@/:]+@)?([^/:]+):(.*)$/.exec(trimmed);
  if (scp) return `${scp[1] ?? ''}${(scp[2] ?? '').toLowerCase()}:${scp[3] ?? ''}`;
  return trimmed;
}

/**
 * The branches a product moves on its repository: the pull-request flow merges into its trunk (that
 * exact branch); the others push release branches, every one starting with the template's text
 * before its first placeholder other than {product}.
 */
export interface BranchNamespace { prefix: string; exact: boolean }

export function branchNamespace(p: Pick<ProductConfig, 'name' | 'flow' | 'trunk' | 'branchTemplate'>): BranchNamespace {
  if (p.flow === 'pull-request') return { prefix: p.trunk, exact: true };
  const template = branchTemplateOf(p);
  const brace = template.indexOf('{');
  return brace < 0 ? { prefix: template, exact: true } : { prefix: template.slice(0, brace), exact: false };
}

/** Whether some branch could belong to both namespaces. */
export function namespacesMeet(a: BranchNamespace, b: BranchNamespace): boolean {
  if (a.exact && b.exact) return a.prefix === b.prefix;
  if (a.exact) return a.prefix.startsWith(b.prefix);
  if (b.exact) return b.prefix.startsWith(a.prefix);
  return a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix);
}

export function describeNamespace(n: BranchNamespace): string {
  return n.exact ? n.prefix : `${n.prefix}*`;
}

/** Where local repositories may live: absolute directories an admin configured, and the data dir that is never one. */
export interface RepositoryPlaces { roots: string[]; dataDir: string | null }

const inside = (dir: string, path: string) => {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
};

/**
 * Why a local repository path may not be used, or null (URLs are checked by api/products/repository.ts).
 * `showRoots`: name the configured roots (to the admin who set the path; not in a release's failure).
 */
export function localRepositoryProblem(repository: string, places: RepositoryPlaces, showRoots = true): string | null {
  if (!repository.startsWith('/')) return null;
  const path = resolve(repository);
  if (places.dataDir && (inside(places.dataDir, path) || inside(path, places.dataDir))) {
    return 'is inside Culvert\'s data dir (mirrors, logs, keys): never a repository';
  }
  if (!places.roots.some((root) => inside(resolve(root), path) && resolve(root) !== path)) {
    if (places.roots.length === 0) return 'is a local path, and no local repository roots are configured (CULVERT_REPOSITORY_ROOTS)';
    return `is not under a configured repository root (CULVERT_REPOSITORY_ROOTS${showRoots ? `: ${places.roots.join(':')}` : ''})`;
  }
  return null;
}

/**
 * The first product of `products` whose branches meet those of one of `changed` on the same
 * repository, once `changed` replace their namesakes; null when none.
 */
export function branchConflict(
  products: readonly Pick<ProductConfig, 'name' | 'repository' | 'flow' | 'trunk' | 'branchTemplate'>[],
  changed: readonly Pick<ProductConfig, 'name' | 'repository' | 'flow' | 'trunk' | 'branchTemplate'>[],
): { product: string; other: string; branches: string } | null {
  const names = new Set(changed.map((c) => c.name));
  const world = [...products.filter((p) => !names.has(p.name)), ...changed];
  for (const mine of changed) {
    const key = repositoryKey(mine.repository);
    const space = branchNamespace(mine);
    for (const other of world) {
      if (other.name === mine.name || repositoryKey(other.repository) !== key) continue;
      if (namespacesMeet(space, branchNamespace(other))) return { product: mine.name, other: other.name, branches: describeNamespace(space) };
    }
  }
  return null;
}
