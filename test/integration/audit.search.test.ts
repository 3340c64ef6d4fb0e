/**
 * The audit search over HTTP on the composed server, PGlite and PostgreSQL: a resident badges in
 * (the simulated reader), parcels are checked in and picked up (the parcel API), flags come from
 * the flag store, and the manager's search, its paging, its CSV export and the admin's list of
 * who watched what are read back through the API with real sessions.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { count } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormatRegistry, encodeCard, type WiegandFormat } from '../../access/index.ts';
import { accessEvents, newId, visionFlags } from '../../db/index.ts';
import { AUDIT_CSV_COLUMNS } from '../../server/audit/csv.format.ts';
import { createTestApp, databaseKinds, type TestApp } from '../harness/app.harness.ts';
import { testFixture } from '../harness/requirements.ts';

type Json = Record<string, unknown>;
type Row = Json & { id: string; at: string; source: string; type: string };
const json = async (res: Response) => (await res.json()) as Json;
const UPS = '1Z999AA10123456784';
const amazon = (n: number) => `TBA${String(n).padStart(12, '0')}`;
const SNAPSHOT_FIXTURE = testFixture('street_dog_bicycle_car.jpg');
const formats = createFormatRegistry();
/** A name a spreadsheet would run as a formula, with a comma to quote. */
const BO = '=HYPERLINK("http://evil.test"), Bo';

/** Parses RFC 4180 text (quoted fields, doubled quotes, CRLF) into records. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      record.push(field);
      field = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i++;
    } else field += ch;
  }
  expect(field).toBe('');
  expect(record).toEqual([]);
  return records;
}

describe.each(databaseKinds())('audit search on %s', (kind) => {
  let t: TestApp;
  let staff: string;
  let manager: string;
  let admin: string;
  let annId: string;
  let boId: string;
  let parcelId: string;
  let tailgateId: string;
  let snapshotFlagId: string;

  const get = (path: string, cookie = manager) => t.call('GET', path, { cookie });
  const search = async (query: string, cookie = manager) => {
    const res = await get(`/api/audit/search${query}`, cookie);
    if (res.status !== 200) expect(`${query}: ${await res.text()}`).toBe(200);
    return (await json(res)) as { items: Row[]; nextCursor?: string };
  };

  beforeAll(async () => {
    t = await createTestApp(kind);
    staff = await t.login('staff');
    manager = await t.login('manager');
    admin = await t.login('admin');
    const created = async (body: Json) =>
      (await json(await t.call('POST', '/api/residents', { cookie: manager, body }))).id as string;
    annId = await created({ name: 'Ann Lee', unit: '4B' });
    boId = await created({ name: BO, unit: '7C' });

    // Ann's card at the front door: a real decision through the simulated reader.
    const card = await t.call('POST', '/api/credentials', {
      cookie: manager,
      body: {
        residentId: annId,
        kind: 'card',
        format: 'H10301',
        facilityCode: 12,
        cardNumber: 4242,
      },
    });
    expect(card.status).toBe(201);
    await t.services.snapshot.refresh();
    t.clock.advance(1_000);
    const bits = encodeCard(formats.get('H10301') as WiegandFormat, { facility: 12, card: 4242 });
    const swipe = await t.call('POST', '/api/sim/readers/front-reader/wiegand', {
      cookie: staff,
      body: { bits },
    });
    expect(await json(swipe)).toMatchObject({ decision: 'granted' });

    t.clock.advance(1_000);
    const parcel = await t.call('POST', '/api/packages', {
      cookie: staff,
      body: { trackingNumber: UPS, carrier: 'UPS', residentId: annId, size: 'standard' },
    });
    expect(parcel.status).toBe(201);
    parcelId = (await json(parcel)).id as string;
    t.clock.advance(1_000);
    for (const n of [1, 2]) {
      const res = await t.call('POST', '/api/packages', {
        cookie: staff,
        body: { trackingNumber: amazon(n), carrier: 'Amazon', residentId: boId, size: 'standard' },
      });
      expect(res.status).toBe(201);
      t.clock.advance(500);
    }
    t.clock.advance(1_000);
    expect(
      (await t.call('POST', `/api/packages/${parcelId}/pickup`, { cookie: staff })).status,
    ).toBe(200);

    // A tailgate behind Ann's entry, from the flag store; a loitering flag with its snapshot.
    t.clock.advance(1_000);
    const raised = await t.services.flags.raise({
      kind: 'tailgating',
      severity: 'high',
      cameraId: 'room-cam',
      at: t.clock.now(),
      clipWindow: { startAt: t.clock.now() - 5_000, endAt: t.clock.now() + 20_000 },
      trackIds: [1, 2],
      boxes: [],
      evidence: { reason: 'two people, one badge' },
      credentialId: (await json(card)).id as string,
    });
    expect(raised.stored).toBe('stored');
    tailgateId = raised.flag.id;
    t.clock.advance(1_000);
    snapshotFlagId = newId(t.clock.now());
    await mkdir(join(t.dataDir, 'flags'), { recursive: true });
    await copyFile(SNAPSHOT_FIXTURE, join(t.dataDir, 'flags', `${snapshotFlagId}.jpg`));
    await t.database.db.insert(visionFlags).values({
      id: snapshotFlagId,
      siteId: t.site.site.id,
      kind: 'loitering',
      cameraId: 'room-cam',
      at: new Date(t.clock.now()),
      clipStartAt: new Date(t.clock.now() - 60_000),
      clipEndAt: new Date(t.clock.now() + 5_000),
      snapshotPath: `flags/${snapshotFlagId}.jpg`,
    });
    await t.services.journal.drained();
  });

  afterAll(async () => {
    await t?.close();
  });

  it('refuses callers without a session (401) and roles below manager (403)', async () => {
    for (const path of ['/api/audit/search', '/api/audit/search.csv', '/api/audit/views']) {
      const res = await t.call('GET', path);
      expect(res.status).toBe(401);
      expect(await json(res)).toMatchObject({ error: { code: 'unauthenticated' } });
    }
    for (const path of ['/api/audit/search', '/api/audit/search.csv?q=ann']) {
      const res = await get(path, staff);
      expect(res.status).toBe(403);
      expect(await json(res)).toMatchObject({ error: { code: 'forbidden' } });
    }
    // Who watched what is for admins only.
    expect((await get('/api/audit/views', manager)).status).toBe(403);
    expect((await get('/api/audit/views', admin)).status).toBe(200);
    const token = await t.auth.createToken({ name: 'desk-kiosk', role: 'staff' });
    const byToken = await t.call('GET', '/api/audit/search', { bearer: token.token });
    expect(byToken.status).toBe(403);
  });

  it("answers 'who took 4B's parcel?' in one search", async () => {
    const page = await search('?unit=4B');
    const types = page.items.map((r) => r.type);
    // Ann's entry (the decision and the door it unlocked), her parcel in and out, the tailgate.
    for (const type of ['access', 'door_unlocked', 'package_checked_in', 'package_picked_up'])
      expect(types).toContain(type);
    expect(types[0]).toBe('tailgating');
    const times = page.items.map((r) => Date.parse(r.at));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(
      page.items.every((r) => r.resident === undefined || (r.resident as Json).unit === '4B'),
    ).toBe(true);
    expect(page.items.some((r) => r.trackingNumber === amazon(1))).toBe(false);
    const flag = page.items[0];
    const pickup = page.items.find((r) => r.type === 'package_picked_up');
    const checkIn = page.items.find((r) => r.type === 'package_checked_in');
    const access = page.items.find((r) => r.type === 'access');
    expect(pickup).toMatchObject({
      source: 'event',
      packageId: parcelId,
      trackingNumber: UPS,
      packageUnit: '4B',
      carrier: 'UPS',
      resident: { id: annId, name: 'Ann Lee', unit: '4B' },
      clipUrl: `/api/events/${pickup!.id}/clip`,
      snapshotUrl: `/api/events/${pickup!.id}/clip/poster`,
    });
    expect(checkIn).toMatchObject({ staffId: t.users.staff.id, trackingNumber: UPS });
    expect(access).toMatchObject({
      decision: 'granted',
      doorId: 'front',
      resident: { name: 'Ann Lee' },
    });
    expect(flag).toMatchObject({
      id: tailgateId,
      source: 'flag',
      flag: { kind: 'tailgating', status: 'new', severity: 'high' },
      resident: { id: annId, unit: '4B' },
      clipUrl: `/api/flags/${tailgateId}/clip`,
    });
  });

  it('filters by tracking number, free text, types and flag kinds', async () => {
    const byNumber = await search(
      `?trackingNumber=${encodeURIComponent('1z 999 aa1 0123 4567 84')}`,
    );
    expect(byNumber.items.map((r) => r.type)).toEqual(['package_picked_up', 'package_checked_in']);
    const text = await search('?q=lee');
    expect(text.items.map((r) => r.id)).toEqual(
      (await search(`?residentId=${annId}`)).items.map((r) => r.id),
    );
    const amazonParcels = await search('?q=amazon');
    expect(amazonParcels.items.map((r) => r.trackingNumber)).toEqual([amazon(2), amazon(1)]);
    const mixed = await search('?type=package_checked_in&flagKind=loitering');
    expect(mixed.items.map((r) => r.type)).toEqual([
      'loitering',
      'package_checked_in',
      'package_checked_in',
      'package_checked_in',
    ]);
    const repeated = await search('?type=access&type=door_unlocked');
    expect(repeated.items.map((r) => r.type)).toEqual(['door_unlocked', 'access']);
  });

  it('refuses bad parameters with a 400 naming the field', async () => {
    const cases: [string, string][] = [
      ['?type=teleported', 'type[0]'],
      ['?flagKind=arson', 'flagKind[0]'],
      ['?limit=501', 'limit'],
      ['?from=last-tuesday', 'from'],
      ['?from=2026-11-22T00:00:00Z&to=2026-11-21T00:00:00Z', 'to'],
      ['?cursor=garbage', 'cursor'],
      ['?unit=a&unit=b', 'unit'],
      ['?sort=asc', 'sort'],
    ];
    for (const [query, field] of cases) {
      const res = await get(`/api/audit/search${query}`);
      expect(res.status, query).toBe(400);
      expect(await json(res)).toMatchObject({ error: { code: 'invalid_query', field } });
      // The export's limit is the most rows (up to 1,000,000), not a page size.
      if (field !== 'limit')
        expect((await get(`/api/audit/search.csv${query}`)).status, `csv ${query}`).toBe(400);
    }
  });

  it('treats SQL in any field as plain text: no rows, or a 400 naming the field', async () => {
    const attacks = ["' OR 1=1 --", "4B'; DROP TABLE access_events; --", '%', '_', '\\'];
    for (const a of attacks) {
      for (const field of ['q', 'unit', 'residentId', 'doorId', 'trackingNumber']) {
        const res = await get(`/api/audit/search?${field}=${encodeURIComponent(a)}`);
        const body = await json(res);
        if (res.status === 400) expect(body, `${field}=${a}`).toMatchObject({ error: { field } });
        else expect([res.status, body.items], `${field}=${a}`).toEqual([200, []]);
      }
    }
    const [{ n }] = (await t.database.db.select({ n: count() }).from(accessEvents)) as [
      { n: number },
    ];
    expect(Number(n)).toBeGreaterThan(5);
  });

  it('pages the whole timeline by keyset without dupes or gaps', async () => {
    const whole = (await search('?limit=500')).items.map((r) => r.id);
    expect(whole.length).toBeGreaterThan(8);
    expect(new Set(whole).size).toBe(whole.length);
    const paged: string[] = [];
    let query = '?limit=2';
    for (let i = 0; i < 50; i++) {
      const page = await search(query);
      paged.push(...page.items.map((r) => r.id));
      if (!page.nextCursor) break;
      query = `?limit=2&cursor=${page.nextCursor}`;
    }
    expect(paged).toEqual(whole);
  });

  describe('CSV export', () => {
    beforeAll(async () => {
      // A busy door: more rows than one page of the export, so it streams several pages.
      const base = t.clock.now() - 86_400_000;
      await t.database.db.insert(accessEvents).values(
        Array.from({ length: 1_203 }, (_, i) => ({
          id: newId(base + i * 1_000),
          siteId: t.site.site.id,
          at: new Date(base + i * 1_000),
          type: 'door_closed',
          doorId: 'back',
        })),
      );
    });

    it('streams every row in pages with a header, RFC 4180 quoting and no formulas', async () => {
      const res = await get('/api/audit/search.csv?q=bo');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      expect(res.headers.get('content-disposition')).toMatch(
        /^attachment; filename="parcelroom-audit-.+\.csv"$/,
      );
      const text = await res.text();
      expect(text.endsWith('\r\n')).toBe(true);
      const [header, ...records] = parseCsv(text);
      expect(header).toEqual([...AUDIT_CSV_COLUMNS]);
      const col = (name: (typeof AUDIT_CSV_COLUMNS)[number]) => AUDIT_CSV_COLUMNS.indexOf(name);
      // Bo's two parcels: his name, which would be a formula, is inert text.
      expect(records.map((r) => r[col('tracking_number')])).toEqual([amazon(2), amazon(1)]);
      expect(records.map((r) => r[col('resident_name')])).toEqual([`'${BO}`, `'${BO}`]);
      const viaJson = await search('?q=bo');
      expect(records.map((r) => r[col('id')])).toEqual(viaJson.items.map((r) => r.id));
      expect(text).not.toMatch(/(^|,)=HYPERLINK/m);
    });

    it('exports across pages up to the limit asked for', async () => {
      const all = parseCsv(await (await get('/api/audit/search.csv?doorId=back')).text());
      expect(all).toHaveLength(1 + 1_203);
      const ids = all.slice(1).map((r) => r[AUDIT_CSV_COLUMNS.indexOf('id')]);
      expect(new Set(ids).size).toBe(1_203);
      const some = parseCsv(
        await (await get('/api/audit/search.csv?doorId=back&limit=700')).text(),
      );
      expect(some.slice(1).map((r) => r[AUDIT_CSV_COLUMNS.indexOf('id')])).toEqual(
        ids.slice(0, 700),
      );
    });

    it('every export is itself audited, with its filters', async () => {
      const before = await t.clock.now();
      await (await get('/api/audit/search.csv?unit=4B&type=access&type=door_unlocked')).text();
      const res = await get('/api/audit/views?action=audit.export&limit=1', admin);
      const [row] = (await json(res)).items as Json[];
      expect(row).toMatchObject({
        actor: 'manager@example.test',
        actorStaffId: t.users.manager.id,
        action: 'audit.export',
        targetType: 'audit_search',
        details: {
          format: 'csv',
          maxRows: 100_000,
          filters: { unit: '4B', type: ['access', 'door_unlocked'] },
        },
      });
      expect(Date.parse(row!.at as string)).toBeGreaterThanOrEqual(before);
    });
  });

  describe('who watched what', () => {
    it('a snapshot shown is recorded; video that could not be shown is not', async () => {
      const shown = await get(`/api/flags/${snapshotFlagId}/snapshot`);
      expect(shown.status).toBe(200);
      expect(shown.headers.get('content-type')).toBe('image/jpeg');
      await shown.arrayBuffer();
      // No recordings in this test: the clip answers why there is no video, and nobody saw any.
      const [pickup] = (await search('?type=package_picked_up')).items;
      const clip = await get(`/api/events/${pickup!.id}/clip`);
      expect(clip.status).toBeGreaterThanOrEqual(400);
      const live = await get('/api/cameras/room-cam/live/index.m3u8');
      expect(live.status).toBeGreaterThanOrEqual(400);

      const views = await json(await get('/api/audit/views?action=video.view', admin));
      expect(views.items).toEqual([
        expect.objectContaining({
          actor: 'manager@example.test',
          actorStaffId: t.users.manager.id,
          action: 'video.view',
          targetType: 'flag',
          targetId: snapshotFlagId,
          details: { what: 'snapshot' },
        }),
      ]);
    });

    it('lists newest first, pages and filters', async () => {
      for (const cookie of [staff, admin]) {
        t.clock.advance(1_000);
        const res = await get(`/api/flags/${snapshotFlagId}/snapshot`, cookie);
        expect(res.status).toBe(200);
        await res.arrayBuffer();
      }
      const first = await json(await get('/api/audit/views?action=video.view&limit=2', admin));
      expect((first.items as Json[]).map((r) => r.actor)).toEqual([
        'admin@example.test',
        'staff@example.test',
      ]);
      const next = await json(
        await get(
          `/api/audit/views?action=video.view&limit=2&cursor=${first.nextCursor as string}`,
          admin,
        ),
      );
      expect((next.items as Json[]).map((r) => r.actor)).toEqual(['manager@example.test']);
      expect(next.nextCursor).toBeUndefined();
      const byStaff = await json(
        await get(`/api/audit/views?actorStaffId=${t.users.staff.id}`, admin),
      );
      expect((byStaff.items as Json[]).map((r) => r.targetId)).toEqual([snapshotFlagId]);
      // Without a filter: views and exports together, newest first.
      const both = (await json(await get('/api/audit/views?limit=500', admin))).items as Json[];
      expect(new Set(both.map((r) => r.action))).toEqual(new Set(['video.view', 'audit.export']));
      const times = both.map((r) => Date.parse(r.at as string));
      expect(times).toEqual([...times].sort((a, b) => b - a));
      expect(both).toHaveLength(3 + 4);
      const bad = await get('/api/audit/views?targetType=everything', admin);
      expect(bad.status).toBe(400);
      expect(await json(bad)).toMatchObject({ error: { field: 'targetType' } });
    });
  });
});
