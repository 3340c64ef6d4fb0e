/**
 * `npm run audit:verify [-- --site <id>] [--anchor <seq>:<hash>] [--page-size <n>]`
 *
 * Walks the audit chain of every site (or one) in the database the server uses (DATABASE_URL, or
 * the embedded PGlite in DATA_DIR) and recomputes every hash; prints per site
 *   ok: N events, chain head <hash> (…)                       exit 0 when every site is ok
 *   BROKEN at seq S (event <id>, <at>): <what> (site …)       exit 1 when any chain is broken
 * and exits 2 when it could not verify (bad setting, database unreachable or in use, unknown
 * site, a database that has no chain yet).
 *
 * The verifier changes nothing: unlike the server it applies no migrations (an auditor may
 * connect with a read-only role) and reads in read-only transactions. PostgreSQL can be verified
 * while the server runs. PGlite is a single-process database with no read-only mode: stop the
 * server first (its lock file says when it is still running).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { sql, type SQL } from 'drizzle-orm';
import { DatabaseLockedError, lockDataDir, schema, type Db } from '../db/index.ts';
import { ConfigError, parseSettings, type Settings } from '../server/config/index.ts';
import {
  formatVerdict,
  listChainSites,
  verifySiteChain,
  type ChainAnchor,
} from '../server/events/audit.chain.ts';
import { describeError } from '../server/events/event.journal.ts';

const EXIT_OK = 0;
const EXIT_BROKEN = 1;
const EXIT_CANNOT_VERIFY = 2;

/** A reason the chain could not be checked at all (not a broken chain). */
class CannotVerify extends Error {}

interface OpenedDatabase {
  db: Db;
  close(): Promise<void>;
}

const USAGE =
  'usage: npm run audit:verify [-- --site <id>] [--anchor <seq>:<hash>] [--page-size <n>]';

interface Args {
  site: string | null;
  anchor: ChainAnchor | null;
  pageSize: number;
}

function parseCommandLine(argv: string[]): Args {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        site: { type: 'string' },
        anchor: { type: 'string' },
        'page-size': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new CannotVerify(`${describeError(err)}\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(EXIT_OK);
  }
  let anchor: ChainAnchor | null = null;
  if (values.anchor !== undefined) {
    const m = /^(\d{1,15}):([0-9a-f]{64})$/.exec(values.anchor.trim().toLowerCase());
    if (!m || Number(m[1]) < 1) {
      throw new CannotVerify('--anchor must be <seq>:<hash>, e.g. 1200:<64 hex digits>');
    }
    anchor = { seq: Number(m[1]), hash: m[2]! };
  }
  const pageSize = values['page-size'] === undefined ? 5_000 : Number(values['page-size']);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100_000) {
    throw new CannotVerify('--page-size must be a whole number from 1 to 100000');
  }
  return { site: values.site ?? null, anchor, pageSize };
}

async function openPostgres(url: string): Promise<OpenedDatabase> {
  const { default: pg } = await import('pg');
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const pool = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 10_000 });
  // A connection lost while idle is reported here; the query in flight fails on its own.
  pool.on('error', () => {});
  return { db: drizzle({ client: pool, schema }) as unknown as Db, close: () => pool.end() };
}

async function openPglite(dataDirSetting: string): Promise<OpenedDatabase> {
  const dataDir = resolve(dataDirSetting);
  const dbDir = join(dataDir, 'pglite');
  // Opening a missing folder would create an empty database and report it as fine.
  if (!existsSync(dbDir)) {
    throw new CannotVerify(
      `no embedded database in ${dbDir}: set DATA_DIR (or DATABASE_URL) as the server has it`,
    );
  }
  let unlock: () => void;
  try {
    unlock = lockDataDir(dataDir);
  } catch (err) {
    if (err instanceof DatabaseLockedError) {
      throw new CannotVerify(
        `the embedded database in ${dataDir} is open in process ${err.pid} (the server). ` +
          'PGlite lets only one process open it and has no read-only mode: stop the server, ' +
          'run audit:verify, then start it again. With PostgreSQL (DATABASE_URL) the chain ' +
          'can be verified while the server runs.',
      );
    }
    throw err;
  }
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    const { drizzle } = await import('drizzle-orm/pglite');
    const client = new PGlite(dbDir);
    await client.waitReady;
    return {
      db: drizzle({ client, schema }) as unknown as Db,
      close: async () => {
        try {
          await client.close();
        } finally {
          unlock();
        }
      },
    };
  } catch (err) {
    unlock();
    throw err;
  }
}

function openForVerify(settings: Settings): Promise<OpenedDatabase> {
  return settings.DATABASE_URL
    ? openPostgres(settings.DATABASE_URL)
    : openPglite(settings.DATA_DIR);
}

async function firstRow(db: Db, query: SQL): Promise<Record<string, unknown> | undefined> {
  const result = (await db.execute(query)) as unknown as { rows?: Record<string, unknown>[] };
  return result.rows?.[0];
}

/** The chain columns exist only after migration 0005; an older database has nothing to walk. */
async function requireChainSchema(db: Db): Promise<void> {
  const row = await firstRow(
    db,
    sql`select to_regclass('public.audit_chain_heads') is not null as heads,
          exists (select 1 from information_schema.columns
                  where table_schema = 'public' and table_name = 'access_events'
                    and column_name = 'hash') as hashes`,
  );
  if (row?.heads !== true || row.hashes !== true) {
    throw new CannotVerify(
      'this database has no audit chain yet (it predates migration ' +
        '0005_access_events_hash_chain): start the server once to upgrade it',
    );
  }
}

async function run(argv: string[]): Promise<number> {
  const args = parseCommandLine(argv);
  let settings: Settings;
  try {
    settings = parseSettings(process.env);
  } catch (err) {
    if (err instanceof ConfigError) throw new CannotVerify(err.message);
    throw err;
  }
  const opened = await openForVerify(settings);
  try {
    await requireChainSchema(opened.db);
    const known = await listChainSites(opened.db);
    if (args.site !== null && !known.includes(args.site)) {
      throw new CannotVerify(
        `no site ${JSON.stringify(args.site)} in this database (sites: ${known.join(', ') || 'none'})`,
      );
    }
    const siteIds = args.site !== null ? [args.site] : known;
    if (args.anchor && siteIds.length !== 1) {
      throw new CannotVerify('--anchor belongs to one chain: name its site with --site');
    }
    let broken = false;
    for (const siteId of siteIds) {
      const verdict = await verifySiteChain(opened.db, siteId, {
        pageSize: args.pageSize,
        ...(args.anchor ? { anchor: args.anchor } : {}),
        // A chain of millions takes minutes: say how far it got, where a person watches.
        onPage: (n) => {
          if (process.stderr.isTTY && n % 1_000_000 < args.pageSize) {
            process.stderr.write(`site ${siteId}: ${n} events checked\n`);
          }
        },
      });
      process.stdout.write(`${formatVerdict(verdict)}\n`);
      if (!verdict.ok) broken = true;
    }
    return broken ? EXIT_BROKEN : EXIT_OK;
  } finally {
    await opened.close();
  }
}

try {
  process.exitCode = await run(process.argv.slice(2));
} catch (err) {
  const message = err instanceof CannotVerify ? err.message : describeError(err);
  process.stderr.write(`audit:verify: could not verify: ${message}\n`);
  process.exitCode = EXIT_CANNOT_VERIFY;
}
