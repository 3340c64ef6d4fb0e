/**
 * The audit search at building scale: years of a 300-unit building on PostgreSQL, searched the
 * way a manager does, with the plans as proof.
 *
 *   npx tsx bench/audit.bench.ts             10 million access events (a few minutes to build)
 *   npx tsx bench/audit.bench.ts --quick     1 million
 *   npx tsx bench/audit.bench.ts --events 3000000
 *   npx tsx bench/audit.bench.ts --keep      leave the database up afterwards (psql URL printed)
 *   npx tsx bench/audit.bench.ts --reuse URL  measure again on a database --keep left up
 *
 * The building (examples/building-300.site.yaml: lobby door for residents, dock door for
 * couriers, two door cameras, two shelf cameras): 300 units, 450 residents with a card each, a
 * carrier code per carrier per year, ~5,500 events a day, so 10 million events are ~5 years.
 * Made in SQL with INSERT … SELECT generate_series, never row by row:
 *  - entries: a card at the lobby (access, door_unlocked, door_opened, door_closed,
 *    door_relocked) 70% of visits, a carrier code at the dock 12%, exits by request-to-exit 12%,
 *    denied cards and codes 5%, door alarms and their clearing 1%; residents' activity skewed (a
 *    few badge far more than others);
 *  - parcels (~100 a day): each a `packages` row (Amazon, USPS, UPS, FedEx tracking numbers in
 *    their formats, a quarter addressed to the unit only) and its events: checked in (by carrier
 *    code or at the desk), picked up (96%), returned (2%), wrong pickups (0.5%) and the shelf
 *    camera seeing the slot emptied (40% of pickups);
 *  - vision flags, one per ~3,000 events: loitering, tailgating (with the entry's credential),
 *    multi-parcel grabs, mostly reviewed.
 * Event times are whole milliseconds, as the server writes them; ids are UUIDv7-shaped.
 *
 * Then the indexes are built (the schema's and the ones the search needs, see SEARCH_INDEXES),
 * VACUUM ANALYZE, and ~20 searches run through the real search module (createAuditSearch on the
 * node-postgres pool, so JS merging and the page's name/parcel lookups are included; not HTTP)
 * 20 times each after 2 unmeasured warm-up runs: a warm cache, as on a box that serves the
 * console all day. Each search's queries are then run once more under EXPLAIN (ANALYZE,
 * BUFFERS) and summarised: nodes, index names, rows, buffers, time.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cpus, totalmem } from 'node:os';
import pg from 'pg';
import { openDatabase, type Database } from '../db/index.ts';
import {
  createAuditSearch,
  type AuditSearchQuery,
  type ObservedQuery,
} from '../server/audit/audit.search.ts';
import { createClipLinker } from '../server/cameras/clip.service.ts';
import { readSiteFile, type SiteConfig } from '../server/config/index.ts';
import { syncSite } from '../server/site.sync.ts';
import { decodeCursor } from '../server/http/cursor.ts';
import {
  createDatabase,
  findPostgres,
  startPostgres,
  type PostgresServer,
} from '../test/harness/postgres.server.ts';
import { formatTable, percentile, round, type Cell } from './stats.ts';

export const BUILDING_300_SITE = fileURLToPath(
  new URL('../examples/building-300.site.yaml', import.meta.url),
);

/**
 * The search's indexes (migration 0006), as SQL: the bench drops them before the bulk load and
 * builds them after it, which is far faster than keeping them up row by row.
 */
export const SEARCH_INDEXES: readonly string[] = [
  // Parcel events by parcel: "unit 1207's parcels", a tracking number, free text on parcels.
  `CREATE INDEX access_events_package_at_idx ON access_events (package_id, at DESC NULLS FIRST)
     WHERE package_id IS NOT NULL`,
  // Everything one card did.
  `CREATE INDEX access_events_credential_at_idx ON access_events (credential_id, at DESC NULLS FIRST)
     WHERE credential_id IS NOT NULL`,
  // Events a camera made itself (a shelf camera seeing a slot emptied).
  `CREATE INDEX access_events_camera_at_idx ON access_events (camera_id, at DESC NULLS FIRST)
     WHERE camera_id IS NOT NULL`,
  // Any parcel by its tracking number (the schema's unique index holds only parcels in the
  // room). Free text on tracking numbers still reads every parcel (see the report).
  `CREATE INDEX packages_site_tracking_idx ON packages (site_id, tracking_number)`,
  // The distinct carrier names, read by skipping through the index (free text on carriers).
  `CREATE INDEX packages_site_carrier_idx ON packages (site_id, carrier)`,
  // A resident's parcels (the schema indexes parcels by unit only).
  `CREATE INDEX packages_resident_idx ON packages (resident_id) WHERE resident_id IS NOT NULL`,
];

/** The schema's access_events indexes, dropped before the load and built after it. */
const SCHEMA_EVENT_INDEXES: readonly string[] = [
  `CREATE INDEX access_events_site_at_idx ON access_events (site_id, at DESC NULLS FIRST, id DESC NULLS FIRST)`,
  `CREATE INDEX access_events_door_at_idx ON access_events (site_id, door_id, at DESC NULLS FIRST)`,
  `CREATE INDEX access_events_type_at_idx ON access_events (site_id, type, at DESC NULLS FIRST)`,
  `CREATE INDEX access_events_resident_at_idx ON access_events (resident_id, at DESC NULLS FIRST)
     WHERE resident_id IS NOT NULL`,
  `CREATE INDEX access_events_carrier_code_idx ON access_events (carrier_code_id, at DESC NULLS FIRST)
     WHERE carrier_code_id IS NOT NULL`,
];

export interface AuditBenchOptions {
  quick?: boolean;
  /** Access events to generate; default 10 million (quick: 1 million). */
  events?: number;
  /** Measure the searches on a database an earlier `--keep` run left up; build nothing. */
  reuse?: string;
  /** Leave the PostgreSQL server running after the searches (for trying plans by hand). */
  keep?: (url: string) => Promise<void>;
}

export interface SearchTiming {
  name: string;
  /** Rows on the page the search returned. */
  rows: number;
  p50: number;
  p95: number;
  max: number;
  /** Queries the search ran (branches, flags, page lookups). */
  queries: number;
  /** EXPLAIN summary of each query: nodes, indexes, rows, buffers, ms. */
  plans: string[];
  indexes: string[];
}

export interface AuditBenchResult {
  postgres: string | null;
  events: number;
  packages: number;
  flags: number;
  residents: number;
  days: number;
  generateSeconds: number;
  indexSeconds: number;
  analyzeSeconds: number;
  tableMb: number;
  indexMb: number;
  searches: SearchTiming[];
  overall: { n: number; p50: number; p95: number; max: number };
  skipped?: string;
}

const RUNS = 20;
const WARMUP = 2;
const EVENTS_PER_DAY = 5_500;
const END = Date.UTC(2026, 10, 1);
/** Visits per INSERT statement, so progress shows and no statement runs for minutes. */
const VISIT_CHUNK = 500_000;

interface Plan {
  siteId: string;
  events: number;
  days: number;
  packages: number;
  visits: number;
  flags: number;
  locations: readonly string[];
}

function plan(siteId: string, events: number, locations: readonly string[]): Plan {
  const days = Math.max(30, Math.round(events / EVENTS_PER_DAY));
  const packages = Math.round(events * 0.018);
  // Parcel events per parcel ≈ 1 + 0.96 picked up + 0.02 returned + 0.005 wrong + 0.38 seen.
  const parcelEvents = Math.round(packages * 2.36);
  const eventsPerVisit = 0.7 * 5 + 0.12 * 5 + 0.05 * 1 + 0.12 * 3 + 0.01 * 2;
  const visits = Math.max(1, Math.round((events - parcelEvents) / eventsPerVisit));
  const flags = Math.max(50, Math.round(events / 3_000));
  return { siteId, events, days, packages, visits, flags, locations };
}

const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
const ms = (expr: string) => `date_trunc('milliseconds', ${expr})`;

/** Plain SQL statements (no parameters) that build the building's history. */
function generationSql(p: Plan): { label: string; sql: string }[] {
  const span = `interval '${p.days} days'`;
  const start = `(timestamptz '${new Date(END).toISOString()}' - ${span})`;
  const site = lit(p.siteId);
  const locs = `ARRAY[${p.locations.map(lit).join(',')}]`;
  const years = Math.ceil(p.days / 365);
  const yearOf = (at: string) =>
    `least(${years - 1}, floor(extract(epoch FROM ${at} - ${start}) / (365 * 86400))::int)`;
  const inRoom = `${start} + ${span} - interval '3 days'`;
  const out: { label: string; sql: string }[] = [
    {
      label: 'helper functions',
      sql: `
        CREATE OR REPLACE FUNCTION bench_id(ts timestamptz, n bigint) RETURNS text
        LANGUAGE sql IMMUTABLE AS $$
          SELECT overlay(lpad(to_hex((extract(epoch FROM ts) * 1000)::bigint), 12, '0')
                   PLACING '-' FROM 9 FOR 0) || '-7' ||
                 lpad(to_hex((n >> 24) & 4095), 3, '0') || '-8' ||
                 lpad(to_hex((n >> 12) & 4095), 3, '0') || '-' ||
                 lpad(to_hex(n & 281474976710655), 12, '0')
        $$;
        CREATE OR REPLACE FUNCTION bench_uid(kind text, n bigint) RETURNS text
        LANGUAGE sql IMMUTABLE AS $$ SELECT md5(kind || n)::uuid::text $$;
        CREATE OR REPLACE FUNCTION bench_digits(n bigint, len int) RETURNS text
        LANGUAGE sql IMMUTABLE AS $$
          SELECT right(repeat('0', len) || abs(hashint8(n))::text || abs(hashint8(n + 977))::text, len)
        $$;
        CREATE TABLE bench_visit_steps (kind text, step int, type text, off_ms int, ids boolean);
        INSERT INTO bench_visit_steps VALUES
          ('card', 0, 'access', 0, true), ('card', 1, 'door_unlocked', 150, true),
          ('card', 2, 'door_opened', 2500, true), ('card', 3, 'door_closed', 9000, false),
          ('card', 4, 'door_relocked', 9200, true),
          ('code', 0, 'access', 0, true), ('code', 1, 'door_unlocked', 150, true),
          ('code', 2, 'door_opened', 3000, true), ('code', 3, 'door_closed', 25000, false),
          ('code', 4, 'door_relocked', 25200, true),
          ('denied', 0, 'access', 0, true),
          ('rex', 0, 'rex', 0, false), ('rex', 1, 'door_opened', 1200, false),
          ('rex', 2, 'door_closed', 6000, false),
          ('forced', 0, 'forced_open', 0, false), ('forced', 1, 'alarm_cleared', 45000, false),
          ('held', 0, 'held_open', 0, false), ('held', 1, 'alarm_cleared', 60000, false),
          ('offline', 0, 'offline', 0, false), ('offline', 1, 'online', 300000, false),
          ('tamper', 0, 'tamper', 0, false), ('tamper', 1, 'alarm_cleared', 600000, false),
          ('lockout', 0, 'keypad_lockout', 0, false), ('lockout', 1, 'alarm_cleared', 300000, false),
          ('fault', 0, 'strike_fault', 0, false), ('reader', 0, 'reader_error', 0, false);
        SELECT setseed(0.42);`,
    },
    {
      label: '300 units, 450 residents and their cards, carrier codes',
      sql: `
        INSERT INTO units (id, site_id, label)
        SELECT bench_uid('unit', u), ${site},
               ((u - 1) / 20 + 2)::text || lpad(((u - 1) % 20 + 1)::text, 2, '0')
        FROM generate_series(1, 300) u;

        INSERT INTO residents (id, site_id, unit_id, name, email, status)
        SELECT bench_uid('res', r), ${site},
               bench_uid('unit', CASE WHEN r <= 300 THEN r ELSE (r - 300) * 2 END),
               (ARRAY['Ana','Ben','Chen','Dara','Eli','Fatima','Gus','Hana','Ivan','Jo','Kofi',
                      'Lena','Marta','Nikhil','Olga','Pedro','Quinn','Rosa','Sami','Tomasz'])[1 + (r * 7) % 20]
               || ' ' ||
               (ARRAY['Garcia','Nguyen','Okafor','Smith','Kowalski','Haddad','Kim','Rossi','Silva',
                      'Müller','Ivanova','Cohen','Patel','Dubois','Jensen','Novak','Tanaka','Moreau',
                      'Schmidt','Lopez','Brown','Wilson','Ali','Costa','Fischer','Santos','Yilmaz',
                      'Andersen','Berg','Horvat'])[1 + (r * 13) % 30],
               'resident' || r || '@example.test',
               CASE WHEN r % 37 = 0 THEN 'moved_out' ELSE 'active' END
        FROM generate_series(1, 450) r;

        INSERT INTO credentials (id, site_id, resident_id, kind, format, facility_code, card_number)
        SELECT bench_uid('cred', r), ${site}, bench_uid('res', r), 'card', 'H10301', 42, 10000 + r
        FROM generate_series(1, 450) r;

        INSERT INTO carrier_codes (id, site_id, carrier, code_hash, valid_from, valid_until)
        SELECT bench_uid('code', c), ${site}, (ARRAY['Amazon','USPS','UPS','FedEx'])[1 + c % 4],
               md5('code' || c), ${start} + (c / 4) * interval '365 days',
               ${start} + (c / 4 + 1) * interval '365 days'
        FROM generate_series(0, ${4 * years - 1}) c;`,
    },
    {
      label: `${p.packages.toLocaleString('en-US')} parcels`,
      sql: `
        INSERT INTO packages (id, site_id, tracking_number, tracking_format, carrier, unit_id,
          resident_id, size, status, location_id, checked_in_at, carrier_code_id,
          picked_up_at, picked_up_by_resident_id, returned_at)
        SELECT bench_uid('pkg', k), ${site},
               CASE carrier_i
                 WHEN 0 THEN 'TBA' || bench_digits(k, 12)
                 WHEN 1 THEN '9400' || bench_digits(k, 18)
                 WHEN 2 THEN '1Z' || upper(substr(md5('ups' || k), 1, 6)) || bench_digits(k, 10)
                 ELSE bench_digits(k, 12)
               END,
               (ARRAY['amazon_tba','usps_impb','ups_1z','fedex_express'])[1 + carrier_i],
               (ARRAY['Amazon','USPS','UPS','FedEx'])[1 + carrier_i],
               bench_uid('unit', unit_n),
               CASE WHEN addressed THEN bench_uid('res', res_n) END,
               CASE WHEN size_u < 0.88 THEN 'standard' WHEN size_u < 0.96 THEN 'oversized'
                    ELSE 'perishable' END,
               CASE WHEN at_in > ${inRoom} THEN 'checked_in'
                    WHEN fate < 0.02 THEN 'returned' ELSE 'picked_up' END,
               (${locs})[1 + (k % ${p.locations.length})],
               at_in,
               CASE WHEN by_code THEN bench_uid('code', carrier_i + 4 * ${yearOf('at_in')}) END,
               CASE WHEN at_in <= ${inRoom} AND fate >= 0.02 THEN ${ms('at_in + wait')} END,
               CASE WHEN at_in <= ${inRoom} AND fate >= 0.02 THEN bench_uid('res', res_n) END,
               CASE WHEN at_in <= ${inRoom} AND fate < 0.02
                    THEN at_in + interval '14 days' END
        FROM (
          SELECT k, carrier_i, unit_n,
                 CASE WHEN unit_n % 2 = 0 AND r2 < 0.5 THEN 300 + unit_n / 2 ELSE unit_n END AS res_n,
                 r3 < 0.75 AS addressed, size_u, fate, r4 < 0.6 AS by_code,
                 ${ms(`${start} + (k - r5) / ${p.packages}.0 * ${span}`)} AS at_in,
                 interval '1 hour' * (1 + 100 * power(r6, 2)) AS wait
          FROM (
            SELECT k,
                   CASE WHEN c < 0.35 THEN 0 WHEN c < 0.60 THEN 1 WHEN c < 0.82 THEN 2 ELSE 3 END
                     AS carrier_i,
                   1 + floor(300 * power(u, 1.4))::int AS unit_n,
                   r2, r3, r4, r5, r6, size_u, fate
            FROM (
              SELECT k, random() AS c, random() AS u, random() AS r2, random() AS r3,
                     random() AS r4, random() AS r5, random() AS r6, random() AS size_u,
                     random() AS fate
              FROM generate_series(1, ${p.packages}) k
            ) a
          ) b
        ) x;`,
    },
    {
      label: 'parcel events',
      sql: `
        INSERT INTO access_events (id, site_id, at, type, resident_id, carrier_code_id, package_id,
          camera_id, details, received_at)
        SELECT bench_id(at, 10000000000 + row_number() OVER ()), ${site}, at, type, resident_id,
               carrier_code_id, package_id, camera_id, details, at
        FROM (
          SELECT p.checked_in_at AS at, 'package_checked_in' AS type, p.resident_id,
                 p.carrier_code_id, p.id AS package_id, NULL AS camera_id,
                 jsonb_build_object('trackingNumber', p.tracking_number, 'carrier', p.carrier)
                   AS details
          FROM packages p
          UNION ALL
          SELECT p.picked_up_at, 'package_picked_up', p.picked_up_by_resident_id, NULL, p.id,
                 NULL, jsonb_build_object('trackingNumber', p.tracking_number)
          FROM packages p WHERE p.picked_up_at IS NOT NULL
          UNION ALL
          SELECT p.returned_at, 'package_returned', NULL, NULL, p.id, NULL,
                 jsonb_build_object('trackingNumber', p.tracking_number)
          FROM packages p WHERE p.returned_at IS NOT NULL
          UNION ALL
          SELECT p.picked_up_at - interval '90 seconds', 'wrong_pickup',
                 bench_uid('res', 1 + abs(hashtext(p.id || 'w')) % 450), NULL, p.id, NULL,
                 jsonb_build_object('trackingNumber', p.tracking_number)
          FROM packages p WHERE p.picked_up_at IS NOT NULL AND abs(hashtext(p.id)) % 200 = 0
          UNION ALL
          SELECT p.picked_up_at + interval '2 seconds', 'parcel_seen_taken', NULL, NULL, p.id,
                 CASE WHEN abs(hashtext(p.location_id)) % 2 = 0 THEN 'shelves-north'
                      ELSE 'shelves-south' END,
                 '{}'::jsonb
          FROM packages p WHERE p.picked_up_at IS NOT NULL AND abs(hashtext(p.id || 's')) % 10 < 4
        ) u;`,
    },
  ];
  for (let a = 1; a <= p.visits; a += VISIT_CHUNK) {
    const b = Math.min(p.visits, a + VISIT_CHUNK - 1);
    out.push({
      label: `visits ${a.toLocaleString('en-US')}-${b.toLocaleString('en-US')} of ${p.visits.toLocaleString('en-US')}`,
      sql: `
        INSERT INTO access_events (id, site_id, at, type, door_id, reader_id, decision, reason,
          resident_id, credential_id, carrier_code_id, details, received_at)
        SELECT bench_id(v.at0 + t.off_ms * interval '1 millisecond', v.s * 8 + t.step), ${site},
               v.at0 + t.off_ms * interval '1 millisecond', t.type, v.door,
               CASE WHEN t.type = 'access' THEN v.door || '-reader' END,
               CASE WHEN t.type = 'access' THEN v.decision END,
               CASE WHEN t.type = 'access' THEN v.reason END,
               CASE WHEN t.ids AND v.by_card THEN v.resident_id END,
               CASE WHEN t.ids AND v.by_card THEN v.credential_id END,
               CASE WHEN t.ids AND NOT v.by_card THEN v.code_id END,
               '{}'::jsonb,
               v.at0 + t.off_ms * interval '1 millisecond'
        FROM (
          SELECT s, kind, at0,
                 CASE WHEN kind = 'code' OR (kind <> 'card' AND kind <> 'rex' AND r3 < 0.4)
                      THEN 'dock' ELSE 'lobby' END AS door,
                 kind <> 'code' AND NOT (kind = 'denied' AND r3 < 0.3) AS by_card,
                 CASE WHEN kind = 'denied' THEN 'denied' WHEN kind IN ('card', 'code')
                      THEN 'granted' END AS decision,
                 CASE WHEN kind IN ('card', 'code') THEN 'granted'
                      WHEN kind = 'denied' THEN
                        CASE WHEN r4 < 0.5 THEN 'unknown_credential' WHEN r4 < 0.7 THEN 'revoked'
                             WHEN r4 < 0.85 THEN 'outside_window' ELSE 'holder_inactive' END
                 END AS reason,
                 CASE WHEN kind = 'denied' AND r4 < 0.5 THEN NULL
                      ELSE bench_uid('res', res_n) END AS resident_id,
                 CASE WHEN kind = 'denied' AND r4 < 0.5 THEN NULL
                      ELSE bench_uid('cred', res_n) END AS credential_id,
                 bench_uid('code', floor(r4 * 4)::int + 4 * ${yearOf('at0')}) AS code_id
          FROM (
            SELECT s, r3, r4, 1 + floor(450 * power(r5, 1.6))::int AS res_n,
                   ${ms(`${start} + (s - r6) / ${p.visits}.0 * ${span}`)} AS at0,
                   CASE WHEN u < 0.70 THEN 'card' WHEN u < 0.82 THEN 'code'
                        WHEN u < 0.87 THEN 'denied' WHEN u < 0.99 THEN 'rex'
                        ELSE (ARRAY['forced','held','offline','tamper','lockout','fault','reader',
                                    'forced','held','held'])[1 + floor(r3 * 10)::int]
                   END AS kind
            FROM (
              SELECT s, random() AS u, random() AS r3, random() AS r4, random() AS r5,
                     random() AS r6
              FROM generate_series(${a}, ${b}) s
            ) a
          ) b
        ) v
        JOIN bench_visit_steps t ON t.kind = v.kind;`,
    });
  }
  out.push({
    label: `${p.flags.toLocaleString('en-US')} vision flags`,
    sql: `
      INSERT INTO vision_flags (id, site_id, kind, severity, camera_id, door_id, at,
        credential_id, clip_start_at, clip_end_at, snapshot_path, evidence, status,
        reviewed_by, reviewed_at)
      SELECT id, ${site}, kind, severity, camera, door, at, cred,
             at - interval '10 seconds', at + interval '20 seconds', 'flags/' || id || '.jpg',
             '{}'::jsonb, status, CASE WHEN status <> 'new' THEN 'manager' END,
             CASE WHEN status <> 'new' THEN at + interval '2 hours' END
      FROM (
        SELECT bench_id(at, 20000000000 + f) AS id, at, kind,
               CASE kind WHEN 'tailgating' THEN 'high' WHEN 'multi_package_grab' THEN 'medium'
                    ELSE 'low' END AS severity,
               CASE kind
                 WHEN 'tailgating' THEN CASE WHEN r2 < 0.8 THEN 'lobby-door-cam' ELSE 'dock-door-cam' END
                 WHEN 'multi_package_grab' THEN CASE WHEN r2 < 0.5 THEN 'shelves-north' ELSE 'shelves-south' END
                 ELSE (ARRAY['lobby-door-cam','dock-door-cam','shelves-north','shelves-south'])[1 + floor(r2 * 4)::int]
               END AS camera,
               CASE WHEN kind = 'tailgating' THEN CASE WHEN r2 < 0.8 THEN 'lobby' ELSE 'dock' END END
                 AS door,
               CASE WHEN kind = 'tailgating' AND r2 < 0.8
                    THEN bench_uid('cred', 1 + floor(450 * power(r3, 1.6))::int) END AS cred,
               CASE WHEN r4 < 0.6 THEN 'dismissed' WHEN r4 < 0.8 THEN 'confirmed'
                    WHEN r4 < 0.9 THEN 'escalated' ELSE 'new' END AS status
        FROM (
          SELECT f, ${ms(`${start} + random() * ${span}`)} AS at,
                 CASE WHEN u < 0.5 THEN 'loitering' WHEN u < 0.8 THEN 'tailgating'
                      ELSE 'multi_package_grab' END AS kind,
                 r2, r3, r4
          FROM (SELECT f, random() AS u, random() AS r2, random() AS r3, random() AS r4
                FROM generate_series(1, ${p.flags}) f) a
        ) b
      ) x;`,
  });
  return out;
}

// -- plans ------------------------------------------------------------------------------------

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
}

interface ExplainOutput {
  Plan: PlanNode & { 'Shared Hit Blocks'?: number; 'Shared Read Blocks'?: number };
  'Execution Time': number;
  'Planning Time': number;
}

/** One line per plan: the node tree with index names and actual rows, buffers and time. */
export function summarizePlan(e: ExplainOutput): { text: string; indexes: string[] } {
  const indexes: string[] = [];
  const walk = (n: PlanNode): string => {
    let label = n['Node Type'];
    if (n['Index Name']) {
      indexes.push(n['Index Name']);
      label += ` ${n['Index Name']}`;
    } else if (n['Relation Name']) label += ` on ${n['Relation Name']}`;
    const rows = n['Actual Rows'];
    const loops = n['Actual Loops'] ?? 1;
    if (rows !== undefined) label += ` (${rows}${loops > 1 ? `×${loops}` : ''})`;
    const kids = (n.Plans ?? []).map(walk);
    if (kids.length === 0) return label;
    return `${label} ← ${kids.length === 1 ? kids[0]! : `[${kids.join(' | ')}]`}`;
  };
  const text =
    `${walk(e.Plan)}; buffers hit ${e.Plan['Shared Hit Blocks'] ?? 0} read ` +
    `${e.Plan['Shared Read Blocks'] ?? 0}; ${round(e['Execution Time'], 2)} ms`;
  return { text, indexes };
}

// -- the searches -----------------------------------------------------------------------------

interface NamedSearch {
  name: string;
  query: AuditSearchQuery;
}

async function pickSearches(
  client: pg.Pool,
  p: Plan,
  walk: (q: AuditSearchQuery, pages: number) => Promise<AuditSearchQuery['cursor']>,
): Promise<NamedSearch[]> {
  const one = async <T>(text: string): Promise<T> => {
    const r = await client.query(text);
    if (!r.rows[0]) throw new Error(`no row for ${text}`);
    return r.rows[0] as T;
  };
  const uid = async (kind: string, n: number) =>
    (await one<{ id: string }>(`SELECT bench_uid(${lit(kind)}, ${n}) AS id`)).id;
  const year = 365 * 86_400_000;
  const endMinus = (msAgo: number) => new Date(END - msAgo);
  const busyResident = await uid('res', 3);
  const quietResident = await uid('res', 420);
  const oldTracking = await one<{ t: string }>(
    `SELECT tracking_number AS t FROM packages ORDER BY checked_in_at
     OFFSET ${Math.floor(p.packages / 3)} LIMIT 1`,
  );
  const fragment = await one<{ t: string }>(
    `SELECT right(t, 8) AS t FROM (
       SELECT tracking_number AS t, row_number() OVER (ORDER BY checked_in_at) AS n,
              count(*) OVER () AS c
       FROM packages WHERE carrier = 'FedEx') x
     WHERE n = c / 3 + 1`,
  );
  const credential = await uid('cred', 120);
  const amazonCode = await uid('code', 4 * Math.min(1, Math.ceil(p.days / 365) - 1));
  const limit = 50;
  const base = { limit };
  const searches: NamedSearch[] = [
    { name: 'timeline, newest page', query: { ...base } },
    { name: 'timeline, 500 rows', query: { limit: 500 } },
    { name: 'busy resident', query: { ...base, residentId: busyResident } },
    { name: 'quiet resident', query: { ...base, residentId: quietResident } },
    { name: 'unit 202 (two residents)', query: { ...base, unit: '202' } },
    { name: 'unit 1215', query: { ...base, unit: '1215' } },
    { name: 'tracking number (old parcel)', query: { ...base, trackingNumber: oldTracking.t } },
    { name: 'credential', query: { ...base, credentialId: credential } },
    { name: 'carrier code', query: { ...base, carrierCodeId: amazonCode } },
    {
      name: 'lobby door, one week 2 years ago',
      query: {
        ...base,
        doorId: 'lobby',
        from: endMinus(2 * year + 7 * 86_400_000),
        to: endMinus(2 * year),
      },
    },
    { name: 'camera lobby-door-cam', query: { ...base, cameraId: 'lobby-door-cam' } },
    { name: 'type forced_open', query: { ...base, types: ['forced_open'] } },
    {
      name: 'all door alarms',
      query: {
        ...base,
        types: ['forced_open', 'held_open', 'offline', 'tamper', 'keypad_lockout', 'strike_fault'],
      },
    },
    { name: 'flags: tailgating', query: { ...base, flagKinds: ['tailgating'] } },
    { name: 'q: surname "Kowalski"', query: { ...base, q: 'Kowalski' } },
    { name: 'q: unit "1207"', query: { ...base, q: '1207' } },
    { name: 'q: tracking fragment', query: { ...base, q: fragment.t } },
    { name: 'q: carrier "fedex"', query: { ...base, q: 'fedex' } },
    {
      name: 'resident + access + last year',
      query: {
        ...base,
        residentId: busyResident,
        types: ['access'],
        from: endMinus(year),
        to: endMinus(0),
      },
    },
    {
      name: 'one day, 3 years ago',
      query: { ...base, from: endMinus(3 * year), to: endMinus(3 * year - 86_400_000) },
    },
  ];
  // Deep pages: the cursor a user reaches after paging, then the next page from there.
  const deepTimeline = await walk({ ...base }, 20);
  searches.push({ name: 'timeline, page 21', query: { ...base, cursor: deepTimeline } });
  const deepResident = await walk({ ...base, residentId: busyResident }, 20);
  searches.push({
    name: 'busy resident, page 21',
    query: { ...base, residentId: busyResident, cursor: deepResident },
  });
  const deepUnit = await walk({ ...base, unit: '202' }, 10);
  searches.push({ name: 'unit 202, page 11', query: { ...base, unit: '202', cursor: deepUnit } });
  searches.push({
    name: 'timeline from a cursor 4 years back',
    query: {
      ...base,
      cursor: { at: endMinus(Math.min(4 * year, (p.days - 10) * 86_400_000)), id: 'f' },
    },
  });
  return searches;
}

// -- the run ----------------------------------------------------------------------------------

export async function runAuditBench(
  log: (line: string) => void,
  opts: AuditBenchOptions = {},
): Promise<AuditBenchResult> {
  const events = opts.events ?? (opts.quick ? 1_000_000 : 10_000_000);
  const progress = (line: string) => process.stderr.write(`[audit bench] ${line}\n`);
  const install = findPostgres();
  const empty: AuditBenchResult = {
    postgres: null,
    events: 0,
    packages: 0,
    flags: 0,
    residents: 0,
    days: 0,
    generateSeconds: 0,
    indexSeconds: 0,
    analyzeSeconds: 0,
    tableMb: 0,
    indexMb: 0,
    searches: [],
    overall: { n: 0, p50: NaN, p95: NaN, max: NaN },
  };
  if (!install) {
    const skipped =
      'PostgreSQL is not installed (apt-get install -y postgresql): audit search skipped';
    log(`9. Audit search: ${skipped}`);
    return { ...empty, skipped };
  }
  const site: SiteConfig = readSiteFile(BUILDING_300_SITE);
  const siteId = site.site.id;
  let server: PostgresServer | null = null;
  let database: Database | null = null;
  let pool: pg.Pool | null = null;
  try {
    let url: string;
    let p: Plan;
    let generateSeconds = 0;
    let indexSeconds = 0;
    let analyzeSeconds = 0;
    if (opts.reuse) {
      url = opts.reuse;
      database = await openDatabase({ url, poolSize: 4 });
      pool = new pg.Pool({ connectionString: url, max: 2 });
      const n = (await pool.query('SELECT count(*)::int AS n FROM access_events')).rows[0] as {
        n: number;
      };
      p = plan(siteId, n.n, []);
    } else {
      progress(`PostgreSQL ${install.version}`);
      server = await startPostgres({
        install,
        settings: {
          // A small server's memory: the OS caches the rest of the table.
          shared_buffers: '1GB',
          effective_cache_size: '4GB',
          work_mem: '16MB',
          maintenance_work_mem: '1GB',
          max_wal_size: '8GB',
          checkpoint_timeout: '30min',
          max_parallel_maintenance_workers: 1,
        },
      });
      url = await createDatabase(server.url, 'audit_bench');
      database = await openDatabase({ url, poolSize: 4 });
      await syncSite(database.db, site, new Date(END));
      pool = new pg.Pool({ connectionString: url, max: 2 });
      const q = (text: string) => pool!.query(text);

      const locations = (
        await q(`SELECT id FROM storage_locations WHERE site_id = ${lit(siteId)} ORDER BY id`)
      ).rows.map((r: { id: string }) => r.id);
      p = plan(siteId, events, locations);
      progress(
        `${events.toLocaleString('en-US')} events over ${p.days} days: ${p.visits.toLocaleString('en-US')} visits, ` +
          `${p.packages.toLocaleString('en-US')} parcels, ${p.flags} flags`,
      );

      // Indexes are built once after the load: far faster than keeping them up row by row.
      for (const name of [
        'access_events_site_at_idx',
        'access_events_door_at_idx',
        'access_events_type_at_idx',
        'access_events_resident_at_idx',
        'access_events_carrier_code_idx',
        // The migrations create the search's own indexes too (0006): built after the load as well.
        ...SEARCH_INDEXES.map((ddl) => /INDEX (\S+)/.exec(ddl)![1]!),
      ])
        await q(`DROP INDEX IF EXISTS ${name}`);
      await q(`ALTER TABLE access_events SET (autovacuum_enabled = false)`);
      await q(`ALTER TABLE access_events DROP CONSTRAINT access_events_pkey`);

      let t = performance.now();
      for (const step of generationSql(p)) {
        const s = performance.now();
        await q(step.sql);
        progress(`${step.label}: ${round((performance.now() - s) / 1000, 1)} s`);
      }
      generateSeconds = round((performance.now() - t) / 1000, 1);

      t = performance.now();
      await q(`SET maintenance_work_mem = '1GB'`);
      for (const ddl of [
        `ALTER TABLE access_events ADD CONSTRAINT access_events_pkey PRIMARY KEY (id)`,
        ...SCHEMA_EVENT_INDEXES,
        ...SEARCH_INDEXES,
      ]) {
        const s = performance.now();
        await q(ddl);
        const name = /(?:INDEX|CONSTRAINT) (\S+)/.exec(ddl)?.[1] ?? ddl;
        progress(`${name}: ${round((performance.now() - s) / 1000, 1)} s`);
      }
      indexSeconds = round((performance.now() - t) / 1000, 1);

      t = performance.now();
      await q(`ALTER TABLE access_events RESET (autovacuum_enabled)`);
      for (const table of [
        'access_events',
        'packages',
        'vision_flags',
        'residents',
        'units',
        'credentials',
        'carrier_codes',
      ])
        await q(`VACUUM (ANALYZE) ${table}`);
      analyzeSeconds = round((performance.now() - t) / 1000, 1);
      progress(`vacuum + analyze: ${analyzeSeconds} s`);
    }
    const counts = (
      await pool.query(`SELECT
        (SELECT count(*) FROM access_events)::int AS events,
        (SELECT count(*) FROM packages)::int AS packages,
        (SELECT count(*) FROM vision_flags)::int AS flags,
        (SELECT count(*) FROM residents)::int AS residents,
        (pg_table_size('access_events') / 1048576)::int AS table_mb,
        (pg_indexes_size('access_events') / 1048576)::int AS index_mb`)
    ).rows[0] as {
      events: number;
      packages: number;
      flags: number;
      residents: number;
      table_mb: number;
      index_mb: number;
    };

    let observed: ObservedQuery[] | null = null;
    const search = createAuditSearch({
      db: database.db,
      siteId,
      site,
      clipLinks: createClipLinker(site),
      observe: (o) => observed?.push(o),
    });
    const walk = async (query: AuditSearchQuery, pages: number) => {
      let cursor = query.cursor;
      for (let i = 0; i < pages; i++) {
        const page = await search.search({ ...query, cursor });
        if (!page.nextCursor) break;
        cursor = decodeCursor(page.nextCursor);
      }
      return cursor;
    };
    const searches = await pickSearches(pool, p, walk);

    const timings: SearchTiming[] = [];
    const all: number[] = [];
    for (const s of searches) {
      progress(`search: ${s.name}`);
      let rows = 0;
      for (let i = 0; i < WARMUP; i++) await search.search(s.query);
      const samples: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const t0 = performance.now();
        const page = await search.search(s.query);
        samples.push(performance.now() - t0);
        rows = page.items.length;
      }
      all.push(...samples);
      samples.sort((a, b) => a - b);
      observed = [];
      await search.search(s.query);
      const queries: ObservedQuery[] = observed;
      observed = null;
      const plans: string[] = [];
      const indexes = new Set<string>();
      for (const o of queries) {
        const r = await pool.query(
          `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${o.sql}`,
          o.params as unknown[],
        );
        const json = (r.rows[0] as { 'QUERY PLAN': ExplainOutput[] })['QUERY PLAN'][0]!;
        const sum = summarizePlan(json);
        for (const i of sum.indexes) indexes.add(i);
        plans.push(`${o.label}: ${sum.text}`);
      }
      timings.push({
        name: s.name,
        rows,
        p50: round(percentile(samples, 50), 2),
        p95: round(percentile(samples, 95), 2),
        max: round(samples[samples.length - 1] ?? NaN, 2),
        queries: queries.length,
        plans,
        indexes: [...indexes],
      });
    }
    all.sort((a, b) => a - b);
    const result: AuditBenchResult = {
      postgres: install.version,
      events: counts.events,
      packages: counts.packages,
      flags: counts.flags,
      residents: counts.residents,
      days: p.days,
      generateSeconds,
      indexSeconds,
      analyzeSeconds,
      tableMb: counts.table_mb,
      indexMb: counts.index_mb,
      searches: timings,
      overall: {
        n: all.length,
        p50: round(percentile(all, 50), 2),
        p95: round(percentile(all, 95), 2),
        max: round(all[all.length - 1] ?? NaN, 2),
      },
    };
    for (const line of formatAuditReport(result)) log(line);
    await opts.keep?.(url);
    return result;
  } finally {
    await pool?.end();
    await database?.close();
    await server?.stop();
  }
}

export function formatAuditReport(r: AuditBenchResult): string[] {
  if (r.skipped) return [`9. Audit search: ${r.skipped}`];
  const rows: Cell[][] = r.searches.map((s) => [s.name, s.rows, s.queries, s.p50, s.p95, s.max]);
  rows.push(['all searches', null, null, r.overall.p50, r.overall.p95, r.overall.max]);
  const out = [
    formatTable(
      `9. Audit search on PostgreSQL ${r.postgres}: ${r.events.toLocaleString('en-US')} access events ` +
        `(${r.days} days), ${r.packages.toLocaleString('en-US')} parcels, ${r.flags.toLocaleString('en-US')} flags, ` +
        `${r.residents} residents; ${RUNS} runs each after ${WARMUP} warm-up runs (target p95 < 100 ms)`,
      ['search', 'rows', 'queries', 'p50 ms', 'p95 ms', 'max ms'],
      rows,
    ),
    `   built in ${r.generateSeconds} s, indexed in ${r.indexSeconds} s, vacuum+analyze ${r.analyzeSeconds} s; ` +
      `access_events ${r.tableMb} MB + indexes ${r.indexMb} MB`,
    '',
    '   Plans (EXPLAIN ANALYZE, BUFFERS), one line per query the search ran:',
  ];
  for (const s of r.searches) {
    out.push(`   ${s.name}  [${s.indexes.join(', ') || 'no index'}]`);
    for (const p of s.plans) out.push(`     ${p}`);
  }
  return out;
}

// `npx tsx bench/audit.bench.ts [--quick] [--events N]`
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--events');
  const n = i >= 0 ? Number(process.argv[i + 1]) : undefined;
  if (n !== undefined && (!Number.isInteger(n) || n <= 0))
    throw new Error('--events needs a positive integer');
  process.stderr.write(
    `node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? '?'}, ` +
      `${Math.round(totalmem() / 2 ** 30)} GiB\n`,
  );
  const reuse = process.argv.indexOf('--reuse');
  const r = await runAuditBench((line) => process.stdout.write(`${line}\n`), {
    ...(reuse >= 0 && process.argv[reuse + 1] ? { reuse: process.argv[reuse + 1] } : {}),
    quick: process.argv.includes('--quick'),
    ...(n !== undefined ? { events: n } : {}),
    // --keep: the database stays up until Ctrl-C, to try queries by hand with psql.
    ...(process.argv.includes('--keep')
      ? {
          keep: (url: string) => {
            process.stderr.write(`[audit bench] kept running: psql ${url}\n`);
            // A pending promise alone does not keep node running: a timer does.
            const alive = setInterval(() => {}, 60_000);
            return new Promise<void>((resolve) =>
              process.once('SIGINT', () => {
                clearInterval(alive);
                resolve();
              }),
            );
          },
        }
      : {}),
  });
  process.stdout.write(
    `AUDIT_BENCH_RESULTS ${JSON.stringify({ ...r, searches: r.searches.map(({ plans: _p, ...s }) => s) })}\n`,
  );
}
