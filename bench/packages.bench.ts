/**
 * Parcel check-in on a real-sized building: examples/building-300.site.yaml (300 units, 216 shelf
 * slots, 60 lockers) loaded through the real site loader, the real `composeServices` wiring on
 * PGlite (on disk, as `npm start` runs it) and on PostgreSQL, driven through `app.request()` like
 * ./api.bench.ts (route + middleware + database + journal, not HTTP parsing).
 *
 *  1. 450 residents in 300 units created with POST /api/residents (a manager's session).
 *  2. Check-in with POST /api/packages: one scanner at a time, then 4 scanners at once (each its
 *     own staff session), each from an empty room; then one scanner with 2,000 parcels already in
 *     the room (the route reads every parcel in the room to place the next one, so this is the
 *     slow end). Each check-in is answered only once its event is durable in the journal.
 *  3. Pickup with POST /api/packages/:id/pickup, which empties the room between runs.
 *  4. `assignLocation` alone (pure), with 250 parcels in the room (a peak evening, see the site
 *     file) and with 2,000 (shelves and lockers full: every call walks the whole room), and
 *     `occupancyOf` + `assignLocation` over 2,000 parcels, the in-process part of a check-in.
 *
 * Parcels are what a desk sees: Amazon TBA 35%, USPS IMpb 25% (30% of them scanned with the
 * `420` + ZIP routing prefix), UPS 1Z 22%, FedEx 18% (Express 12 and Ground 15 digits), check
 * digits computed with the recognizer's own functions; 88% standard, 8% oversized, 4% perishable;
 * a quarter addressed to a unit rather than a resident; households ordering unevenly (a few get
 * many).
 *
 * Residents are told nothing: the site file has no e-mail or webhook, and the bench refuses to
 * run if the notifier reports any channel.
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { and, asc, eq } from 'drizzle-orm';
import { newId, openDatabase, packages, residents, units, type Database } from '../db/index.ts';
import { manualClock, type ManualClock } from '../hardware/index.ts';
import { composeServices, type Composed } from '../server/compose.ts';
import { readSiteFile, type SiteConfig } from '../server/config/index.ts';
import { createLogger } from '../server/log/logger.ts';
import {
  assignLocation,
  fedexExpressCheckDigit,
  mod10Weight31CheckDigit,
  occupancyOf,
  recognizeTracking,
  recordParcel,
  roomFromSite,
  upsCheckDigit,
  type LocationKind,
  type Occupancy,
  type ParcelSize,
  type RoomLayout,
} from '../server/packages/index.ts';
import { createDatabase } from '../test/harness/postgres.server.ts';
import { makeTempDir } from '../test/harness/temp-dir.ts';
import { prng, type DbKind } from './site.ts';
import { formatTable, round, summarize, type Cell, type Summary } from './stats.ts';

export const BUILDING_300_SITE = fileURLToPath(
  new URL('../examples/building-300.site.yaml', import.meta.url),
);

export interface PackagesBenchOptions {
  /** Server URL of the PostgreSQL cluster bench/run.ts started; unset = PGlite only. */
  postgresServerUrl?: string | undefined;
  /** Smaller counts, for checking the wiring. */
  quick?: boolean;
}

export interface CheckInRun {
  parcels: number;
  scanners: number;
  /** Parcels in the room when the run started. */
  inRoomBefore: number;
  seconds: number;
  parcelsPerSecond: number;
  /** Per check-in, request sent → 201 answer read, ms. */
  latency: Summary;
  /** Where the API put them. */
  placed: Record<LocationKind, number>;
  /** Check-ins the API flagged for staff (perishables without a cold locker). */
  flagged: number;
}

export interface DbPackagesResult {
  kind: DbKind;
  residents: number;
  units: number;
  /** POST /api/residents, ms. */
  residentCreate: Summary;
  sequential: CheckInRun;
  concurrent: CheckInRun;
  fullRoom: CheckInRun;
  /** POST /api/packages/:id/pickup, ms. */
  pickup: Summary;
}

export interface AssignResult {
  measured: 'assignLocation' | 'occupancyOf + assignLocation';
  parcelsInRoom: number;
  calls: number;
  microseconds: Summary;
  /** Where the timed calls would have put the parcels (also keeps the calls from being elided). */
  placed: Record<LocationKind, number>;
}

export interface PackagesBenchResult {
  siteFile: string;
  slots: number;
  lockers: number;
  coldLockers: number;
  databases: Partial<Record<DbKind, DbPackagesResult>>;
  assign: AssignResult[];
  /** A database whose run failed, and why; the other still reports. */
  failures: string[];
}

const BASE = 'http://parcelroom.test';
const SCANNERS = 4;
const FULL_ROOM = 2_000;
const RESIDENTS = 450;

interface Counts {
  sequential: number;
  concurrent: number;
  fullRoom: number;
  assignCalls: number;
  warmup: number;
}

const countsFor = (quick: boolean): Counts =>
  quick
    ? { sequential: 60, concurrent: 60, fullRoom: 30, assignCalls: 2_000, warmup: 5 }
    : { sequential: 400, concurrent: 400, fullRoom: 100, assignCalls: 20_000, warmup: 20 };

// ---------------------------------------------------------------------------------------------
// The building's people and parcels

/** 15 residential floors (2-16) of 20 units: "201" … "1620". */
export function unitLabels(): string[] {
  const labels: string[] = [];
  for (let floor = 2; floor <= 16; floor++)
    for (let n = 1; n <= 20; n++) labels.push(`${floor}${String(n).padStart(2, '0')}`);
  return labels;
}

const FIRST = ['Ana', 'Ben', 'Chen', 'Dara', 'Eli', 'Fatima', 'Gus', 'Hana', 'Ivan', 'Jo'];
const LAST = ['Garcia', 'Nguyen', 'Okafor', 'Smith', 'Kowalski', 'Haddad', 'Kim', 'Rossi'];

export interface ResidentSeed {
  name: string;
  unit: string;
  email: string;
}

/** One resident per unit, a second one in every other unit: 450 residents in 300 units. */
export function residentSeeds(): ResidentSeed[] {
  const labels = unitLabels();
  return Array.from({ length: RESIDENTS }, (_, i) => {
    const unit = i < labels.length ? labels[i]! : labels[(i - labels.length) * 2]!;
    const name = `${FIRST[i % FIRST.length]!} ${LAST[Math.floor(i / FIRST.length) % LAST.length]!}`;
    return { name, unit, email: `resident${i}@example.test` };
  });
}

export interface ParcelSeed {
  trackingNumber: string;
  carrier: 'UPS' | 'USPS' | 'FedEx' | 'Amazon';
  size: ParcelSize;
  /** Exactly one of these, as the check-in body takes it. */
  residentId?: string;
  unit?: string;
}

const ALNUM = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const pick = <T>(rnd: () => number, items: readonly T[]): T =>
  items[Math.floor(rnd() * items.length)]!;
const digits = (rnd: () => number, n: number) =>
  Array.from({ length: n }, () => Math.floor(rnd() * 10)).join('');

/**
 * A tracking number as a label carries it, check digit from the recognizer's own arithmetic;
 * the recognizer then has to accept it, so a generator mistake stops the bench instead of
 * turning it into a benchmark of 400-answers.
 */
function trackingNumber(rnd: () => number): Pick<ParcelSeed, 'trackingNumber' | 'carrier'> {
  const r = rnd();
  let number: string;
  let carrier: ParcelSeed['carrier'];
  if (r < 0.35) {
    carrier = 'Amazon';
    number = `TBA${digits(rnd, 12)}`;
  } else if (r < 0.6) {
    // IMpb: channel 94 + service type + 9-digit mailer id + 7-digit serial + check digit.
    carrier = 'USPS';
    const data = `94${pick(rnd, ['001', '055', '612'])}${digits(rnd, 16)}`;
    const pic = `${data}${mod10Weight31CheckDigit(data)}`;
    // A scanner reading the whole barcode sends the routing part too: 420 + ZIP.
    number = rnd() < 0.3 ? `420${pick(rnd, ['60601', '60614', '606141234'])}${pic}` : pic;
  } else if (r < 0.82) {
    carrier = 'UPS';
    const shipper = Array.from({ length: 6 }, () => pick(rnd, [...ALNUM])).join('');
    const body = `${shipper}${pick(rnd, ['01', '02', '03', '12', '13', '42'])}${digits(rnd, 7)}`;
    number = `1Z${body}${upsCheckDigit(body)}`;
  } else if (r < 0.88) {
    carrier = 'FedEx';
    const data = digits(rnd, 11);
    number = `${data}${fedexExpressCheckDigit(data)}`;
  } else {
    carrier = 'FedEx';
    const data = digits(rnd, 14);
    number = `${data}${mod10Weight31CheckDigit(data)}`;
  }
  const seen = recognizeTracking(number);
  const expected = carrier === 'Amazon' ? null : true;
  if (seen.valid !== expected || seen.carrier !== carrier)
    throw new Error(
      `bench generated ${number} as ${carrier}, the recognizer says ${JSON.stringify(seen)}`,
    );
  return { trackingNumber: number, carrier };
}

export interface Household {
  residentId: string;
  unit: string;
}

/**
 * `count` parcels for the building's residents: sizes 88/8/4% standard/oversized/perishable, a
 * quarter addressed to the unit, recipients skewed (the square of a uniform draw over a shuffled
 * list: the first tenth of households gets about a third of the parcels). Tracking numbers are
 * unique across every call with the same `seen` set.
 */
export function parcelSeeds(
  rnd: () => number,
  households: readonly Household[],
  count: number,
  seen: Set<string>,
): ParcelSeed[] {
  const out: ParcelSeed[] = [];
  while (out.length < count) {
    const t = trackingNumber(rnd);
    const normalized = recognizeTracking(t.trackingNumber).normalized;
    if (seen.has(normalized)) continue;
    seen.add(normalized);
    const h = households[Math.floor(rnd() ** 2 * households.length)]!;
    const s = rnd();
    const size: ParcelSize = s < 0.88 ? 'standard' : s < 0.96 ? 'oversized' : 'perishable';
    out.push({ ...t, size, ...(rnd() < 0.25 ? { unit: h.unit } : { residentId: h.residentId }) });
  }
  return out;
}

function shuffle<T>(rnd: () => number, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

const noPlacements = (): Record<LocationKind, number> => ({
  shelf: 0,
  locker: 0,
  oversized: 0,
  overflow: 0,
});

// ---------------------------------------------------------------------------------------------
// One box on one database

interface Box {
  composed: Composed;
  database: Database;
  clock: ManualClock;
  site: SiteConfig;
  close(): Promise<void>;
}

async function openBox(kind: DbKind, site: SiteConfig, dbUrl?: string): Promise<Box> {
  const tmp = await makeTempDir('parcelroom-bench-packages');
  const log = createLogger({ level: 'warn', write: (l) => process.stderr.write(l + '\n') });
  let database: Database | undefined;
  let composed: Composed | undefined;
  try {
    database =
      kind === 'postgres'
        ? await openDatabase({ url: dbUrl! })
        : await openDatabase({ dataDir: join(tmp.path, 'db') });
    // Domain time stands still (no grants, alarms or snapshot reloads fire mid-run); the journal
    // paces its fsyncs on the system clock, as in production.
    const clock = manualClock(Date.UTC(2026, 11, 14, 15, 0, 0));
    composed = await composeServices({
      cameras: 'off', // the parcel bench measures check-in, not recording
      site,
      siteSource: BUILDING_300_SITE,
      database,
      dataDir: tmp.path,
      clock,
      log,
      version: 'bench',
      secret: 'bench-site-secret-0123456789abcdef0123456789',
      sessionIdleMs: 12 * 3_600_000,
      secureCookies: 'never',
      webDir: null,
      analytics: { state: 'off', reason: 'bench' },
    });
    if (composed.notifier.channels.length > 0)
      throw new Error(
        `the bench would notify residents through ${composed.notifier.channels.join(', ')}; ` +
          'use a site file without e-mail or webhook',
      );
    const c = composed;
    const db = database;
    return {
      composed: c,
      database: db,
      clock,
      site,
      async close() {
        try {
          await c.close();
        } finally {
          await db.close();
          await tmp.cleanup();
        }
      },
    };
  } catch (err) {
    await composed?.close().catch(() => {});
    await database?.close().catch(() => {});
    await tmp.cleanup();
    throw err;
  }
}

interface Answer {
  status: number;
  body: unknown;
  ms: number;
}

async function call(
  box: Box,
  method: 'GET' | 'POST',
  path: string,
  cookie: string,
  body?: unknown,
): Promise<Answer> {
  const t = performance.now();
  const res = await box.composed.app.request(`${BASE}${path}`, {
    method,
    headers: {
      cookie,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const json: unknown = await res.json();
  return { status: res.status, body: json, ms: performance.now() - t };
}

function expectStatus(a: Answer, status: number, what: string): void {
  if (a.status !== status)
    throw new Error(`${what}: ${a.status} ${JSON.stringify(a.body).slice(0, 300)}`);
}

async function staffSession(box: Box, role: 'staff' | 'manager', n: number): Promise<string> {
  const email = `bench-${role}-${n}@example.test`;
  const password = `bench-${role}-password-${n}-1234`;
  await box.composed.auth.createStaff({ email, name: `Bench ${role} ${n}`, role, password });
  const res = await box.composed.app.request(`${BASE}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (res.status !== 200) throw new Error(`login as ${role}: ${res.status} ${await res.text()}`);
  return (res.headers.get('set-cookie') ?? '').split(';')[0]!;
}

interface CheckInAnswer {
  id: string;
  location: { kind: LocationKind; id: string; label: string };
  flag?: string;
}

function checkInBody(p: ParcelSeed) {
  return {
    trackingNumber: p.trackingNumber,
    carrier: p.carrier,
    size: p.size,
    ...(p.residentId !== undefined ? { residentId: p.residentId } : { unit: p.unit }),
  };
}

async function inRoom(box: Box): Promise<number> {
  const rows = await box.database.db
    .select({ id: packages.id })
    .from(packages)
    .where(and(eq(packages.siteId, box.site.site.id), eq(packages.status, 'checked_in')));
  return rows.length;
}

/** `scanners` sessions check in their share of `parcels` at the same time, each one by one. */
async function checkInRun(
  box: Box,
  sessions: readonly string[],
  parcels: readonly ParcelSeed[],
): Promise<CheckInRun> {
  const inRoomBefore = await inRoom(box);
  const latencies: number[] = [];
  const placed = noPlacements();
  let flagged = 0;
  const queues = sessions.map((_, s) => parcels.filter((_p, i) => i % sessions.length === s));
  const t = performance.now();
  await Promise.all(
    queues.map(async (queue, s) => {
      for (const p of queue) {
        const a = await call(box, 'POST', '/api/packages', sessions[s]!, checkInBody(p));
        expectStatus(a, 201, `check-in of ${p.trackingNumber}`);
        const answer = a.body as CheckInAnswer;
        latencies.push(a.ms);
        placed[answer.location.kind]++;
        if (answer.flag !== undefined) flagged++;
      }
    }),
  );
  const seconds = (performance.now() - t) / 1000;
  return {
    parcels: parcels.length,
    scanners: sessions.length,
    inRoomBefore,
    seconds: round(seconds, 2),
    parcelsPerSecond: round(parcels.length / seconds, 1),
    latency: summarize(latencies),
    placed,
    flagged,
  };
}

/** Picks up every parcel in the room through the API; returns each call's time in ms. */
async function emptyRoom(box: Box, cookie: string): Promise<number[]> {
  const list = await call(box, 'GET', '/api/packages?status=checked_in&limit=2000', cookie);
  expectStatus(list, 200, 'GET /api/packages');
  const ms: number[] = [];
  for (const item of (list.body as { items: { id: string }[] }).items) {
    const a = await call(box, 'POST', `/api/packages/${item.id}/pickup`, cookie);
    expectStatus(a, 200, `pickup of ${item.id}`);
    ms.push(a.ms);
  }
  if ((await inRoom(box)) !== 0) throw new Error('parcels left in the room after pickup');
  return ms;
}

/**
 * Fills the room to `target` parcels straight into the table (the API would take minutes), at
 * the places the assigner gives them, so the next check-ins see a room as full as that.
 */
async function preloadRoom(
  box: Box,
  room: RoomLayout,
  parcels: readonly ParcelSeed[],
): Promise<void> {
  const { db } = box.database;
  const siteId = box.site.site.id;
  const unitRows = await db
    .select({ id: units.id, label: units.label })
    .from(units)
    .where(eq(units.siteId, siteId));
  const unitId = new Map(unitRows.map((u) => [u.label, u.id]));
  const current = await db
    .select({
      locationId: packages.locationId,
      residentId: packages.residentId,
      unitId: packages.unitId,
    })
    .from(packages)
    .where(and(eq(packages.siteId, siteId), eq(packages.status, 'checked_in')))
    .orderBy(asc(packages.checkedInAt), asc(packages.id));
  const occupied = occupancyOf(
    current.map((p) => ({
      locationId: p.locationId,
      residentKey: p.residentId ?? `unit:${p.unitId}`,
    })),
  );
  const residentUnit = await residentUnits(box);
  const rows: (typeof packages.$inferInsert)[] = parcels.map((p) => {
    const uid =
      p.residentId !== undefined ? residentUnit.get(p.residentId) : unitId.get(p.unit ?? '');
    if (uid === undefined) throw new Error(`no unit for parcel ${p.trackingNumber}`);
    const residentKey = p.residentId ?? `unit:${uid}`;
    const at = assignLocation({ size: p.size, residentKey }, { ...room, occupied });
    recordParcel(occupied, at.id, residentKey);
    const tracking = recognizeTracking(p.trackingNumber);
    return {
      id: newId(box.clock.now()),
      siteId,
      trackingNumber: tracking.normalized,
      trackingFormat: tracking.format,
      carrier: p.carrier,
      unitId: uid,
      residentId: p.residentId ?? null,
      size: p.size,
      locationId: at.id,
      checkedInAt: new Date(box.clock.now()),
      checkedInByStaffId: null,
    };
  });
  for (let i = 0; i < rows.length; i += 500)
    await db.insert(packages).values(rows.slice(i, i + 500));
}

async function residentUnits(box: Box): Promise<Map<string, string>> {
  const rows = await box.database.db
    .select({ id: residents.id, unitId: residents.unitId })
    .from(residents)
    .where(eq(residents.siteId, box.site.site.id));
  return new Map(rows.map((r) => [r.id, r.unitId]));
}

async function benchDatabase(
  kind: DbKind,
  site: SiteConfig,
  counts: Counts,
  log: (msg: string) => void,
  dbUrl?: string,
): Promise<DbPackagesResult> {
  const label = kind === 'postgres' ? 'PostgreSQL' : 'PGlite';
  const box = await openBox(kind, site, dbUrl);
  try {
    const manager = await staffSession(box, 'manager', 0);
    const scanners: string[] = [];
    for (let i = 0; i < SCANNERS; i++) scanners.push(await staffSession(box, 'staff', i));

    log(`${label}: ${RESIDENTS} residents in 300 units through POST /api/residents`);
    const seeds = residentSeeds();
    const households: Household[] = [];
    const createMs: number[] = [];
    for (const r of seeds) {
      const a = await call(box, 'POST', '/api/residents', manager, r);
      expectStatus(a, 201, `POST /api/residents ${r.unit}`);
      households.push({ residentId: (a.body as { id: string }).id, unit: r.unit });
      createMs.push(a.ms);
    }
    const rnd = prng(0x300);
    shuffle(rnd, households);
    const seen = new Set<string>();
    const room = roomFromSite(site.storage);

    // Warm-up: the first requests pay for JIT and prepared statements.
    const warm = parcelSeeds(rnd, households, counts.warmup, seen);
    await checkInRun(box, [scanners[0]!], warm);
    const pickupMs = await emptyRoom(box, scanners[0]!);

    log(`${label}: ${counts.sequential} check-ins, one scanner`);
    const sequential = await checkInRun(
      box,
      [scanners[0]!],
      parcelSeeds(rnd, households, counts.sequential, seen),
    );
    pickupMs.push(...(await emptyRoom(box, scanners[0]!)));

    log(`${label}: ${counts.concurrent} check-ins, ${SCANNERS} scanners at once`);
    const concurrent = await checkInRun(
      box,
      scanners,
      parcelSeeds(rnd, households, counts.concurrent, seen),
    );

    log(`${label}: ${counts.fullRoom} check-ins with ${FULL_ROOM.toLocaleString('en-US')} in room`);
    await preloadRoom(
      box,
      room,
      parcelSeeds(rnd, households, FULL_ROOM - (await inRoom(box)), seen),
    );
    const fullRoom = await checkInRun(
      box,
      [scanners[0]!],
      parcelSeeds(rnd, households, counts.fullRoom, seen),
    );
    return {
      kind,
      residents: households.length,
      units: new Set(households.map((h) => h.unit)).size,
      residentCreate: summarize(createMs),
      sequential,
      concurrent,
      fullRoom,
      pickup: summarize(pickupMs),
    };
  } finally {
    await box.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The assigner alone

function benchAssign(
  room: RoomLayout,
  households: readonly Household[],
  parcelsInRoom: number,
  calls: number,
  withOccupancy: boolean,
): AssignResult {
  const rnd = prng(0xa551 + parcelsInRoom);
  const seen = new Set<string>();
  const keyOf = (p: ParcelSeed) => p.residentId ?? `unit:${p.unit ?? ''}`;
  const stored: { locationId: string; residentKey: string }[] = [];
  const occupied = new Map<string, Occupancy>();
  for (const p of parcelSeeds(rnd, households, parcelsInRoom, seen)) {
    const at = assignLocation({ size: p.size, residentKey: keyOf(p) }, { ...room, occupied });
    recordParcel(occupied, at.id, keyOf(p));
    stored.push({ locationId: at.id, residentKey: keyOf(p) });
  }
  // Tracking numbers play no part here; sizes and recipients drawn the same way, cheaply.
  const next = Array.from({ length: calls }, () => {
    const h = households[Math.floor(rnd() ** 2 * households.length)]!;
    const s = rnd();
    const size: ParcelSize = s < 0.88 ? 'standard' : s < 0.96 ? 'oversized' : 'perishable';
    return { size, residentKey: rnd() < 0.25 ? `unit:${h.unit}` : h.residentId };
  });
  const placed = noPlacements();
  const us: number[] = [];
  const warmup = Math.min(1_000, calls);
  for (let i = 0; i < warmup + calls; i++) {
    const parcel = next[i % calls]!;
    const t = performance.now();
    const at = assignLocation(parcel, {
      ...room,
      occupied: withOccupancy ? occupancyOf(stored) : occupied,
    });
    const elapsed = performance.now() - t;
    if (i >= warmup) {
      us.push(elapsed * 1000);
      placed[at.kind]++;
    }
  }
  return {
    measured: withOccupancy ? 'occupancyOf + assignLocation' : 'assignLocation',
    parcelsInRoom,
    calls,
    microseconds: summarize(us),
    placed,
  };
}

// ---------------------------------------------------------------------------------------------

export async function runPackagesBench(
  log: (msg: string) => void,
  opts: PackagesBenchOptions = {},
): Promise<PackagesBenchResult> {
  const counts = countsFor(opts.quick ?? false);
  const site = readSiteFile(BUILDING_300_SITE);
  const room = roomFromSite(site.storage);
  const result: PackagesBenchResult = {
    siteFile: 'examples/building-300.site.yaml',
    slots: room.shelves.reduce((n, s) => n + s.slots.length, 0),
    lockers: room.lockers.length,
    coldLockers: room.lockers.filter((l) => l.refrigerated).length,
    databases: {},
    assign: [],
    failures: [],
  };

  log(`assignLocation with 250 and ${FULL_ROOM.toLocaleString('en-US')} parcels in the room`);
  // Synthetic ids stand in for residents here: the assigner only compares keys.
  const households: Household[] = residentSeeds().map((r, i) => ({
    residentId: `resident-${i}`,
    unit: r.unit,
  }));
  shuffle(prng(7), households);
  result.assign.push(benchAssign(room, households, 250, counts.assignCalls, false));
  result.assign.push(benchAssign(room, households, FULL_ROOM, counts.assignCalls, false));
  result.assign.push(
    benchAssign(room, households, FULL_ROOM, Math.ceil(counts.assignCalls / 10), true),
  );

  const runs: { kind: DbKind; url?: () => Promise<string> }[] = [{ kind: 'pglite' }];
  const server = opts.postgresServerUrl;
  if (server !== undefined)
    runs.push({ kind: 'postgres', url: () => createDatabase(server, 'bench_packages') });
  for (const run of runs) {
    try {
      const url = run.url ? await run.url() : undefined;
      result.databases[run.kind] = await benchDatabase(run.kind, site, counts, log, url);
    } catch (err) {
      const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
      log(`parcel check-in on ${run.kind} FAILED: ${msg}`);
      result.failures.push(
        `parcel check-in on ${run.kind}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Report, in bench/run.ts's tables

const LABEL: Record<DbKind, string> = { pglite: 'PGlite', postgres: 'PostgreSQL' };

const placedText = (p: Record<LocationKind, number>) =>
  `shelf ${p.shelf}, locker ${p.locker}, oversized ${p.oversized}, overflow ${p.overflow}`;

export function formatPackagesReport(
  r: PackagesBenchResult,
  opts: { postgresInstalled: boolean; section?: string },
): string[] {
  const n = opts.section ?? '5';
  const header = ['database', 'measured', 'n', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'per s'];
  const rows: Cell[][] = [];
  const sample = Object.values(r.databases)[0];
  for (const k of ['pglite', 'postgres'] as const) {
    const d = r.databases[k];
    if (!d) {
      const why =
        k === 'postgres' && !opts.postgresInstalled
          ? 'skipped: PostgreSQL not installed'
          : 'failed';
      rows.push([LABEL[k], why, null, null, null, null, null, null]);
      continue;
    }
    const s = (x: Summary): Cell[] => [x.n, x.p50, x.p90, x.p99, x.max];
    const run = (what: string, x: CheckInRun): Cell[] => [
      '',
      what,
      ...s(x.latency),
      x.parcelsPerSecond,
    ];
    rows.push([
      LABEL[k],
      'POST /api/residents',
      ...s(d.residentCreate),
      round(1000 / d.residentCreate.mean, 0),
    ]);
    rows.push(run('check-in, 1 scanner, room empty at start', d.sequential));
    rows.push(
      run(`check-in, ${d.concurrent.scanners} scanners at once, empty at start`, d.concurrent),
    );
    rows.push(
      run(
        `check-in, 1 scanner, ${d.fullRoom.inRoomBefore.toLocaleString('en-US')} in room`,
        d.fullRoom,
      ),
    );
    rows.push(['', 'pickup', ...s(d.pickup), round(1000 / d.pickup.mean, 0)]);
  }
  const out = [
    formatTable(
      `${n}. Parcel check-in, 300-unit building (${r.siteFile}: ${r.slots} slots, ${r.lockers} ` +
        `lockers, ${r.coldLockers} cold), via app.request(); each answer waits for its journalled ` +
        'event; no notification channels',
      header,
      rows,
      2,
    ),
  ];
  if (sample) {
    out.push(
      `   ${sample.residents} residents in ${sample.units} units. "per s" of a check-in row = ` +
        'parcels checked in per second of wall\n   time, all scanners together.',
      `   Placed by the 1-scanner run: ${placedText(sample.sequential.placed)}; ` +
        `flagged for staff: ${sample.sequential.flagged}\n   (perishables beyond the ` +
        `${r.coldLockers} cold lockers).`,
    );
  }
  out.push(
    '',
    formatTable(
      `${n}b. Slot assignment in process (${r.slots} slots, ${r.lockers} lockers), µs per call`,
      ['measured', 'in room', 'calls', 'p50 µs', 'p90 µs', 'p99 µs', 'max µs', 'mean µs'],
      r.assign.map((a) => [
        a.measured,
        a.parcelsInRoom,
        a.calls,
        a.microseconds.p50,
        a.microseconds.p90,
        a.microseconds.p99,
        a.microseconds.max,
        a.microseconds.mean,
      ]),
    ),
    `   With ${FULL_ROOM.toLocaleString('en-US')} parcels the shelves and lockers are full: most ` +
      'calls walk the whole room before\n   choosing overflow (the slow end). occupancyOf + ' +
      'assignLocation is what a check-in computes after\n   reading the parcels in the room.',
  );
  return out;
}
