import { and, asc, eq, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { releaseComponents, releases } from '../schema.ts';
import type { ReleaseComponentRow } from '../schema.ts';

export type ComponentOutcome = Pick<ReleaseComponentRow, 'product' | 'release' | 'component' | 'componentProduct' | 'repository' | 'state' | 'branch' | 'cutFrom' | 'failure'>;

/** Writes each component's outcome; a component already `cut` stays as it was (its snapshot is kept). */
export async function recordComponents(db: Db, rows: ComponentOutcome[]): Promise<void> {
  if (rows.length === 0) return;
  await db.insert(releaseComponents).values(rows).onConflictDoUpdate({
    target: [releaseComponents.product, releaseComponents.release, releaseComponents.component],
    set: {
      state: sql`case when ${releaseComponents.state} = 'cut' then ${releaseComponents.state} else excluded.state end`,
      branch: sql`case when ${releaseComponents.state} = 'cut' then ${releaseComponents.branch} else excluded.branch end`,
      cutFrom: sql`case when ${releaseComponents.state} = 'cut' then ${releaseComponents.cutFrom} else excluded.cut_from end`,
      failure: sql`case when ${releaseComponents.state} = 'cut' then ${releaseComponents.failure} else excluded.failure end`,
      updatedAt: sql`now()`,
    },
  });
}

export type ComponentOfRelease = ReleaseComponentRow & { head: string | null };

/** A release's components as cut, with the head each component's release has now. */
export async function componentsOfRelease(db: Db, product: string, release: string): Promise<ComponentOfRelease[]> {
  const rows = await db.select({ c: releaseComponents, head: releases.headSha }).from(releaseComponents)
    .leftJoin(releases, and(eq(releases.product, releaseComponents.componentProduct), eq(releases.name, releaseComponents.release)))
    .where(and(eq(releaseComponents.product, product), eq(releaseComponents.release, release)))
    .orderBy(asc(releaseComponents.component));
  return rows.map((r) => ({ ...r.c, head: r.head ?? null }));
}
