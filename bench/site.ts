/**
 * A running box for the benchmarks: the real `composeServices` wiring around the demo site, on
 * PGlite (on disk, as `npm start` runs it) or on a PostgreSQL database, with a manual domain clock
 * (grants, alarms, sessions move only when the benchmark says so) and the system clock for the
 * journal's I/O pacing, as in production.
 *
 * Two probes, nothing else changed: the door driver is the sim driver of `createDriverFactory`,
 * copied here with a strike whose `unlock()` notes `performance.now()`, so "frame in → strike
 * command out" is measured where the hardware would see it; and `journal.append` is wrapped to note
 * when each `access` event (a decision) is handed over, the moment a denial is decided.
 */
import { join } from 'node:path';
import { encodeCard, BUILTIN_FORMATS, type WiegandFormat } from '../access/wiegand.formats.ts';
import {
  carrierCodes,
  credentials,
  newId,
  openDatabase,
  residents,
  units,
  type Database,
} from '../db/index.ts';
import {
  createSimReader,
  createSimSensor,
  createSimStrike,
  manualClock,
  type CredentialReader,
  type ManualClock,
  type SimStrike,
} from '../hardware/index.ts';
import { codeHasher } from '../server/access/site.secret.ts';
import { composeServices, type Composed } from '../server/compose.ts';
import { demoSite, parseSite, type SiteConfig } from '../server/config/index.ts';
import type { DriverFactory } from '../server/doors/door.drivers.ts';
import { createLogger, type Logger } from '../server/log/logger.ts';
import { makeTempDir } from '../test/harness/temp-dir.ts';

export type DbKind = 'pglite' | 'postgres';

/**
 * Counts strike commands and remembers when the last unlock was issued; likewise for access
 * decisions handed to the journal (the moment a denial is made and recorded).
 */
export interface UnlockProbe {
  lastUnlockAt: number;
  unlocks: number;
  lastDecisionAt: number;
  decisions: number;
}

export interface CardValue {
  facility: number;
  card: number;
}

export interface BenchSite {
  kind: DbKind;
  composed: Composed;
  database: Database;
  clock: ManualClock;
  site: SiteConfig;
  readerId: string;
  doorId: string;
  grantMs: number;
  /** The instrumented strike of the demo door. */
  strike: SimStrike;
  probe: UnlockProbe;
  /** Same HMAC as the server's (the site secret is passed in), for carrier codes. */
  hashCode: (code: string) => string;
  log: Logger;
  close(): Promise<void>;
}

export const H10301: WiegandFormat = BUILTIN_FORMATS.find((f) => f.id === 'H10301')!;

export const frameFor = (v: CardValue): string => encodeCard(H10301, v);

/** Deterministic PRNG (mulberry32), so every run feeds the same frames. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The sim branch of `createDriverFactory`, with the strike's unlock() timed. */
function instrumentedSimDrivers(probe: UnlockProbe, strikes: Map<string, SimStrike>) {
  const factory: DriverFactory = (door, readers) => {
    if (door.driver.kind !== 'sim')
      return Promise.reject(new Error(`bench drives sim doors only, not ${door.driver.kind}`));
    const inner = createSimStrike();
    const strike: SimStrike = {
      get state() {
        return inner.state;
      },
      unlock() {
        probe.lastUnlockAt = performance.now();
        probe.unlocks++;
        return inner.unlock();
      },
      lock: () => inner.lock(),
      onState: (fn) => inner.onState(fn),
      setFault: (f) => inner.setFault(f),
      close: () => inner.close(),
    };
    strikes.set(door.id, strike);
    const sensor = createSimSensor('closed');
    const simReaders = new Map(readers.map((r) => [r.id, createSimReader(r.id)]));
    return Promise.resolve({
      strike,
      sensor,
      readers: new Map<string, CredentialReader>(simReaders),
      sim: { strike, sensor, readers: simReaders },
      async close() {
        await strike.close();
        await sensor.close();
        for (const r of simReaders.values()) await r.close();
      },
    });
  };
  return factory;
}

export async function openBenchSite(opts: {
  kind: DbKind;
  /** PostgreSQL database URL (kind 'postgres'). */
  url?: string;
}): Promise<BenchSite> {
  const tmp = await makeTempDir('parcelroom-bench');
  const log = createLogger({ level: 'warn', write: (l) => process.stderr.write(l + '\n') });
  let database: Database | undefined;
  try {
    database =
      opts.kind === 'postgres'
        ? await openDatabase({ url: opts.url! })
        : await openDatabase({ dataDir: join(tmp.path, 'db') });
    const clock = manualClock(Date.UTC(2026, 10, 21, 9, 0, 0));
    const site = parseSite(demoSite(), 'demo');
    const secret = 'bench-site-secret-0123456789abcdef0123456789';
    const probe: UnlockProbe = { lastUnlockAt: NaN, unlocks: 0, lastDecisionAt: NaN, decisions: 0 };
    const strikes = new Map<string, SimStrike>();
    const composed = await composeServices({
      cameras: 'off', // decisions are measured without recorders competing for the cores
      site,
      siteSource: 'demo',
      database,
      dataDir: tmp.path,
      clock,
      log,
      version: 'bench',
      secret,
      sessionIdleMs: 12 * 3_600_000,
      secureCookies: 'never',
      webDir: null,
      analytics: { state: 'off', reason: 'bench' },
      drivers: instrumentedSimDrivers(probe, strikes),
    });
    // Decisions are recorded through journal.append (called synchronously by the door runtime
    // right after deciding); note when each `access` event is handed over.
    const journal = composed.journal;
    const append = journal.append.bind(journal);
    journal.append = (e) => {
      if (e.type === 'access') {
        probe.lastDecisionAt = performance.now();
        probe.decisions++;
      }
      return append(e);
    };
    const reader = site.readers[0]!;
    const door = site.doors.find((d) => d.id === reader.doorId)!;
    const db = database;
    return {
      kind: opts.kind,
      composed,
      database: db,
      clock,
      site,
      readerId: reader.id,
      doorId: door.id,
      grantMs: door.grantMs,
      strike: strikes.get(door.id)!,
      probe,
      hashCode: codeHasher(Buffer.from(secret, 'utf8')),
      log,
      async close() {
        try {
          await composed.close();
        } finally {
          await db.close();
          await tmp.cleanup();
        }
      },
    };
  } catch (err) {
    await database?.close().catch(() => {});
    await tmp.cleanup();
    throw err;
  }
}

/**
 * Enrols `count` residents with one H10301 card each (2 residents per unit), straight into the
 * tables in 1,000-row batches, then reloads the doors' snapshot. Returns the enrolled cards.
 */
export async function enrolCards(s: BenchSite, count: number): Promise<CardValue[]> {
  const { db } = s.database;
  const siteId = s.site.site.id;
  const now = new Date(s.clock.now());
  const cards: CardValue[] = [];
  // 128 facility codes × up to 512 cards each; card numbers spread over the 16-bit range.
  for (let i = 0; i < count; i++) {
    cards.push({ facility: 1 + (i % 128), card: (Math.floor(i / 128) * 127 + 3) % 65_536 });
  }
  const batch = 1_000;
  for (let start = 0; start < count; start += batch) {
    const slice = cards.slice(start, start + batch);
    const unitRows: (typeof units.$inferInsert)[] = [];
    const residentRows: (typeof residents.$inferInsert)[] = [];
    const credentialRows: (typeof credentials.$inferInsert)[] = [];
    slice.forEach((c, k) => {
      const i = start + k;
      if (i % 2 === 0) {
        unitRows.push({ id: newId(s.clock.now()), siteId, label: `U${i / 2}`, createdAt: now });
      }
      const unitId = i % 2 === 0 ? unitRows[unitRows.length - 1]!.id : undefined;
      const residentId = newId(s.clock.now());
      residentRows.push({
        id: residentId,
        siteId,
        unitId: unitId ?? residentRows[residentRows.length - 1]!.unitId,
        name: `Resident ${i}`,
        email: `resident${i}@example.test`,
        createdAt: now,
        updatedAt: now,
      });
      credentialRows.push({
        id: newId(s.clock.now()),
        siteId,
        residentId,
        kind: 'card',
        format: 'H10301',
        facilityCode: c.facility,
        cardNumber: c.card,
        createdAt: now,
        createdBy: 'bench',
      });
    });
    await db.transaction(async (tx) => {
      await tx.insert(units).values(unitRows);
      await tx.insert(residents).values(residentRows);
      await tx.insert(credentials).values(credentialRows);
    });
  }
  if (!(await s.composed.snapshot.refresh())) throw new Error('snapshot refresh failed');
  return cards;
}

/** Creates `count` live carrier codes (6 digits, unlimited uses, every door); returns the codes. */
export async function createCarrierCodes(s: BenchSite, count: number): Promise<string[]> {
  const rnd = prng(0xc0de);
  const codes = new Set<string>();
  while (codes.size < count) codes.add(String(100_000 + Math.floor(rnd() * 900_000)));
  const now = s.clock.now();
  await s.database.db.insert(carrierCodes).values(
    [...codes].map((code, i) => ({
      id: newId(now),
      siteId: s.site.site.id,
      carrier: ['UPS', 'FedEx', 'DHL', 'USPS', 'Amazon'][i % 5]!,
      codeHash: s.hashCode(code),
      validFrom: new Date(now - 86_400_000),
      validUntil: new Date(now + 60 * 86_400_000),
      maxUses: null,
      doorIds: [],
      createdBy: 'bench',
      createdAt: new Date(now),
    })),
  );
  if (!(await s.composed.snapshot.refresh())) throw new Error('snapshot refresh failed');
  return [...codes];
}

/** Resolves once the strike reports locked (the relock after a grant goes through a queue). */
export function strikeLocked(strike: SimStrike, timeoutMs = 5_000): Promise<void> {
  if (strike.state === 'locked') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`strike still ${strike.state} after ${timeoutMs} ms`));
    }, timeoutMs);
    const off = strike.onState((state) => {
      if (state !== 'locked') return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}
