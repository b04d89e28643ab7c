// What a request that was refused must not have changed: every row of every table but the audit log
// (which records refused attempts), and every ref of a remote.
import { sql } from 'drizzle-orm';
import { git } from '../../activities/git/run.ts';
import type { Db } from '../../db/client.ts';

const tables = ['products', 'product_branches', 'product_templates', 'releases', 'change_requests', 'step_runs', 'artifacts', 'environments', 'deployments', 'approvals', 'candidates', 'api_tokens', 'release_cuts', 'release_moves'];

/** A digest of every row but the audit log's. */
export async function rowsDigest(db: Db): Promise<string> {
  const rows = await Promise.all(tables.map(async (t) => {
    // A token's last use moves with every request: not a change anyone made.
    const row = t === 'api_tokens' ? '(t.id, t.name, t.role, t.products, t.revoked_at, t.expires_at)' : 't';
    const r = await db.execute(sql.raw(`select count(*)::int as n, coalesce(md5(string_agg(md5(${row}::text), ',' order by md5(${row}::text))), '') as h from ${t} t`));
    const got = (Array.isArray(r) ? r[0] : (r as { rows: unknown[] }).rows[0]) as { n: number; h: string };
    return `${t}:${got.n}:${got.h}`;
  }));
  return rows.join(' ');
}

/** Every ref of a repository with its commit. */
export async function refsOf(dir: string): Promise<string> {
  return (await git(['for-each-ref', '--format=%(refname) %(objectname)'], { cwd: dir })).stdout;
}
