import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inArray } from 'drizzle-orm';
import { createFormatRegistry, encodeCard, type WiegandFormat } from '../../access/index.ts';
import { accessEvents, openDatabase } from '../../db/index.ts';
import { createTestApp, type TestApp } from '../harness/app.harness.ts';
import { createDatabase, startPostgres, type PostgresServer } from '../harness/postgres.server.ts';
import { requirePostgres } from '../harness/requirements.ts';
import { login, startServerProcess, type ServerProcess } from '../harness/server.process.ts';
import { makeTempDir, type TempDir } from '../harness/temp-dir.ts';
import { ensureWebBuilt } from '../harness/web-build.ts';

type Json = Record<string, unknown>;
const h10301 = createFormatRegistry().get('H10301') as WiegandFormat;
const GOOD = encodeCard(h10301, { facility: 12, card: 4242 });
const UNKNOWN = encodeCard(h10301, { facility: 12, card: 4243 });

const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([
    p,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms),
    ),
  ]);

describe.skipIf(!requirePostgres())('PostgreSQL stops during a burst of badge events', () => {
  let pg: PostgresServer;
  let t: TestApp;

  beforeAll(async () => {
    pg = await startPostgres();
    const url = await createDatabase(pg.url, 'outage');
    t = await createTestApp('postgres', { database: await openDatabase({ url, poolSize: 4 }) });
    const manager = await t.login('manager');
    const res = await t.call('POST', '/api/residents', {
      cookie: manager,
      body: { name: 'Ann Lee', unit: '4B' },
    });
    const { id } = (await res.json()) as { id: string };
    const card = await t.call('POST', '/api/credentials', {
      cookie: manager,
      body: { residentId: id, kind: 'card', format: 'H10301', facilityCode: 12, cardNumber: 4242 },
    });
    expect(card.status).toBe(201);
  });
  afterAll(async () => {
    await t?.close();
    await pg?.stop();
  });

  it('keeps deciding at the door, keeps every event, and drains them once when it returns', async () => {
    const reader = t.doors.simReader('front-reader')!;
    const swipe = async (bits: string) => {
      const outcome = t.doors.nextOutcome('front-reader');
      reader.send({ kind: 'frame', bits });
      const o = await outcome;
      if (o.kind !== 'decision') throw new Error(`unexpected outcome ${o.kind}`);
      return o;
    };
    const ids: string[] = [];
    const duringOutage: string[] = [];
    let health: Response | undefined;
    for (let i = 0; i < 900; i++) {
      if (i === 300) await pg.halt('fast');
      if (i === 600) {
        health = await t.call('GET', '/api/health');
        await pg.resume();
      }
      const good = i % 3 !== 0;
      const o = await swipe(good ? GOOD : UNKNOWN);
      // The door decides from memory whether or not the database is there.
      expect(o.decision.decision, `swipe ${i}`).toBe(good ? 'granted' : 'denied');
      ids.push(o.eventId);
      if (i >= 300 && i < 600) duringOutage.push(o.eventId);
      if (good) t.clock.advance(5_000);
    }
    expect(health?.status).toBe(503);
    const during = (await health?.json()) as { journal: { backlog: number } };
    expect(during).toMatchObject({ status: 'degraded', database: 'postgres' });
    // The events of the outage wait in the journal, and health says how many.
    expect(during.journal.backlog).toBeGreaterThan(0);

    await within(t.services.journal.drained(), 30_000, 'draining the journal');
    const stored = new Set<string>();
    for (let i = 0; i < ids.length; i += 300) {
      const rows = await t.database.db
        .select({ id: accessEvents.id })
        .from(accessEvents)
        .where(inArray(accessEvents.id, ids.slice(i, i + 300)));
      for (const r of rows) stored.add(r.id);
    }
    expect(stored.size).toBe(900);
    expect(duringOutage.every((id) => stored.has(id))).toBe(true);
    const stats = t.services.journal.stats();
    expect(stats.backlog).toBe(0);
    expect(stats.failedWrites).toBeGreaterThan(0);
  });
});

describe('the server is killed with SIGKILL during a burst', () => {
  let dir: TempDir;
  let server: ServerProcess | undefined;
  const admin = { email: 'admin@example.test', password: 'admin-password-1234' };
  const env = {
    PARCELROOM_ADMIN_EMAIL: admin.email,
    PARCELROOM_ADMIN_PASSWORD: admin.password,
  };

  beforeAll(async () => {
    await ensureWebBuilt();
    dir = await makeTempDir('parcelroom-kill');
  });
  afterAll(async () => {
    await server?.kill();
    await dir?.cleanup();
  });

  it('loses no acknowledged access event', async () => {
    ({ server } = await startServerProcess({ dataDir: dir.path, env }));
    const first = server;
    const { cookie } = await login(first.url, admin.email, admin.password);
    const headers = { cookie: cookie!, 'content-type': 'application/json' };
    const resident = (await (
      await fetch(`${first.url}/api/residents`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: 'Ann Lee', unit: '4B' }),
      })
    ).json()) as { id: string };
    const card = await fetch(`${first.url}/api/credentials`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        residentId: resident.id,
        kind: 'card',
        format: 'H10301',
        facilityCode: 12,
        cardNumber: 4242,
      }),
    });
    expect(card.status).toBe(201);

    // Four readers' worth of traffic at once; the kill lands while requests are in flight.
    const acked: string[] = [];
    let killed = false;
    const loop = async (n: number) => {
      for (let i = 0; !killed; i++) {
        try {
          const res = await fetch(`${first.url}/api/sim/readers/front-reader/wiegand`, {
            method: 'POST',
            headers,
            body: JSON.stringify({ bits: (i + n) % 4 === 0 ? UNKNOWN : GOOD }),
          });
          if (res.status !== 200) continue;
          const body = (await res.json()) as Json;
          if (typeof body.eventId === 'string') acked.push(body.eventId);
        } catch {
          return; // the server is gone
        }
      }
    };
    const loops = [0, 1, 2, 3].map(loop);
    while (acked.length < 200) await new Promise((r) => setTimeout(r, 5));
    killed = true;
    await first.kill();
    await Promise.all(loops);
    expect(first.exitStatus()?.signal ?? 'SIGKILL').toBe('SIGKILL');
    const ackedAtKill = [...acked];

    ({ server } = await startServerProcess({ dataDir: dir.path, env }));
    const again = await login(server.url, admin.email, admin.password);
    const seen = new Map<string, number>();
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      seen.clear();
      let cursor: string | undefined;
      do {
        const page = (await (
          await fetch(
            `${server.url}/api/events?type=access&limit=500${cursor ? `&cursor=${cursor}` : ''}`,
            { headers: { cookie: again.cookie! } },
          )
        ).json()) as { items: Json[]; nextCursor?: string };
        for (const e of page.items) seen.set(String(e.id), (seen.get(String(e.id)) ?? 0) + 1);
        cursor = page.nextCursor;
      } while (cursor);
      if (ackedAtKill.every((id) => seen.has(id))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const missing = ackedAtKill.filter((id) => !seen.has(id));
    expect(missing).toEqual([]);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(ackedAtKill.length).toBeGreaterThanOrEqual(200);
  });
});
