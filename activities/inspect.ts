// Git's answer to requests before they are filed: a merge's branch head, a pick's commits (on trunk,
// in trunk order, already in the release or not) with what an owner needs to triage them. One fetch
// for the whole batch; each distinct commit is looked at once however many requests name it.
import { ApplicationFailure } from '@temporalio/common';
import type { CommitDetail } from '../domain/changes.ts';
import { refuse } from '../domain/errors.ts';
import type { ProductConfig } from '../domain/types.ts';
import type { FileRequest, InspectAnswer, InspectedWire, Inspection } from '../domain/requests.ts';
import type { ActivityDeps } from './deps.ts';
import { mirrorFor } from './deps.ts';
import { classified } from './faults.ts';
import { isShaLike } from './git/index.ts';
import type { Mirror } from './git/index.ts';
import { withHeartbeat } from './heartbeat.ts';
import { pickedOrigins } from './picks.ts';
import { logCommits, patchIds } from './trace/git.ts';
import { safeBranch } from './release-git.ts';

/** A refusal for this one request (bad ref, unknown commit, ...); anything else fails the whole call. */
async function answer(work: () => Promise<InspectedWire>): Promise<InspectAnswer> {
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

/**
 * What never changes about a commit (its place in history, subject, author, diff), per repository, in
 * this worker: CI files the same commits again and again (into several releases, or as requests of a
 * batch sent in parts), and each look costs three git processes.
 */
const commitFacts = new Map<string, { order: number; detail: CommitDetail }>();
const commitFactsLimit = 20_000;

function remember(key: string, facts: { order: number; detail: CommitDetail }): void {
  if (commitFacts.size >= commitFactsLimit) commitFacts.delete(commitFacts.keys().next().value as string);
  commitFacts.set(key, facts);
}

/** Commits found from what a user named (a full or abbreviated SHA), per repository: a commit never goes away. */
const foundCommits = new Map<string, string>();

/**
 * Everything git says about the picks of one batch of requests, asked in as few git calls as the
 * batch allows: each named commit resolved once, whether it is on trunk and whether the release holds
 * it in one call each for the whole batch, the unchanging facts of a commit once per worker.
 */
class PickLookup {
  private trunkHead = '';
  private onTrunk = new Set<string>();
  /** Named commits not on trunk that some other branch holds (a fix kept on an older line). */
  private onBranch = new Set<string>();
  /** Named commits whose patch the release already has under another SHA (as `git cherry` sees it): that SHA. */
  private samePatch = new Map<string, string>();
  private onHead = new Set<string>();
  private origins = new Set<string>();
  private readonly resolved = new Map<string, string | ApplicationFailure>();
  private readonly facts = new Map<string, { order: number; detail: CommitDetail }>();

  constructor(private readonly m: Mirror, private readonly i: { product: ProductConfig; head: string; cutFrom: string; branch?: string }) {}

  /**
   * The head to look in: the workflow's, or the branch's on the remote when that is newer (a unit of
   * work pushed and recorded its outcome, and has not reported to the workflow yet).
   */
  private async releaseHead(): Promise<string> {
    if (!this.i.branch) return this.i.head;
    const remote = await this.m.resolveBranch(this.i.branch);
    if (!remote || remote === this.i.head) return this.i.head;
    return (await this.m.isAncestor(this.i.head, remote)) ? remote : this.i.head;
  }

  async prepare(requests: FileRequest[]): Promise<void> {
    const named = [...new Set(requests.flatMap((r) => (r.kind === 'pick' ? r.commits.map((c) => c.toLowerCase()) : [])))];
    if (named.length === 0) return;
    const trunk = await this.m.resolveBranch(this.i.product.trunk);
    if (!trunk) throw refuse('unknown_branch', `trunk ${this.i.product.trunk} does not exist in ${this.i.product.repository}`);
    this.trunkHead = trunk;
    for (const given of named) {
      const key = `${this.i.product.repository}\0${given}`;
      const known = foundCommits.get(key);
      if (known) {
        this.resolved.set(given, known);
        continue;
      }
      try {
        if (!isShaLike(given)) throw refuse('bad_request', `"${given}" is not a commit SHA (4 to 40 hex digits)`, { commit: given });
        const found = await this.m.candidates(given);
        if (found.length > 1) throw refuse('ambiguous_commit', `commit ${given} is ambiguous: it could be ${found.slice(0, 5).join(', ')}`, { commit: given, candidates: found });
        const sha = found[0];
        if (!sha) throw refuse('unknown_commit', `commit ${given} does not exist in ${this.i.product.repository}`, { commit: given });
        this.resolved.set(given, sha);
        if (foundCommits.size >= commitFactsLimit) foundCommits.delete(foundCommits.keys().next().value as string);
        foundCommits.set(key, sha);
      } catch (err) {
        if (err instanceof ApplicationFailure) this.resolved.set(given, err);
        else throw err;
      }
    }
    const shas = [...new Set([...this.resolved.values()].filter((x): x is string => typeof x === 'string'))];
    const head = await this.releaseHead();
    [this.onTrunk, this.onHead, this.origins] = await Promise.all([
      this.m.reachableFrom(shas, this.trunkHead),
      this.m.reachableFrom(shas, head),
      pickedOrigins(this.m, `${this.i.cutFrom}..${head}`),
    ]);
    const offTrunk = shas.filter((sha) => !this.onTrunk.has(sha));
    const onBranch = await Promise.all(offTrunk.map((sha) => this.m.onSomeBranch(sha)));
    this.onBranch = new Set(offTrunk.filter((_, n) => onBranch[n]));
    this.samePatch = await samePatchIn(this.m, this.i.product.repository, shas.filter((sha) => !this.onHead.has(sha) && !this.origins.has(sha)), this.i.cutFrom, head);
    for (const sha of shas) {
      const key = `${this.i.product.repository}\0${sha}`;
      const cached = commitFacts.get(key);
      if (cached) this.facts.set(sha, cached);
    }
    const missing = shas.filter((sha) => !this.facts.has(sha));
    if (missing.length === 0) return;
    const [orders, infos] = await Promise.all([Promise.all(missing.map((sha) => this.m.countCommits(sha))), this.m.commitDetails(missing)]);
    const infoOf = new Map(infos.map((x) => [x.sha, x]));
    missing.forEach((sha, n) => {
      const info = infoOf.get(sha);
      if (!info) throw new Error(`no details for commit ${sha}`);
      const { stat } = info;
      const facts = {
        order: orders[n] ?? 0,
        detail: {
          sha, subject: info.subject, author: `${info.authorName} <${info.authorEmail}>`, authorDate: info.authorDate,
          files: stat.files, insertions: stat.insertions, deletions: stat.deletions, paths: stat.paths.slice(0, 50),
        },
      };
      this.facts.set(sha, facts);
      remember(`${this.i.product.repository}\0${sha}`, facts);
    });
  }

  resolve(given: string): string {
    const found = this.resolved.get(given.toLowerCase());
    if (found === undefined) throw new Error(`commit ${given} was not prepared`);
    if (typeof found !== 'string') throw found;
    if (!this.onTrunk.has(found) && !this.onBranch.has(found)) {
      throw refuse('commit_not_on_a_branch', `commit ${given} is on no branch of ${this.i.product.repository}: only commits of its branches can be picked`, { commit: given });
    }
    return found;
  }

  about(sha: string): { order: number; detail: CommitDetail; present: boolean; as?: string } {
    const facts = this.facts.get(sha);
    if (!facts) throw new Error(`commit ${sha} was not prepared`);
    const as = this.samePatch.get(sha);
    return { ...facts, present: this.origins.has(sha) || this.onHead.has(sha) || as !== undefined, ...(as ? { as } : {}) };
  }
}

/** Patch ids of commits, per repository: a commit's patch never changes. */
const patchIdCache = new Map<string, string | null>();
const patchIdCacheLimit = 100_000;

async function cachedPatchIds(m: Mirror, repository: string, shas: string[]): Promise<Map<string, string>> {
  const missing = shas.filter((sha) => !patchIdCache.has(`${repository}\0${sha}`));
  const found = await patchIds(m, missing);
  for (const sha of missing) {
    if (patchIdCache.size >= patchIdCacheLimit) patchIdCache.delete(patchIdCache.keys().next().value as string);
    patchIdCache.set(`${repository}\0${sha}`, found.get(sha) ?? null);
  }
  const out = new Map<string, string>();
  for (const sha of shas) {
    const id = patchIdCache.get(`${repository}\0${sha}`);
    if (id) out.set(sha, id);
  }
  return out;
}

/**
 * Which of `picked` the release already has as another commit with the same patch (`git patch-id
 * --stable`, as `git cherry` compares them), among the commits it gained since its cut; for each, that
 * commit. A backport made by hand with the very same diff is "already present", not a conflict to triage.
 */
export async function samePatchIn(m: Mirror, repository: string, picked: string[], cutFrom: string, head: string): Promise<Map<string, string>> {
  const as = new Map<string, string>();
  if (picked.length === 0 || cutFrom === head) return as;
  const since = (await logCommits(m, head, [cutFrom])).filter((c) => c.parents.length === 1).map((c) => c.sha);
  if (since.length === 0) return as;
  const ids = await cachedPatchIds(m, repository, [...new Set([...picked, ...since])]);
  const byPatch = new Map<string, string>();
  for (const sha of since) {
    const id = ids.get(sha);
    if (id && !byPatch.has(id)) byPatch.set(id, sha);
  }
  for (const sha of picked) {
    const id = ids.get(sha);
    const twin = id ? byPatch.get(id) : undefined;
    if (twin && twin !== sha) as.set(sha, twin);
  }
  return as;
}

export function inspectActivities(deps: ActivityDeps) {
  return {
    async inspectRequests(i: { product: ProductConfig; head: string; cutFrom: string; branch?: string; requests: FileRequest[] }): Promise<Inspection> {
      return classified(() => withHeartbeat(async () => {
        const m = await mirrorFor(deps, i.product.repository);
        await m.fetch();
        const picks = new PickLookup(m, i);
        await picks.prepare(i.requests);
        const answers: InspectAnswer[] = [];
        const details: Record<string, CommitDetail> = {};
        // One at a time: git calls are cached across requests, and the helper process bounds concurrency anyway.
        for (const req of i.requests) {
          answers.push(await answer(async (): Promise<InspectedWire> => {
            switch (req.kind) {
              case 'merge': {
                safeBranch(req.branch);
                const sha = await m.resolveBranch(req.branch);
                if (!sha) throw refuse('unknown_branch', `branch ${req.branch} does not exist in ${i.product.repository}`, { branch: req.branch });
                // What an owner triages: the tip's subject and author, and the diff the merge brings.
                const [info, stat] = await Promise.all([m.commitInfo(sha), m.diffStatSince(i.head, sha)]);
                const tip: CommitDetail = {
                  sha, subject: info.subject, author: `${info.authorName} <${info.authorEmail}>`, authorDate: info.authorDate,
                  files: stat.files, insertions: stat.insertions, deletions: stat.deletions, paths: stat.paths.slice(0, 50),
                };
                return { kind: 'merge', sourceSha: sha, tip };
              }
              case 'pick': {
                const shas: string[] = [];
                for (const given of req.commits) {
                  const sha = picks.resolve(given);
                  if (!shas.includes(sha)) shas.push(sha);
                }
                const facts = shas.map((sha) => picks.about(sha));
                facts.sort((a, b) => a.order - b.order);
                for (const f of facts) details[f.detail.sha] = f.detail;
                const presentAs = Object.fromEntries(facts.flatMap((f) => (f.as ? [[f.detail.sha, f.as]] : [])));
                return {
                  kind: 'pick', shas: facts.map((f) => f.detail.sha), trunkOrder: facts[0]?.order ?? 0, alreadyPresent: facts.every((f) => f.present),
                  ...(Object.keys(presentAs).length > 0 ? { presentAs } : {}),
                };
              }
              case 'revert':
                return { kind: 'revert' };
            }
          }));
        }
        return { answers, details };
      }));
    },
  };
}
