import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { acquirePidLock } from './pid.lock.ts';
import * as schema from './schema.ts';

export type Schema = typeof schema;
/** The one database type the rest of the code sees, whichever driver is underneath. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type DatabaseKind = 'pglite' | 'postgres';

export interface Database {
  readonly kind: DatabaseKind;
  readonly db: Db;
  /** Cheap round trip, for health checks. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations', import.meta.url));

export class DatabaseLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(
      `The embedded database in ${dir} is already open in process ${pid}. ` +
        'Stop that process or point DATA_DIR elsewhere.',
    );
    this.name = 'DatabaseLockedError';
  }
}

/**
 * PGlite is a single-process database: two processes writing one folder corrupt it. A lock file
 * with our pid keeps the second one out; a lock left by a crashed process is taken over.
 */
export function lockDataDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  return acquirePidLock(join(dir, 'parcelroom.lock'), (pid) => new DatabaseLockedError(dir, pid));
}

export interface OpenOptions {
  /** postgres:// URL; when absent the embedded PGlite in `dataDir` is used. */
  url?: string | undefined;
  /** Folder of the embedded database; `memory://` keeps it in memory (tests). */
  dataDir?: string;
  /** Max PostgreSQL connections of this process. */
  poolSize?: number;
  onNotice?: (message: string) => void;
}

async function migrateAll(db: Db, kind: DatabaseKind): Promise<void> {
  if (kind === 'pglite') {
    const { migrate } = await import('drizzle-orm/pglite/migrator');
    await migrate(db as never, { migrationsFolder: MIGRATIONS_DIR });
  } else {
    const { migrate } = await import('drizzle-orm/node-postgres/migrator');
    await migrate(db as never, { migrationsFolder: MIGRATIONS_DIR });
  }
}

/** Opens the database and applies every migration not applied yet. */
export async function openDatabase(opts: OpenOptions): Promise<Database> {
  if (opts.url) {
    // node-postgres, not postgres.js: postgres.js 3.4.9 throws an uncatchable TypeError from a
    // setImmediate when the server goes away mid-write (porsager/postgres#1154, #1208, no fix
    // released), which would take the doors down with the database.
    const { default: pg } = await import('pg');
    const { drizzle } = await import('drizzle-orm/node-postgres');
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
      // No query may wait forever on a connection that died without a goodbye.
      query_timeout: 30_000,
      keepAlive: true,
    });
    // An idle connection that dies (server restart, network) is reported here; without a
    // listener node-postgres would crash the process. The pool replaces it on next use.
    pool.on('error', (err) => opts.onNotice?.(`idle connection lost: ${err.message}`));
    pool.on('connect', (client) => {
      client.on('notice', (n) => opts.onNotice?.(String(n.message)));
      // A checked-out connection (inside a transaction) that the server ends reports it here
      // as well as to the query in flight, which rejects and is retried by its caller.
      client.on('error', (err) => opts.onNotice?.(`connection lost: ${err.message}`));
    });
    const db = drizzle({ client: pool, schema }) as unknown as Db;
    try {
      await migrateAll(db, 'postgres');
    } catch (err) {
      await pool.end();
      throw err;
    }
    let closed: Promise<void> | undefined;
    return {
      kind: 'postgres',
      db,
      ping: async () => {
        try {
          await db.execute(sql`select 1`);
          return true;
        } catch {
          return false;
        }
      },
      // A connection stuck in a query must not hold shutdown open: give up after 5 s.
      close: () =>
        (closed ??= Promise.race([
          pool.end(),
          new Promise<void>((resolve) => setTimeout(resolve, 5_000).unref()),
        ])),
    };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const dataDir = opts.dataDir ?? 'memory://';
  const inMemory = dataDir.startsWith('memory://');
  const unlock = inMemory ? () => {} : lockDataDir(resolve(dataDir));
  let client: InstanceType<typeof PGlite>;
  try {
    client = inMemory ? new PGlite() : new PGlite(join(resolve(dataDir), 'pglite'));
    await client.waitReady;
  } catch (err) {
    unlock();
    throw err;
  }
  const db = drizzle({ client, schema }) as unknown as Db;
  try {
    await migrateAll(db, 'pglite');
  } catch (err) {
    await client.close();
    unlock();
    throw err;
  }
  return {
    kind: 'pglite',
    db,
    ping: async () => {
      try {
        await client.query('select 1');
        return true;
      } catch {
        return false;
      }
    },
    close: async () => {
      try {
        await client.close();
      } finally {
        unlock();
      }
    },
  };
}
