// An octokit for a GitHub-backed product (domain/github.ts): a fine-grained token or a GitHub App
// installation, both by secret name (activities/secrets.ts), through octokit's retry and throttling
// plugins. A rate limit is waited out up to three times per request before it is an error the activity
// retries later; GitHub's secondary limits likewise.
import { App, Octokit } from 'octokit';
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
