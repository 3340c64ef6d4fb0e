import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  accessEvents,
  carrierCodes,
  credentials,
  newId,
  openDatabase,
  packages,
  residents,
  storageLocations,
  units,
  visionFlags,
  type Database,
} from '../../db/index.ts';
import { createClipLinker } from '../cameras/clip.service.ts';
import { demoSite, parseSite } from '../config/index.ts';
import { decodeCursor, encodeCursor } from '../http/cursor.ts';
import { validationError } from '../http/errors.ts';
import { syncSite } from '../site.sync.ts';
import {
  createAuditSearch,
  csvQuerySchema,
  mergeNewestFirst,
  rawQuery,
  searchQuerySchema,
  type AuditRow,
  type AuditSearch,
  type AuditSearchQuery,
  type ObservedQuery,
} from './audit.search.ts';

const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);
const site = parseSite(demoSite(), 'demo');
const SITE = site.site.id;

let database: Database;
let search: AuditSearch;
const observed: ObservedQuery[] = [];

/** Every stored row as {id, at}, to compute what a search must return. */
const all: { id: string; at: Date; source: 'event' | 'flag' }[] = [];
const ids: Record<string, string> = {};

type EventSeed = Partial<typeof accessEvents.$inferInsert> & { type: string };

async function event(name: string, atMs: number, e: EventSeed): Promise<void> {
  const id = newId(atMs);
  ids[name] = id;
  await database.db.insert(accessEvents).values({ id, siteId: SITE, at: new Date(atMs), ...e });
  all.push({ id, at: new Date(atMs), source: 'event' });
}

type FlagSeed = Omit<
  typeof visionFlags.$inferInsert,
  'id' | 'siteId' | 'at' | 'clipStartAt' | 'clipEndAt'
>;

async function flag(name: string, atMs: number, f: FlagSeed): Promise<void> {
  const id = newId(atMs);
  ids[name] = id;
  await database.db.insert(visionFlags).values({
    id,
    siteId: SITE,
    at: new Date(atMs),
    clipStartAt: new Date(atMs - 10_000),
    clipEndAt: new Date(atMs + 20_000),
    ...f,
  });
  all.push({ id, at: new Date(atMs), source: 'flag' });
}

const s = (n: number) => T0 + n * 1000;

beforeAll(async () => {
  database = await openDatabase({ dataDir: 'memory://' });
  const db = database.db;
  await syncSite(db, site, new Date(T0));
  const [location] = await db.select({ id: storageLocations.id }).from(storageLocations);
  await db.insert(units).values([
    { id: 'u-4b', siteId: SITE, label: '4B' },
    { id: 'u-5a', siteId: SITE, label: '5A' },
  ]);
  await db.insert(residents).values([
    { id: 'r-alice', siteId: SITE, unitId: 'u-4b', name: 'Alice Moreau' },
    { id: 'r-bob', siteId: SITE, unitId: 'u-4b', name: 'Bob Moreau' },
    { id: 'r-carol', siteId: SITE, unitId: 'u-5a', name: 'Carol Okafor' },
    // The underscore is a LIKE wildcard: free text must match it literally.
    { id: 'r-zed1', siteId: SITE, unitId: 'u-5a', name: 'Zed_Under' },
    { id: 'r-zed2', siteId: SITE, unitId: 'u-5a', name: 'ZedxUnder' },
    // More namesakes than get a query each: free text then asks for all of them at once.
    ...Array.from({ length: 9 }, (_, i) => ({
      id: `r-extra${i}`,
      siteId: SITE,
      unitId: 'u-5a',
      name: `Extra${i} Moreau`,
    })),
  ]);
  const card = (id: string, residentId: string, n: number) => ({
    id,
    siteId: SITE,
    residentId,
    kind: 'card' as const,
    format: 'H10301',
    facilityCode: 1,
    cardNumber: n,
  });
  await db
    .insert(credentials)
    .values([
      card('c-alice', 'r-alice', 1),
      card('c-bob', 'r-bob', 2),
      card('c-carol', 'r-carol', 3),
    ]);
  await db.insert(carrierCodes).values({
    id: 'code-fedex',
    siteId: SITE,
    carrier: 'FedEx',
    codeHash: 'h',
    validFrom: new Date(T0 - 86_400_000),
    validUntil: new Date(T0 + 86_400_000),
  });
  const parcel = (
    id: string,
    trackingNumber: string,
    carrier: string,
    unitId: string,
    residentId: string | null,
  ) => ({
    id,
    siteId: SITE,
    trackingNumber,
    carrier,
    unitId,
    residentId,
    size: 'standard' as const,
    status: 'picked_up' as const,
    locationId: location!.id,
    checkedInAt: new Date(T0),
  });
  await db
    .insert(packages)
    .values([
      parcel('p1', '1Z999AA10123456784', 'UPS', 'u-4b', 'r-alice'),
      parcel('p2', 'TBA123456789012', 'Amazon', 'u-4b', null),
      parcel('p3', '9400111899223344556677', 'USPS', 'u-5a', 'r-carol'),
    ]);

  const grant = { decision: 'granted' as const, reason: 'granted', readerId: 'front-reader' };
  await event('alice-in', s(1), {
    type: 'access',
    doorId: 'front',
    residentId: 'r-alice',
    credentialId: 'c-alice',
    ...grant,
  });
  await event('alice-opened', s(2), {
    type: 'door_opened',
    doorId: 'front',
    residentId: 'r-alice',
    credentialId: 'c-alice',
  });
  await event('p1-in', s(3), {
    type: 'package_checked_in',
    packageId: 'p1',
    residentId: 'r-alice',
    carrierCodeId: 'code-fedex',
  });
  await event('courier-in', s(4), {
    type: 'access',
    doorId: 'front',
    carrierCodeId: 'code-fedex',
    ...grant,
  });
  await event('forced', s(5), { type: 'forced_open', doorId: 'front' });
  await flag('tailgate', s(5.5), {
    kind: 'tailgating',
    severity: 'high',
    cameraId: 'room-cam',
    doorId: 'front',
    credentialId: 'c-alice',
    snapshotPath: 'flags/tailgate.jpg',
  });
  await event('p1-wrong', s(6), { type: 'wrong_pickup', packageId: 'p1', residentId: 'r-carol' });
  await event('p1-out', s(7), { type: 'package_picked_up', packageId: 'p1', residentId: 'r-bob' });
  await event('p2-in', s(8), { type: 'package_checked_in', packageId: 'p2' });
  // The same millisecond in both tables: the merge orders them by id.
  await event('p2-seen', s(9), {
    type: 'parcel_seen_taken',
    packageId: 'p2',
    cameraId: 'shelf-cam',
  });
  await flag('loiter', s(9), {
    kind: 'loitering',
    severity: 'low',
    cameraId: 'room-cam',
    doorId: 'front',
  });
  await event('denied', s(10), {
    type: 'access',
    doorId: 'front',
    decision: 'denied',
    reason: 'unknown_credential',
    readerId: 'front-reader',
  });
  await event('p3-in', s(11), {
    type: 'package_checked_in',
    packageId: 'p3',
    residentId: 'r-carol',
  });
  await event('held', s(12), { type: 'held_open', doorId: 'dock' });
  await flag('grab', s(13), {
    kind: 'multi_package_grab',
    severity: 'medium',
    cameraId: 'shelf-cam',
    credentialId: 'c-carol',
    status: 'confirmed',
  });
  await event('carol-in', s(14), {
    type: 'access',
    doorId: 'front',
    residentId: 'r-carol',
    credentialId: 'c-carol',
    ...grant,
  });
  await event('zed1-in', s(15), {
    type: 'access',
    doorId: 'front',
    residentId: 'r-zed1',
    ...grant,
  });
  await event('zed2-in', s(16), {
    type: 'access',
    doorId: 'front',
    residentId: 'r-zed2',
    ...grant,
  });
  // Door traffic in bursts of three in one millisecond, and flags among them, for paging.
  for (let i = 0; i < 30; i++) {
    await event(`closed-${i}`, s(20 + Math.floor(i / 3)), { type: 'door_closed', doorId: 'front' });
    if (i % 7 === 0)
      await flag(`loiter-${i}`, s(20 + Math.floor(i / 3)), {
        kind: 'loitering',
        severity: 'low',
        cameraId: 'room-cam',
        doorId: 'front',
      });
  }
  all.sort((a, b) => b.at.getTime() - a.at.getTime() || (a.id < b.id ? 1 : -1));
  search = createAuditSearch({
    db,
    siteId: SITE,
    site,
    clipLinks: createClipLinker(site),
    observe: (q) => observed.push(q),
  });
}, 60_000);

afterAll(async () => {
  await database?.close();
});

const run = (q: Partial<AuditSearchQuery>) => search.search({ limit: 500, ...q });
const names = (rows: readonly AuditRow[]) => {
  const byId = new Map(Object.entries(ids).map(([k, v]) => [v, k]));
  return rows.map((r) => byId.get(r.id) ?? r.id);
};
const expectNames = async (q: Partial<AuditSearchQuery>, expected: string[]) => {
  const page = await run(q);
  // Newest first: the expected names in the order they were stored, reversed.
  const order = new Map(all.map((r, i) => [r.id, i]));
  const want = [...expected].sort((a, b) => order.get(ids[a]!)! - order.get(ids[b]!)!);
  expect(names(page.items)).toEqual(want);
  expect(page.nextCursor).toBeUndefined();
};

describe('search filters', () => {
  it('a resident: their events, their parcels (whoever touched them) and their flags', async () => {
    await expectNames({ residentId: 'r-alice' }, [
      'alice-in',
      'alice-opened',
      'p1-in',
      'tailgate',
      'p1-wrong',
      'p1-out',
    ]);
  });

  it("a unit: every resident's events, the unit's parcels, the residents' flags", async () => {
    await expectNames({ unit: '4B' }, [
      'alice-in',
      'alice-opened',
      'p1-in',
      'tailgate',
      'p1-wrong',
      'p1-out',
      'p2-in',
      'p2-seen',
    ]);
    expect((await run({ unit: 'no such unit' })).items).toEqual([]);
  });

  it('a credential, a carrier code (events only), a door', async () => {
    await expectNames({ credentialId: 'c-carol' }, ['grab', 'carol-in']);
    await expectNames({ carrierCodeId: 'code-fedex' }, ['p1-in', 'courier-in']);
    const front = await run({ doorId: 'front' });
    expect(front.items.every((r) => r.doorId === 'front')).toBe(true);
    expect(names(front.items)).toContain('tailgate');
    expect(names(front.items)).not.toContain('held');
    expect(front.items).toHaveLength(
      all.length -
        ['p1-in', 'p1-wrong', 'p1-out', 'p2-in', 'p2-seen', 'p3-in', 'held', 'grab'].length,
    );
  });

  it('a camera: events it made, events at the door it watches, its flags', async () => {
    await expectNames({ cameraId: 'shelf-cam' }, ['p2-seen', 'grab']);
    const room = await run({ cameraId: 'room-cam' });
    expect(room.items.length).toBeGreaterThan(30);
    expect(room.items.every((r) => r.doorId === 'front' || r.cameraId === 'room-cam')).toBe(true);
    expect(names(room.items)).toEqual(expect.arrayContaining(['forced', 'tailgate', 'loiter']));
  });

  it('event types, flag kinds, and both together', async () => {
    await expectNames({ types: ['forced_open', 'held_open'] }, ['forced', 'held']);
    await expectNames({ flagKinds: ['tailgating'] }, ['tailgate']);
    await expectNames({ types: ['forced_open'], flagKinds: ['multi_package_grab'] }, [
      'forced',
      'grab',
    ]);
  });

  it('a tracking number, normalised as staff type it', async () => {
    const q = searchQuerySchema.parse({ trackingNumber: 'tba 1234-5678 9012' });
    expect(q.trackingNumber).toBe('TBA123456789012');
    await expectNames(q, ['p2-in', 'p2-seen']);
  });

  it('a time range, both ends included', async () => {
    await expectNames({ from: new Date(s(3)), to: new Date(s(6)) }, [
      'p1-in',
      'courier-in',
      'forced',
      'tailgate',
      'p1-wrong',
    ]);
  });

  it('filters combine (AND)', async () => {
    await expectNames({ unit: '4B', types: ['package_checked_in'] }, ['p1-in', 'p2-in']);
    await expectNames({ residentId: 'r-alice', doorId: 'front' }, [
      'alice-in',
      'alice-opened',
      'tailgate',
    ]);
  });
});

describe('free text', () => {
  it('finds a resident by name, with their parcels and flags', async () => {
    await expectNames({ q: 'alice' }, [
      'alice-in',
      'alice-opened',
      'p1-in',
      'tailgate',
      'p1-wrong',
      'p1-out',
    ]);
  });

  it('finds a unit by its label, any case', async () => {
    expect(names((await run({ q: '4b' })).items)).toEqual(names((await run({ unit: '4B' })).items));
  });

  it('finds parcels by carrier name and carrier codes by their carrier', async () => {
    await expectNames({ q: 'fedex' }, ['p1-in', 'courier-in']);
    await expectNames({ q: 'ups' }, ['p1-in', 'p1-wrong', 'p1-out']);
  });

  it('finds a parcel by part of its tracking number', async () => {
    await expectNames({ q: '92233 44' }, ['p3-in']);
  });

  it('matches % and _ literally (the LIKE pattern is escaped)', async () => {
    await expectNames({ q: 'd_U' }, ['zed1-in']);
    expect((await run({ q: '%' })).items).toEqual([]);
    expect((await run({ q: 'nobody at all' })).items).toEqual([]);
  });
});

describe('rows', () => {
  it('an event carries who, which parcel, and its clip', async () => {
    const [row] = (await run({ types: ['package_picked_up'] })).items;
    expect(row).toEqual({
      id: ids['p1-out'],
      at: new Date(s(7)).toISOString(),
      source: 'event',
      type: 'package_picked_up',
      resident: { id: 'r-bob', name: 'Bob Moreau', unit: '4B' },
      carrier: 'UPS',
      packageId: 'p1',
      trackingNumber: '1Z999AA10123456784',
      packageUnit: '4B',
      clipUrl: `/api/events/${ids['p1-out']}/clip`,
      snapshotUrl: `/api/events/${ids['p1-out']}/clip/poster`,
    });
    const [wrong] = (await run({ types: ['wrong_pickup'] })).items;
    expect(wrong?.resident?.unit).toBe('5A');
    expect(wrong?.packageUnit).toBe('4B');
    const [courier] = (await run({ carrierCodeId: 'code-fedex', types: ['access'] })).items;
    expect(courier).toMatchObject({ carrier: 'FedEx', decision: 'granted', doorId: 'front' });
  });

  it('a flag carries its kind, status, the holder of its credential, clip and snapshot', async () => {
    const [tailgate] = (await run({ flagKinds: ['tailgating'] })).items;
    expect(tailgate).toEqual({
      id: ids.tailgate,
      at: new Date(s(5.5)).toISOString(),
      source: 'flag',
      type: 'tailgating',
      doorId: 'front',
      cameraId: 'room-cam',
      resident: { id: 'r-alice', name: 'Alice Moreau', unit: '4B' },
      credentialId: 'c-alice',
      flag: { kind: 'tailgating', status: 'new', severity: 'high' },
      clipUrl: `/api/flags/${ids.tailgate}/clip`,
      snapshotUrl: `/api/flags/${ids.tailgate}/snapshot`,
    });
    const [grab] = (await run({ flagKinds: ['multi_package_grab'] })).items;
    expect(grab?.snapshotUrl).toBeUndefined();
  });
});

describe('keyset paging across events and flags', () => {
  const pageThrough = async (q: Partial<AuditSearchQuery>, limit: number) => {
    const seen: string[] = [];
    let cursor: AuditSearchQuery['cursor'];
    for (let pages = 0; pages < 100; pages++) {
      const page = await search.search({ ...q, limit, cursor });
      expect(page.items.length).toBeLessThanOrEqual(limit);
      seen.push(...page.items.map((r) => r.id));
      if (!page.nextCursor) return seen;
      cursor = decodeCursor(page.nextCursor);
    }
    throw new Error('paging did not end');
  };

  it('returns every row once, newest first, for any page size', async () => {
    for (const limit of [1, 2, 3, 4, 7, 50]) {
      expect(await pageThrough({}, limit)).toEqual(all.map((r) => r.id));
    }
  });

  it('pages a split filter (a unit) without dupes or gaps', async () => {
    const whole = (await run({ unit: '4B' })).items.map((r) => r.id);
    for (const limit of [1, 2, 3]) expect(await pageThrough({ unit: '4B' }, limit)).toEqual(whole);
    observed.length = 0;
    const text = (await run({ q: 'moreau' })).items.map((r) => r.id);
    expect(observed.some((o) => /"resident_id" = any\(\$\d+::text\[\]\)/.test(o.sql))).toBe(true);
    expect(text.length).toBeGreaterThan(5);
    expect(await pageThrough({ q: 'moreau' }, 2)).toEqual(text);
  });

  it('interleaves flags among events by time, ties by id', async () => {
    const page = await run({ from: new Date(s(20)), to: new Date(s(29)) });
    const rows = page.items.map((r) => ({ at: new Date(r.at), id: r.id }));
    expect(rows).toEqual(mergeNewestFirst([rows], rows.length));
    expect(page.items.filter((r) => r.source === 'flag').length).toBe(5);
  });

  it('a page ends with a cursor only when more rows follow', async () => {
    const first = await run({ types: ['forced_open', 'held_open'], limit: 1 });
    expect(first.items).toHaveLength(1);
    expect(first.nextCursor).toBeDefined();
    const second = await search.search({
      types: ['forced_open', 'held_open'],
      limit: 1,
      cursor: decodeCursor(first.nextCursor!),
    });
    expect(second.items).toHaveLength(1);
    expect(second.nextCursor).toBeUndefined();
  });
});

describe('the queries', () => {
  it('split a unit into one ordered query per resident and one for its parcels', async () => {
    observed.length = 0;
    await run({ unit: '4B' });
    const labels = observed.map((o) => o.label);
    expect(labels.filter((l) => l.startsWith('events by unit'))).toHaveLength(3);
    for (const o of observed.filter((q) => q.label.startsWith('events')))
      expect(o.sql).toMatch(
        /order by "access_events"\."at" desc, "access_events"\."id" desc limit/,
      );
  });

  it('send free text as parameters, never inside the SQL', async () => {
    observed.length = 0;
    await run({ q: "'; drop table access_events; --" });
    for (const o of observed) expect(o.sql).not.toContain('drop table');
    expect((await run({})).items.length).toBe(all.length);
  });
});

describe('merge', () => {
  it('orders newest first, ties by the larger id, and keeps each id once', () => {
    const a = { at: new Date(2), id: 'b' };
    const b = { at: new Date(2), id: 'a' };
    const c = { at: new Date(1), id: 'z' };
    expect(
      mergeNewestFirst(
        [
          [a, c],
          [b, a],
        ],
        10,
      ),
    ).toEqual([a, b, c]);
    expect(mergeNewestFirst([[a, c], [b]], 2)).toEqual([a, b]);
  });
});

describe('the query string', () => {
  const parse = (raw: Record<string, string | string[]>) => searchQuerySchema.safeParse(raw);
  /** The field the API's 400 names, as the routes build it (validationError). */
  const fieldOf = (raw: Record<string, string | string[]>) => {
    const r = parse(raw);
    expect(r.success).toBe(false);
    return r.error ? validationError(r.error).field : undefined;
  };

  it('takes repeated and comma-separated types, ISO times and a cursor', () => {
    const cursor = encodeCursor({ at: new Date(s(3)), id: 'x1' });
    const q = searchQuerySchema.parse(
      rawQuery({
        type: ['forced_open', 'held_open,offline'],
        flagKind: ['tailgating'],
        from: ['2026-11-01T00:00:00Z'],
        to: ['2026-11-02T00:00:00+01:00'],
        cursor: [cursor],
        limit: ['20'],
      }),
    );
    expect(q.types).toEqual(['forced_open', 'held_open', 'offline']);
    expect(q.flagKinds).toEqual(['tailgating']);
    expect(q.from?.toISOString()).toBe('2026-11-01T00:00:00.000Z');
    expect(q.to?.toISOString()).toBe('2026-11-01T23:00:00.000Z');
    expect(q.cursor).toEqual({ at: new Date(s(3)), id: 'x1' });
    expect(q.limit).toBe(20);
    expect(searchQuerySchema.parse({}).limit).toBe(50);
    expect(csvQuerySchema.parse({}).limit).toBe(100_000);
  });

  it('refuses bad input naming the field', () => {
    expect(fieldOf({ type: 'opened_by_magic' })).toBe('type[0]');
    expect(fieldOf({ flagKind: 'arson' })).toBe('flagKind[0]');
    expect(fieldOf({ limit: '501' })).toBe('limit');
    expect(fieldOf({ limit: '0' })).toBe('limit');
    expect(fieldOf({ from: 'yesterday' })).toBe('from');
    expect(fieldOf({ from: '2026-11-02T00:00:00Z', to: '2026-11-01T00:00:00Z' })).toBe('to');
    expect(fieldOf({ cursor: 'not-a-cursor' })).toBe('cursor');
    expect(fieldOf({ q: 'x'.repeat(101) })).toBe('q');
    expect(fieldOf({ q: '   ' })).toBe('q');
    expect(fieldOf({ trackingNumber: ' - ' })).toBe('trackingNumber');
    expect(fieldOf({ residentId: ['a', 'b'] })).toBe('residentId');
    expect(fieldOf({ doorid: 'front' })).toBe('doorid');
  });
});
