// Tracing that survives real backports (issue 11): a labelled corpus of backports made on a release branch
// every way real projects make them, with the truth written down, and the answer of `GET /v1/commits/:sha`
// for each. Certain answers (trailer, patch id) must never be wrong; backports edited by hand are found
// as `similar` (a "probably", with its evidence) at least 95% of the time, and none is made up.
import { writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import { normalSubject } from '../activities/trace/similar.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';

type Kind = 'exact' | 'trailer' | 'edited' | 'reworded' | 'redone' | 'squashed' | 'repicked' | 'unrelated';
interface Case { kind: Kind; sha: string; truth: string | null }

const fixes = 24;
const hour = 3600_000;

describe('tracing backports made by hand', () => {
  let stack: Stack;
  let repo: GitFixture;

  beforeAll(async () => {
    stack = await startStack();
    repo = await createRemote();
  });
  afterAll(async () => {
    await stack?.stop();
    await repo?.cleanup();
  });

  it('normalises a subject the way backports rewrite it', () => {
    for (const s of ['[3.x] m1: fix overflow', 'Backport: m1: fix overflow', 'backport to 3.22: m1: fix overflow (#123)', '(cherry picked) M1: Fix  overflow', 'm1: fix overflow (backport of #9)']) {
      expect(normalSubject(s), s).toBe('m1: fix overflow');
    }
  });

  it('finds exact, -x, edited, reworded, redone and squashed backports, each saying how, and invents none', async () => {
    const w = async (args: string[], env: Record<string, string> = {}): Promise<string> =>
      (await git(['-c', 'commit.gpgSign=false', ...args], { cwd: repo.work, env })).stdout.trim();
    const write = async (files: Record<string, string>): Promise<void> => {
      for (const [path, content] of Object.entries(files)) {
        await mkdir(dirname(join(repo.work, path)), { recursive: true });
        await writeFile(join(repo.work, path), content);
      }
      await w(['add', '--all']);
    };
    const at = (n: number): string => new Date(Date.UTC(2026, 0, 1) + n * hour).toISOString();
    const commitAs = async (files: Record<string, string>, message: string, who: { name: string; date: string }): Promise<string> => {
      await write(files);
      const env = { GIT_AUTHOR_NAME: who.name, GIT_AUTHOR_EMAIL: `${who.name.toLowerCase()}@example.com`, GIT_AUTHOR_DATE: who.date, GIT_COMMITTER_NAME: 'Rel', GIT_COMMITTER_EMAIL: 'rel@example.com', GIT_COMMITTER_DATE: who.date };
      await w(['commit', '--quiet', '-m', message], env);
      return w(['rev-parse', 'HEAD']);
    };
    const body = (i: number, variant = ''): string => Array.from({ length: 12 }, (_, k) => `line ${k} of module ${i}${k === 5 ? ` fixed${variant}` : ''}`).join('\n') + '\n';

    // Trunk: modules, the cut, then one fix per module by several people at distinct times.
    const base: Record<string, string> = {};
    for (let i = 0; i <= fixes; i++) base[`src/m${i}.c`] = body(i).replace(' fixed', '');
    base['src/twice.c'] = 'before\n';
    base['src/again.c'] = 'before\n';
    await commitAs(base, 'modules', { name: 'Ann', date: at(0) });
    const cutPoint = await commitAs({ 'VERSION': '3.22\n' }, 'release 3.22', { name: 'Ann', date: at(1) });
    const trunk: string[] = [];
    for (let i = 0; i <= fixes; i++) trunk.push(await commitAs({ [`src/m${i}.c`]: body(i) }, `m${i}: fix overflow ${i}`, { name: `Dev${i % 5}`, date: at(10 + i) }));
    // The same patch twice on trunk: a fix, its revert, the fix again.
    const once = await commitAs({ 'src/twice.c': 'after\n' }, 'twice: the fix', { name: 'Dev1', date: at(50) });
    await commitAs({ 'src/twice.c': 'before\n' }, 'Revert "twice: the fix"', { name: 'Dev2', date: at(51) });
    const again = await commitAs({ 'src/twice.c': 'after\n' }, 'twice: the fix, again', { name: 'Dev3', date: at(52) });
    const repickable = await commitAs({ 'src/again.c': 'after\n' }, 'again: the fix', { name: 'Dev4', date: at(53) });
    await w(['push', '--quiet', 'origin', 'main']);

    const product = unique('backports');
    expect((await stack.call('POST', '/v1/products', { body: { name: product, repository: repo.remote, flow: 'cherry-pick', trunk: 'main' } })).status).toBe(201);
    const cut = await stack.call('POST', `/v1/products/${product}/releases`, { body: { name: '3.22', from: cutPoint } });
    expect(cut.status, cut.text).toBe(201);
    const branch = cut.body.branch as string;

    // The old line's maintainers backport by hand, every way there is.
    await w(['fetch', '--quiet', 'origin']);
    await w(['checkout', '--quiet', '-B', branch, `origin/${branch}`]);
    const cases: Case[] = [];
    const rel = { GIT_COMMITTER_NAME: 'Rel', GIT_COMMITTER_EMAIL: 'rel@example.com' };
    const head = () => w(['rev-parse', 'HEAD']);
    const adapt = async (i: number) => write({ [`src/m${i}.c`]: body(i, ' for the old API') });
    for (let i = 0; i < fixes; i++) {
      const t = trunk[i] as string;
      if (i < 4) {
        await w(['cherry-pick', t], rel);
        cases.push({ kind: 'exact', sha: await head(), truth: t });
      } else if (i < 8) {
        await w(['cherry-pick', '-x', t], rel);
        cases.push({ kind: 'trailer', sha: await head(), truth: t });
      } else if (i < 14) {
        // Adapted to older code: the patch differs; git keeps the author and date.
        await w(['cherry-pick', '-n', t], rel);
        await adapt(i);
        await w(['commit', '--quiet', '-C', t], rel);
        cases.push({ kind: 'edited', sha: await head(), truth: t });
      } else if (i < 18) {
        await w(['cherry-pick', '-n', t], rel);
        await adapt(i);
        await w(['commit', '--quiet', '-C', t], rel);
        await w(['commit', '--quiet', '--amend', '-m', `[3.22] Backport: m${i}: fix overflow ${i}, for the old API`], rel);
        cases.push({ kind: 'reworded', sha: await head(), truth: t });
      } else if (i < 22) {
        // Redone by someone else, later, from the description: same subject, same file.
        cases.push({ kind: 'redone', sha: await commitAs({ [`src/m${i}.c`]: body(i, ' (backport)') }, `[3.x] m${i}: fix overflow ${i}`, { name: 'Maint', date: at(100 + i) }), truth: t });
      } else if (i === 22) {
        // Two fixes squashed into one: the first one's author and date.
        await w(['cherry-pick', '-n', t, trunk[23] as string], rel);
        await adapt(22);
        await w(['commit', '--quiet', '-C', t], rel);
        cases.push({ kind: 'squashed', sha: await head(), truth: t });
      }
    }
    // The fix applied twice on trunk, backported once (its first copy, without -x).
    await w(['cherry-pick', once], rel);
    const twiceBackport = await head();
    // Picked with -x, reverted on the old line, picked again: both picks are of the fix; the revert is of none.
    await w(['cherry-pick', '-x', repickable], rel);
    cases.push({ kind: 'repicked', sha: await head(), truth: repickable });
    await w(['revert', '--no-edit', 'HEAD'], { ...rel, GIT_AUTHOR_NAME: 'Rel', GIT_AUTHOR_EMAIL: 'rel@example.com' });
    cases.push({ kind: 'unrelated', sha: await head(), truth: null });
    await w(['cherry-pick', '-x', repickable], rel);
    cases.push({ kind: 'repicked', sha: await head(), truth: repickable });
    // Not backports: a subject of trunk's on other files, one touching mostly other files, and one of its own.
    cases.push({ kind: 'unrelated', sha: await commitAs({ 'docs/m20.txt': 'notes\n' }, 'm20: fix overflow 20', { name: 'Maint', date: at(200) }), truth: null });
    cases.push({ kind: 'unrelated', sha: await commitAs({ 'src/m19.c': body(19, ' differently'), 'src/extra-a.c': 'a\n', 'src/extra-b.c': 'b\n' }, 'm19: fix overflow 19', { name: 'Maint', date: at(201) }), truth: null });
    cases.push({ kind: 'unrelated', sha: await commitAs({ 'src/old-only.c': 'x\n' }, 'old line only: keep the 3.22 wire format', { name: 'Maint', date: at(202) }), truth: null });
    await w(['push', '--quiet', 'origin', `${branch}:${branch}`]);
    await w(['checkout', '--quiet', 'main']);

    // Culvert records the branch's moves when it next moves it: a pick of the last fix.
    const changes = `/v1/products/${product}/releases/3.22/changes`;
    const filed = await stack.call('POST', changes, { body: { kind: 'pick', commits: [trunk[fixes] as string], reason: 'the last fix', severity: 'normal' } });
    expect(filed.status, filed.text).toBe(201);
    expect((await stack.call('POST', `${changes}/${filed.body.id}/decision`, { body: { decision: 'approve' } })).status).toBe(200);
    await waitFor('the pick to land', async () => (await stack.call('GET', `${changes}/${filed.body.id}`)).body.state === 'merged');

    // What Culvert says of each, against the truth.
    const answers = await Promise.all(cases.map(async (c) => {
      const res = await waitFor(`the trace of ${c.sha}`, async () => {
        const r = await stack.call('GET', `/v1/commits/${c.sha}`);
        return r.status === 200 ? r : undefined;
      });
      return { ...c, origin: res.body.origin as { sha: string; pickedBy: string; evidence?: string } | null };
    }));
    const wrong = answers.filter((a) => a.origin !== null && a.origin.sha !== a.truth).map((a) => `${a.kind} ${a.sha.slice(0, 8)}: said ${a.origin?.sha.slice(0, 8)} (${a.origin?.pickedBy}), truth ${a.truth?.slice(0, 8) ?? 'none'}`);
    expect(wrong, 'no answer names the wrong origin').toEqual([]);
    const via = (kind: Kind) => answers.filter((a) => a.kind === kind).map((a) => a.origin?.pickedBy ?? 'none');
    expect(via('exact')).toEqual(['patch-id', 'patch-id', 'patch-id', 'patch-id']);
    expect(via('trailer')).toEqual(['trailer', 'trailer', 'trailer', 'trailer']);
    expect(via('repicked')).toEqual(['trailer', 'trailer']);
    expect(via('unrelated')).toEqual(['none', 'none', 'none', 'none']);
    const edited = answers.filter((a) => ['edited', 'reworded', 'redone', 'squashed'].includes(a.kind));
    const found = edited.filter((a) => a.origin?.pickedBy === 'similar' && a.origin.sha === a.truth);
    console.log(`edited backports found as similar: ${found.length} of ${edited.length}; ${answers.length} cases in all`);
    expect(found.length / edited.length, edited.filter((a) => !found.includes(a)).map((a) => `${a.kind} ${a.sha.slice(0, 8)}`).join(', ')).toBeGreaterThanOrEqual(0.95);
    for (const a of found) expect(a.origin?.evidence, a.kind).toMatch(a.kind === 'redone' ? /same subject, 1 of 1 paths/ : /same author and author date \(Dev\d/);

    // Either copy of the twice-applied fix is in 3.22, as the one backport of that patch.
    for (const copy of [once, again]) {
      const res = await stack.call('GET', `/v1/commits/${copy}`);
      expect(res.body.releases, copy === once ? 'first copy' : 'second copy').toContainEqual(expect.objectContaining({ release: '3.22', how: 'pick', pickSha: twiceBackport, pickedBy: 'patch-id' }));
    }

    // Asked from the trunk side: "is the fix in 3.22?" — probably, as an edited backport, and how it was found.
    const fromTrunk = await stack.call('GET', `/v1/commits/${trunk[10] as string}`);
    expect(fromTrunk.body.releases).toContainEqual(expect.objectContaining({ release: '3.22', how: 'pick', pickedBy: 'similar', evidence: expect.stringContaining('same author and author date') }));
  }, 180_000);
});
