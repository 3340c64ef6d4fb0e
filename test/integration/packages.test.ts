import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormatRegistry, encodeCard, type WiegandFormat } from '../../access/index.ts';
import { mod10Weight31CheckDigit } from '../../server/packages/index.ts';
import { createTestApp, databaseKinds, type TestApp } from '../harness/app.harness.ts';

type Json = Record<string, unknown>;
const json = async (res: Response) => (await res.json()) as Json;
const UPS_VALID = '1Z999AA10123456784';
const uspsBody = '940010000000000000000';
const USPS_VALID = uspsBody + String(mod10Weight31CheckDigit(uspsBody));
const amazon = (n: number) => `TBA${String(n).padStart(12, '0')}`;

describe.each(databaseKinds())('parcel check-in on %s', (kind) => {
  let t: TestApp;
  let staff: string;
  let manager: string;
  let annId: string;

  const checkIn = (body: Json, cookie = staff) => t.call('POST', '/api/packages', { cookie, body });

  beforeAll(async () => {
    t = await createTestApp(kind);
    staff = await t.login('staff');
    manager = await t.login('manager');
    const ann = await t.call('POST', '/api/residents', {
      cookie: manager,
      body: { name: 'Ann Lee', unit: '4B' },
    });
    annId = (await json(ann)).id as string;
    await t.call('POST', '/api/residents', {
      cookie: manager,
      body: { name: 'Bo Chen', unit: '7C' },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('checks a standard parcel in to a shelf slot and records the event', async () => {
    const res = await checkIn({
      trackingNumber: UPS_VALID,
      carrier: 'UPS',
      residentId: annId,
      size: 'standard',
    });
    expect(res.status).toBe(201);
    const body = await json(res);
    expect(body).toMatchObject({
      location: { kind: 'shelf' },
      tracking: { carrier: 'UPS', format: 'ups-1z', valid: true },
    });
    await t.services.journal.drained();
    const events = await json(
      await t.call('GET', '/api/events?type=package_checked_in', { cookie: staff }),
    );
    expect(events.items).toEqual([
      expect.objectContaining({
        packageId: body.id,
        residentId: annId,
        type: 'package_checked_in',
      }),
    ]);
  });

  it("keeps one resident's parcels together and spreads residents over the shelves", async () => {
    const a = await json(
      await checkIn({
        trackingNumber: amazon(1),
        carrier: 'Amazon',
        residentId: annId,
        size: 'standard',
      }),
    );
    const b = await json(
      await checkIn({ trackingNumber: amazon(2), carrier: 'Amazon', unit: '7C', size: 'standard' }),
    );
    const list = await json(
      await t.call('GET', '/api/packages?status=checked_in&unit=4B', { cookie: staff }),
    );
    const annSlots = new Set((list.items as Json[]).map((p) => (p.location as Json).id));
    expect(annSlots.size).toBe(1);
    expect((a.location as Json).id).toBe([...annSlots][0]);
    // Bo's parcel goes to another shelf, so shelves fill evenly.
    expect((b.location as Json).id).not.toBe((a.location as Json).id);
    expect(a.tracking).toMatchObject({ carrier: 'Amazon', valid: null });
  });

  it('sends oversized parcels to the oversized area and perishables to the cold locker', async () => {
    const big = await json(
      await checkIn({ trackingNumber: USPS_VALID, carrier: 'USPS', unit: '7C', size: 'oversized' }),
    );
    expect(big.location).toMatchObject({ kind: 'oversized', id: 'oversized' });
    const cold = await json(
      await checkIn({
        trackingNumber: amazon(3),
        carrier: 'Amazon',
        unit: '4B',
        size: 'perishable',
      }),
    );
    expect(cold.location).toMatchObject({ kind: 'locker', id: 'l6' });
    const second = await json(
      await checkIn({
        trackingNumber: amazon(4),
        carrier: 'Amazon',
        unit: '7C',
        size: 'perishable',
      }),
    );
    expect(second).toMatchObject({
      location: { kind: 'overflow' },
      flag: 'perishable without a cold locker',
    });
  });

  it('accepts an unknown tracking format but marks it; refuses a bad check digit and junk', async () => {
    const odd = await json(
      await checkIn({
        trackingNumber: 'LOCAL-COURIER-77',
        carrier: 'Local',
        unit: '4B',
        size: 'standard',
      }),
    );
    expect(odd.tracking).toMatchObject({ carrier: null, format: null, valid: null });
    const bad = await checkIn({
      trackingNumber: '1Z999AA10123456785',
      carrier: 'UPS',
      unit: '4B',
      size: 'standard',
    });
    expect(bad.status).toBe(400);
    expect(await json(bad)).toMatchObject({
      error: { code: 'invalid_tracking', field: 'trackingNumber' },
    });
    const junk = await checkIn({
      trackingNumber: '<script>',
      carrier: 'UPS',
      unit: '4B',
      size: 'standard',
    });
    expect(junk.status).toBe(400);
  });

  it('refuses a duplicate, an unknown unit, both or neither recipient, and a full locker override', async () => {
    const dup = await checkIn({
      trackingNumber: `  ${UPS_VALID.toLowerCase()} `,
      carrier: 'UPS',
      unit: '4B',
      size: 'standard',
    });
    expect(dup.status).toBe(409);
    expect(await json(dup)).toMatchObject({ error: { code: 'duplicate_tracking' } });
    const unknown = await checkIn({
      trackingNumber: amazon(9),
      carrier: 'Amazon',
      unit: '99Z',
      size: 'standard',
    });
    expect(unknown.status).toBe(404);
    expect(await json(unknown)).toMatchObject({ error: { code: 'unknown_unit', field: 'unit' } });
    const both = await checkIn({
      trackingNumber: amazon(9),
      carrier: 'Amazon',
      unit: '4B',
      residentId: annId,
      size: 'standard',
    });
    expect(both.status).toBe(400);
    const full = await checkIn({
      trackingNumber: amazon(10),
      carrier: 'Amazon',
      unit: '7C',
      size: 'standard',
      location: 'l6',
    });
    expect(full.status).toBe(409);
    expect(await json(full)).toMatchObject({ error: { code: 'location_full', field: 'location' } });
    const nowhere = await checkIn({
      trackingNumber: amazon(10),
      carrier: 'Amazon',
      unit: '7C',
      size: 'standard',
      location: 'attic',
    });
    expect(nowhere.status).toBe(400);
  });

  it('fills shelves, then lockers, then overflow, and never says full', async () => {
    const kinds: string[] = [];
    for (let i = 0; i < 90; i++) {
      const res = await checkIn(
        {
          trackingNumber: amazon(100 + i),
          carrier: 'Amazon',
          unit: `U${i}`.slice(0, 8),
          size: 'standard',
        },
        staff,
      );
      if (res.status === 404) {
        await t.call('POST', '/api/residents', {
          cookie: manager,
          body: { name: `R${i}`, unit: `U${i}` },
        });
        const again = await checkIn({
          trackingNumber: amazon(100 + i),
          carrier: 'Amazon',
          unit: `U${i}`,
          size: 'standard',
        });
        kinds.push(((await json(again)).location as Json).kind as string);
      } else kinds.push(((await json(res)).location as Json).kind as string);
    }
    expect(kinds).toContain('shelf');
    expect(kinds).toContain('locker');
    expect(kinds[kinds.length - 1]).toBe('overflow');
  });

  it('marks a parcel picked up once, and records who handed it over', async () => {
    const list = await json(
      await t.call('GET', '/api/packages?status=checked_in&unit=4B', { cookie: staff }),
    );
    const parcel = (list.items as Json[])[0]!;
    const res = await t.call('POST', `/api/packages/${String(parcel.id)}/pickup`, {
      cookie: staff,
    });
    expect(res.status).toBe(200);
    const again = await t.call('POST', `/api/packages/${String(parcel.id)}/pickup`, {
      cookie: staff,
    });
    expect(again.status).toBe(409);
    expect((await t.call('POST', '/api/packages/nope/pickup', { cookie: staff })).status).toBe(404);
    const after = await json(
      await t.call('GET', '/api/packages?status=picked_up', { cookie: staff }),
    );
    expect((after.items as Json[]).map((p) => p.id)).toEqual([parcel.id]);
    expect((after.items as Json[])[0]).toHaveProperty('pickedUpAt');
    await t.services.journal.drained();
    const events = await json(
      await t.call('GET', '/api/events?type=package_picked_up', { cookie: staff }),
    );
    expect(events.items).toEqual([expect.objectContaining({ packageId: parcel.id })]);
  });

  it('shows the storage board with owners and ages, and finds parcels by tracking, unit or name', async () => {
    const board = await json(await t.call('GET', '/api/storage', { cookie: staff }));
    const shelves = board.shelves as { slots: { id: string; items: Json[] }[] }[];
    const annSlot = shelves
      .flatMap((sh) => sh.slots)
      .find((sl) => sl.items.some((i) => i.unit === '4B'));
    expect(annSlot?.items[0]).toMatchObject({
      unit: '4B',
      residentName: 'Ann Lee',
      overdue: false,
    });
    expect((board.lockers as Json[]).find((l) => l.id === 'l6')).toMatchObject({
      refrigerated: true,
      items: [expect.objectContaining({ size: 'perishable' })],
    });
    t.clock.advance(3 * 86_400_000);
    // Three days on, the console sessions have expired too.
    staff = await t.login('staff');
    manager = await t.login('manager');
    const later = await json(await t.call('GET', '/api/storage', { cookie: staff }));
    const all = [
      ...(later.shelves as { slots: { items: Json[] }[] }[]).flatMap((sh) =>
        sh.slots.flatMap((sl) => sl.items),
      ),
    ];
    expect(all.every((i) => i.overdue === true && Number(i.ageHours) >= 72)).toBe(true);
    for (const q of ['1z999aa', '4B', 'ann']) {
      const found = await json(await t.call('GET', `/api/packages?q=${q}`, { cookie: staff }));
      expect((found.items as Json[]).length, q).toBeGreaterThan(0);
    }
    const none = await json(await t.call('GET', '/api/packages?q=%25', { cookie: staff }));
    expect(none.items).toEqual([]);
  });

  it('gives a parcel its timeline: check-in, the owner entering, pickup', async () => {
    const res = await checkIn({
      trackingNumber: amazon(5000),
      carrier: 'Amazon',
      residentId: annId,
      size: 'standard',
    });
    const { id } = await json(res);
    await t.call('POST', '/api/credentials', {
      cookie: manager,
      body: { residentId: annId, kind: 'card', format: 'H10301', facilityCode: 1, cardNumber: 77 },
    });
    t.clock.advance(60_000);
    const swipe = await t.call('POST', '/api/sim/readers/front-reader/wiegand', {
      cookie: staff,
      body: {
        bits: encodeCard(createFormatRegistry().get('H10301') as WiegandFormat, {
          facility: 1,
          card: 77,
        }),
      },
    });
    expect((await json(swipe)).decision).toBe('granted');
    t.clock.advance(5_000);
    await t.call('POST', `/api/packages/${String(id)}/pickup`, { cookie: staff });
    await t.services.journal.drained();
    const timeline = await json(
      await t.call('GET', `/api/packages/${String(id)}/timeline`, { cookie: staff }),
    );
    expect((timeline.items as Json[]).map((i) => i.type)).toEqual([
      'package_checked_in',
      'access',
      'package_picked_up',
    ]);
    expect(timeline.package).toMatchObject({ status: 'picked_up', unit: '4B' });
  });

  it('finds the unit whatever case the label is typed in', async () => {
    const res = await checkIn({
      trackingNumber: amazon(7777),
      carrier: 'Amazon',
      unit: '4b',
      size: 'standard',
    });
    expect(res.status).toBe(201);
  });

  it('needs a session; staff may check in (packages:write)', async () => {
    expect((await t.call('GET', '/api/packages')).status).toBe(401);
    expect(
      (
        await checkIn(
          { trackingNumber: amazon(999), carrier: 'Amazon', unit: '4B', size: 'standard' },
          '',
        )
      ).status,
    ).toBe(401);
  });
});
