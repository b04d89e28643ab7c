// An octokit for a GitHub-backed product (domain/github.ts): a fine-grained token or a GitHub App
// installation, both by secret name (activities/secrets.ts), through octokit's retry and throttling
// plugins. A rate limit is waited out up to three times per request before it is an error the activity
// retries later; GitHub's secondary limits likewise.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { App, Octokit, RequestError } from 'octokit';
import type { GithubConfig } from '../../domain/github.ts';
import { resolveSecrets } from '../secrets.ts';

type LimitHandler = (retryAfter: number, options: { method?: string; url?: string }, octokit: unknown, retryCount: number) => boolean;
const waitOut: LimitHandler = (_retryAfter, _options, _octokit, retryCount) => retryCount < 3;

function options(config: GithubConfig) {
  return {
    ...(config.baseUrl ? { baseUrl: config.baseUrl.replace(/\/+$/, '') } : {}),
    userAgent: 'culvert',
    throttle: { onRateLimit: waitOut, onSecondaryRateLimit: waitOut },
    retry: { retries: 2 },
  };
}

/** The repository's owner and name. */
export function ownerRepo(config: GithubConfig): { owner: string; repo: string } {
  const [owner = '', repo = ''] = config.repository.split('/');
  return { owner, repo };
}

export async function githubClient(config: GithubConfig, env: NodeJS.ProcessEnv = process.env): Promise<Octokit> {
  if ('token' in config.auth) {
    const { env: resolved } = await resolveSecrets({ TOKEN: config.auth.token }, env);
    return new Octokit({ ...options(config), auth: resolved.TOKEN });
  }
  const { appId, installationId, privateKey } = config.auth.app;
  const { env: resolved } = await resolveSecrets({ KEY: privateKey }, env);
  const app = new App({ appId, privateKey: resolved.KEY ?? '', Octokit: Octokit.defaults(options(config)) });
  return app.getInstallationOctokit(installationId) as Promise<Octokit>;
}

/** GitHub refused for good (not a rate limit, not an outage), or the worker lacks the secret: an outcome, not a retry. */
export function refusal(err: unknown): string | null {
  if (err instanceof ApplicationFailure && err.nonRetryable) return err.message;
  if (err instanceof RequestError && err.status >= 400 && err.status < 500 && err.status !== 429 && !(err.status === 403 && /rate limit/i.test(err.message))) {
    return `GitHub answered ${err.status}: ${err.message.slice(0, 200)}`;
  }
  return null;
}

/**
 * Reads `read` every 250 ms, heartbeating, until `changed` says what it read is news or `waitSeconds`
 * have passed; the followers' one way of waiting for Culvert's database (honours cancellation).
 */
export async function watchUntil<T>(waitSeconds: number, read: () => Promise<T>, changed: (value: T) => boolean): Promise<T> {
  const ctx = Context.current();
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    const value = await read();
    if (changed(value) || Date.now() >= deadline) return value;
    ctx.heartbeat();
    await ctx.sleep(250);
  }
}
