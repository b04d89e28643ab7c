import { spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { GitError, childEnv } from './run.ts';

export interface GitObject {
  type: string;
  body: Buffer;
}

interface Waiting {
  sha: string;
  resolve: (o: GitObject | null) => void;
  reject: (err: Error) => void;
}

const fullSha = /^[0-9a-f]{40}$/;

/**
 * Reads objects through one long-lived `git cat-file --batch`: a pipe round trip per object instead
 * of a git process per object. Answers in the order asked, so requests can be pipelined.
 */
export class ObjectReader {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly waiting: Waiting[] = [];
  private pending: Buffer = Buffer.alloc(0);
  private failure: Error | null = null;

  constructor(gitDir: string) {
    this.child = spawn('git', ['cat-file', '--batch'], { cwd: gitDir, env: childEnv({ GIT_DIR: gitDir }), stdio: ['pipe', 'pipe', 'ignore'] });
    this.child.stdout.on('data', (chunk: Buffer) => this.take(chunk));
    this.child.on('error', (err) => this.fail(err));
    this.child.on('close', (code) => this.fail(new GitError(`git cat-file --batch ended (exit code ${code})`, ['cat-file', '--batch'], code, '')));
    this.child.stdin.on('error', (err) => this.fail(err));
  }

  /** The object, or null when the repository does not have it. */
  read(sha: string): Promise<GitObject | null> {
    if (!fullSha.test(sha)) return Promise.reject(new GitError(`not a full object name: ${JSON.stringify(sha)}`, ['cat-file', sha], null, ''));
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.push({ sha, resolve, reject });
      this.child.stdin.write(`${sha}\n`);
    });
  }

  close(): void {
    this.fail(new GitError('object reader closed', ['cat-file', '--batch'], null, ''));
    this.child.stdin.end();
  }

  private take(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      const nl = this.pending.indexOf(10);
      if (nl < 0) return;
      const header = this.pending.subarray(0, nl).toString('latin1');
      const next = this.waiting[0];
      if (!next) return this.fail(new GitError(`git cat-file said something unasked: ${header.slice(0, 80)}`, ['cat-file', '--batch'], null, ''));
      const parts = header.split(' ');
      if (parts[1] === 'missing') {
        this.pending = this.pending.subarray(nl + 1);
        this.waiting.shift();
        next.resolve(null);
        continue;
      }
      const size = Number(parts[2]);
      if (parts.length !== 3 || parts[0] !== next.sha || !Number.isSafeInteger(size)) {
        return this.fail(new GitError(`git cat-file answered ${JSON.stringify(header.slice(0, 80))} for ${next.sha}`, ['cat-file', '--batch'], null, ''));
      }
      // The body, then one newline.
      if (this.pending.length < nl + 1 + size + 1) return;
      const body = Buffer.from(this.pending.subarray(nl + 1, nl + 1 + size));
      this.pending = this.pending.subarray(nl + 1 + size + 1);
      this.waiting.shift();
      next.resolve({ type: parts[1] ?? '', body });
    }
  }

  private fail(err: Error): void {
    if (!this.failure) this.failure = err;
    for (const w of this.waiting.splice(0)) w.reject(this.failure);
    if (this.child.exitCode === null && !this.child.killed) this.child.kill();
  }
}
