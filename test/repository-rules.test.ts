// Which repositories a product may have, and which of their branches (issue 10, finding 6): local paths
// only under configured roots and never in the data dir (checked by the API, and again by the worker
// with links resolved); a repository's branches belong to one product, refused with 409 naming it, in
// the database's own transaction.
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../activities/git/run.ts';
import { BranchesTakenError } from '../db/repos/branch-claims.ts';
import { createProduct } from '../db/repos/products.ts';
import { productBranches } from '../db/schema.ts';
import { branchConflict, localRepositoryProblem, repositoryKey } from '../domain/repositories.ts';
import type { ProductConfig } from '../domain/types.ts';
import { createRemote } from './helpers/git-fixture.ts';
import type { GitFixture } from './helpers/git-fixture.ts';
import { rowsDigest } from './helpers/snapshot.ts';
import { startStack, unique } from './helpers/stack.ts';
import type { Stack } from './helpers/stack.ts';

describe('repository rules', () => {
  let stack: Stack;
  let repo: GitFixture;
  let other: GitFixture;
  let scratch: string;

  beforeAll(async () => {
    [stack, repo, other] = await Promise.all([startStack(), createRemote(), createRemote()]);
    await repo.commit({ 'a.txt': 'a\n' }, 'first');
    await repo.push();
    await other.commit({ 'b.txt': 'b\n' }, 'first');
    await other.push();
    scratch = await mkdtemp(join(tmpdir(), 'culvert-links-'));
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
    await repo?.cleanup();
    await other?.cleanup();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  const body = (name: string, extra: Record<string, unknown> = {}) => ({ name, repository: repo.remote, flow: 'cherry-pick', trunk: 'main', owners: [], ...extra });
  const unchanged = async <T>(what: () => Promise<T>) => {
    const before = await rowsDigest(stack.database.db);
    const result = await what();
    expect(await rowsDigest(stack.database.db)).toEqual(before);
    return result;
  };

  it('local paths: under a root only, never the data dir nor a root itself; 400 and nothing stored', async () => {
    const cases: [string, RegExp][] = [
      ['/srv/git/app.git', /not under a configured repository root/],
      [join(stack.dataDir, 'mirrors', 'x.git'), /data dir/],
      [stack.dataDir, /data dir/],
      [tmpdir(), /data dir|not under/],
    ];
    for (const [path, message] of cases) {
      const res = await unchanged(() => stack.call('POST', '/v1/products', { body: body(unique('p'), { repository: path }) }));
      expect(res.status, res.text).toBe(400);
      expect(res.body.code).toBe('bad_request');
      expect(res.body.message).toMatch(message);
    }
    // A product moved onto one is refused the same way.
    const name = unique('p');
    expect((await stack.call('POST', '/v1/products', { body: body(name, { repository: other.remote }) })).status).toBe(201);
    const moved = await unchanged(() => stack.call('PATCH', `/v1/products/${name}`, { body: { repository: join(stack.dataDir, 'pglite') } }));
    expect([moved.status, moved.body.code]).toEqual([400, 'bad_request']);
    expect(localRepositoryProblem('/srv/x.git', { roots: [], dataDir: null })).toMatch(/no local repository roots/);
  });

  it('the worker checks again with links resolved: a link under a root into the data dir reaches no git command', async () => {
    const link = join(scratch, 'looks-fine.git');
    await symlink(stack.dataDir, link);
    const name = unique('linked');
    expect((await stack.call('POST', '/v1/products', { body: body(name, { repository: link }) })).status).toBe(201);
    const cut = await stack.call('POST', `/v1/products/${name}/releases`, { body: { name: 'r1' } });
    expect(cut.status, cut.text).toBeGreaterThanOrEqual(400);
    expect(cut.status, cut.text).toBeLessThan(500);
    expect(cut.text).toMatch(/data dir/);
    expect(cut.text).not.toContain(stack.dataDir);
  });

  it('products on one repository get release branches of their own; one whose branches meet another\'s is 409 naming it', async () => {
    const [a, b] = [unique('a'), unique('b')];
    for (const name of [a, b]) expect((await stack.call('POST', '/v1/products', { body: body(name) })).status).toBe(201);
    for (const name of [a, b]) {
      const cut = await stack.call('POST', `/v1/products/${name}/releases`, { body: { name: 'r1' } });
      expect(cut.status, cut.text).toBe(201);
      expect(cut.body.branch).toBe(`releases/${name}/r1`);
    }
    const branches = (await git(['for-each-ref', '--format=%(refname:short)', 'refs/heads/releases'], { cwd: repo.remote })).stdout.split('\n').filter(Boolean);
    expect(branches).toEqual(expect.arrayContaining([`releases/${a}/r1`, `releases/${b}/r1`]));

    // releases/{name} would take every branch under releases/, a's among them; the same repository spelled another way too.
    for (const repository of [repo.remote, `${repo.remote}/`]) {
      const res = await unchanged(() => stack.call('POST', '/v1/products', { body: body(unique('c'), { repository, branchTemplate: 'releases/{name}' }) }));
      expect(res.status, res.text).toBe(409);
      expect(res.body.code).toBe('branches_taken');
      expect([a, b]).toContain(res.body.details.takenBy);
      expect(res.body.details.branches).toBe('releases/*');
    }

    // Pull-request products merge into their trunk: one per trunk and repository.
    const pr = unique('pr');
    expect((await stack.call('POST', '/v1/products', { body: body(pr, { flow: 'pull-request' }) })).status).toBe(201);
    const second = await unchanged(() => stack.call('POST', '/v1/products', { body: body(unique('pr'), { flow: 'pull-request' }) }));
    expect([second.status, second.body.code, second.body.details?.takenBy]).toEqual([409, 'branches_taken', pr]);
    expect((await stack.call('POST', '/v1/products', { body: body(unique('pr'), { flow: 'pull-request', trunk: 'develop' }) })).status).toBe(201);

    // An admin moving a product onto those branches is refused the same way, and the product keeps its repository.
    const mover = unique('mover');
    expect((await stack.call('POST', '/v1/products', { body: body(mover, { repository: other.remote, flow: 'pull-request' }) })).status).toBe(201);
    const moved = await unchanged(() => stack.call('PATCH', `/v1/products/${mover}`, { body: { repository: repo.remote } }));
    expect([moved.status, moved.body.details?.takenBy]).toEqual([409, pr]);
    expect((await stack.call('GET', `/v1/products/${mover}`)).body.repository).toBe(other.remote);
  });

  it('a template change that would make two of its products share branches is 409, and changes nothing', async () => {
    const template = unique('t');
    expect((await stack.call('POST', '/v1/templates', { body: { name: template, flow: 'cherry-pick', trunk: 'main', branchTemplate: 'rel/{product}/{name}' } })).status).toBe(201);
    const [x, y] = [unique('x'), unique('y')];
    for (const name of [x, y]) {
      const res = await stack.call('POST', '/v1/products', { body: { name, repository: repo.remote, template } });
      expect(res.status, res.text).toBe(201);
    }
    const res = await unchanged(() => stack.call('PATCH', `/v1/templates/${template}`, { body: { branchTemplate: 'rel/{name}' } }));
    expect([res.status, res.body.code]).toEqual([409, 'branches_taken']);
  });

  it('the database layer refuses it too, whoever calls it; equal claims break its unique index', async () => {
    const first = unique('db');
    const config = (name: string): ProductConfig => ({ name, repository: other.remote, flow: 'binary', trunk: 'main', owners: [], steps: {}, triggers: [], environments: [], branchTemplate: 'ship/{name}' });
    expect(await createProduct(stack.database.db, config(first))).toBe(true);
    await expect(createProduct(stack.database.db, config(unique('db')))).rejects.toBeInstanceOf(BranchesTakenError);
    await expect(stack.database.db.insert(productBranches).values({ product: first, repository: repositoryKey(other.remote), prefix: 'ship/', exact: false }))
      .rejects.toThrow();
  });

  it('repository keys and namespaces', () => {
    expect(repositoryKey('https://GitHub.com/Org/App.git/')).toBe('https://github.com/Org/App');
    expect(repositoryKey('git@GitHub.com:Org/App.git')).toBe('git@github.com:Org/App');
    expect(repositoryKey('/srv/git/app.git')).toBe('/srv/git/app');
    const p = (name: string, extra: Partial<ProductConfig>) => ({ name, repository: '/r', flow: 'cherry-pick' as const, trunk: 'main', ...extra });
    expect(branchConflict([p('a', { branchTemplate: 'releases/{product}/{name}' })], [p('b', { branchTemplate: 'releases/{product}/{name}' })])).toBeNull();
    expect(branchConflict([p('a', { branchTemplate: '{yyyy}/{name}' })], [p('b', { branchTemplate: 'releases/{product}/{name}' })])?.other).toBe('a');
    expect(branchConflict([p('a', { flow: 'pull-request', trunk: 'releases/b/x' })], [p('b', { branchTemplate: 'releases/{product}/{name}' })])?.other).toBe('a');
    expect(branchConflict([p('a', { repository: '/s' })], [p('b', {})])).toBeNull();
  });
});
