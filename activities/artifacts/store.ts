import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface StoredArtifact { sha256: string; size: number; location: string }

/** Where build artifacts live. A directory today; an object store can implement the same two calls. */
export interface ArtifactStore {
  /** `onProgress` is called every few MB read, e.g. to heartbeat while a big file is stored. */
  put(file: string, onProgress?: () => void): Promise<StoredArtifact>;
  open(location: string): Promise<{ stream: Readable; size: number }>;
}

const CHUNK_BYTES = 1024 * 1024;
const PROGRESS_BYTES = 8 * 1024 * 1024;

/** Content-addressed: the same bytes are stored once, at `sha256/ab/abcdef...`. */
export class DirectoryArtifactStore implements ArtifactStore {
  constructor(readonly root: string) {}

  /**
   * Reads the file once, in chunks, hashing what it copies to a temporary file that is then renamed
   * into place: the event loop stays free however big the file, and the stored bytes are exactly
   * the ones hashed even if the file changes meanwhile.
   */
  async put(file: string, onProgress?: () => void): Promise<StoredArtifact> {
    const incoming = join(this.root, 'incoming');
    await mkdir(incoming, { recursive: true });
    const tmp = join(incoming, `${randomBytes(8).toString('hex')}.tmp`);
    const hash = createHash('sha256');
    let size = 0;
    let sinceProgress = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        size += chunk.length;
        sinceProgress += chunk.length;
        if (sinceProgress >= PROGRESS_BYTES) {
          sinceProgress = 0;
          try {
            onProgress?.();
          } catch (err) {
            done(err as Error);
            return;
          }
        }
        done(null, chunk);
      },
    });
    try {
      await pipeline(createReadStream(file, { highWaterMark: CHUNK_BYTES }), tap, createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
      const sha256 = hash.digest('hex');
      const location = join(this.root, 'sha256', sha256.slice(0, 2), sha256);
      const present = await stat(location).then(() => true, () => false);
      if (!present) {
        await mkdir(dirname(location), { recursive: true });
        await rename(tmp, location);
      }
      return { sha256, size, location };
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async open(location: string): Promise<{ stream: Readable; size: number }> {
    if (!location.startsWith(join(this.root, 'sha256'))) throw new Error(`artifact ${location} is outside the store`);
    const info = await stat(location);
    return { stream: createReadStream(location), size: info.size };
  }
}

export const artifactStoreFor = (dataDir: string): ArtifactStore => new DirectoryArtifactStore(join(dataDir, 'artifacts'));
