// Git's answer to requests before they are filed: a merge's branch head, a pick's commits (on trunk,
// in trunk order, already in the release or not) with what an owner needs to triage them. One fetch
// for the whole batch; each distinct commit is looked at once however many requests name it.
import { ApplicationFailure } from '@temporalio/common';
import type { CommitDetail } from '../domain/changes.ts';
import { refuse } from '../domain/errors.ts';
import type { ProductConfig } from '../domain/types.ts';
import type { FileRequest, Inspected } from '../domain/requests.ts';
import type { ActivityDeps } from './deps.ts';
import { mirrorFor } from './deps.ts';
import { classified } from './faults.ts';
import type { Mirror } from './git/index.ts';
import { withHeartbeat } from './heartbeat.ts';
import { pickedOrigins, resolvePick } from './picks.ts';
import { safeBranch } from './release-git.ts';

export type InspectAnswer = { ok: true; inspected: Inspected } | { ok: false; code: string; message: string; details?: Record<string, unknown> };

/** A refusal for this one request (bad ref, unknown commit, ...); anything else fails the whole call. */
async function answer(work: () => Promise<Inspected>): Promise<InspectAnswer> {
  try {
    return { ok: true, inspected: await work() };
  } catch (err) {
    if (err instanceof ApplicationFailure && err.nonRetryable && err.type !== 'permanent') {
      const details = err.details?.[0];
      return { ok: false, code: err.type ?? 'bad_request', message: err.message, ...(details && typeof details === 'object' ? { details: details as Record<string, unknown> } : {}) };
    }
    throw err;
  }
}

class PickLookup {
  private readonly resolved = new Map<string, Promise<string>>();
  private readonly facts = new Map<string, Promise<{ order: number; detail: CommitDetail; present: boolean }>>();
  private origins: Promise<Set<string>> | null = null;
  private trunkHead: Promise<string> | null = null;

  constructor(private readonly m: Mirror, private readonly i: { product: ProductConfig; head: string; cutFrom: string }) {}

  private head(): Promise<string> {
    this.trunkHead ??= this.m.resolveBranch(this.i.product.trunk).then((sha) => {
      if (!sha) throw refuse('unknown_branch', `trunk ${this.i.product.trunk} does not exist in ${this.i.product.repository}`);
      return sha;
    });
    return this.trunkHead;
  }

  resolve(given: string): Promise<string> {
    const key = given.toLowerCase();
    let found = this.resolved.get(key);
    if (!found) {
      found = this.head().then((trunk) => resolvePick(this.m, this.i.product, trunk, given));
      this.resolved.set(key, found);
    }
    return found;
  }

  about(sha: string): Promise<{ order: number; detail: CommitDetail; present: boolean }> {
    let known = this.facts.get(sha);
    if (!known) {
      this.origins ??= pickedOrigins(this.m, `${this.i.cutFrom}..${this.i.head}`);
      known = Promise.all([this.m.countCommits(sha), this.m.commitDetails([sha]), this.origins]).then(async ([order, [info], origins]) => {
        if (!info) throw new Error(`no details for commit ${sha}`);
        const { stat } = info;
        const detail: CommitDetail = {
          sha, subject: info.subject, author: `${info.authorName} <${info.authorEmail}>`, authorDate: info.authorDate,
          files: stat.files, insertions: stat.insertions, deletions: stat.deletions, paths: stat.paths.slice(0, 50),
        };
        return { order, detail, present: origins.has(sha) || (await this.m.isAncestor(sha, this.i.head)) };
      });
      this.facts.set(sha, known);
    }
    return known;
  }
}

export function inspectActivities(deps: ActivityDeps) {
  return {
    async inspectRequests(i: { product: ProductConfig; head: string; cutFrom: string; requests: FileRequest[] }): Promise<InspectAnswer[]> {
      return classified(() => withHeartbeat(async () => {
        const m = await mirrorFor(deps, i.product.repository);
        await m.fetch();
        const picks = new PickLookup(m, i);
        const answers: InspectAnswer[] = [];
        // One at a time: git calls are cached across requests, and the helper process bounds concurrency anyway.
        for (const req of i.requests) {
          answers.push(await answer(async (): Promise<Inspected> => {
            switch (req.kind) {
              case 'merge': {
                safeBranch(req.branch);
                const sha = await m.resolveBranch(req.branch);
                if (!sha) throw refuse('unknown_branch', `branch ${req.branch} does not exist in ${i.product.repository}`, { branch: req.branch });
                return { kind: 'merge', sourceSha: sha };
              }
              case 'pick': {
                const shas: string[] = [];
                for (const given of req.commits) {
                  const sha = await picks.resolve(given);
                  if (!shas.includes(sha)) shas.push(sha);
                }
                const facts = await Promise.all(shas.map((sha) => picks.about(sha)));
                facts.sort((a, b) => a.order - b.order);
                return {
                  kind: 'pick', commits: facts.map((f) => f.detail), trunkOrder: facts[0]?.order ?? 0, alreadyPresent: facts.every((f) => f.present),
                };
              }
              case 'revert':
                return { kind: 'revert' };
            }
          }));
        }
        return answers;
      }));
    },
  };
}
