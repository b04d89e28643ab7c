// A published binary release as a GitHub Release (issue 14): tagged at the commit it published, Culvert's
// notes since the release before it as its body, the final build's artifacts as its assets. Looked up by
// its tag first and each asset by its name, so a retry creates and uploads nothing twice.
import { readFile } from 'node:fs/promises';
import { artifactsOfCandidates } from '../../db/repos/candidates.ts';
import { getProduct } from '../../db/repos/products.ts';
import type { ActivityDeps } from '../deps.ts';
import { githubClient, ownerRepo, refusal } from './client.ts';

export function githubReleaseActivities(deps: ActivityDeps) {
  return {
    async publishGithubRelease(i: { product: string; release: string; commitSha: string }): Promise<{ releaseId: number | null; uploaded: string[]; refused?: string }> {
      const github = (await getProduct(deps.db, i.product))?.config.github;
      if (!github) return { releaseId: null, uploaded: [], refused: `${i.product} is no longer backed by GitHub` };
      const { owner, repo } = ownerRepo(github);
      const uploaded: string[] = [];
      try {
        const octokit = await githubClient(github);
        let release: { id: number; upload_url: string; assets: { name: string }[] };
        try {
          release = (await octokit.rest.repos.getReleaseByTag({ owner, repo, tag: i.release })).data;
        } catch (err) {
          if (!(err instanceof Error && 'status' in err && err.status === 404)) throw err;
          const notes = deps.githubOps ? await deps.githubOps.releaseNotes(i.product, i.release) : `${i.product} ${i.release}`;
          release = (await octokit.rest.repos.createRelease({
            owner, repo, tag_name: i.release, target_commitish: i.commitSha, name: `${i.product} ${i.release}`, body: notes.slice(0, 120_000),
          })).data;
        }
        const present = new Set(release.assets.map((a) => a.name));
        for (const a of await artifactsOfCandidates(deps.db, [`${i.product}/${i.release}/final`])) {
          // Named as Culvert's own download names it: the artifact's slot.
          const name = a.name;
          if (present.has(name)) continue;
          const data = await readFile(a.location);
          await octokit.request({
            method: 'POST', url: release.upload_url, name, data,
            headers: { 'content-type': 'application/octet-stream', 'content-length': data.length },
          });
          uploaded.push(name);
        }
        return { releaseId: release.id, uploaded };
      } catch (err) {
        const refused = refusal(err);
        if (refused) return { releaseId: null, uploaded, refused };
        throw err;
      }
    },
  };
}
