import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormatRegistry, encodeCard, type WiegandFormat } from '../../access/index.ts';
import { demoSite, parseSite } from '../../server/config/index.ts';
import { createTestApp, databaseKinds, type TestApp } from '../harness/app.harness.ts';
import { startSmtpServer, type TestSmtpServer } from '../harness/smtp.server.ts';

type Json = Record<string, unknown>;
const json = async (res: Response) => (await res.json()) as Json;
const amazon = (n: number) => `TBA${String(n).padStart(12, '0')}`;
const formats = createFormatRegistry();
const h10301 = (card: number) =>
  encodeCard(formats.get('H10301') as WiegandFormat, { facility: 12, card });
const DAY = 86_400_000;

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.each(databaseKinds())('pickups, hand-overs, returns and reminders on %s', (kind) => {
  let smtp: TestSmtpServer;
  let t: TestApp;
  let manager: string;
  let staff: string;
  let ann: string;
  let bo: string;
  let kiosk = '';

  const badge = async (card: number) =>
    json(
      await t.call('POST', '/api/sim/readers/front-reader/wiegand', {
        cookie: staff,
        body: { bits: h10301(card) },
      }),
    );
  const checkIn = async (n: number, unit: string) => {
    const res = await t.call('POST', '/api/packages', {
      cookie: staff,
      body: { trackingNumber: amazon(n), carrier: 'Amazon', unit, size: 'standard' },
    });
    expect(res.status).toBe(201);
    return (await json(res)).id as string;
  };
  const kioskCall = (method: string, path: string, body?: unknown, cookie = kiosk) =>
    t.call(method, path, { ...(body !== undefined ? { body } : {}), cookie });

  beforeAll(async () => {
    smtp = await startSmtpServer();
    const raw = demoSite();
    raw.notifications = {
      email: { host: '127.0.0.1', port: smtp.port, tls: 'none', from: 'Parcels <p@demo.example>' },
      batchQuietMs: 1_000,
      overdueAfterDays: 3,
      returnAfterDays: 7,
    };
    raw.access = { ...(raw.access as Json), residentEntry: 'with_parcels' };
    t = await createTestApp(kind, { site: parseSite(raw, 'pickup test') });
    manager = await t.login('manager');
    staff = await t.login('staff');
    for (const [name, unit, card] of [
      ['Ann Lee', '4B', 101],
      ['Bo Chen', '7C', 102],
    ] as const) {
      const r = await json(
        await t.call('POST', '/api/residents', {
          cookie: manager,
          body: { name, unit, email: `${name.split(' ')[0]!.toLowerCase()}@example.test` },
        }),
      );
      await t.call('POST', '/api/credentials', {
        cookie: manager,
        body: {
          residentId: r.id,
          kind: 'card',
          format: 'H10301',
          facilityCode: 12,
          cardNumber: card,
        },
      });
      if (unit === '4B') ann = r.id as string;
      else bo = r.id as string;
    }
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });

  it('with "only with parcels waiting", a resident is let in only while a parcel waits', async () => {
    expect(await badge(101)).toMatchObject({ decision: 'denied', reason: 'no_parcels_waiting' });
    await checkIn(1, '4B');
    await checkIn(2, '4B');
    await checkIn(3, '7C');
    await until('the door to learn of the parcels', async () => {
      const d = await badge(101);
      return d.decision === 'granted';
    });
  });

  it('opens the kiosk for the resident who just badged in, once', async () => {
    expect(await json(await t.call('GET', '/api/kiosk/door/front'))).toEqual({
      residentWaiting: true,
    });
    const res = await kioskCall('POST', '/api/kiosk/session/resident', { doorId: 'front' });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({ kind: 'resident', name: 'Ann', unit: '4B' });
    expect((body.parcels as Json[]).map((p) => p.trackingNumber).sort()).toEqual([
      amazon(1),
      amazon(2),
    ]);
    kiosk = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
    // The slot is named with its shelf, so the resident finds it.
    expect((body.parcels as Json[])[0]!.location).toMatchObject({
      kind: 'shelf',
      shelf: expect.any(String) as string,
    });
    expect(await json(await t.call('GET', '/api/kiosk/doors'))).toEqual({
      items: t.site.doors.map((d) => ({ id: d.id, name: d.name })),
    });
    // Someone who followed Ann in cannot open her screen a second time.
    expect(await json(await t.call('GET', '/api/kiosk/door/front'))).toEqual({
      residentWaiting: false,
    });
    const again = await t.call('POST', '/api/kiosk/session/resident', {
      body: { doorId: 'front' },
    });
    expect(again.status).toBe(403);
    expect((await json(again)).error).toMatchObject({ code: 'no_resident_visit' });
  });

  it('refuses a resident screen long after the badge, and for an unknown door', async () => {
    await badge(101);
    t.clock.advance(3 * 60_000);
    const late = await t.call('POST', '/api/kiosk/session/resident', { body: { doorId: 'front' } });
    expect(late.status).toBe(403);
    const nope = await t.call('GET', '/api/kiosk/door/nope');
    expect(nope.status).toBe(404);
  });

  it('lets the resident take their own parcel by tap and by scan', async () => {
    const session = await json(await kioskCall('GET', '/api/kiosk/session'));
    const first = (session.parcels as Json[]).find((p) => p.trackingNumber === amazon(1))!;
    const tap = await kioskCall('POST', '/api/kiosk/pickup', { packageId: first.id });
    expect(tap.status).toBe(200);
    expect(await json(tap)).toMatchObject({ status: 'picked_up' });
    const scan = await kioskCall('POST', '/api/kiosk/pickup', {
      trackingNumber: ` tba-${amazon(2).slice(3)} `.replace('tba-', 'TBA'),
    });
    expect(scan.status).toBe(200);
    // Taken already: a clear answer, not a second pickup.
    const twice = await kioskCall('POST', '/api/kiosk/pickup', { packageId: first.id });
    expect(twice.status).toBe(409);
  });

  it("refuses another resident's parcel with wrong_pickup, and records who tried", async () => {
    const res = await kioskCall('POST', '/api/kiosk/pickup', { trackingNumber: amazon(3) });
    expect(res.status).toBe(403);
    expect((await json(res)).error).toMatchObject({ code: 'wrong_pickup' });
    await t.services.journal.drained();
    const events = await json(
      await t.call('GET', `/api/events?type=wrong_pickup&residentId=${ann}`, { cookie: staff }),
    );
    expect(events.items).toHaveLength(1);
    expect((events.items as Json[])[0]).toMatchObject({ residentId: ann });
    const list = await json(
      await t.call('GET', `/api/packages?unit=7C&status=checked_in`, { cookie: staff }),
    );
    expect(list.items).toHaveLength(1);
    // An unknown label is "not here", not someone else's.
    const unknown = await kioskCall('POST', '/api/kiosk/pickup', { trackingNumber: amazon(99) });
    expect(unknown.status).toBe(404);
  });

  it('keeps kiosk roles apart: a resident cannot check in, a carrier cannot pick up', async () => {
    const res = await kioskCall('POST', '/api/kiosk/packages', {
      trackingNumber: amazon(50),
      carrier: 'UPS',
      unit: '4B',
      size: 'standard',
    });
    expect(res.status).toBe(403);
    expect((await json(res)).error).toMatchObject({ code: 'carrier_only' });
    expect((await kioskCall('GET', '/api/kiosk/recipients?q=bo')).status).toBe(403);
    const none = await t.call('POST', '/api/kiosk/pickup', { body: { packageId: 'x' } });
    expect(none.status).toBe(401);
  });

  it('ends the resident session, after which the door closes to them again', async () => {
    expect((await kioskCall('POST', '/api/kiosk/session/end')).status).toBe(200);
    expect((await kioskCall('GET', '/api/kiosk/session')).status).toBe(401);
    await until('the door to learn the parcels are gone', async () => {
      const d = await badge(101);
      return d.reason === 'no_parcels_waiting';
    });
  });

  it('records a desk hand-over with who handed it to whom, and refuses the wrong resident', async () => {
    const id = await checkIn(4, '7C');
    const wrong = await t.call('POST', `/api/packages/${id}/pickup`, {
      cookie: staff,
      body: { residentId: ann },
    });
    expect(wrong.status).toBe(403);
    expect((await json(wrong)).error).toMatchObject({ code: 'wrong_pickup' });
    const bad = await t.call('POST', `/api/packages/${id}/pickup`, {
      cookie: staff,
      body: { handedTo: '' },
    });
    expect(bad.status).toBe(400);
    const ok = await t.call('POST', `/api/packages/${id}/pickup`, {
      cookie: staff,
      body: { residentId: bo, handedTo: 'Bo Chen (showed ID)' },
    });
    expect(ok.status).toBe(200);
    await t.services.journal.drained();
    const timeline = await json(
      await t.call('GET', `/api/packages/${id}/timeline`, { cookie: staff }),
    );
    expect(timeline.package).toMatchObject({
      status: 'picked_up',
      handedTo: 'Bo Chen (showed ID)',
    });
    const picked = (timeline.items as Json[]).find((i) => i.type === 'package_picked_up')!;
    expect(picked).toMatchObject({
      staffId: expect.any(String) as string,
      residentId: bo,
      details: { by: 'staff', via: 'desk', handedTo: 'Bo Chen (showed ID)' },
    });
    expect((timeline.items as Json[]).some((i) => i.type === 'wrong_pickup')).toBe(true);
  });

  it('keeps the contract: a pickup with no body marks it picked up by its resident', async () => {
    const id = await checkIn(5, '7C');
    const res = await t.call('POST', `/api/packages/${id}/pickup`, { cookie: staff });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ id, status: 'picked_up' });
  });

  it('reminds after N days, once per resident, repeats every N days, then queues for return', async () => {
    // The 7C parcel #3 has waited since the start; move past the overdue line.
    await until('check-in notices sent', () => smtp.messages.length >= 2);
    const before = smtp.messages.length;
    const p6 = await checkIn(6, '7C');
    t.clock.advance(3 * DAY + 60_000);
    await until('the check-in notice for #6', () => smtp.messages.length >= before + 1);
    const sent = smtp.messages.length;
    const run = await t.services.reminders.runOnce();
    expect(run).toEqual({ residents: 1, parcels: 2 });
    await until('the reminder', () => smtp.messages.length === sent + 1);
    const reminder = smtp.messages.at(-1)!;
    expect(reminder.subject).toMatch(/^Reminder: 2 parcels still waiting/);
    expect(reminder.to).toContain('bo@example.test');
    expect(reminder.text).toContain(amazon(3));
    expect(reminder.text).toContain(amazon(6));
    // Not again the same day.
    expect(await t.services.reminders.runOnce()).toEqual({ residents: 0, parcels: 0 });
    t.clock.advance(3 * DAY);
    expect(await t.services.reminders.runOnce()).toEqual({ residents: 1, parcels: 2 });

    // Past seven days the parcels are in the return queue and reminders stop.
    t.clock.advance(2 * DAY);
    staff = await t.login('staff'); // the desk's session from last week has expired
    const queue = await json(await t.call('GET', '/api/packages/returns', { cookie: staff }));
    expect(queue.returnAfterDays).toBe(7);
    expect((queue.items as Json[]).map((i) => i.trackingNumber).sort()).toEqual([
      amazon(3),
      amazon(6),
    ]);
    expect((queue.items as Json[])[0]).toMatchObject({ reminders: 2, unit: '7C' });
    expect(await t.services.reminders.runOnce()).toEqual({ residents: 0, parcels: 0 });

    const overdue = await json(
      await t.call('GET', '/api/packages?overdue=true', { cookie: staff }),
    );
    expect((overdue.items as Json[]).every((i) => i.overdue === true)).toBe(true);
    expect(overdue.items).toHaveLength(2);

    // Staff hand it back to the carrier: out of the queue, reason kept.
    const ret = await t.call('POST', `/api/packages/${p6}/return`, {
      cookie: staff,
      body: { reason: 'uncollected after 7 days' },
    });
    expect(ret.status).toBe(200);
    expect((await t.call('POST', `/api/packages/${p6}/return`, { cookie: staff })).status).toBe(
      409,
    );
    const after = await json(await t.call('GET', '/api/packages/returns', { cookie: staff }));
    expect(after.items).toHaveLength(1);
    await t.services.journal.drained();
    const timeline = await json(
      await t.call('GET', `/api/packages/${p6}/timeline`, { cookie: staff }),
    );
    const types = (timeline.items as Json[]).map((i) => i.type);
    expect(types[0]).toBe('package_checked_in');
    expect(types.at(-1)).toBe('package_returned');
    // Each notice attempt is on the timeline: the check-in notice and two reminders.
    const notices = (timeline.items as Json[]).filter((i) => i.type === 'notified');
    expect(notices.map((n) => (n.details as Json).notice)).toEqual([
      'checked_in',
      'reminder',
      'reminder',
    ]);
    expect(notices.every((n) => (n.details as Json).ok === true)).toBe(true);
  });

  it('lets only staff roles return parcels (a viewer token cannot)', async () => {
    const res = await t.call('POST', `/api/packages/nope/return`, {});
    expect(res.status).toBe(401);
  });
});
