/**
 * The event journal against real databases: a PostgreSQL server stopped and started again in the
 * middle of a burst of badge events, a writer process killed with SIGKILL mid-burst, and the
 * door_alarms bookkeeping of the database sink (PGlite and PostgreSQL).
 */
import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql, type SQL } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AccessEvent } from '../../access/access.events.ts';
import { openDatabase, sites, type Database, type Db } from '../../db/index.ts';
import { newId } from '../../db/ids.ts';
import { systemClock } from '../../hardware/clock.ts';
import { createEventJournal, type EventJournal } from '../../server/events/event.journal.ts';
import { createDbEventSink } from '../../server/events/event.sink.ts';
import { memoryLogger } from '../../server/log/logger.ts';
import {
  createDatabase,
  startPostgres,
  uniqueDatabaseName,
  type PostgresServer,
} from '../harness/postgres.server.ts';
import { requirePostgres, requireProvided } from '../harness/requirements.ts';
import { makeTempDir, type TempDir } from '../harness/temp-dir.ts';

const SITE = 'journal-test';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WRITER = join(ROOT, 'test/fixtures/journal-writer.ts');

const pgInstall = requirePostgres();
const pgBaseUrl = requireProvided(inject('pgBaseUrl'), 'PostgreSQL');
type Kind = 'pglite' | 'postgres';
const kinds: Kind[] = pgBaseUrl ? ['pglite', 'postgres'] : ['pglite'];

async function addSite(db: Db): Promise<void> {
  await db
    .insert(sites)
    .values({ id: SITE, name: 'Journal test', timezone: 'UTC' })
    .onConflictDoNothing();
}

async function openKind(kind: Kind): Promise<Database> {
  const database =
    kind === 'pglite'
      ? await openDatabase({ dataDir: 'memory://' })
      : await openDatabase({
          url: await createDatabase(pgBaseUrl ?? '', uniqueDatabaseName('journal')),
          poolSize: 4,
        });
  await addSite(database.db);
  return database;
}

/** Rows of a raw query, whichever driver (postgres.js: an array; PGlite: `{ rows }`). */
async function query<T>(db: Db, q: SQL): Promise<T[]> {
  const res = (await db.execute(q)) as unknown as { rows?: T[] } | T[];
  return Array.isArray(res) ? [...res] : (res.rows ?? []);
}

async function storedIds(db: Db): Promise<string[]> {
  const rows = await query<{ id: string }>(
    db,
    sql`select id from access_events where site_id = ${SITE} order by at, id`,
  );
  return rows.map((r) => r.id);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
}

let tmp: TempDir;
beforeAll(async () => {
  tmp = await makeTempDir('journal-int');
});
afterAll(async () => {
  await tmp?.cleanup();
});

// ------------------------------------------------------------------------------------------------

describe.runIf(pgInstall !== null)(
  'journal → PostgreSQL: the server stops in the middle of a burst',
  () => {
    let server: PostgresServer;
    let database: Database;

    beforeAll(async () => {
      server = await startPostgres();
      const url = await createDatabase(server.url, 'journal_outage');
      database = await openDatabase({ url, poolSize: 4 });
      await addSite(database.db);
    });

    afterAll(async () => {
      await database?.close().catch(() => {});
      await server?.stop();
    });

    it('acknowledges every append while PostgreSQL is down and drains the backlog in order, once', async () => {
      const log = memoryLogger();
      const journal = await createEventJournal({
        dir: join(tmp.path, 'outage'),
        clock: systemClock(),
        log,
        sink: createDbEventSink(database.db, SITE),
        retry: { minMs: 25, maxMs: 400 },
      });
      const N = 5_000;
      const perTick = 10;
      const base = Date.now();
      const events: AccessEvent[] = Array.from({ length: N }, (_, i) => ({
        id: newId(base + i),
        at: base + i,
        type: i % 10 === 9 ? 'no_entry' : 'access',
        doorId: i % 3 ? 'front' : 'back',
        readerId: i % 3 ? 'front-in' : 'back-in',
        decision: i % 10 === 9 ? 'denied' : 'granted',
        reason: i % 10 === 9 ? 'revoked' : 'granted',
        credentialId: `card-${i % 97}`,
        details: { i },
      }));

      // The outages, by how many events were appended when they start and end.
      const plan = [
        { halt: 1_000, resume: 2_000, mode: 'fast' as const },
        { halt: 3_000, resume: 4_000, mode: 'immediate' as const },
      ];
      const lifecycle: Promise<void>[] = [];
      let maxBacklog = 0;
      let appendedWhileDown = 0;
      const latencies: number[] = [];
      const acks: Promise<void>[] = [];
      for (let i = 0; i < N; i += perTick) {
        for (const step of plan) {
          if (i === step.halt) lifecycle.push(server.halt(step.mode));
          if (i === step.resume) lifecycle.push(Promise.all(lifecycle).then(() => server.resume()));
        }
        if (server.state() === 'halted') appendedWhileDown += perTick;
        for (const e of events.slice(i, i + perTick)) {
          const t = performance.now();
          acks.push(journal.append(e).then(() => void latencies.push(performance.now() - t)));
        }
        maxBacklog = Math.max(maxBacklog, journal.stats().backlog);
        await sleep(5); // ~1,500-2,000 events/s
      }
      await Promise.all(acks);
      await Promise.all(lifecycle);
      expect(server.state()).toBe('running');
      await journal.drained();
      const stats = journal.stats();
      await journal.close();

      // Every append was acknowledged, quickly, outage or not.
      latencies.sort((a, b) => a - b);
      expect(latencies).toHaveLength(N);
      expect(percentile(latencies, 99)).toBeLessThan(500);
      expect(latencies[latencies.length - 1]).toBeLessThan(2_000);
      // The outages really happened and were seen.
      expect(appendedWhileDown).toBeGreaterThan(500);
      expect(maxBacklog).toBeGreaterThan(500);
      expect(stats.failedWrites).toBeGreaterThan(0);
      expect(stats).toMatchObject({ backlog: 0, committed: N, rejected: 0, corruptLines: 0 });
      const down = log.records.filter((r) => /^database unreachable/.test(String(r.msg)));
      const back = log.records.filter((r) =>
        /^database back, draining \d+ events$/.test(String(r.msg)),
      );
      expect(down.length).toBeGreaterThanOrEqual(2);
      expect(back).toHaveLength(down.length);
      expect(down.length).toBeLessThan(stats.failedWrites + 1);

      // Every event is in the table once, and they were stored in the order they happened.
      const list = await query<{ id: string; n: number }>(
        database.db,
        sql`select id, (details->>'i')::int as n
        from access_events where site_id = ${SITE} order by at, id`,
      );
      expect(list).toHaveLength(N);
      expect(new Set(list.map((r) => r.id)).size).toBe(N);
      expect(list.map((r) => r.id)).toEqual(events.map((e) => e.id));
      expect(list.map((r) => r.n)).toEqual(events.map((_, i) => i));
      // received_at is the inserting transaction's start: it never goes back in append order.
      const [received] = await query<{ inversions: number }>(
        database.db,
        sql`select count(*)::int as inversions from (
        select received_at < lag(received_at) over (order by at, id) as back
        from access_events where site_id = ${SITE}) s where back`,
      );
      expect(received?.inversions).toBe(0);
    });
  },
);

// ------------------------------------------------------------------------------------------------

interface Killed {
  acked: string[];
  stderr: string;
}

/** Runs the writer fixture until it has acknowledged `atLeast` events, then SIGKILLs it. */
async function runWriterAndKill(dir: string, atLeast: number, url?: string): Promise<Killed> {
  const args = ['--import', 'tsx', WRITER, '--dir', dir, '--site', SITE];
  if (url) args.push('--url', url, '--segment-bytes', String(64 * 1024));
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stderr = '';
  let killed = false;
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (!killed && out.split('\n').length - 2 >= atLeast) {
      killed = true;
      child.kill('SIGKILL');
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
  await exited;
  clearTimeout(timer);
  expect(killed, `writer was not killed by the test; stderr:\n${stderr}`).toBe(true);
  expect(child.signalCode).toBe('SIGKILL');
  // Only whole lines: a line cut by the kill was never fully printed.
  const lines = out.split('\n').slice(0, -1);
  expect(lines[0]).toBe('ready');
  return { acked: lines.slice(1), stderr };
}

describe('journal: a writer killed with SIGKILL loses no acknowledged event', () => {
  it('PostgreSQL down in the writer, drained into PGlite after the kill', async () => {
    const dir = join(tmp.path, 'kill-down');
    const { acked } = await runWriterAndKill(dir, 4_000);
    expect(acked.length).toBeGreaterThanOrEqual(4_000);

    const database = await openKind('pglite');
    try {
      const journal = await createEventJournal({
        dir,
        clock: systemClock(),
        log: memoryLogger(),
        sink: createDbEventSink(database.db, SITE),
        retry: { minMs: 10, maxMs: 100 },
      });
      const backlog = journal.stats().backlog;
      expect(backlog).toBeGreaterThanOrEqual(acked.length);
      await journal.drained();
      await journal.close();
      const stored = new Set(await storedIds(database.db));
      expect(stored.size).toBe(backlog);
      expect(acked.filter((id) => !stored.has(id))).toEqual([]);
      expect(new Set(acked).size).toBe(acked.length);
    } finally {
      await database.close();
    }
  });

  it.runIf(pgBaseUrl !== null)(
    'draining into PostgreSQL in the writer, drained again after the kill: each id once',
    async () => {
      const dir = join(tmp.path, 'kill-pg');
      const url = await createDatabase(pgBaseUrl ?? '', uniqueDatabaseName('journal_kill'));
      const database = await openDatabase({ url, poolSize: 4 });
      await addSite(database.db);
      try {
        const { acked } = await runWriterAndKill(dir, 6_000, url);
        const before = await storedIds(database.db);
        expect(before.length).toBeGreaterThan(0); // the writer was draining when it died

        // The cursor may lag what PostgreSQL has (the kill can land between a commit and the
        // cursor write); re-delivering that stretch is harmless. Replay all that is left, too.
        const journalIds: string[] = [];
        for (const name of (await readdir(dir)).filter((n) => n.startsWith('journal-'))) {
          for (const line of (await readFile(join(dir, name), 'utf8')).split('\n')) {
            try {
              journalIds.push((JSON.parse(line) as AccessEvent).id);
            } catch {
              // the torn tail, if the kill cut a write
            }
          }
        }
        await writeFile(join(dir, 'cursor.json'), JSON.stringify({ v: 1, segment: 1, offset: 0 }));

        const journal = await createEventJournal({
          dir,
          clock: systemClock(),
          log: memoryLogger(),
          sink: createDbEventSink(database.db, SITE),
          retry: { minMs: 10, maxMs: 100 },
        });
        expect(journal.stats().backlog).toBe(journalIds.length);
        await journal.drained();
        await journal.close();

        const ids = await storedIds(database.db);
        const stored = new Set(ids);
        expect(stored.size).toBe(ids.length);
        expect(acked.filter((id) => !stored.has(id))).toEqual([]);
        // Nothing missing, nothing extra: what was in PostgreSQL plus what was in the journal.
        expect(stored).toEqual(new Set([...before, ...journalIds]));
      } finally {
        await database.close();
      }
    },
  );
});

// ------------------------------------------------------------------------------------------------

describe.each(kinds)('database sink (%s)', (kind) => {
  let database: Database;
  let db: Db;

  beforeAll(async () => {
    database = await openKind(kind);
    db = database.db;
  });
  afterAll(async () => {
    await database?.close();
  });

  interface AlarmRow {
    id: string;
    door_id: string;
    kind: string;
    raised_event_id: string | null;
    raised_at: string;
    cleared_at: string | null;
  }
  const alarms = (): Promise<AlarmRow[]> =>
    query<AlarmRow>(
      db,
      sql`select id, door_id, kind, raised_event_id, raised_at::text, cleared_at::text
        from door_alarms where site_id = ${SITE} and door_id like 'a_' order by raised_at, id`,
    );

  it('maps every field of an event to its column', async () => {
    const sink = createDbEventSink(db, SITE);
    const e: AccessEvent = {
      id: newId(),
      at: Date.UTC(2026, 2, 3, 4, 5, 6, 789),
      type: 'access',
      doorId: 'map-door',
      readerId: 'map-reader',
      decision: 'denied',
      reason: 'outside_window',
      residentId: 'res-1',
      staffId: 'staff-1',
      credentialId: 'cred-1',
      carrierCodeId: 'code-1',
      packageId: 'pkg-1',
      cameraId: 'cam-1',
      details: { format: 'H10301', bits: 26, nested: { ok: true } },
    };
    await sink.write([e]);
    const [row] = await query<Record<string, unknown>>(
      db,
      sql`select *, details->>'format' as format, (details->'nested'->>'ok') as ok,
          extract(epoch from at) * 1000 as at_ms
        from access_events where id = ${e.id}`,
    );
    expect(row).toMatchObject({
      site_id: SITE,
      type: 'access',
      door_id: 'map-door',
      reader_id: 'map-reader',
      decision: 'denied',
      reason: 'outside_window',
      resident_id: 'res-1',
      staff_id: 'staff-1',
      credential_id: 'cred-1',
      carrier_code_id: 'code-1',
      package_id: 'pkg-1',
      camera_id: 'cam-1',
      format: 'H10301',
      ok: 'true',
    });
    expect(Number(row?.at_ms)).toBe(e.at);

    // Optional fields left out are NULL, details an empty object.
    const bare: AccessEvent = { id: newId(), at: e.at, type: 'rex', doorId: 'map-door' };
    await sink.write([bare, bare]); // the same id twice in one batch is stored once
    const [b] = await query<{ reader_id: unknown; decision: unknown; details: unknown }>(
      db,
      sql`select reader_id, decision, details::text as details from access_events
        where id = ${bare.id}`,
    );
    expect(b).toEqual({ reader_id: null, decision: null, details: '{}' });
  });

  it('raises and clears door alarms, and a replay changes nothing', async () => {
    const sink = createDbEventSink(db, SITE);
    const t = Date.UTC(2026, 4, 1, 10, 0, 0);
    const mk = (dt: number, type: AccessEvent['type'], doorId: string, details?: object) => ({
      id: newId(t + dt),
      at: t + dt,
      type,
      doorId,
      ...(details ? { details: details as Record<string, unknown> } : {}),
    });
    const events: AccessEvent[] = [
      mk(0, 'forced_open', 'a1'),
      mk(1, 'held_open', 'a2'),
      mk(2, 'offline', 'a1'),
      mk(3, 'access', 'a1'),
      mk(4, 'alarm_cleared', 'a1', { kind: 'forced_open' }),
      mk(5, 'online', 'a1'),
      mk(6, 'forced_open', 'a1'), // a new alarm after the clear
      mk(7, 'tamper', 'a2'),
      mk(8, 'alarm_cleared', 'a2'), // no kind: every open alarm of the door
      mk(9, 'keypad_lockout', 'a3', { failures: 5 }),
      mk(10, 'alarm_cleared', 'a3', { kind: 'nonsense' }), // not an alarm kind: ignored
      mk(11, 'held_open_warning', 'a3'), // not an alarm
    ];
    const [fo1, ho2, off1, , clr, onl, fo1b, tam2, clr2, kl3] = events;

    await sink.write(events.slice(0, 3));
    expect((await alarms()).map((a) => [a.id, a.kind, a.cleared_at])).toEqual([
      [fo1!.id, 'forced_open', null],
      [ho2!.id, 'held_open', null],
      [off1!.id, 'offline', null],
    ]);
    expect((await alarms())[0]?.raised_event_id).toBe(fo1!.id);

    await sink.write(events.slice(3));
    const after = await alarms();
    const state = () => after.map((a) => [a.id, a.kind, a.cleared_at !== null]);
    expect(state()).toEqual([
      [fo1!.id, 'forced_open', true],
      [ho2!.id, 'held_open', true],
      [off1!.id, 'offline', true],
      [fo1b!.id, 'forced_open', false],
      [tam2!.id, 'tamper', true],
      [kl3!.id, 'keypad_lockout', false],
    ]);
    const ms = async (id: string) => {
      const [r] = await query<{ ms: string }>(
        db,
        sql`select extract(epoch from cleared_at) * 1000 as ms from door_alarms where id = ${id}`,
      );
      return Number(r?.ms);
    };
    expect(await ms(fo1!.id)).toBe(clr!.at);
    expect(await ms(off1!.id)).toBe(onl!.at);
    expect(await ms(ho2!.id)).toBe(clr2!.at);

    // Replays, whole and in other cuts (a crash before the cursor was saved): nothing changes.
    await sink.write(events);
    await sink.write(events.slice(4, 9));
    for (const e of events) await sink.write([e]);
    expect(await alarms()).toEqual(after);
    const [count] = await query<{ n: number }>(
      db,
      sql`select count(*)::int as n from access_events where door_id in ('a1', 'a2', 'a3')`,
    );
    expect(count?.n).toBe(events.length);
  });

  it('sets aside an event the database refuses and stores the rest of the batch', async () => {
    const sink = createDbEventSink(db, SITE);
    const good1: AccessEvent = { id: newId(), at: Date.now(), type: 'access', doorId: 'nul' };
    const bad: AccessEvent = { id: newId(), at: Date.now(), type: 'reader_error', reason: 'a\0b' };
    const good2: AccessEvent = { id: newId(), at: Date.now(), type: 'access', doorId: 'nul' };
    const result = await sink.write([good1, bad, good2]);
    expect(result?.rejected?.map((r) => r.event.id)).toEqual([bad.id]);
    expect(result?.rejected?.[0]?.reason).toMatch(/^22/);
    const ids = await query<{ id: string }>(
      db,
      sql`select id from access_events where id in (${good1.id}, ${bad.id}, ${good2.id})`,
    );
    expect(ids.map((r) => r.id).sort()).toEqual([good1.id, good2.id].sort());
  });

  it('journal → database: a lost cursor re-delivers, and each event is stored once', async () => {
    const dir = join(tmp.path, `redeliver-${kind}`);
    const open = (): Promise<EventJournal> =>
      createEventJournal({
        dir,
        clock: systemClock(),
        log: memoryLogger(),
        sink: createDbEventSink(db, SITE),
        maxBatch: 100,
        retry: { minMs: 10, maxMs: 100 },
      });
    const base = Date.UTC(2027, 0, 1);
    const events: AccessEvent[] = Array.from({ length: 1_000 }, (_, i) => ({
      id: newId(base + i),
      at: base + i,
      type: i % 50 === 0 ? 'forced_open' : 'access',
      doorId: `r-${i % 5}`,
    }));
    const a = await open();
    await a.appendMany(events);
    await a.drained();
    await a.close();
    await writeFile(join(dir, 'cursor.json'), JSON.stringify({ v: 1, segment: 1, offset: 0 }));
    const b = await open();
    expect(b.stats().backlog).toBe(1_000);
    await b.drained();
    await b.close();
    const [row] = await query<{ n: number; d: number; al: number }>(
      db,
      sql`select count(*)::int as n, count(distinct id)::int as d,
          (select count(*)::int from door_alarms where door_id like 'r-%') as al
        from access_events where door_id like 'r-%'`,
    );
    expect(row).toEqual({ n: 1_000, d: 1_000, al: 20 });
  });
});
