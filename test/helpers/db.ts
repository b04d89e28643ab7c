import { openDatabase } from '../../db/client.ts';
import type { Database } from '../../db/client.ts';
import { openFreshDatabase } from '../../db/fresh.ts';

/**
 * A migrated, empty database of its own: PGlite in memory by default, or a fresh database on the
 * Postgres server named by DATABASE_URL (dropped again on close), so the same suites run on both.
 */
export async function openTestDatabase(): Promise<Database> {
  const url = process.env.DATABASE_URL;
  const database = url ? await openFreshDatabase(url, 'culvert_t') : await openDatabase({ memory: true });
  await database.migrate();
  return database;
}
