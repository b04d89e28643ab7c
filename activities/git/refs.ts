export class InvalidRefError extends Error {
  override name = 'InvalidRefError';
  readonly ref: string;

  constructor(ref: string, message: string) {
    super(message);
    this.ref = ref;
  }
}

const MAX_BRANCH_LENGTH = 255;
const FORBIDDEN_CHARS = new Set(['~', '^', ':', '?', '*', '[', '\\', ' ']);

function describeChar(c: string): string {
  const code = c.charCodeAt(0);
  if (code < 0x20 || code === 0x7f) return `control character 0x${code.toString(16).padStart(2, '0')}`;
  if (c === ' ') return 'a space';
  return `"${c}"`;
}

function problemWith(name: string): string | null {
  if (name === '') return 'must not be empty';
  if (name.length > MAX_BRANCH_LENGTH) return `must be at most ${MAX_BRANCH_LENGTH} characters`;
  // A leading "-" would let a branch name be read as a command-line option.
  if (name.startsWith('-')) return 'must not start with "-"';
  if (name === '@') return 'must not be "@"';
  if (name === 'HEAD') return 'must not be "HEAD"';
  if (name.startsWith('/')) return 'must not start with "/"';
  if (name.endsWith('/')) return 'must not end with "/"';
  if (name.endsWith('.')) return 'must not end with "."';
  if (name.includes('//')) return 'must not contain "//"';
  if (name.includes('..')) return 'must not contain ".."';
  if (name.includes('@{')) return 'must not contain "@{"';
  for (const c of name) {
    const code = c.charCodeAt(0);
    if (code < 0x20 || code === 0x7f || FORBIDDEN_CHARS.has(c)) return `must not contain ${describeChar(c)}`;
  }
  for (const component of name.split('/')) {
    if (component.startsWith('.')) return `must not have a path component starting with "." ("${component}")`;
    if (component.endsWith('.lock')) return `must not have a path component ending with ".lock" ("${component}")`;
  }
  return null;
}

/**
 * Mirrors `git check-ref-format --branch` without spawning git, so names from API
 * callers can be rejected before they get anywhere near an argv.
 */
export function assertSafeBranchName(name: string): void {
  const problem = problemWith(name);
  if (problem !== null) throw new InvalidRefError(name, `branch name ${JSON.stringify(name)} ${problem}`);
}

export function isSafeBranchName(name: string): boolean {
  return problemWith(name) === null;
}

export function isShaLike(s: string): boolean {
  return /^[0-9a-fA-F]{4,40}$/.test(s);
}

export function isFullSha(s: string): boolean {
  return /^[0-9a-fA-F]{40}$/.test(s);
}
