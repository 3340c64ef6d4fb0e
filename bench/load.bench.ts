/**
 * Load from a second process: the real server (`node scripts/start.mjs`, as `npm start` runs it)
 * on loopback with examples/building-300.site.yaml (both doors `sim`), on PostgreSQL (durability
 * on) when it is installed, else on PGlite in DATA_DIR, driven over HTTP from this process for a
 * fixed time while everything a busy evening brings happens at once.
 *
 *   npx tsx bench/load.bench.ts [--quick] [--seconds N] [--users N] [--pglite] [--cameras]
 *   npm run bench [-- --quick]          (table 12)
 *
 * Seeded first: 450 residents in 300 units, a card for each of the first 300, one carrier code per
 * carrier (UPS, USPS, FedEx, Amazon), and a manager login for the desk and the console users.
 *
 * Traffic, each class on its own fixed arrival schedule (open loop: an arrival is sent when it is
 * due whether or not earlier ones have answered, so a slow server shows as latency, not as fewer
 * requests; a class with `cap` requests in flight skips the arrival and counts it as skipped):
 *
 *   class     what                                                     rate                 cap
 *   badge     POST /api/sim/readers/:id/wiegand on both readers,       5/s per reader       32
 *             85% enrolled cards (granted), 15% unknown (denied)
 *   keypad    POST /api/sim/readers/:id/keys, a carrier code + '#',    0.5/s per reader     8
 *             every 10th PIN wrong (3 a minute per keypad: under the
 *             lockout of 5 in 60 s)
 *   checkin   POST /api/packages (the desk scanning)                   2/s                  16
 *   pickup    POST /api/packages/:id/pickup, oldest parcel first,     2/s                  16
 *             once it has waited 5 s
 *   console   N users (default 20), each one request every 1.25 s,    N × 0.8/s            4N
 *             in turn GET /api/doors, /api/events?limit=50,
 *             /api/packages?status=checked_in&limit=100,
 *             /api/audit/search?limit=50
 *
 * That is far above a real 300-unit building (a peak evening is a badge a minute); the point is
 * headroom. Decision latency is the sim wiegand round trip: the route answers only once the
 * decision's access event is durable, so it is frame → decision → journalled → HTTP answer.
 * Requests on one reader take turns at the server (as at a real reader), so the badge and keypad
 * classes queue behind each other per reader.
 *
 * At the end every acknowledged access event (each sim answer carries its event id) is looked up
 * through GET /api/events, and every acknowledged check-in and pickup through GET /api/packages:
 * none may be missing or doubled.
 *
 * The site's four cameras are left out unless `--cameras` (on a shared 2-core box their recorders
 * and the simulator's scene render would measure the neighbours, not the API).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import {
  createDatabase,
  findPostgres,
  startPostgres,
  type PostgresServer,
} from '../test/harness/postgres.server.ts';
import { login, startServerProcess, type ServerProcess } from '../test/harness/server.process.ts';
import { ensureWebBuilt } from '../test/harness/web-build.ts';
import { DURABLE_PG_SETTINGS } from './journal.bench.ts';
import { BUILDING_300_SITE, parcelSeeds, residentSeeds, type Household } from './packages.bench.ts';
import { frameFor, prng } from './site.ts';
import { formatTable, percentile, round, sleep, type Cell } from './stats.ts';

export interface LoadBenchOptions {
  quick?: boolean | undefined;
  /** Driving time; default 60 s, 15 s with `quick`. */
  seconds?: number | undefined;
  /** Console users polling; default 20. */
  consoleUsers?: number | undefined;
  /** A running PostgreSQL server (bench/run.ts's); unset: start one if installed. */
  postgresServerUrl?: string | undefined;
  /** Force PGlite even when PostgreSQL is installed. */
  pglite?: boolean | undefined;
  /** Keep the site's cameras (recording while loaded). */
  cameras?: boolean | undefined;
}

export interface ClassResult {
  name: string;
  requests: number;
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  errors: number;
  /** Arrivals not sent because the class had `cap` requests in flight. */
  skipped: number;
  /** Error answers by status ('net' for a connection failure), for the log. */
  errorKinds: Record<string, number>;
}

export interface LoadBenchResult {
  database: 'postgres' | 'pglite';
  seconds: number;
  consoleUsers: number;
  cameras: boolean;
  seed: { residents: number; cards: number; carrierCodes: number; seconds: number };
  classes: ClassResult[];
  /** Sim wiegand round trips by outcome (the decision path), ms. */
  decision: { granted: ClassResult; denied: ClassResult; keypadGranted: ClassResult };
  /** Decisions that were not the one the credential should get. */
  unexpectedDecisions: number;
  events: {
    acknowledged: number;
    storedOfThem: number;
    missing: number;
    duplicates: number;
    accessEventsStored: number;
  };
  parcels: {
    checkedInAcked: number;
    checkedInFound: number;
    pickupsAcked: number;
    pickedUpFound: number;
  };
  /** Server process RSS at the end, MB (from /proc). */
  serverRssMb: number | null;
}

const ADMIN = { email: 'load-admin@example.test', password: 'load-admin-password-1' };
const DESK = { email: 'load-desk@example.test', password: 'load-desk-password-12' };
const CARRIERS = ['UPS', 'USPS', 'FedEx', 'Amazon'] as const;
const READERS = ['lobby-reader', 'dock-reader'] as const;
const ENROLLED = 300;

type Json = Record<string, unknown>;

/** One traffic class: latencies of answered requests, errors, skipped arrivals. */
class Stats {
  readonly samples: number[] = [];
  errors = 0;
  skipped = 0;
  inFlight = 0;
  readonly errorKinds: Record<string, number> = {};
  constructor(readonly name: string) {}
  fail(kind: string) {
    this.errors++;
    this.errorKinds[kind] = (this.errorKinds[kind] ?? 0) + 1;
  }
  result(seconds: number): ClassResult {
    const s = [...this.samples].sort((a, b) => a - b);
    const requests = s.length + this.errors;
    return {
      name: this.name,
      requests,
      perSecond: round(requests / seconds, 1),
      p50: round(percentile(s, 50), 1),
      p95: round(percentile(s, 95), 1),
      p99: round(percentile(s, 99), 1),
      max: round(s.at(-1) ?? NaN, 1),
      errors: this.errors,
      skipped: this.skipped,
      errorKinds: this.errorKinds,
    };
  }
}

/**
 * Fires `fire(i)` at start + offset + i × interval until `endAt`; an arrival that finds `cap`
 * requests of its class in flight is skipped. Resolves when the last one has answered.
 */
async function openLoop(
  stats: Stats,
  o: { intervalMs: number; offsetMs: number; cap: number; startAt: number; endAt: number },
  fire: (i: number) => Promise<void>,
): Promise<void> {
  const pending = new Set<Promise<void>>();
  for (let i = 0; ; i++) {
    const due = o.startAt + o.offsetMs + i * o.intervalMs;
    if (due >= o.endAt) break;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    if (stats.inFlight >= o.cap) {
      stats.skipped++;
      continue;
    }
    stats.inFlight++;
    const p = fire(i).finally(() => {
      stats.inFlight--;
      pending.delete(p);
    });
    pending.add(p);
  }
  await Promise.all(pending);
}

/** A timed request: latency recorded when `ok`, else an error of its status. */
async function timed(
  stats: Stats,
  url: string,
  init: RequestInit,
  ok: (status: number) => boolean,
): Promise<{ status: number; body: Json | null; ms: number } | null> {
  const t0 = performance.now();
  try {
    const res = await fetch(url, init);
    const text = await res.text();
    const ms = performance.now() - t0;
    if (!ok(res.status)) {
      stats.fail(String(res.status));
      return null;
    }
    stats.samples.push(ms);
    let body: Json | null = null;
    try {
      body = text ? (JSON.parse(text) as Json) : null;
    } catch {
      body = null;
    }
    return { status: res.status, body, ms };
  } catch {
    stats.fail('net');
    return null;
  }
}

async function call(
  base: string,
  cookie: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<Response> {
  return fetch(`${base}${path}`, {
    method,
    headers: {
      cookie,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

async function mustJson<T>(res: Promise<Response>, what: string, status = [200, 201]) {
  const r = await res;
  const text = await r.text();
  if (!status.includes(r.status))
    throw new Error(`${what}: HTTP ${r.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** The building-300 site as JSON, cameras removed unless asked for. */
async function writeSiteFile(dir: string, cameras: boolean): Promise<string> {
  const raw = parseYaml(await readFile(BUILDING_300_SITE, 'utf8')) as Json;
  if (!cameras) {
    raw.cameras = [];
    // Shelf slots name the camera that sees them; without cameras nobody does.
    const strip = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(strip)
        : v && typeof v === 'object'
          ? Object.fromEntries(
              Object.entries(v)
                .filter(([k]) => k !== 'cameraId')
                .map(([k, x]) => [k, strip(x)]),
            )
          : v;
    raw.storage = strip(raw.storage);
  }
  const file = join(dir, 'site.json');
  await writeFile(file, JSON.stringify(raw));
  return file;
}

function serverRssMb(pid: number): number | null {
  // start.mjs runs the server in its own process (tsx registered in-process): its pid is ours.
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? round(Number(m[1]) / 1024, 0) : null;
  } catch {
    return null;
  }
}

export async function runLoadBench(
  progress: (msg: string) => void,
  opts: LoadBenchOptions = {},
): Promise<LoadBenchResult> {
  const seconds = opts.seconds ?? (opts.quick ? 15 : 60);
  const users = opts.consoleUsers ?? 20;
  const cameras = opts.cameras ?? false;
  const install = opts.pglite ? null : findPostgres();
  let pg: PostgresServer | null = null;
  let server: ServerProcess | null = null;
  const dir = await mkdtemp(join(tmpdir(), 'parcelroom-load-'));
  try {
    let databaseUrl: string | undefined;
    if (!opts.pglite && opts.postgresServerUrl) {
      databaseUrl = await createDatabase(opts.postgresServerUrl, 'bench_load');
    } else if (install) {
      progress(`load: starting PostgreSQL ${install.version} (durability on)`);
      pg = await startPostgres({ settings: DURABLE_PG_SETTINGS });
      databaseUrl = await createDatabase(pg.url, 'bench_load');
    }
    const database = databaseUrl ? 'postgres' : 'pglite';
    progress('load: the console build (web/) for the server process');
    await ensureWebBuilt();
    const siteFile = await writeSiteFile(dir, cameras);
    progress(`load: starting the server on ${database} with the 300-unit site`);
    ({ server } = await startServerProcess({
      env: {
        PARCELROOM_CONFIG: siteFile,
        PARCELROOM_ADMIN_EMAIL: ADMIN.email,
        PARCELROOM_ADMIN_PASSWORD: ADMIN.password,
        ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
      },
      healthTimeoutMs: 120_000,
    }));
    const base = server.url;

    // -- seed ---------------------------------------------------------------------------------
    const seedStart = performance.now();
    const admin = (await login(base, ADMIN.email, ADMIN.password)).cookie;
    if (!admin) throw new Error(`admin login failed\n${server.describe()}`);
    await mustJson(
      call(base, admin, 'POST', '/api/staff', {
        email: DESK.email,
        name: 'Front desk',
        role: 'manager',
        password: DESK.password,
      }),
      'create the desk login',
    );
    progress('load: seeding 450 residents, 300 cards, 4 carrier codes');
    const households: Household[] = [];
    for (const r of residentSeeds()) {
      const { id } = await mustJson<{ id: string }>(
        call(base, admin, 'POST', '/api/residents', { name: r.name, unit: r.unit, email: r.email }),
        'create a resident',
      );
      households.push({ residentId: id, unit: r.unit });
    }
    for (let i = 0; i < ENROLLED; i++) {
      await mustJson(
        call(base, admin, 'POST', '/api/credentials', {
          residentId: households[i]!.residentId,
          kind: 'card',
          format: 'H10301',
          facilityCode: 12,
          cardNumber: 1_000 + i,
        }),
        'enrol a card',
      );
    }
    const codes: string[] = [];
    for (const carrier of CARRIERS) {
      const { code } = await mustJson<{ code: string }>(
        call(base, admin, 'POST', '/api/carrier-codes', {
          carrier,
          validUntil: new Date(Date.now() + 86_400_000).toISOString(),
        }),
        'create a carrier code',
      );
      codes.push(code);
    }
    const seedSeconds = round((performance.now() - seedStart) / 1000, 1);
    const desk = (await login(base, DESK.email, DESK.password)).cookie!;
    const consoleCookies: string[] = [];
    for (let u = 0; u < users; u++)
      consoleCookies.push((await login(base, DESK.email, DESK.password)).cookie!);

    // -- drive --------------------------------------------------------------------------------
    const rnd = prng(2026);
    const parcels = parcelSeeds(rnd, households, Math.ceil(seconds * 2) + 10, new Set());
    const badge = new Stats('badge (sim wiegand)');
    const keypad = new Stats('keypad PIN (sim keys)');
    const checkin = new Stats('parcel check-in');
    const pickup = new Stats('parcel pickup');
    const consoleStats = new Stats(`console (${users} users)`);
    const granted = new Stats('  decision: granted');
    const denied = new Stats('  decision: denied');
    const keypadGranted = new Stats('  decision: keypad granted');
    const acked: string[] = [];
    let unexpected = 0;
    const checkedIn: { id: string; at: number }[] = [];
    const checkedInIds: string[] = [];
    const pickedUpIds: string[] = [];
    const json = { 'content-type': 'application/json' };

    progress(`load: driving for ${seconds} s (${users} console users)`);
    const startAt = performance.now() + 200;
    const endAt = startAt + seconds * 1000;
    const loops: Promise<void>[] = [];

    READERS.forEach((reader, r) => {
      loops.push(
        openLoop(badge, { intervalMs: 200, offsetMs: r * 100, cap: 32, startAt, endAt }, (i) => {
          const enrolled = (i * 7 + r) % 20 >= 3; // 17 in 20
          const card = enrolled ? 1_000 + ((i * 37 + r * 11) % ENROLLED) : 5_000 + i;
          return timed(
            badge,
            `${base}/api/sim/readers/${reader}/wiegand`,
            {
              method: 'POST',
              headers: { ...json, cookie: desk },
              body: JSON.stringify({ bits: frameFor({ facility: 12, card }) }),
            },
            (s) => s === 200,
          ).then((a) => {
            if (!a?.body) return;
            if (typeof a.body.eventId === 'string') acked.push(a.body.eventId);
            const want = enrolled ? 'granted' : 'denied';
            if (a.body.decision !== want) unexpected++;
            (a.body.decision === 'granted' ? granted : denied).samples.push(a.ms);
          });
        }),
      );
      loops.push(
        openLoop(
          keypad,
          { intervalMs: 2_000, offsetMs: 700 + r * 1_000, cap: 8, startAt, endAt },
          (i) => {
            const wrong = i % 10 === 9;
            const pin = wrong ? '000000' : codes[(i + r) % codes.length]!;
            return timed(
              keypad,
              `${base}/api/sim/readers/${reader}/keys`,
              {
                method: 'POST',
                headers: { ...json, cookie: desk },
                body: JSON.stringify({ keys: `${pin}#`, mode: '4bit' }),
              },
              (s) => s === 200,
            ).then((a) => {
              if (!a?.body) return;
              if (typeof a.body.eventId === 'string') acked.push(a.body.eventId);
              if (a.body.decision !== (wrong ? 'denied' : 'granted')) unexpected++;
              if (a.body.decision === 'granted') keypadGranted.samples.push(a.ms);
            });
          },
        ),
      );
    });

    loops.push(
      openLoop(checkin, { intervalMs: 500, offsetMs: 50, cap: 16, startAt, endAt }, (i) => {
        const p = parcels[i % parcels.length]!;
        return timed(
          checkin,
          `${base}/api/packages`,
          { method: 'POST', headers: { ...json, cookie: desk }, body: JSON.stringify(p) },
          (s) => s === 201,
        ).then((a) => {
          const id = a?.body?.id;
          if (typeof id === 'string') {
            checkedIn.push({ id, at: performance.now() });
            checkedInIds.push(id);
          }
        });
      }),
    );
    loops.push(
      openLoop(pickup, { intervalMs: 500, offsetMs: 300, cap: 16, startAt, endAt }, async () => {
        const next = checkedIn[0];
        if (!next || performance.now() - next.at < 5_000) {
          pickup.skipped++; // nothing has waited long enough yet
          return;
        }
        checkedIn.shift();
        const a = await timed(
          pickup,
          `${base}/api/packages/${next.id}/pickup`,
          { method: 'POST', headers: { cookie: desk } },
          (s) => s === 200,
        );
        if (a) pickedUpIds.push(next.id);
      }),
    );
    const consolePaths = [
      '/api/doors',
      '/api/events?limit=50',
      '/api/packages?status=checked_in&limit=100',
      '/api/audit/search?limit=50',
    ];
    consoleCookies.forEach((cookie, u) => {
      loops.push(
        openLoop(
          consoleStats,
          { intervalMs: 1_250, offsetMs: (u * 1_250) / users, cap: 4 * users, startAt, endAt },
          (i) =>
            timed(
              consoleStats,
              `${base}${consolePaths[(i + u) % consolePaths.length]!}`,
              { headers: { cookie } },
              (s) => s === 200,
            ).then(() => undefined),
        ),
      );
    });
    await Promise.all(loops);
    const rss = serverRssMb(server.pid);

    // -- count what was kept --------------------------------------------------------------------
    // Acknowledged means durable in the journal; the database gets it a moment later. Count once
    // the journal says nothing is still on its way (or after 30 s: then what is missing shows).
    progress('load: waiting for the journal to drain into the database');
    for (const until = Date.now() + 30_000; Date.now() < until;) {
      const health = (await (await fetch(`${base}/api/health`)).json()) as {
        journal?: { backlog?: number };
      };
      if (health.journal?.backlog === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    progress('load: counting stored events and parcels');
    const seen = new Map<string, number>();
    let cursor: string | undefined;
    do {
      const page = await mustJson<{ items: Json[]; nextCursor?: string }>(
        call(
          base,
          desk,
          'GET',
          `/api/events?type=access&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        ),
        'list events',
      );
      for (const e of page.items) seen.set(String(e.id), (seen.get(String(e.id)) ?? 0) + 1);
      cursor = page.nextCursor;
    } while (cursor);
    const storedOfThem = acked.filter((id) => seen.has(id)).length;
    const statusOf = new Map<string, string>();
    for (const status of ['checked_in', 'picked_up']) {
      const list = await mustJson<{ items: { id: string; status: string }[] }>(
        call(base, desk, 'GET', `/api/packages?status=${status}&limit=2000`),
        'list parcels',
      );
      for (const p of list.items) statusOf.set(p.id, p.status);
    }
    const d = (s: Stats) => s.result(seconds);
    return {
      database,
      seconds,
      consoleUsers: users,
      cameras,
      seed: {
        residents: households.length,
        cards: ENROLLED,
        carrierCodes: codes.length,
        seconds: seedSeconds,
      },
      classes: [badge, keypad, checkin, pickup, consoleStats].map(d),
      decision: { granted: d(granted), denied: d(denied), keypadGranted: d(keypadGranted) },
      unexpectedDecisions: unexpected,
      events: {
        acknowledged: acked.length,
        storedOfThem,
        missing: acked.length - storedOfThem,
        duplicates: [...seen.values()].filter((n) => n > 1).length,
        accessEventsStored: seen.size,
      },
      parcels: {
        checkedInAcked: checkedInIds.length,
        checkedInFound: checkedInIds.filter((id) => statusOf.has(id)).length,
        pickupsAcked: pickedUpIds.length,
        pickedUpFound: pickedUpIds.filter((id) => statusOf.get(id) === 'picked_up').length,
      },
      serverRssMb: rss,
    };
  } finally {
    if (server) {
      await server.stop('SIGTERM').catch(() => undefined);
      await server.kill();
    }
    await pg?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The report lines, table 12 of bench/run.ts. */
export function formatLoadReport(r: LoadBenchResult): string[] {
  const header = ['class', 'requests', 'per s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'errors'];
  const row = (c: ClassResult): Cell[] => [
    c.name,
    c.requests,
    c.perSecond,
    c.p50,
    c.p95,
    c.p99,
    c.max,
    c.errors + (c.skipped && !c.name.startsWith('parcel pickup') ? ` (+${c.skipped} skipped)` : ''),
  ];
  const decisionRow = (c: ClassResult): Cell[] => [
    c.name,
    c.requests,
    null,
    c.p50,
    c.p95,
    c.p99,
    c.max,
    null,
  ];
  const lines = [
    formatTable(
      `12. Load from a second process: the server (${r.database === 'postgres' ? 'PostgreSQL, durability on' : 'PGlite'}) ` +
        `on the 300-unit site, ${r.seconds} s of badges on both readers, carrier PINs, check-ins, ` +
        `pickups and ${r.consoleUsers} console users at once over HTTP (loopback)`,
      header,
      [
        ...r.classes.map(row),
        ['decision path (wiegand round trip):', null, null, null, null, null, null, null],
        decisionRow(r.decision.granted),
        decisionRow(r.decision.denied),
        decisionRow(r.decision.keypadGranted),
      ],
    ),
    `   rates: badges 5/s per reader, carrier PINs 0.5/s per reader (1 in 10 wrong), check-in 2/s, ` +
      `pickup 2/s, each console user 0.8/s (doors, events, parcels, audit search in turn).`,
    `   events: ${r.events.acknowledged} access events acknowledged, ${r.events.storedOfThem} of them ` +
      `stored, ${r.events.missing} missing, ${r.events.duplicates} doubled (${r.events.accessEventsStored} access events in the table); ` +
      `parcels: ${r.parcels.checkedInAcked} check-ins acknowledged, ${r.parcels.checkedInFound} found; ` +
      `${r.parcels.pickupsAcked} pickups acknowledged, ${r.parcels.pickedUpFound} picked up.`,
    `   unexpected decisions: ${r.unexpectedDecisions}; seeding (450 residents, 300 cards, 4 codes) ` +
      `${r.seed.seconds} s; server RSS at the end ${r.serverRssMb ?? '?'} MB; cameras ${r.cameras ? 'recording' : 'left out'}.`,
  ];
  const kinds = r.classes.filter((c) => c.errors > 0);
  if (kinds.length)
    lines.push(
      `   errors by answer: ${kinds.map((c) => `${c.name}: ${JSON.stringify(c.errorKinds)}`).join('; ')}`,
    );
  return lines;
}

// Run on its own: npx tsx bench/load.bench.ts [--quick] [--seconds N] [--users N] [--pglite]
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const num = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    if (i < 0) return undefined;
    const v = Number(process.argv[i + 1]);
    if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} needs a positive integer`);
    return v;
  };
  const progress = (msg: string) =>
    process.stderr.write(`[load ${(performance.now() / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);
  const quick = process.argv.includes('--quick');
  const result = await runLoadBench(progress, {
    quick,
    seconds: num('seconds'),
    consoleUsers: num('users'),
    pglite: process.argv.includes('--pglite'),
    cameras: process.argv.includes('--cameras'),
  });
  process.stdout.write(
    `Parcelroom load — node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? '?'}${quick ? ' (--quick)' : ''}\n\n` +
      formatLoadReport(result).join('\n') +
      `\nLOAD_RESULTS ${JSON.stringify(result)}\n`,
  );
}
