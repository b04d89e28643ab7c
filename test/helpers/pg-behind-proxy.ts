// A fresh database on the PostgreSQL server of DATABASE_URL, reached by the code under test only
// through a TCP proxy the test can cut (a database outage without stopping the shared server).
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { openDatabase } from '../../db/client.ts';
import type { Database } from '../../db/client.ts';
import { startTcpProxy } from './tcp-proxy.ts';
import type { TcpProxy } from './tcp-proxy.ts';

export interface DatabaseBehindProxy {
  /** Culvert's connection, through the proxy. */
  database: Database;
  /** A connection straight to the database, for the test to look with while the proxy is cut. */
  direct: Database;
  proxy: TcpProxy;
  /** Closes everything and drops the database. */
  drop(): Promise<void>;
}

const quiet = (): void => undefined;

/** Creates and migrates the database; `drop()` undoes all of it (safe after a partial start). */
export async function databaseBehindProxy(url: string): Promise<DatabaseBehindProxy> {
  const name = `culvert_t_${randomBytes(6).toString('hex')}`;
  const admin = postgres(url, { max: 1, onnotice: quiet });
  let direct: Database | undefined;
  let proxy: TcpProxy | undefined;
  let database: Database | undefined;
  const drop = async (): Promise<void> => {
    proxy?.restore();
    await database?.close();
    await proxy?.close();
    await direct?.close();
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end({ timeout: 5 });
  };
  try {
    await admin.unsafe(`create database ${name}`);
    const target = new URL(url);
    target.pathname = `/${name}`;
    direct = await openDatabase({ url: target.toString() });
    await direct.migrate();
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    const viaProxy = new URL(target);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    database = await openDatabase({ url: viaProxy.toString() });
    return { database, direct, proxy, drop };
  } catch (err) {
    await drop();
    throw err;
  }
}
