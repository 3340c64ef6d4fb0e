import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packages } from '../../db/index.ts';
import { createTestApp, databaseKinds, type TestApp } from '../harness/app.harness.ts';

type Json = Record<string, unknown>;
const json = async (res: Response) => (await res.json()) as Json;
const amazon = (n: number) => `TBA${String(n).padStart(12, '0')}`;

describe.each(databaseKinds())('the carrier kiosk on %s', (kind) => {
  let t: TestApp;
  let manager: string;
  let staff: string;
  let code: string;
  let codeId: string;
  let kiosk = '';

  const kioskCall = (method: string, path: string, body?: unknown, cookie = kiosk) =>
    t.call(method, path, { ...(body !== undefined ? { body } : {}), cookie });
  const openDoor = async (c: string) => {
    const res = await t.call('POST', '/api/sim/readers/front-reader/keys', {
      cookie: staff,
      body: { keys: `${c}#` },
    });
    return json(res);
  };

  beforeAll(async () => {
    t = await createTestApp(kind);
    manager = await t.login('manager');
    staff = await t.login('staff');
    await t.call('POST', '/api/residents', {
      cookie: manager,
      body: { name: 'Ann Lee', unit: '4B' },
    });
    await t.call('POST', '/api/residents', {
      cookie: manager,
      body: { name: 'Bo Chen', unit: '7C' },
    });
    const res = await t.call('POST', '/api/carrier-codes', {
      cookie: manager,
      body: { carrier: 'UPS', validUntil: new Date(t.clock.now() + 8 * 3_600_000).toISOString() },
    });
    ({ code, id: codeId } = (await json(res)) as { code: string; id: string });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses a code that has not opened the door yet, with the same answer as a wrong one', async () => {
    const notYet = await kioskCall('POST', '/api/kiosk/session', { code });
    const wrong = await kioskCall('POST', '/api/kiosk/session', { code: '000001' });
    expect(notYet.status).toBe(403);
    expect(wrong.status).toBe(403);
    expect((await json(notYet)).error).toEqual((await json(wrong)).error);
  });

  it('opens a kiosk session for the carrier whose code just opened the door', async () => {
    expect(await openDoor(code)).toMatchObject({ decision: 'granted' });
    t.clock.advance(5_000);
    const res = await kioskCall('POST', '/api/kiosk/session', { code });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ carrier: 'UPS', doorId: 'front' });
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    kiosk = cookie.split(';')[0]!;
  });

  it('lets the carrier find recipients by name or unit, showing names and units only', async () => {
    const res = await json(await kioskCall('GET', '/api/kiosk/recipients?q=ann'));
    expect(res.items).toEqual([{ id: expect.any(String) as string, name: 'Ann Lee', unit: '4B' }]);
    expect((await kioskCall('GET', '/api/kiosk/recipients?q=a')).status).toBe(400);
    expect((await kioskCall('GET', '/api/kiosk/recipients?q=7c', undefined, staff)).status).toBe(
      401,
    );
  });

  it('checks parcels in tied to the carrier code and the door entry', async () => {
    for (const [n, unit] of [
      [1, '4B'],
      [2, '7C'],
    ] as const) {
      const res = await kioskCall('POST', '/api/kiosk/packages', {
        trackingNumber: amazon(n),
        carrier: 'UPS',
        unit,
        size: 'standard',
      });
      expect(res.status).toBe(201);
    }
    const rows = await t.database.db
      .select()
      .from(packages)
      .where(eq(packages.carrierCodeId, codeId));
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r.entryEventId !== null && r.checkedInByStaffId === null)).toBe(true);
    await t.services.journal.drained();
    const events = await json(
      await t.call('GET', `/api/events?type=package_checked_in&carrierCodeId=${codeId}`, {
        cookie: staff,
      }),
    );
    expect(events.items).toHaveLength(2);
    expect((events.items as Json[])[0]!.details).toMatchObject({
      entryEventId: rows[0]!.entryEventId,
    });
  });

  it('refuses kiosk check-ins without a session, and after it ended', async () => {
    const body = { trackingNumber: amazon(3), carrier: 'UPS', unit: '4B', size: 'standard' };
    expect((await kioskCall('POST', '/api/kiosk/packages', body, '')).status).toBe(401);
    expect((await kioskCall('POST', '/api/kiosk/packages', body, staff)).status).toBe(401);
    expect((await kioskCall('POST', '/api/kiosk/session/end')).status).toBe(200);
    expect((await kioskCall('POST', '/api/kiosk/packages', body)).status).toBe(401);
  });

  it('ends an idle session, and refuses an entry older than 15 minutes', async () => {
    const res = await kioskCall('POST', '/api/kiosk/session', { code });
    kiosk = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
    t.clock.advance(16 * 60_000);
    expect((await kioskCall('GET', '/api/kiosk/recipients?q=ann')).status).toBe(401);
    expect((await kioskCall('POST', '/api/kiosk/session', { code })).status).toBe(403);
  });

  it('locks out a kiosk guessing codes', async () => {
    t.clock.advance(16 * 60_000);
    let last = 0;
    for (let i = 0; i < 11; i++)
      last = (await kioskCall('POST', '/api/kiosk/session', { code: `99999${i % 10}` })).status;
    expect(last).toBe(429);
  });
});
