/**
 * The tamper-evident audit trail against real databases (PGlite and PostgreSQL): events through
 * the real journal take consecutive places in the site's chain, a replay changes nothing, and
 * every kind of tampering a person with SQL access can do (change, delete, insert, reorder) is
 * reported at its exact seq, by the verifier core and by `scripts/audit-verify.ts` itself.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { and, asc, eq, isNull, sql, type SQL } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AccessEvent } from '../../access/access.events.ts';
import {
  accessEvents,
  auditChainHeads,
  MIGRATIONS_DIR,
  newId,
  openDatabase,
  sites,
  type Database,
  type Db,
} from '../../db/index.ts';
import {
  chainHash,
  formatVerdict,
  verifySiteChain,
  type ChainVerdict,
} from '../../server/events/audit.chain.ts';
import { createDbEventSink } from '../../server/events/event.sink.ts';
import { createTestApp, databaseKinds, type DbKind, type TestApp } from '../harness/app.harness.ts';
import { createDatabase, uniqueDatabaseName } from '../harness/postgres.server.ts';
import { makeTempDir, type TempDir } from '../harness/temp-dir.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SITE = 'demo';

type EventRow = typeof accessEvents.$inferSelect;

async function newPostgresUrl(prefix: string): Promise<string> {
  const base = inject('pgBaseUrl');
  if (!base) throw new Error('PostgreSQL is not available in this run');
  return createDatabase(base, uniqueDatabaseName(prefix));
}

async function chainRows(db: Db, site = SITE): Promise<EventRow[]> {
  return db
    .select()
    .from(accessEvents)
    .where(eq(accessEvents.siteId, site))
    .orderBy(asc(accessEvents.seq));
}

async function chainHead(db: Db, site = SITE) {
  const [row] = await db.select().from(auditChainHeads).where(eq(auditChainHeads.siteId, site));
  return row;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `npx tsx scripts/audit-verify.ts` as an operator would, with only the given settings. */
function runVerifyScript(env: Record<string, string>, args: string[] = []): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (!env.DATABASE_URL) delete childEnv.DATABASE_URL;
  return new Promise((resolve) => {
    execFile(
      'npx',
      ['tsx', 'scripts/audit-verify.ts', ...args],
      { cwd: ROOT, env: childEnv, timeout: 60_000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function brokenAt(v: ChainVerdict) {
  if (v.ok) throw new Error(`expected a broken chain, got: ${formatVerdict(v)}`);
  return v.break;
}

/** As the database superuser: the append-only trigger off, so the test can tamper like an intruder. */
async function withTriggerOff(db: Db, tamper: () => Promise<void>): Promise<void> {
  await db.execute(sql`alter table access_events disable trigger access_events_append_only`);
  try {
    await tamper();
  } finally {
    await db.execute(sql`alter table access_events enable trigger access_events_append_only`);
  }
}

const synthetic = (clockNow: number, count: number): AccessEvent[] =>
  Array.from({ length: count }, (_, i) => ({
    id: newId(clockNow + i),
    at: clockNow + i,
    type: i % 4 === 3 ? 'door_opened' : 'access',
    doorId: 'front',
    ...(i % 4 === 3
      ? {}
      : {
          readerId: 'front-reader',
          decision: i % 5 === 0 ? ('denied' as const) : ('granted' as const),
          reason: i % 5 === 0 ? 'revoked' : 'granted',
          credentialId: `cred-${i % 7}`,
        }),
    details: { card: 40_000 + i, unit: '4B', who: { name: 'Zoë', seen: [i, true, null] } },
  }));

describe.each(databaseKinds())('audit chain (%s)', (kind: DbKind) => {
  let t: TestApp;
  let url: string | null = null;
  let appended: AccessEvent[] = [];

  beforeAll(async () => {
    if (kind === 'postgres') {
      url = await newPostgresUrl('audit');
      const database = await openDatabase({ url, poolSize: 4 });
      t = await createTestApp(kind, { database });
    } else {
      t = await createTestApp(kind);
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  it('gives events through the real journal consecutive places and a valid chain', async () => {
    const staff = await t.login('staff');
    // Door activity from the simulated door: opened without a grant is a forced-open alarm.
    for (const state of ['open', 'closed'] as const) {
      const res = await t.call('POST', '/api/sim/doors/front/contact', {
        cookie: staff,
        body: { state },
      });
      expect(res.status).toBe(200);
    }
    expect((await t.call('POST', '/api/sim/doors/front/rex', { cookie: staff })).status).toBe(200);
    await t.services.journal.drained();
    const fromDoor = (await chainRows(t.database.db)).length;
    expect(fromDoor).toBeGreaterThanOrEqual(3);

    appended = synthetic(t.clock.now() + 1_000, 40);
    await t.services.journal.appendMany(appended);
    await t.services.journal.drained();

    const rows = await chainRows(t.database.db);
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    // Journal order is chain order.
    expect(rows.slice(fromDoor).map((r) => r.id)).toEqual(appended.map((e) => e.id));
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.prevHash).toBe(rows[i - 1]!.hash);

    const v = await verifySiteChain(t.database.db, SITE, { pageSize: 7 });
    expect(v).toMatchObject({ ok: true, events: rows.length, headHash: rows.at(-1)!.hash });
    expect(await chainHead(t.database.db)).toMatchObject({
      seq: rows.length,
      hash: rows.at(-1)!.hash,
    });
  });

  it('leaves the chain as it was when the journal delivers a batch again', async () => {
    const before = await chainRows(t.database.db);
    const headBefore = await chainHead(t.database.db);
    expect(before.length).toBeGreaterThan(40);
    // What the journal does after a crash between the database commit and its cursor write.
    await createDbEventSink(t.database.db, SITE).write(appended);
    expect(await chainRows(t.database.db)).toEqual(before);
    expect(await chainHead(t.database.db)).toEqual(headBefore);
    await expect(verifySiteChain(t.database.db, SITE)).resolves.toMatchObject({
      ok: true,
      headHash: headBefore!.hash,
    });
  });

  it('reports a changed field at its seq, and is whole again once it is put back', async () => {
    const db = t.database.db;
    const target = (await chainRows(db))[9]!;
    await withTriggerOff(db, async () => {
      await db
        .update(accessEvents)
        .set({ details: { ...(target.details as object), unit: '7C' } })
        .where(eq(accessEvents.id, target.id));
      const b = brokenAt(await verifySiteChain(db, SITE, { pageSize: 4 }));
      expect(b).toMatchObject({ kind: 'changed', seq: 10, event: { id: target.id } });
      await db
        .update(accessEvents)
        .set({ details: target.details })
        .where(eq(accessEvents.id, target.id));
    });
    await expect(verifySiteChain(db, SITE)).resolves.toMatchObject({ ok: true });
  });

  it('reports a deleted event at its seq', async () => {
    const db = t.database.db;
    const target = (await chainRows(db))[14]!;
    await withTriggerOff(db, async () => {
      await db.delete(accessEvents).where(eq(accessEvents.id, target.id));
      const b = brokenAt(await verifySiteChain(db, SITE));
      expect(b).toMatchObject({ kind: 'missing', seq: 15, event: null });
      expect(b.what).toContain('1 event(s) deleted');
      await db.insert(accessEvents).values(target);
    });
    await expect(verifySiteChain(db, SITE)).resolves.toMatchObject({ ok: true });
  });

  it('reports an inserted event at its seq, hash forged or not', async () => {
    const db = t.database.db;
    const rows = await chainRows(db);
    const last = rows.at(-1)!;
    const seq = last.seq! + 1;
    const fields = {
      ...last,
      id: newId(last.at.getTime() + 5),
      at: new Date(last.at.getTime() + 5),
      residentId: 'res-intruder',
    };
    const goodHash = chainHash(last.hash!, seq, fields);
    await withTriggerOff(db, async () => {
      // Made-up hash, chain head moved along as the sink would have.
      await db
        .insert(accessEvents)
        .values({ ...fields, seq, prevHash: last.hash, hash: 'f'.repeat(64) });
      await db.update(auditChainHeads).set({ seq }).where(eq(auditChainHeads.siteId, SITE));
      expect(brokenAt(await verifySiteChain(db, SITE))).toMatchObject({
        kind: 'changed',
        seq,
        event: { id: fields.id },
      });
      // Correctly hashed, but stored behind the journal's back: the head does not know it.
      await db.update(accessEvents).set({ hash: goodHash }).where(eq(accessEvents.id, fields.id));
      await db
        .update(auditChainHeads)
        .set({ seq: last.seq! })
        .where(eq(auditChainHeads.siteId, SITE));
      expect(brokenAt(await verifySiteChain(db, SITE))).toMatchObject({
        kind: 'beyond_head',
        seq,
        event: { id: fields.id },
      });
      await db.delete(accessEvents).where(eq(accessEvents.id, fields.id));
    });
    await expect(verifySiteChain(db, SITE)).resolves.toMatchObject({ ok: true });
  });

  it('reports two reordered events at the first of them', async () => {
    const db = t.database.db;
    const rows = await chainRows(db);
    const [a, b] = [rows[19]!, rows[20]!];
    /** Puts `first` at seq 20 and `second` at 21 (through -1: seqs are unique per site). */
    const place = async (first: EventRow, second: EventRow) => {
      await db.update(accessEvents).set({ seq: -1 }).where(eq(accessEvents.id, second.id));
      await db.update(accessEvents).set({ seq: a.seq }).where(eq(accessEvents.id, first.id));
      await db.update(accessEvents).set({ seq: b.seq }).where(eq(accessEvents.id, second.id));
    };
    await withTriggerOff(db, async () => {
      await place(b, a);
      expect(brokenAt(await verifySiteChain(db, SITE))).toMatchObject({
        kind: 'moved',
        seq: 20,
        event: { id: b.id },
      });
      await place(a, b);
    });
    await expect(verifySiteChain(db, SITE)).resolves.toMatchObject({ ok: true });
  });

  it.runIf(kind === 'postgres')('walks a chain by the (site_id, seq) index in pages', async () => {
    const db = t.database.db;
    const plan = await db.transaction(async (tx) => {
      await tx.execute(sql`set local enable_seqscan = off`);
      const res = (await tx.execute(
        sql`explain select * from access_events where site_id = ${SITE} and seq > ${100}
              order by seq limit 5000`,
      )) as unknown as { rows: { 'QUERY PLAN': string }[] };
      return res.rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    expect(plan).toContain('access_events_site_seq_uq');
    expect(plan).not.toMatch(/\bSort\b/);
  });

  it.runIf(kind === 'postgres')(
    'npm run audit:verify reports the break with exit code 1 while the server runs',
    async () => {
      const db = t.database.db;
      const ok = await runVerifyScript({ DATABASE_URL: url! });
      const head = await chainHead(db);
      expect(ok.stderr).not.toContain('could not verify');
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain(`ok: ${head!.seq} events, chain head ${head!.hash}`);

      const target = (await chainRows(db))[4]!;
      await withTriggerOff(db, async () => {
        await db
          .update(accessEvents)
          .set({ reason: 'granted', decision: 'granted', residentId: 'res-someone-else' })
          .where(eq(accessEvents.id, target.id));
      });
      const broken = await runVerifyScript({ DATABASE_URL: url! }, ['--site', SITE]);
      expect(broken.code).toBe(1);
      expect(broken.stdout).toContain(
        `BROKEN at seq 5 (event ${target.id}, ${target.at.toISOString()}): its stored fields ` +
          'do not match its hash',
      );
    },
  );
});

// ------------------------------------------------------------------------------------------------

/** A copy of the migrations as version 0.2 shipped them: everything before the chain. */
function migrationsBeforeChain(dir: string): string {
  const out = join(dir, 'migrations-0.2');
  mkdirSync(join(out, 'meta'), { recursive: true });
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_DIR, 'meta/_journal.json'), 'utf8')) as {
    entries: { tag: string }[];
  };
  const upto = journal.entries.findIndex((e) => e.tag === '0005_access_events_hash_chain');
  expect(upto).toBeGreaterThan(0);
  journal.entries = journal.entries.slice(0, upto);
  for (const e of journal.entries) {
    cpSync(join(MIGRATIONS_DIR, `${e.tag}.sql`), join(out, `${e.tag}.sql`));
  }
  writeFileSync(join(out, 'meta/_journal.json'), JSON.stringify(journal));
  return out;
}

describe.each(databaseKinds())('upgrading a database with events to the chain (%s)', (kind) => {
  let tmp: TempDir;
  let database: Database | null = null;
  beforeAll(async () => {
    tmp = await makeTempDir('audit-upgrade');
  });
  afterAll(async () => {
    await database?.close();
    await tmp?.cleanup();
  });

  it('keeps the old events outside the chain and starts the chain after them', async () => {
    const oldMigrations = migrationsBeforeChain(tmp.path);
    const oldEvents = synthetic(Date.UTC(2025, 0, 1), 3);
    const insertOld = async (db: Db) => {
      await db.insert(sites).values({ id: SITE, name: 'Old', timezone: 'UTC' });
      for (const e of oldEvents) {
        // Only the columns 0.2 had.
        await db.execute(
          sql`insert into access_events (id, site_id, at, type, door_id, details)
              values (${e.id}, ${SITE}, ${new Date(e.at).toISOString()}, ${e.type}, 'front', '{}')`,
        );
      }
    };
    let reopen: () => Promise<Database>;
    if (kind === 'postgres') {
      const url = await newPostgresUrl('audit_upgrade');
      const { default: pg } = await import('pg');
      const { drizzle } = await import('drizzle-orm/node-postgres');
      const { migrate } = await import('drizzle-orm/node-postgres/migrator');
      const pool = new pg.Pool({ connectionString: url, max: 1 });
      const old = drizzle({ client: pool }) as unknown as Db;
      await migrate(old as never, { migrationsFolder: oldMigrations });
      await insertOld(old);
      await pool.end();
      reopen = () => openDatabase({ url, poolSize: 2 });
    } else {
      const dataDir = join(tmp.path, 'data');
      mkdirSync(join(dataDir, 'pglite'), { recursive: true });
      const { PGlite } = await import('@electric-sql/pglite');
      const { drizzle } = await import('drizzle-orm/pglite');
      const { migrate } = await import('drizzle-orm/pglite/migrator');
      const client = new PGlite(join(dataDir, 'pglite'));
      const old = drizzle({ client }) as unknown as Db;
      await migrate(old as never, { migrationsFolder: oldMigrations });
      await insertOld(old);
      await client.close();
      reopen = () => openDatabase({ dataDir });
    }

    // The upgrade: the server's own open applies 0005 to the non-empty table.
    database = await reopen();
    const db = database.db;
    const unchained = await db
      .select({ id: accessEvents.id })
      .from(accessEvents)
      .where(and(eq(accessEvents.siteId, SITE), isNull(accessEvents.seq)));
    expect(unchained.map((r) => r.id).sort()).toEqual(oldEvents.map((e) => e.id).sort());

    const fresh = synthetic(Date.UTC(2026, 0, 1), 4);
    await createDbEventSink(db, SITE).write(fresh);
    const v = await verifySiteChain(db, SITE);
    expect(v).toMatchObject({ ok: true, events: 4, unchainedEvents: 3, first: { seq: 1 } });
    expect(formatVerdict(v)).toContain(
      'chain starts at seq 1, 2026-01-01T00:00:00.000Z; 3 earlier event(s) from before the ' +
        'chain are not covered',
    );
  });
});

// ------------------------------------------------------------------------------------------------

describe('npm run audit:verify on the embedded database', () => {
  let tmp: TempDir;
  let database: Database | null = null;
  beforeAll(async () => {
    tmp = await makeTempDir('audit-pglite');
  });
  afterAll(async () => {
    await database?.close();
    await tmp?.cleanup();
  });

  const q = async (db: Db, query: SQL) => db.execute(query);

  it('refuses while the server holds the database, then verifies once it is stopped', async () => {
    const dataDir = join(tmp.path, 'data');
    database = await openDatabase({ dataDir });
    await database.db.insert(sites).values({ id: SITE, name: 'Demo', timezone: 'UTC' });
    await createDbEventSink(database.db, SITE).write(synthetic(Date.UTC(2026, 2, 1), 12));
    const head = await chainHead(database.db);

    const busy = await runVerifyScript({ DATA_DIR: dataDir });
    expect(busy.code).toBe(2);
    expect(busy.stderr).toContain(`is open in process ${process.pid}`);
    expect(busy.stderr).toContain('stop the server');

    await withTriggerOff(database.db, async () => {
      await q(database!.db, sql`delete from access_events where seq = 12`);
    });
    await database.close();
    database = null;
    const broken = await runVerifyScript({ DATA_DIR: dataDir });
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain(
      `BROKEN at seq 12 (no event): the chain ends at seq 11 but its recorded head is seq ` +
        `${head!.seq}: 1 event(s) deleted from the end (site ${SITE})`,
    );
  });
});
