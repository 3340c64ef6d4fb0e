import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { residents } from '../../db/index.ts';
import { demoSite, parseSite } from '../../server/config/index.ts';
import { createTestApp, databaseKinds, type TestApp } from '../harness/app.harness.ts';

type Json = Record<string, unknown>;
const json = async (res: Response) => (await res.json()) as Json;
const amazon = (n: number) => `TBA${String(n).padStart(12, '0')}`;
const GRACE_MS = 600_000;

/** Drives the demo room's simulated door, keypad and kiosk the way a carrier does. */
function room(t: TestApp, who: () => string, door = 'front') {
  const call = (path: string, body?: unknown) =>
    t.call('POST', path, { cookie: who(), ...(body === undefined ? {} : { body }) });
  return {
    /** Types the code at the keypad; answers the grant's access event id. */
    async code(code: string): Promise<string> {
      const res = await json(
        await call(`/api/sim/readers/${door}-reader/keys`, { keys: `${code}#` }),
      );
      expect(res).toMatchObject({ decision: 'granted' });
      return res.eventId as string;
    },
    async contact(state: 'open' | 'closed') {
      expect((await call(`/api/sim/doors/${door}/contact`, { state })).status).toBe(200);
    },
    async rex() {
      expect((await call(`/api/sim/doors/${door}/rex`)).status).toBe(200);
    },
    /**
     * Comes in with the code: keypad, a second to the door, open two seconds, closed behind them.
     * Answers the grant's access event id and the time the door opened.
     */
    async enter(code: string): Promise<{ grant: string; start: number }> {
      const grant = await this.code(code);
      t.clock.advance(1_000);
      await this.contact('open');
      const start = t.clock.now();
      t.clock.advance(2_000);
      await this.contact('closed');
      return { grant, start };
    },
    /** Leaves through the door from inside: exit button, open, close. Answers the close time. */
    async leave(): Promise<number> {
      await this.rex();
      t.clock.advance(1_000);
      await this.contact('open');
      t.clock.advance(1_000);
      await this.contact('closed');
      return t.clock.now();
    },
    async kiosk(code: string): Promise<string> {
      const res = await t.call('POST', '/api/kiosk/session', { body: { code } });
      expect(res.status).toBe(200);
      return (res.headers.get('set-cookie') ?? '').split(';')[0]!;
    },
    async checkIn(kiosk: string, n: number, to: { unit: string } | { residentId: string }) {
      const res = await t.call('POST', '/api/kiosk/packages', {
        cookie: kiosk,
        body: { trackingNumber: amazon(n), carrier: 'Amazon', size: 'standard', ...to },
      });
      expect(res.status).toBe(201);
    },
  };
}

/** The demo room plus a back door with a keypad that no camera watches (two cameras, neither there). */
function twoDoorSite() {
  const raw = demoSite() as { doors: Json[]; readers: Json[]; cameras: Json[] };
  raw.doors.push({ id: 'back', name: 'Back door', driver: { kind: 'sim' }, grantMs: 5000 });
  raw.readers.push({ id: 'back-reader', doorId: 'back', keypad: true });
  raw.cameras.push({ id: 'hall-cam', name: 'Hall', source: { kind: 'sim' } });
  return parseSite(raw, 'two doors');
}

describe.each(databaseKinds())('carrier compliance on %s', (kind) => {
  let t: TestApp;
  let manager = '';
  let staff = '';
  const codes: Record<'upsA' | 'upsB' | 'drop', { id: string; code: string }> = {} as never;
  const people: Record<string, string> = {};
  // What the door saw, as the test drove it.
  const visit: Record<string, { start: number; end: number; grant: string }> = {};

  const login = async () => {
    manager = await t.login('manager');
    staff = await t.login('staff');
  };

  beforeAll(async () => {
    t = await createTestApp(kind, { site: twoDoorSite() });
    await login();
    for (const [name, unit] of [
      ['Ann Lee', '4B'],
      ['Bo Chen', '7C'],
      ['Cy Park', '9Z'],
    ] as const) {
      const res = await json(
        await t.call('POST', '/api/residents', { cookie: manager, body: { name, unit } }),
      );
      people[name] = res.id as string;
    }
    // 9Z's only resident moved out yesterday: a parcel for 9Z has nobody to go to.
    await t.database.db
      .update(residents)
      .set({ status: 'moved_out', moveOutAt: new Date(t.clock.now() - 86_400_000) })
      .where(eq(residents.id, people['Cy Park']!));
    const until = new Date(t.clock.now() + 4 * 86_400_000).toISOString();
    for (const [key, carrier] of [
      ['upsA', 'UPS'],
      ['upsB', 'UPS'],
      ['drop', '@Drop Co'],
    ] as const) {
      const res = await json(
        await t.call('POST', '/api/carrier-codes', {
          cookie: manager,
          body: { carrier, validUntil: until },
        }),
      );
      codes[key] = { id: res.id as string, code: res.code as string };
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  it('drives carrier visits at the keypad, door and kiosk, with a re-entry and a drop', async () => {
    const r = room(t, () => staff);
    // UPS code A: in, two parcels (one to a named resident, one to a unit), out, back from the
    // van within the gap, one more parcel, out.
    const in1 = await r.enter(codes.upsA.code);
    let kiosk = await r.kiosk(codes.upsA.code);
    t.clock.advance(1_000);
    await r.checkIn(kiosk, 1, { residentId: people['Ann Lee']! });
    t.clock.advance(1_000);
    await r.checkIn(kiosk, 2, { unit: '7C' });
    t.clock.advance(60_000);
    await r.leave();
    t.clock.advance(60_000);
    await r.enter(codes.upsA.code);
    kiosk = await r.kiosk(codes.upsA.code);
    t.clock.advance(1_000);
    await r.checkIn(kiosk, 3, { residentId: people['Bo Chen']! });
    t.clock.advance(30_000);
    visit.ups1 = { ...in1, end: await r.leave() };

    // The drop: in, a minute and a half in the room, out, nothing checked in.
    t.clock.advance(600_000);
    const in2 = await r.enter(codes.drop.code);
    t.clock.advance(90_000);
    visit.drop = { ...in2, end: await r.leave() };

    // UPS code B: one parcel for a unit whose resident has moved out.
    t.clock.advance(60_000);
    const in3 = await r.enter(codes.upsB.code);
    kiosk = await r.kiosk(codes.upsB.code);
    t.clock.advance(1_000);
    await r.checkIn(kiosk, 4, { unit: '9Z' });
    t.clock.advance(30_000);
    visit.ups3 = { ...in3, end: await r.leave() };
    await t.services.journal.drained();
  });

  it('waits out the grace, then raises one carrier_drop flag with the door camera clip of the visit', async () => {
    expect(await t.services.dropWatch.runOnce()).toEqual({ raised: 0, pending: 1 });
    const early = await json(await t.call('GET', '/api/compliance', { cookie: manager }));
    expect(early.totals).toMatchObject({ drops: 0, pending: 1 });

    t.clock.advance(GRACE_MS);
    expect(await t.services.dropWatch.runOnce()).toEqual({ raised: 1, pending: 0 });
    expect(await t.services.dropWatch.runOnce()).toEqual({ raised: 0, pending: 0 });

    const page = await json(
      await t.call('GET', '/api/flags?kind=carrier_drop&status=new', { cookie: staff }),
    );
    const items = page.items as Json[];
    expect(items).toHaveLength(1);
    const flag = items[0]!;
    expect(flag).toMatchObject({
      kind: 'carrier_drop',
      cameraId: 'room-cam',
      doorId: 'front',
      entryEventId: visit.drop!.grant,
      hasClip: true,
      clipUrl: `/api/flags/${flag.id as string}/clip`,
      at: new Date(visit.drop!.end).toISOString(),
      clipWindow: {
        startAt: new Date(visit.drop!.start - 5_000).toISOString(),
        endAt: new Date(visit.drop!.end + 5_000).toISOString(),
      },
      evidence: {
        carrier: '@Drop Co',
        carrierCodeId: codes.drop.id,
        openings: 1,
        exitSeen: true,
        timeInRoomMs: visit.drop!.end - visit.drop!.start,
      },
    });
    // The contract's kinds still filter as before.
    const loitering = await json(
      await t.call('GET', '/api/flags?kind=loitering', { cookie: staff }),
    );
    expect(loitering.items).toEqual([]);
    const review = await t.call('POST', `/api/flags/${flag.id as string}/review`, {
      cookie: staff,
      body: { status: 'confirmed', note: 'called UPS dispatch' },
    });
    expect(review.status).toBe(200);
  });

  it('counts visits, openings, parcels, drops, recipients and time in the room exactly', async () => {
    // A visit that starts on Sunday night and checks its parcel in on Monday: week 47's.
    t.clock.set(Date.UTC(2026, 10, 22, 23, 59, 0));
    await login();
    const r = room(t, () => staff);
    const in4 = await r.enter(codes.upsB.code);
    const kiosk = await r.kiosk(codes.upsB.code);
    t.clock.set(Date.UTC(2026, 10, 23, 0, 1, 0));
    await r.checkIn(kiosk, 5, { residentId: people['Ann Lee']! });
    t.clock.advance(10_000);
    visit.ups4 = { ...in4, end: await r.leave() };
    await t.services.journal.drained();

    const res = await t.call('GET', '/api/compliance?week=2026-W47', { cookie: manager });
    expect(res.status).toBe(200);
    const report = await json(res);
    const time = (k: string) => visit[k]!.end - visit[k]!.start;
    const ups = [time('ups1'), time('ups3'), time('ups4')];
    const sorted = [...ups].sort((a, b) => a - b);
    expect(report.from).toBe('2026-11-16T00:00:00.000Z');
    expect(report.to).toBe('2026-11-23T00:00:00.000Z');
    expect(report.totals).toMatchObject({
      visits: 4,
      doorOpenings: 5,
      parcels: 5,
      drops: 1,
      pending: 0,
      ongoing: 0,
      parcelsWithoutVisit: 0,
    });
    const carriers = report.carriers as Json[];
    const upsRow = carriers.find((c) => c.carrier === 'UPS')!;
    expect(upsRow).toMatchObject({
      visits: 3,
      doorOpenings: 4,
      parcels: 5,
      parcelsPerVisit: 5 / 3,
      parcelsPerOpening: 5 / 4,
      drops: 0,
      withoutRecipient: 2,
      unitWithoutResident: 1,
      avgTimeInRoomMs: (ups[0]! + ups[1]! + ups[2]!) / 3,
      medianTimeInRoomMs: sorted[1],
    });
    const codeRows = upsRow.codes as Json[];
    expect(codeRows.find((c) => c.carrierCodeId === codes.upsA.id)).toMatchObject({
      visits: 1,
      doorOpenings: 2,
      parcels: 3,
      parcelsPerVisit: 3,
      parcelsPerOpening: 1.5,
      withoutRecipient: 1,
      unitWithoutResident: 0,
      avgTimeInRoomMs: time('ups1'),
    });
    expect(codeRows.find((c) => c.carrierCodeId === codes.upsB.id)).toMatchObject({
      visits: 2,
      doorOpenings: 2,
      parcels: 2,
      withoutRecipient: 1,
      unitWithoutResident: 1,
    });
    expect(carriers.find((c) => c.carrier === '@Drop Co')).toMatchObject({
      visits: 1,
      doorOpenings: 1,
      parcels: 0,
      parcelsPerVisit: 0,
      parcelsPerOpening: 0,
      drops: 1,
      avgTimeInRoomMs: time('drop'),
      medianTimeInRoomMs: time('drop'),
    });
    const drops = report.drops as Json[];
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatchObject({
      visitId: visit.drop!.grant,
      carrier: '@Drop Co',
      doorId: 'front',
      doorName: 'Package room door',
      flagStatus: 'confirmed',
      clipUrl: `/api/flags/${drops[0]!.flagId as string}/clip`,
    });

    // The next week holds neither the Sunday-night visit nor its Monday check-in.
    const next = await json(
      await t.call('GET', '/api/compliance?week=2026-W48', { cookie: manager }),
    );
    expect(next.totals).toMatchObject({ visits: 0, parcels: 0, drops: 0 });

    // One carrier only, for the summary sent to that carrier.
    const one = await json(
      await t.call('GET', '/api/compliance?week=2026-W47&carrier=UPS', { cookie: manager }),
    );
    expect((one.carriers as Json[]).map((c) => c.carrier)).toEqual(['UPS']);
    expect(one.drops).toEqual([]);

    // The CSV summary says the same, with the formula-looking carrier name made harmless.
    const csv = await t.call('GET', '/api/compliance.csv?week=2026-W47', { cookie: manager });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await csv.text()).split('\r\n');
    const s = (ms: number) => String(Math.round(ms / 1000));
    const period = '2026-11-16T00:00:00.000Z,2026-11-23T00:00:00.000Z';
    expect(lines[0]).toBe(
      'period_from,period_to,carrier,carrier_code_id,visits,door_openings,parcels_checked_in,parcels_per_visit,parcels_per_door_opening,drops,drops_pending,visits_ongoing,parcels_without_visit,parcels_without_recipient,parcels_unit_without_resident,avg_time_in_room_s,median_time_in_room_s',
    );
    expect(lines).toContain(
      `${period},UPS,all,3,4,5,1.67,1.25,0,0,0,0,2,1,${s((ups[0]! + ups[1]! + ups[2]!) / 3)},${s(sorted[1]!)}`,
    );
    expect(lines).toContain(
      `${period},'@Drop Co,all,1,1,0,0.00,0.00,1,0,0,0,0,0,${s(time('drop'))},${s(time('drop'))}`,
    );
    expect(lines).toContain(
      `${period},UPS,${codes.upsA.id},1,2,3,3.00,1.50,0,0,0,0,1,0,${s(time('ups1'))},${s(time('ups1'))}`,
    );
    expect(lines.filter((l) => l !== '')).toHaveLength(1 + 2 + 3);
  });

  it('refuses staff and strangers, and names the bad field', async () => {
    for (const path of ['/api/compliance', '/api/compliance.csv', '/api/compliance/instructions']) {
      expect((await t.call('GET', path, { cookie: staff })).status).toBe(403);
      expect((await t.call('GET', path)).status).toBe(401);
    }
    const badWeek = await t.call('GET', '/api/compliance?week=2026-W60', { cookie: manager });
    expect(badWeek.status).toBe(400);
    expect(((await json(badWeek)).error as Json).field).toBe('week');
    const half = await t.call('GET', `/api/compliance?from=2026-11-16T00:00:00Z`, {
      cookie: manager,
    });
    expect(((await json(half)).error as Json).field).toBe('to');
  });

  it('gives the delivery instruction sheet its doors, keypad and kiosk links', async () => {
    const sheet = await json(
      await t.call('GET', '/api/compliance/instructions', { cookie: manager }),
    );
    expect(sheet).toMatchObject({
      site: { id: 'demo', name: 'Demo building' },
      codeLength: 6,
      doors: [
        { id: 'front', name: 'Package room door', keypad: true, kioskPath: '/kiosk?door=front' },
        { id: 'back', name: 'Back door', keypad: true, kioskPath: '/kiosk?door=back' },
      ],
      overflowLabel: 'Overflow',
      kioskEntryWindowMinutes: 15,
    });
  });
  it('flags a drop at a door no camera watches, without a clip', async () => {
    // Week 48 now: the back door has no camera of its own, and the site has two.
    const r = room(t, () => staff, 'back');
    const { grant } = await r.enter(codes.upsA.code);
    t.clock.advance(20_000);
    await r.leave();
    await t.services.journal.drained();
    t.clock.advance(GRACE_MS);
    expect(await t.services.dropWatch.runOnce()).toEqual({ raised: 1, pending: 0 });
    const page = await json(await t.call('GET', '/api/flags?kind=carrier_drop', { cookie: staff }));
    const flag = (page.items as Json[]).find((f) => f.entryEventId === grant)!;
    expect(flag).toMatchObject({ cameraId: null, doorId: 'back', hasClip: false });
    const clip = await t.call('GET', `/api/flags/${flag.id as string}/clip`, { cookie: staff });
    expect(clip.status).toBe(404);
    expect(((await json(clip)).error as Json).code).toBe('no_camera');
    const report = await json(
      await t.call('GET', '/api/compliance?week=2026-W48', { cookie: manager }),
    );
    expect(report.drops).toMatchObject([{ flagId: flag.id, doorId: 'back', clipUrl: null }]);
  });
});
