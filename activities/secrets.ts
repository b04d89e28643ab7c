// Named secrets of steps (issue 10): a step's env may say `{ "secret": "DEPLOY_TOKEN" }`; the worker
// that runs the step resolves it from its own environment (`CULVERT_SECRET_DEPLOY_TOKEN`) or from a
// secrets file (`CULVERT_SECRETS_FILE`, a JSON object of names to values, readable by the worker only).
// Values never go into the configuration, the API, the audit log or Temporal's history, and the step's
// log has them masked once the step ends.
import { readFile, stat, writeFile } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import type { EnvValue } from '../domain/types.ts';

/** What a masked secret reads as in a log. */
export const maskedSecret = '***';
/** Logs above this are left as they are (with a note): masking reads the whole file. */
const maskLimitBytes = 64 * 1024 * 1024;

async function secretsFile(env: NodeJS.ProcessEnv): Promise<Record<string, string>> {
  const file = env.CULVERT_SECRETS_FILE;
  if (!file) return {};
  const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`CULVERT_SECRETS_FILE ${file} is not a JSON object of names to values`);
  return Object.fromEntries(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/**
 * The step's environment with every secret resolved, and the secret values (to mask). A secret this
 * worker does not have fails the step for good, naming the secret and where to set it, never a value.
 */
export async function resolveSecrets(vars: Record<string, EnvValue> | undefined, env: NodeJS.ProcessEnv = process.env): Promise<{ env: Record<string, string>; secrets: string[] }> {
  const out: Record<string, string> = {};
  const secrets: string[] = [];
  let file: Record<string, string> | undefined;
  for (const [name, value] of Object.entries(vars ?? {})) {
    if (typeof value === 'string') {
      out[name] = value;
      continue;
    }
    const fromEnv = env[`CULVERT_SECRET_${value.secret}`];
    file ??= await secretsFile(env);
    const resolved = fromEnv ?? file[value.secret];
    if (resolved === undefined) {
      throw ApplicationFailure.nonRetryable(
        `secret ${value.secret} (for ${name}) is not set on this worker: set CULVERT_SECRET_${value.secret}, or add it to CULVERT_SECRETS_FILE`, 'secret_missing',
      );
    }
    out[name] = resolved;
    if (resolved.length > 0) secrets.push(resolved);
  }
  return { env: out, secrets };
}

/** Replaces every secret value in a finished step's log with `***`. */
export async function maskLog(logPath: string, secrets: string[]): Promise<void> {
  if (secrets.length === 0) return;
  const { size } = await stat(logPath);
  if (size > maskLimitBytes) {
    await writeFile(logPath, `\n(log not masked: larger than ${maskLimitBytes} bytes)\n`, { flag: 'a' });
    return;
  }
  const text = await readFile(logPath, 'utf8');
  // Longest first, so that a secret containing another is masked whole.
  let masked = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) masked = masked.split(s).join(maskedSecret);
  if (masked !== text) await writeFile(logPath, masked);
}
