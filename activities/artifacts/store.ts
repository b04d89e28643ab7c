import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface StoredArtifact { sha256: string; size: number; location: string }

/** Where build artifacts live. A directory today; an object store can implement the same two calls. */
export interface ArtifactStore {
  put(file: string): Promise<StoredArtifact>;
  open(location: string): Promise<{ stream: Readable; size: number }>;
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** Content-addressed: the same bytes are stored once, at `sha256/ab/abcdef...`. */
export class DirectoryArtifactStore implements ArtifactStore {
  constructor(readonly root: string) {}

  async put(file: string): Promise<StoredArtifact> {
    const [sha256, info] = await Promise.all([sha256Of(file), stat(file)]);
    const location = join(this.root, 'sha256', sha256.slice(0, 2), sha256);
    const present = await stat(location).then(() => true, () => false);
    if (!present) {
      await mkdir(dirname(location), { recursive: true });
      const tmp = `${location}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        await copyFile(file, tmp);
        await rename(tmp, location);
      } finally {
        await rm(tmp, { force: true });
      }
    }
    return { sha256, size: info.size, location };
  }

  async open(location: string): Promise<{ stream: Readable; size: number }> {
    if (!location.startsWith(join(this.root, 'sha256'))) throw new Error(`artifact ${location} is outside the store`);
    const info = await stat(location);
    return { stream: createReadStream(location), size: info.size };
  }
}

export const artifactStoreFor = (dataDir: string): ArtifactStore => new DirectoryArtifactStore(join(dataDir, 'artifacts'));
