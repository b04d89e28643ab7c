// Releases across repositories (issue 13): a product made of its own repository (the core) and
// components, each a repository with its own trunk and branch names. A release cuts a branch in every
// one of them and records the snapshot, one commit per component. Each component is kept as a product
// of its own (`<product>.<component>`, `partOf` the product), so picks, checks, tracing and notes of a
// component are those of any release, and the product's release is the sum of them.
import { branchTemplateOf } from './types.ts';
import type { ComponentConfig, ProductConfig } from './types.ts';

export type { ComponentConfig };

/** The product that keeps a component's releases. */
export function componentProductName(product: string, component: string): string {
  return `${product}.${component}`;
}

/**
 * The configuration of a component's product, derived from the product's: its owners and approval decide
 * picks into it; it deploys only as part of the product (its environments are there so that tracing
 * names them, and it has no deploy step of its own).
 */
export function componentProductConfig(product: ProductConfig, c: ComponentConfig): ProductConfig {
  const check = c.check ? product.steps[c.check] : undefined;
  return {
    name: componentProductName(product.name, c.name),
    repository: c.repository,
    flow: 'cherry-pick',
    trunk: c.trunk ?? 'main',
    owners: product.owners,
    steps: check && c.check ? { [c.check]: check } : {},
    triggers: check && c.check ? [{ on: 'change.requested', run: c.check }] : [],
    environments: product.environments.map(({ gate: _gate, ...e }) => e),
    ...(product.approval ? { approval: product.approval } : {}),
    ...(product.severities ? { severities: product.severities } : {}),
    branchTemplate: (c.branchTemplate ?? branchTemplateOf(product)).replaceAll('{product}', product.name),
    partOf: product.name,
  };
}

/** One component of a release as cut: its product, branch and the commit it was cut from. */
export interface ReleaseComponent {
  component: string;
  product: string;
  repository: string;
  state: 'cutting' | 'cut' | 'failed';
  branch: string | null;
  cutFrom: string | null;
  failure: string | null;
}

/** What a release is made of: the core and every component, where each was cut and where each is now. */
export interface ReleaseManifest {
  product: string;
  release: string;
  components: { name: string; product: string; repository: string; branch: string | null; cutFrom: string | null; head: string | null; state: string }[];
}
