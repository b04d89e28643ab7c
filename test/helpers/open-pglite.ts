// Opens the PGlite directory argv[2] in a process of its own, for test/pglite-lock.test.ts.
// "read" (default): prints the rows of lock_probe as JSON, closes, exits 0.
// "exit-without-close": opens and exits at once, leaving the lock to the exit handler.
// Refused (DatabaseInUseError): the message on stderr, exit code 3.
import { sql } from 'drizzle-orm';
import { DatabaseInUseError, openDatabase } from '../../db/client.ts';

const [dataDir, mode = 'read'] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: open-pglite.ts DATA_DIR [read|exit-without-close]');

try {
  const database = await openDatabase({ dataDir });
  if (mode === 'exit-without-close') process.exit(0);
  const result = (await database.db.execute(sql`select v from lock_probe order by v`)) as unknown as { rows: unknown[] };
  process.stdout.write(`${JSON.stringify(result.rows)}\n`);
  await database.close();
} catch (err) {
  if (!(err instanceof DatabaseInUseError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(3);
}
