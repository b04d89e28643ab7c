import type { Fetch } from './api.ts';
import { ApiCallError, ApiClient } from './api.ts';
import { ClientUsageError, clientConfig, parseArgs } from './config.ts';
import type { CommandContext } from './commands.ts';
import { audit, deploy, freeze, gates, vote } from './actions.ts';
import { changes, decide, manifest, notes, releases, where } from './commands.ts';
import { plan, plans, train, trainAct, trainOptions, trainStart, trains } from './trains.ts';

export const clientUsage = `release owners' commands (talk to a running Culvert over HTTP):
  releases <product>                                   the product's releases
  changes <product>/<release> [--state s[,s]] [--severity x] [--q text] [--sort seq|trunk|age] [--limit n]
  approve <product>/<release> <#seq|id>... [--comment text]   (or --all-awaiting: every request awaiting a decision whose checks did not fail)
  reject  <product>/<release> <#seq|id>... [--comment text]   (or --all-awaiting)
  where <sha> [--product p]                            which releases and environments hold a commit; in production?
  notes <product> <from> <to> [--component c]          release notes between two releases (Markdown); with components, each has its section
  manifest <product>/<release>                         the repositories a release is made of: where each was cut, its head now
  gates [--state pending|approved|rejected|expired] [--product p]   approval gates (QA sign-off, environment gates)
  vote <gate-id> approve|reject [--comment text]       a vote on a gate
  deploy <product>/<release> <environment> [--candidate "3.11 RC1"]   the deploy click (a rollback: an older release)
  freeze <product>/<release>                           no more changes; a binary release goes on to its final
  audit <product> [--limit n]                          who did what, when, refused attempts included
  trains                                               trains, newest first
  train <name>                                         a train: each member's release, head, environments and last outcome; its actions
  train-start <name> <release> (--plan p | --products a,b,c)   cut the same release of many products at once
  train-act <name> deploy <env> | freeze | close | pick <sha>... --reason text [--severity s] [--yes | --all] [--wait]
                                                       without --yes or --all the pre-flight only (who can; why not the others), nothing
                                                       done; --yes acts on the ready members, --all on every member; --wait until all are
                                                       done (exit 1 if one failed)
  plans                                                release plans, with how many products each serves (admin)
  plan <name>                                          a plan's members: their parameters and the settings they override (admin)
client options: --url URL (CULVERT_URL, default http://127.0.0.1:8080), --token T (CULVERT_TOKEN, default the
  local admin token in the data dir), --json (the API's answer as it is)
`;

const commands: Record<string, (ctx: CommandContext) => Promise<number>> = {
  releases, changes, where, notes, manifest, gates, vote, deploy, freeze, audit,
  approve: (ctx) => decide(ctx, 'approve'),
  reject: (ctx) => decide(ctx, 'reject'),
  trains, train, 'train-start': trainStart, 'train-act': trainAct, plans, plan,
};

export const clientCommands = Object.keys(commands);

export interface ClientIo {
  env: NodeJS.ProcessEnv;
  fetch: Fetch;
  out: (text: string) => void;
  err: (text: string) => void;
  defaultDataDir: string;
}

/** Runs one client command; the exit code: 0 done, 1 refused by Culvert, 2 a usage or configuration mistake. */
export async function runClient(command: string, argv: string[], io: ClientIo): Promise<number> {
  const run = commands[command];
  if (!run) {
    io.err(`unknown command ${command}\n\n${clientUsage}`);
    return 2;
  }
  try {
    const args = parseArgs(argv, Object.hasOwn(trainOptions, command) ? trainOptions[command] : {});
    const cfg = clientConfig(args, io.env, io.defaultDataDir);
    return await run({ api: new ApiClient(cfg.url, cfg.token, io.fetch), args, json: cfg.json, out: io.out });
  } catch (err) {
    if (err instanceof ClientUsageError) {
      io.err(`culvert ${command}: ${err.message}`);
      return 2;
    }
    if (err instanceof ApiCallError) {
      io.err(`culvert ${command}: ${err.message}${err.status ? ` (${err.status} ${err.code})` : ''}`);
      return 1;
    }
    throw err;
  }
}
