import { Readable } from 'node:stream';
import { getArtifact } from '../../db/repos/candidates.ts';
import { requireView } from '../auth.ts';
import type { Actor } from '../../domain/types.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import type { Routes } from '../route.ts';
import { param } from '../route.ts';
import { DirectoryArtifactStore } from '../../activities/artifacts/store.ts';
import { dirname } from 'node:path';

export function artifactRoutes(r: Routes, deps: AppDeps): void {
  r.add({
    method: 'get', path: '/v1/artifacts/:id', tag: 'artifacts', summary: 'Download an artifact a build produced',
    responses: { 200: 'the file', 404: 'unknown' },
  }, async ({ actor, c }) => {
    return downloadArtifact(deps, actor, param(c, 'id'));
  });
}

/** An artifact's bytes, if the actor may see its product: the API's route and the web page's link. */
export async function downloadArtifact(deps: AppDeps, actor: Actor, id: string): Promise<Response> {
  const artifact = await getArtifact(deps.db, id);
  if (!artifact) throw new ApiError('artifact_not_found', `no artifact ${id}`);
  requireView(actor, artifact.id.split('/')[0] ?? '');
  // location is sha256/ab/<sha> under the store's root
  const store = new DirectoryArtifactStore(dirname(dirname(dirname(artifact.location))));
  let opened;
  try {
    opened = await store.open(artifact.location);
  } catch (err) {
    throw new ApiError('artifact_not_found', `artifact ${id} is not in this host's store`, undefined, { cause: err });
  }
  return new Response(Readable.toWeb(opened.stream) as ReadableStream, {
    headers: {
      'content-type': 'application/octet-stream', 'content-length': String(opened.size),
      'content-disposition': `attachment; filename="${artifact.name.replace(/"/g, '')}"`, 'x-sha256': artifact.sha256,
    },
  });
}
