/**
 * Every benchmark, one after the other: `npm run bench` (tsx bench/run.ts).
 *
 *   npm run bench                       full run (a few minutes on a 2-core box)
 *   npm run bench -- --quick            smaller counts, for checking the wiring
 *   npm run bench -- --frames 20000 --pins 10000 --cards 10000
 *   npm run bench -- --relock timer     relock by the grant-end timer instead of the door
 *                                       closing (reloads the snapshot after every grant: slow,
 *                                       see bench/decision.bench.ts)
 *
 * Prints a table per benchmark and, last, one line `BENCH_RESULTS {json}` with every number.
 * Nothing is asserted: targets are printed next to the numbers, the reader judges.
 *
 * PostgreSQL rows need the server binaries (test/harness/postgres.server.ts finds them); one
 * private cluster with durability on (fsync, full page writes, synchronous commit) serves the
 * door, API, journal and parcel benchmarks, each in its own database. Without PostgreSQL those rows
 * are skipped and say so. Progress goes to stderr, results to stdout.
 *
 * The parcel check-in benchmark (bench/packages.bench.ts) runs on examples/building-300.site.yaml,
 * a real-sized room, rather than the demo room the door benchmarks use.
 *
 * The load benchmark (bench/load.bench.ts, table 12) starts the real server as a second process
 * on that building and drives badges, carrier PINs, check-ins, pickups and 20 console users at
 * once over HTTP for 60 s (15 s with --quick). Table 13 times the managers' room report over a
 * year of that building on PostgreSQL; table 14 imports a 300- and a 3,000-unit roster from CSV.
 */
import { cpus, totalmem } from 'node:os';
import { benchApi, type ApiResult } from './api.bench.ts';
import {
  benchCardFrames,
  benchDecidePin,
  benchKeypad,
  benchReloadInterference,
  type LatencyResult,
  type ReloadResult,
  type RelockMode,
} from './decision.bench.ts';
import { benchJournal, DURABLE_PG_SETTINGS } from './journal.bench.ts';
import {
  formatPackagesReport,
  runPackagesBench,
  type PackagesBenchResult,
} from './packages.bench.ts';
import {
  createCarrierCodes,
  enrolCards,
  openBenchSite,
  type BenchSite,
  type DbKind,
} from './site.ts';
import { formatTable, round, type Cell } from './stats.ts';
import { runVisionBench } from './vision.bench.ts';
import { runAnalyticsBench } from './analytics.bench.ts';
import { runCamerasBench } from './cameras.bench.ts';
import { runAuditBench } from './audit.bench.ts';
import { formatLoadReport, runLoadBench, type LoadBenchResult } from './load.bench.ts';
import { formatReportsReport, runReportsBench, type ReportsBenchResult } from './reports.bench.ts';
import { formatRosterReport, runRosterBench, type RosterBenchRow } from './roster.bench.ts';
import {
  createDatabase,
  findPostgres,
  startPostgres,
  type PostgresServer,
} from '../test/harness/postgres.server.ts';

function flag(name: string): number | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} needs a positive integer`);
  return v;
}
const quick = process.argv.includes('--quick');
const relockArg = process.argv[process.argv.indexOf('--relock') + 1];
const RELOCK: RelockMode =
  process.argv.includes('--relock') && relockArg === 'timer' ? 'timer' : 'door';
const CARDS = flag('cards') ?? 10_000;
const FRAMES = flag('frames') ?? (quick ? 1_000 : 10_000);
const PINS = flag('pins') ?? (quick ? 300 : 2_000);
const CODES = 50;
const GET_REQUESTS = quick ? 100 : 500;
const LOGINS = quick ? 2 : 5;

const progress = (msg: string) =>
  process.stderr.write(`[bench ${(performance.now() / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);

interface SiteResults {
  enrolSeconds: number;
  cards: LatencyResult;
  reload: ReloadResult;
  keypad: LatencyResult;
  api: ApiResult;
}

async function benchSite(kind: DbKind, url?: string): Promise<SiteResults> {
  progress(`${kind}: opening the demo site`);
  const site: BenchSite = await openBenchSite({ kind, ...(url ? { url } : {}) });
  try {
    progress(`${kind}: enrolling ${CARDS} cards`);
    const t = performance.now();
    const enrolled = await enrolCards(site, CARDS);
    const enrolSeconds = round((performance.now() - t) / 1000, 2);
    progress(`${kind}: ${FRAMES} card frames`);
    const cards = await benchCardFrames(site, enrolled, { frames: FRAMES, relock: RELOCK });
    progress(`${kind}: badges during snapshot reloads`);
    const reload = await benchReloadInterference(site, enrolled);
    progress(`${kind}: ${PINS} keypad PINs (${CODES} carrier codes)`);
    const codes = await createCarrierCodes(site, CODES);
    const keypad = await benchKeypad(site, codes, { pins: PINS });
    progress(`${kind}: API`);
    const api = await benchApi(site, { logins: LOGINS, requests: GET_REQUESTS });
    return { enrolSeconds, cards, reload, keypad, api };
  } finally {
    await site.close();
  }
}

const LABEL: Record<DbKind, string> = { pglite: 'PGlite', postgres: 'PostgreSQL' };

const install = findPostgres();
let server: PostgresServer | null = null;
const sites: Partial<Record<DbKind, SiteResults>> = {};
let journal: Record<string, number> | null = null;
let parcels: PackagesBenchResult | null;
let load: LoadBenchResult | null;
let reports: ReportsBenchResult | null = null;
const skipped: string[] = [];
const t0 = performance.now();

const failures: string[] = [];

/** A benchmark that fails is reported and the others still run. */
async function attempt<T>(what: string, fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (err) {
    const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
    progress(`${what} FAILED: ${msg}`);
    failures.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    return null;
  }
}
try {
  sites.pglite =
    (await attempt('PGlite door/API benchmarks', () => benchSite('pglite'))) ?? undefined;
  if (install) {
    progress(`starting PostgreSQL ${install.version} (durability on)`);
    server = await startPostgres({ settings: DURABLE_PG_SETTINGS });
    const url = server.url;
    sites.postgres =
      (await attempt('PostgreSQL door/API benchmarks', async () =>
        benchSite('postgres', await createDatabase(url, 'bench_door')),
      )) ?? undefined;
    progress('journal ingest into PostgreSQL');
    journal = await attempt('journal ingest', () =>
      benchJournal({
        serverUrl: url,
        ...(quick ? { sustainedEvents: 10_000, steadySeconds: 2 } : {}),
      }),
    );
  } else {
    skipped.push('PostgreSQL is not installed (apt-get install -y postgresql): rows skipped');
  }
  progress('parcel check-in on the 300-unit building');
  const pgUrl = server?.url;
  parcels = await attempt('parcel check-in benchmarks', () =>
    runPackagesBench(progress, { quick, postgresServerUrl: pgUrl }),
  );
  if (parcels) failures.push(...parcels.failures);
  progress('load from a second process: the real server on the 300-unit site');
  load = await attempt('load benchmark', () =>
    runLoadBench(progress, { quick, postgresServerUrl: server?.url }),
  );
  if (server) {
    const url = server.url;
    progress('room report: a year of the 300-unit building');
    reports = await attempt('room report benchmark', () =>
      runReportsBench(progress, { quick, postgresServerUrl: url }),
    );
  }
} finally {
  await server?.stop();
}
const decidePin = benchDecidePin({ codes: CODES });
progress('roster import: 300 and 3,000 units from CSV');
const roster: RosterBenchRow[] | null = await attempt('roster import benchmark', () =>
  runRosterBench(progress, { sizes: quick ? [300] : [300, 3000] }),
);
// The vision tables print their own lines once the door and parcel tables are out.
const visionLines: string[] = [];
progress('vision: detector, tracker, motion gate, frame source');
const vision = await attempt('vision benchmarks', () =>
  runVisionBench((line) => visionLines.push(line)),
);
progress('cameras: recording CPU, window end → clip, clip assembly');
const cameraLines: string[] = [];
const camerasResult = await attempt('camera benchmarks', () =>
  runCamerasBench((line) => cameraLines.push(line), { quick }),
);
progress('audit search: 10 million events (1 million with --quick)');
const auditLines: string[] = [];
const auditResult = await attempt('audit search benchmark', () =>
  runAuditBench((line) => auditLines.push(line), { quick }),
);
progress('analytics: whole pipeline, cameras per box, condition → flag');
const analytics = await attempt('analytics benchmarks', () =>
  runAnalyticsBench((line) => visionLines.push(line), { quick }),
);
const totalSeconds = round((performance.now() - t0) / 1000, 1);

// ---------------------------------------------------------------------------------------------
// Report

const kinds = (['pglite', 'postgres'] as const).filter((k) => sites[k]);
const out: string[] = [];
const ms = (s: { n: number; p50: number; p90: number; p99: number; max: number }): Cell[] => [
  s.n,
  s.p50,
  s.p90,
  s.p99,
  s.max,
];
const skipRow = (label: string, width: number, notInstalled: boolean): Cell[] => [
  label,
  notInstalled && label === LABEL.postgres ? 'skipped: PostgreSQL not installed' : 'failed',
  ...Array.from({ length: width - 2 }, () => null),
];

out.push(
  `Parcelroom benchmarks — node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? '?'}, ` +
    `${Math.round(totalmem() / 2 ** 30)} GiB, PostgreSQL ${install?.version ?? 'not installed'}` +
    `${quick ? ' (--quick)' : ''}`,
);

const latencyTable = (
  title: string,
  pick: (r: SiteResults) => LatencyResult,
  what: [string, string, string],
) => {
  const header = ['database', 'measured', 'n', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'per s'];
  const rows: Cell[][] = [];
  for (const k of ['pglite', 'postgres'] as const) {
    const r = sites[k];
    if (!r) {
      rows.push(skipRow(LABEL[k], header.length, !install));
      continue;
    }
    const x = pick(r);
    rows.push([LABEL[k], what[0], ...ms(x.unlock), x.perSecond]);
    rows.push(['', what[1], ...ms(x.denied), null]);
    rows.push(['', what[2], ...ms(x.outcome), null]);
    if (x.unexpected) rows.push(['', `!! ${x.unexpected} unexpected outcomes`, null]);
  }
  out.push('', formatTable(title, header, rows, 2));
};

latencyTable(
  `1. Card frame → strike command (${FRAMES.toLocaleString('en-US')} H10301 frames, ~90% of them ` +
    `enrolled, ${CARDS.toLocaleString('en-US')} cards enrolled; target p99 < 5 ms)`,
  (r) => r.cards,
  [
    'granted: send → strike unlock()',
    'denied: send → decision recorded',
    'all: send → outcome (journalled)',
  ],
);
out.push(
  RELOCK === 'door'
    ? '   One reader, one badge at a time; the door opens and closes after each grant (relock on\n' +
        '   close). "per s" = sequential badges per second, each waiting for its journalled outcome.'
    : '   One reader, one badge at a time; after each grant the domain clock moves on by grantMs\n' +
        '   (grant-end relock; the 5 s snapshot refresher fires after nearly every grant).',
);

{
  const header = [
    'database',
    'reload p50 ms',
    'reload max ms',
    'loop stall ms',
    'idle p50',
    'idle p99',
    'idle max',
    'in-reload p50',
    'in-reload p99',
    'in-reload max',
  ];
  const rows: Cell[][] = [];
  for (const k of ['pglite', 'postgres'] as const) {
    const r = sites[k]?.reload;
    if (!r) {
      rows.push(skipRow(LABEL[k], header.length, !install));
      continue;
    }
    rows.push([
      LABEL[k],
      r.reload.p50,
      r.reload.max,
      r.loopStallMaxMs,
      r.idle.p50,
      r.idle.p99,
      r.idle.max,
      r.duringReload.p50,
      r.duringReload.p99,
      r.duringReload.max,
    ]);
  }
  out.push(
    '',
    formatTable(
      `1b. Badge arriving during a snapshot reload (${CARDS.toLocaleString('en-US')} cards; the ` +
        'refresher reloads every 5 s). Badge due → strike unlock(), ms',
      header,
      rows,
    ),
    '   "loop stall" = longest event-loop block seen during a reload. idle = same timed badges',
    '   with no reload running (includes ~1 ms of timer granularity).',
  );
}

latencyTable(
  `2. Keypad PIN → strike command (${PINS.toLocaleString('en-US')} carrier PINs typed as 4-bit ` +
    `key bursts, 1 in 10 wrong, ${CODES} live codes; timed from the "#" burst)`,
  (r) => r.keypad,
  ['granted: "#" → strike unlock()', 'wrong: "#" → decision recorded', 'all: "#" → outcome'],
);
out.push(
  '',
  formatTable(
    `2b. decidePin alone (${CODES} live carrier codes, HMAC + constant-time compare against all)`,
    ['calls', 'p50 µs', 'p90 µs', 'p99 µs', 'max µs', 'mean µs'],
    [
      [
        decidePin.calls,
        decidePin.microseconds.p50,
        decidePin.microseconds.p90,
        decidePin.microseconds.p99,
        decidePin.microseconds.max,
        decidePin.microseconds.mean,
      ],
    ],
  ),
);

if (journal) {
  const j = journal;
  out.push(
    '',
    formatTable(
      '3. Journal ingest into PostgreSQL (durability on; target ≥ 2,000 events/s sustained)',
      ['measured', 'value'],
      [
        ['sustained events', j.sustainedEvents],
        ['sustained events/s, stored in PostgreSQL', j.sustainedEventsPerSecStored],
        ['sustained events/s, acknowledged (fsync)', j.sustainedEventsPerSecAcked],
        ['events per journal fsync (sustained)', j.sustainedEventsPerFsync],
        ['events per sink write (sustained)', j.sustainedEventsPerSinkWrite],
        [`steady ${j.steadyTargetPerSec}/s: achieved/s`, j.steadyAchievedPerSec],
        ['steady append → ack p50 / p99 ms', `${j.steadyAckP50Ms} / ${j.steadyAckP99Ms}`],
        ['steady append → ack max ms', j.steadyAckMaxMs],
        ['steady append → stored p50 / p99 ms', `${j.steadyStoredP50Ms} / ${j.steadyStoredP99Ms}`],
        ['steady max backlog (events)', j.steadyMaxBacklog],
      ],
    ),
  );
} else {
  const why = install ? 'failed' : 'skipped (PostgreSQL not installed)';
  out.push('', `3. Journal ingest into PostgreSQL: ${why}`);
}

{
  const header = [
    'database',
    'events in table',
    'login p50 ms',
    'login max ms',
    'GET n',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'max ms',
    'req/s',
  ];
  const rows: Cell[][] = [];
  for (const k of ['pglite', 'postgres'] as const) {
    const r = sites[k]?.api;
    if (!r) {
      rows.push(skipRow(LABEL[k], header.length, !install));
      continue;
    }
    rows.push([
      LABEL[k],
      r.events,
      r.login.p50,
      r.login.max,
      ...ms(r.eventsPage),
      r.eventsPerSecond,
    ]);
  }
  out.push(
    '',
    formatTable(
      `4. API via app.request(): POST /api/auth/login (scrypt, ${LOGINS}×) and ` +
        `GET /api/events?limit=50 (${GET_REQUESTS}× with a session cookie, sequential)`,
      header,
      rows,
    ),
  );
}

if (parcels) {
  out.push('', ...formatPackagesReport(parcels, { postgresInstalled: install !== null }));
} else {
  out.push('', '5. Parcel check-in: failed');
}

out.push('', ...(load ? formatLoadReport(load) : ['12. Load from a second process: failed']));
if (install) {
  out.push('', ...(reports ? formatReportsReport(reports, '13') : ['13. Room report: failed']));
}
out.push('', ...(roster ? formatRosterReport(roster, '14') : ['14. Roster import: failed']));

if (auditLines.length) out.push('', ...auditLines);
else out.push('', '11. Audit search: failed');
if (cameraLines.length) out.push('', ...cameraLines);
else out.push('', '8. Cameras: failed');
if (visionLines.length) out.push('', ...visionLines);
else out.push('', '6. Vision: failed');

for (const s of skipped) out.push('', s);
for (const f of failures) out.push('', `FAILED ${f}`);
out.push('', `total ${totalSeconds} s`);
process.stdout.write(out.join('\n') + '\n');

const results = {
  node: process.version,
  cpus: cpus().length,
  postgres: install?.version ?? null,
  quick,
  totalSeconds,
  config: { cards: CARDS, frames: FRAMES, pins: PINS, carrierCodes: CODES, relock: RELOCK },
  ...Object.fromEntries(kinds.map((k) => [k, sites[k]])),
  decidePin,
  journal,
  packages: parcels,
  load,
  reports,
  roster,
  cameras: camerasResult,
  audit: auditResult,
  vision,
  analytics,
  skipped,
  failures,
};
process.stdout.write(`BENCH_RESULTS ${JSON.stringify(results)}\n`);
