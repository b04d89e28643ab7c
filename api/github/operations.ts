// What a GitHub delivery's worker does (domain/github.ts GithubOps): the API's own filing and deciding,
// with their checks and audit, as the GitHub user the event names. A refusal (4xx) is the outcome; an
// outage is thrown for the activity to retry.
import type { GithubChangeOp, GithubOpOutcome, GithubOps } from '../../domain/github.ts';
import type { Actor } from '../../domain/types.ts';
import { decide } from '../changes/decide.ts';
import { fileChange } from '../changes/routes.ts';
import type { AppDeps } from '../context.ts';
import { toApiError } from '../errors.ts';
import { loadRelease } from '../releases/routes.ts';
import { listReleases } from '../../db/repos/releases.ts';
import { notesMarkdown } from '../notes/notes.ts';
import { notesBetween } from '../notes/routes.ts';

const culvertActor: Actor = { name: 'culvert', role: 'admin', products: null, tokenId: null };

export function githubOperations(deps: AppDeps): GithubOps {
  return {
    async releaseNotes(product: string, release: string): Promise<string> {
      // The release cut before this one is what it is compared with; read as Culvert itself.
      const all = (await listReleases(deps.db, product)).filter((r) => r.name !== release);
      const own = await loadRelease(deps.db, product, release);
      const before = all.filter((r) => r.createdAt < own.createdAt).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())[0];
      if (!before) return `${product} ${release}: the first release.`;
      const { set } = await notesBetween(deps, culvertActor, product, before.name, release, 'exclude');
      return notesMarkdown(`${product} ${release} (since ${before.name})`, set, before.name);
    },
    async act(actor: Actor, product: string, release: string, op: GithubChangeOp, key: string): Promise<GithubOpOutcome> {
      try {
        return await perform(deps, actor, product, release, op, key);
      } catch (thrown) {
        const err = toApiError(thrown);
        if (err.status >= 500) throw thrown;
        return { ok: false, code: err.code, detail: err.message };
      }
    },
  };
}

async function perform(deps: AppDeps, actor: Actor, product: string, release: string, op: GithubChangeOp, key: string): Promise<GithubOpOutcome> {
  switch (op.kind) {
    case 'merge': {
      const c = await fileChange(deps, product, release, { kind: 'merge', branch: op.branch }, actor, key);
      return { ok: true, detail: `merge request #${c.seq} (${c.state})`, changeId: c.id };
    }
    case 'pick': {
      const c = await fileChange(deps, product, release, { kind: 'pick', commits: op.commits, reason: op.reason, severity: 'normal' }, actor, key);
      return { ok: true, detail: c.state === 'already-present' ? 'already present' : `pick request #${c.seq} (${c.state})`, changeId: c.id };
    }
    case 'approve': {
      const [result] = await decide(deps, await loadRelease(deps.db, product, release), [{ id: op.changeId, decision: 'approve', comment: op.comment }], actor);
      if (!result || !result.ok) return { ok: false, code: result?.code ?? 'bad_request', detail: result?.message ?? 'not decided', changeId: op.changeId };
      return { ok: true, detail: `approved (${result.state})`, changeId: op.changeId };
    }
  }
}
