// The manifest of a release across repositories (domain/components.ts): every repository, the branch
// and commit it was cut at, and its head now. An artifact like a build's: one JSON document, its
// SHA-256 in the ETag and in X-Culvert-Sha256, so that a deploy can pin and check the snapshot it ran.
import { createHash } from 'node:crypto';
import { componentsOfRelease } from '../../db/repos/components.ts';
import type { ReleaseManifest } from '../../domain/components.ts';
import { requireView } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { loadProduct } from '../products/routes.ts';
import type { Routes } from '../route.ts';
import { slugParam } from '../route.ts';
import { loadRelease } from './routes.ts';

export async function releaseManifest(deps: AppDeps, product: string, release: string): Promise<ReleaseManifest> {
  const config = (await loadProduct(deps.db, product)).config;
  const own = await loadRelease(deps.db, product, release);
  const components = await componentsOfRelease(deps.db, product, release);
  return {
    product, release,
    components: [
      { name: product, product, repository: config.repository, branch: own.branch, cutFrom: own.cutFrom, head: own.headSha, state: 'cut' },
      ...components.map((x) => ({ name: x.component, product: x.componentProduct, repository: x.repository, branch: x.branch, cutFrom: x.cutFrom, head: x.head, state: x.state })),
    ],
  };
}

export function releaseManifestRoute(r: Routes, deps: AppDeps): void {
  r.add({
    method: 'get', path: '/v1/products/:product/releases/:release/manifest', tag: 'releases',
    summary: 'The release\'s manifest: each repository of the product (its own first, then its components) with the branch, the commit it was cut from and its head now',
    responses: { 200: 'the manifest (JSON; its SHA-256 in ETag and X-Culvert-Sha256)', 404: 'unknown product or release' },
  }, async ({ actor, c }) => {
    const product = slugParam(c, 'product');
    requireView(actor, product);
    const manifest = await releaseManifest(deps, product, slugParam(c, 'release'));
    const body = `${JSON.stringify(manifest, null, 2)}\n`;
    const sha256 = createHash('sha256').update(body).digest('hex');
    return c.body(body, 200, { 'content-type': 'application/json', etag: `"${sha256}"`, 'x-culvert-sha256': sha256 });
  });
}
