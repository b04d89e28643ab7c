import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { openDatabase } from './client.ts';
import type { Database } from './client.ts';

/**
 * A new, empty database of its own on the PostgreSQL server at `url` (named `<prefix>_<random>`), dropped
 * again when closed: for test suites and benchmarks that must not share data. Not migrated.
 */
export async function openFreshDatabase(url: string, prefix: string): Promise<Database> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const target = new URL(url);
  target.pathname = `/${name}`;
  const database = await openDatabase({ url: target.toString() });
  return {
    ...database,
    close: async () => {
      await database.close();
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end({ timeout: 5 });
    },
  };
}
