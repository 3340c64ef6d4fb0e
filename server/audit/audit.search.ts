/**
 * The manager's audit search: one newest-first timeline across access decisions, door
 * transitions and alarms, parcel events (all `access_events`) and vision flags (`vision_flags`),
 * so "who took 4B's parcel?" is one question, with each row's clip and snapshot inline.
 *
 * Paging is keyset on (at desc, id desc) across both tables: each source is asked for the rows
 * after the same cursor, `limit + 1` of them, and the two lists are merged and cut. A row in the
 * merged first `limit + 1` is always within the first `limit + 1` of its own source, so nothing is
 * skipped and nothing repeats from page to page.
 *
 * Speed at building scale (10 million events) comes from asking PostgreSQL only questions an
 * index answers in order. A filter that means "this OR that" (a unit: its residents' events or
 * its parcels' events) defeats that: PostgreSQL would fetch every match and sort them. So one
 * such filter is split into branches, each an ordered index scan with its own `limit + 1`, merged
 * here like the two sources (an event found by two branches is kept once). The other filters are
 * plain conditions on every branch. See bench/audit.bench.ts for the plans.
 *
 * Filters and the two sources:
 * - residentId: events of the resident (their decisions, entries, pickups) and of parcels
 *   addressed to them (who else picked one up); flags whose credential is theirs.
 * - unit: the same for every resident the unit ever had, and parcels addressed to the unit.
 * - credentialId, doorId: both sources. cameraId: events the camera made or whose door it
 *   watches (site file); flags it raised.
 * - carrierCodeId, trackingNumber: events only (a flag has neither).
 * - type: event types; flagKind: flag kinds. Only `type` → events only; only `flagKind` → flags
 *   only; both → events of those types and flags of those kinds.
 * - q: free text over resident names, unit labels, tracking numbers and carrier names: the
 *   events of the residents it names (as residentId), of the units' parcels, of the carrier's
 *   codes and parcels, of parcels whose number holds it; flags through their credential's holder.
 */
import {
  and,
  desc,
  eq,
  gte,
  ilike,
  inArray,
  isNull,
  lt,
  lte,
  or,
  type AnyColumn,
  sql,
  type SQL,
} from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { z } from 'zod';
import type { AccessEventType } from '../../access/access.events.ts';
import {
  accessEvents,
  carrierCodes,
  credentials,
  packages,
  residents,
  units,
  visionFlags,
  type Db,
} from '../../db/index.ts';
import type { FlagKind, FlagSeverity } from '../../vision/rules.types.ts';
import type { ClipLinker } from '../cameras/clip.service.ts';
import type { SiteConfig } from '../config/index.ts';
import { FLAG_KINDS, type FlagStatus, type StoredFlagKind } from '../flags/flag.store.ts';
import { decodeCursor, encodeCursor } from '../http/cursor.ts';
import { containsPattern } from '../http/like.ts';
import { normalizeTracking } from '../packages/index.ts';
import {
  ALARM_EVENT_TYPES,
  EVENT_TYPES,
  type AuditPage as WireAuditPage,
  type AuditRow as WireAuditRow,
} from './audit.api.ts';

// The lists live in the wire file (the console's filters use them); each listed type must be
// one access/ writes, and a new event type added to access/ without being listed fails to compile.
const _listedAreEventTypes = EVENT_TYPES satisfies readonly AccessEventType[];
const _alarmsAreEventTypes = ALARM_EVENT_TYPES satisfies readonly AccessEventType[];
void _listedAreEventTypes;
void _alarmsAreEventTypes;
type UnlistedEventType = Exclude<AccessEventType, (typeof EVENT_TYPES)[number]>;
const _everyTypeListed: [UnlistedEventType] extends [never] ? true : UnlistedEventType = true;
void _everyTypeListed;

export { ALARM_EVENT_TYPES, EVENT_TYPES };

export const MAX_SEARCH_LIMIT = 500;

/** What a search asks for; every filter narrows (AND). */
export interface AuditFilters {
  residentId?: string | undefined;
  /** A unit label, as people say it ("4B"). */
  unit?: string | undefined;
  credentialId?: string | undefined;
  carrierCodeId?: string | undefined;
  doorId?: string | undefined;
  cameraId?: string | undefined;
  types?: readonly AccessEventType[] | undefined;
  flagKinds?: readonly StoredFlagKind[] | undefined;
  trackingNumber?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  q?: string | undefined;
}

export interface AuditCursor {
  at: Date;
  id: string;
}

export interface AuditSearchQuery extends AuditFilters {
  limit: number;
  cursor?: AuditCursor | undefined;
}

/** One row of the timeline, an access event or a flag (the wire shape, its flag narrowed). */
export interface AuditRow extends WireAuditRow {
  flag?: { kind: FlagKind; status: FlagStatus; severity: FlagSeverity };
}

export type AuditPage = WireAuditPage<AuditRow>;

/** A query about to run, for benchmarks and EXPLAIN: its role, SQL and parameters. */
export interface ObservedQuery {
  label: string;
  sql: string;
  params: unknown[];
}

export interface AuditSearchDeps {
  db: Db;
  siteId: string;
  /** Which camera watches which door: a camera's search includes its doors' events. */
  site: Pick<SiteConfig, 'cameras'>;
  /** Clip and snapshot links of events (createClipLinker); without it, events have none. */
  clipLinks?: ClipLinker | undefined;
  /** Sees each query before it runs (bench/audit.bench.ts prints their plans). */
  observe?: ((q: ObservedQuery) => void) | undefined;
}

export interface AuditSearch {
  search(query: AuditSearchQuery): Promise<AuditPage>;
}

// -- the query string -------------------------------------------------------------------------

const id = z.string().trim().min(1).max(64);
const isoTime = z.iso.datetime({ offset: true }).transform((s) => new Date(s));
/** A repeatable parameter (`?type=a&type=b`), also accepting commas (`?type=a,b`). */
const repeatable = <const T extends readonly [string, ...string[]]>(values: T) =>
  z
    .union([z.string(), z.array(z.string())])
    .transform((v) =>
      (Array.isArray(v) ? v : [v])
        .flatMap((s) => s.split(','))
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    )
    .pipe(z.array(z.enum(values)).min(1).max(values.length));

const cursorParam = z
  .string()
  .max(200)
  .transform((s, ctx) => {
    try {
      return decodeCursor(s);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'bad cursor' });
      return z.NEVER;
    }
  });

const filterFields = {
  residentId: id.optional(),
  unit: z.string().trim().min(1).max(32).optional(),
  credentialId: id.optional(),
  carrierCodeId: id.optional(),
  doorId: id.optional(),
  cameraId: id.optional(),
  type: repeatable(EVENT_TYPES).optional(),
  flagKind: repeatable(FLAG_KINDS).optional(),
  trackingNumber: z
    .string()
    .max(64)
    .transform(normalizeTracking)
    .pipe(z.string().min(1, 'a tracking number needs letters or digits'))
    .optional(),
  from: isoTime.optional(),
  to: isoTime.optional(),
  q: z.string().trim().min(1).max(100).optional(),
  cursor: cursorParam.optional(),
};

const searchFields = z.strictObject({
  ...filterFields,
  limit: z.coerce.number().int().min(1).max(MAX_SEARCH_LIMIT).default(50),
});

export const MAX_CSV_ROWS = 1_000_000;

const csvFields = searchFields.extend({
  limit: z.coerce.number().int().min(1).max(MAX_CSV_ROWS).default(100_000),
});

function toQuery(v: z.output<typeof searchFields>, ctx: z.RefinementCtx): AuditSearchQuery {
  if (v.from && v.to && v.from > v.to) {
    ctx.addIssue({ code: 'custom', message: 'to must not be before from', path: ['to'] });
  }
  return {
    residentId: v.residentId,
    unit: v.unit,
    credentialId: v.credentialId,
    carrierCodeId: v.carrierCodeId,
    doorId: v.doorId,
    cameraId: v.cameraId,
    types: v.type,
    flagKinds: v.flagKind,
    trackingNumber: v.trackingNumber,
    from: v.from,
    to: v.to,
    q: v.q,
    limit: v.limit,
    cursor: v.cursor,
  };
}

/** `GET /api/audit/search`: the filters, `limit` (1-500, default 50) and `cursor`. */
export const searchQuerySchema = searchFields.transform(toQuery);

/** `GET /api/audit/search.csv`: the same filters; `limit` is the most rows (default 100,000). */
export const csvQuerySchema = csvFields.transform(toQuery);

/**
 * The query string with repeated parameters kept (`?type=a&type=b`), as the schemas read it:
 * one value as a string, several as an array.
 */
export function rawQuery(queries: Record<string, string[]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, values] of Object.entries(queries)) {
    out[k] = values.length === 1 ? values[0]! : values;
  }
  return out;
}

// -- the search -------------------------------------------------------------------------------

/** Past this many residents a free-text match is one `= ANY` branch, not one branch each. */
const MAX_RESIDENT_BRANCHES = 8;
/** Past this many types the type list is a plain condition, not one branch per type. */
const MAX_TYPE_BRANCHES = 6;

/** What free text names, as ids (see resolveText). */
interface TextMatches {
  residents: string[];
  units: string[];
  carrierCodes: string[];
  carriers: string[];
  /** Parcels addressed to those residents or units. */
  household: ParcelSet;
  /** Parcels whose tracking number holds the text, when it looks like part of one. */
  numbered: ParcelSet;
}

/**
 * Parcels a filter names: their ids when there are few (a unit's, a resident's, a tracking
 * number's), so PostgreSQL plans for that many; else the condition that picks them.
 */
type ParcelSet = { kind: 'ids'; ids: string[] } | { kind: 'many'; where: SQL };

/** More parcels than this are looked up by a subquery rather than sent as ids. */
const MAX_PARCEL_IDS = 5_000;
const NO_PARCELS: ParcelSet = { kind: 'ids', ids: [] };

const dialect = new PgDialect();

/**
 * `col = any($1)`: one array parameter however many ids. A unit's parcels run to thousands over
 * the years, and as many `in ($1, $2, …)` parameters took longer to send and parse than the
 * query took to run.
 */
const anyOf = (col: AnyColumn, ids: readonly string[]): SQL =>
  sql`${col} = any(${sql.param([...ids])}::text[])`;
const uniq = (xs: readonly (string | null | undefined)[]): string[] => [
  ...new Set(xs.filter((x): x is string => !!x)),
];

/** A filter meaning "any of these": either split into branches, or one OR condition. */
interface AnyOf {
  name: string;
  anchors: SQL[];
}

const eventColumns = {
  id: accessEvents.id,
  at: accessEvents.at,
  type: accessEvents.type,
  doorId: accessEvents.doorId,
  cameraId: accessEvents.cameraId,
  decision: accessEvents.decision,
  reason: accessEvents.reason,
  residentId: accessEvents.residentId,
  staffId: accessEvents.staffId,
  credentialId: accessEvents.credentialId,
  carrierCodeId: accessEvents.carrierCodeId,
  packageId: accessEvents.packageId,
};

const flagColumns = {
  id: visionFlags.id,
  at: visionFlags.at,
  kind: visionFlags.kind,
  severity: visionFlags.severity,
  status: visionFlags.status,
  cameraId: visionFlags.cameraId,
  doorId: visionFlags.doorId,
  credentialId: visionFlags.credentialId,
  snapshotPath: visionFlags.snapshotPath,
};

/** An access event as its audit row is built from it (a whole `access_events` row fits). */
export interface EventHit {
  source: 'event';
  id: string;
  at: Date;
  type: string;
  doorId: string | null;
  cameraId: string | null;
  decision: 'granted' | 'denied' | null;
  reason: string | null;
  residentId: string | null;
  staffId: string | null;
  credentialId: string | null;
  carrierCodeId: string | null;
  packageId: string | null;
}
/** A vision flag as its audit row is built from it (a whole `vision_flags` row fits). */
export interface FlagHit {
  source: 'flag';
  id: string;
  at: Date;
  kind: FlagKind;
  severity: FlagSeverity;
  status: FlagStatus;
  cameraId: string;
  doorId: string | null;
  credentialId: string | null;
  snapshotPath: string | null;
}
export type AuditHit = EventHit | FlagHit;
type Hit = AuditHit;

/** Newest first, then the larger id first: the order of the (at desc, id desc) indexes. */
export function newestFirst(a: { at: Date; id: string }, b: { at: Date; id: string }): number {
  const d = b.at.getTime() - a.at.getTime();
  if (d !== 0) return d;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** Merges lists each already newest first, keeps each id once, and returns the first `n`. */
export function mergeNewestFirst<T extends { at: Date; id: string }>(
  lists: readonly (readonly T[])[],
  n: number,
): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const row of lists.flat().sort(newestFirst)) {
    if (seen.has(row.id)) continue;
    seen.add(row.id);
    out.push(row);
    if (out.length >= n) break;
  }
  return out;
}

/**
 * `(at, id) < (cursor.at, cursor.id)` written so PostgreSQL bounds the index scan on `at` and
 * filters only the rows of the cursor's own millisecond (a row comparison would not use the
 * DESC indexes on PostgreSQL 15).
 */
function after(at: AnyColumn, idCol: AnyColumn, c: AuditCursor): SQL {
  return and(lte(at, c.at), or(lt(at, c.at), lt(idCol, c.id)))!;
}

/** Runs a query, first showing it to `observe` (when there is one). */
function observed(observe: AuditSearchDeps['observe']) {
  return async <T>(
    label: string,
    query: { toSQL(): { sql: string; params: unknown[] } } & PromiseLike<T>,
  ): Promise<T> => {
    if (observe) {
      const { sql, params } = query.toSQL();
      observe({ label, sql, params });
    }
    return await query;
  };
}

/**
 * A page's rows as people read them: names, units, tracking numbers and carriers, in a few
 * primary-key lookups. The audit search builds its pages with it, and a case its timeline, so a
 * row reads the same in both.
 */
export async function describeHits(
  deps: Pick<AuditSearchDeps, 'db' | 'clipLinks' | 'observe'>,
  page: readonly AuditHit[],
): Promise<AuditRow[]> {
  const { db } = deps;
  const run = observed(deps.observe);
  const events = page.filter((h): h is EventHit => h.source === 'event');
  const flags = page.filter((h): h is FlagHit => h.source === 'flag');

  const flagCredentials = uniq(flags.map((f) => f.credentialId));
  const holderRows =
    flagCredentials.length === 0
      ? []
      : await run(
          'page credentials',
          db
            .select({ id: credentials.id, residentId: credentials.residentId })
            .from(credentials)
            .where(inArray(credentials.id, flagCredentials)),
        );
  const holderOf = new Map(holderRows.map((r) => [r.id, r.residentId]));

  const residentIds = uniq([
    ...events.map((e) => e.residentId),
    ...flags.map((f) => (f.credentialId ? (holderOf.get(f.credentialId) ?? null) : null)),
  ]);
  const packageIds = uniq(events.map((e) => e.packageId));
  const codeIds = uniq(events.map((e) => e.carrierCodeId));
  const [residentRows, packageRows, codeRows] = await Promise.all([
    residentIds.length === 0
      ? []
      : run(
          'page residents',
          db
            .select({ id: residents.id, name: residents.name, unit: units.label })
            .from(residents)
            .innerJoin(units, eq(units.id, residents.unitId))
            .where(inArray(residents.id, residentIds)),
        ),
    packageIds.length === 0
      ? []
      : run(
          'page packages',
          db
            .select({
              id: packages.id,
              trackingNumber: packages.trackingNumber,
              carrier: packages.carrier,
              unit: units.label,
            })
            .from(packages)
            .innerJoin(units, eq(units.id, packages.unitId))
            .where(inArray(packages.id, packageIds)),
        ),
    codeIds.length === 0
      ? []
      : run(
          'page carrier codes',
          db
            .select({ id: carrierCodes.id, carrier: carrierCodes.carrier })
            .from(carrierCodes)
            .where(inArray(carrierCodes.id, codeIds)),
        ),
  ]);
  const residentById = new Map(residentRows.map((r) => [r.id, r]));
  const packageById = new Map(packageRows.map((p) => [p.id, p]));
  const carrierOfCode = new Map(codeRows.map((c) => [c.id, c.carrier]));
  const residentView = (rid: string | null | undefined) => {
    const r = rid ? residentById.get(rid) : undefined;
    return r ? { resident: { id: r.id, name: r.name, unit: r.unit } } : {};
  };

  return page.map((h): AuditRow => {
    if (h.source === 'flag') {
      const base = `/api/flags/${encodeURIComponent(h.id)}`;
      return {
        id: h.id,
        at: h.at.toISOString(),
        source: 'flag',
        type: h.kind,
        ...(h.doorId ? { doorId: h.doorId } : {}),
        cameraId: h.cameraId,
        ...residentView(h.credentialId ? holderOf.get(h.credentialId) : null),
        ...(h.credentialId ? { credentialId: h.credentialId } : {}),
        flag: { kind: h.kind, status: h.status, severity: h.severity },
        clipUrl: `${base}/clip`,
        ...(h.snapshotPath ? { snapshotUrl: `${base}/snapshot` } : {}),
      };
    }
    const parcel = h.packageId ? packageById.get(h.packageId) : undefined;
    const carrier =
      parcel?.carrier ?? (h.carrierCodeId ? carrierOfCode.get(h.carrierCodeId) : undefined);
    const links = deps.clipLinks?.(h);
    return {
      id: h.id,
      at: h.at.toISOString(),
      source: 'event',
      type: h.type,
      ...(h.doorId ? { doorId: h.doorId } : {}),
      ...(h.cameraId ? { cameraId: h.cameraId } : {}),
      ...(h.decision ? { decision: h.decision } : {}),
      ...(h.reason ? { reason: h.reason } : {}),
      ...residentView(h.residentId),
      ...(h.staffId ? { staffId: h.staffId } : {}),
      ...(h.credentialId ? { credentialId: h.credentialId } : {}),
      ...(h.carrierCodeId ? { carrierCodeId: h.carrierCodeId } : {}),
      ...(carrier ? { carrier } : {}),
      ...(h.packageId ? { packageId: h.packageId } : {}),
      ...(parcel ? { trackingNumber: parcel.trackingNumber, packageUnit: parcel.unit } : {}),
      ...(links ? { clipUrl: links.clipUrl, snapshotUrl: links.snapshotUrl } : {}),
    };
  });
}

export function createAuditSearch(deps: AuditSearchDeps): AuditSearch {
  const { db, siteId } = deps;

  const run = observed(deps.observe);

  /** Doors each camera watches, from the site file. */
  const doorsOf = (cameraId: string): string[] =>
    deps.site.cameras.filter((c) => c.id === cameraId && c.doorId).map((c) => c.doorId!);

  const residentAnchors = (ids: readonly string[]): SQL[] =>
    ids.length === 0
      ? []
      : ids.length <= MAX_RESIDENT_BRANCHES
        ? ids.map((r) => eq(accessEvents.residentId, r))
        : [anyOf(accessEvents.residentId, ids)];

  /** Parcel events of the parcels that `where` picks. */
  const parcelAnchor = (where: SQL): SQL =>
    inArray(
      accessEvents.packageId,
      db
        .select({ id: packages.id })
        .from(packages)
        .where(and(eq(packages.siteId, siteId), where)),
    );

  const parcelsWhere = async (label: string, where: SQL): Promise<ParcelSet> => {
    const rows = await run(
      label,
      db
        .select({ id: packages.id })
        .from(packages)
        .where(and(eq(packages.siteId, siteId), where))
        .limit(MAX_PARCEL_IDS + 1),
    );
    return rows.length > MAX_PARCEL_IDS
      ? { kind: 'many', where }
      : { kind: 'ids', ids: rows.map((r) => r.id) };
  };

  /**
   * Anchors that already pick only this site's events (ids of this site's parcels). As a branch
   * of their own they go without the site condition: with it, PostgreSQL may walk the site's
   * whole newest-first index hoping to meet a few thousand parcel events early (the unit with
   * the most parcels took 200 ms so at 10 million events); without it the only plan left is the
   * right one, the parcels' events by their own index, sorted.
   */
  const ownSite = new WeakSet<SQL>();

  /** The events of a set of parcels (none for an empty set). */
  const parcelAnchors = (set: ParcelSet): SQL[] => {
    if (set.kind === 'many') return [parcelAnchor(set.where)];
    if (set.ids.length === 0) return [];
    const anchor = anyOf(accessEvents.packageId, set.ids);
    ownSite.add(anchor);
    return [anchor];
  };

  const credentialsOf = (residentIds: readonly string[]) =>
    db
      .select({ id: credentials.id })
      .from(credentials)
      .where(inArray(credentials.residentId, [...residentIds]));

  /**
   * What free text names, each as ids: residents by name or unit label, units by label, carrier
   * codes and parcel carriers by carrier name, and a tracking-number fragment when the text has
   * one (letters and digits, at least 4, a digit among them: names and carriers have none).
   */
  async function resolveText(q: string): Promise<TextMatches> {
    const pattern = containsPattern(q);
    const fragment = normalizeTracking(q);
    const looksNumbered =
      fragment.length >= 4 && /[0-9]/.test(fragment) && /^[A-Z0-9]+$/.test(fragment);
    const [byName, byUnit, codes, carriers, numbered] = await Promise.all([
      run(
        'q residents',
        db
          .select({ id: residents.id })
          .from(residents)
          .innerJoin(units, eq(units.id, residents.unitId))
          .where(
            and(
              eq(residents.siteId, siteId),
              or(ilike(residents.name, pattern), ilike(units.label, pattern)),
            ),
          ),
      ),
      run(
        'q units',
        db
          .select({ id: units.id })
          .from(units)
          .where(and(eq(units.siteId, siteId), ilike(units.label, pattern))),
      ),
      run(
        'q carrier codes',
        db
          .select({ id: carrierCodes.id })
          .from(carrierCodes)
          .where(and(eq(carrierCodes.siteId, siteId), ilike(carrierCodes.carrier, pattern))),
      ),
      parcelCarriers(pattern),
      looksNumbered
        ? parcelsWhere(
            'q tracking numbers',
            // strpos, not LIKE: the same test on [A-Z0-9] text at half the cost, and PostgreSQL
            // then reads the (site_id, tracking_number) index instead of every parcel row.
            sql`strpos(${packages.trackingNumber}, ${fragment}) > 0`,
          )
        : NO_PARCELS,
    ]);
    const residentIds = byName.map((r) => r.id);
    const unitIds = byUnit.map((u) => u.id);
    const householdOf = [
      ...(residentIds.length > 0 ? [inArray(packages.residentId, residentIds)] : []),
      ...(unitIds.length > 0 ? [inArray(packages.unitId, unitIds)] : []),
    ];
    return {
      residents: residentIds,
      units: unitIds,
      carrierCodes: codes.map((c) => c.id),
      carriers,
      household:
        householdOf.length === 0
          ? NO_PARCELS
          : await parcelsWhere('q household parcels', or(...householdOf)!),
      numbered,
    };
  }

  /**
   * The parcel carriers whose name contains the pattern. Carriers are typed by people ("FedEx",
   * "fedex"), so there is no fixed list: the distinct names are read by skipping through the
   * (site_id, carrier) index one name at a time, a few dozen index probes instead of reading
   * every parcel.
   */
  async function parcelCarriers(pattern: string): Promise<string[]> {
    const query = sql`
      with recursive c(carrier) as (
        (select ${packages.carrier} from ${packages} where ${packages.siteId} = ${siteId}
          order by ${packages.carrier} limit 1)
        union all
        select (select p.carrier from ${packages} p
                 where p.site_id = ${siteId} and p.carrier > c.carrier
                 order by p.carrier limit 1)
          from c where c.carrier is not null
      )
      select carrier from c where carrier is not null and carrier ilike ${pattern}`;
    if (deps.observe) deps.observe({ label: 'q carriers', ...dialect.sqlToQuery(query) });
    const res = await db.execute(query);
    const rows = (Array.isArray(res) ? res : (res as unknown as { rows: unknown[] }).rows) as {
      carrier: string;
    }[];
    return rows.map((r) => r.carrier);
  }

  /** Events of what free text named: the residents', the units' parcels, carriers', a number. */
  function textAnchors(t: TextMatches): SQL[] {
    const anchors = [...residentAnchors(t.residents), ...parcelAnchors(t.household)];
    if (t.carrierCodes.length > MAX_RESIDENT_BRANCHES)
      anchors.push(inArray(accessEvents.carrierCodeId, t.carrierCodes));
    else for (const c of t.carrierCodes) anchors.push(eq(accessEvents.carrierCodeId, c));
    if (t.carriers.length > 0) anchors.push(parcelAnchor(inArray(packages.carrier, t.carriers)));
    anchors.push(...parcelAnchors(t.numbered));
    return anchors;
  }

  async function search(query: AuditSearchQuery): Promise<AuditPage> {
    const limit = Math.max(1, Math.min(MAX_SEARCH_LIMIT, Math.floor(query.limit)));
    const want = limit + 1;

    // Facts the filters need before the main queries: the unit's residents, what the free
    // text names. Resolved to ids first, so each main query is a plain index scan.
    let unit: { id: string; residents: string[] } | null = null;
    if (query.unit !== undefined) {
      const rows = await run(
        'unit',
        db
          .select({ id: units.id, residentId: residents.id })
          .from(units)
          .leftJoin(residents, eq(residents.unitId, units.id))
          .where(and(eq(units.siteId, siteId), eq(units.label, query.unit))),
      );
      const first = rows[0];
      if (!first) return { items: [] };
      unit = { id: first.id, residents: uniq(rows.map((r) => r.residentId)) };
    }
    const text = query.q === undefined ? null : await resolveText(query.q);

    const types = query.types && query.types.length > 0 ? query.types : undefined;
    const kinds = query.flagKinds && query.flagKinds.length > 0 ? query.flagKinds : undefined;
    const wantEvents = !(kinds && !types);
    const wantFlags =
      !(types && !kinds) && query.carrierCodeId === undefined && query.trackingNumber === undefined;

    const [eventHits, flagHits] = await Promise.all([
      wantEvents ? searchEvents() : Promise.resolve([]),
      wantFlags ? searchFlags() : Promise.resolve([]),
    ]);

    async function searchEvents(): Promise<EventHit[]> {
      // The parcels the filters name, as ids (see ParcelSet).
      const none = Promise.resolve(undefined);
      const [byNumber, residentParcels, unitParcels] = await Promise.all([
        query.trackingNumber === undefined
          ? none
          : parcelsWhere(
              'tracking number parcels',
              eq(packages.trackingNumber, query.trackingNumber),
            ),
        query.residentId === undefined
          ? none
          : parcelsWhere('resident parcels', eq(packages.residentId, query.residentId)),
        unit === null ? none : parcelsWhere('unit parcels', eq(packages.unitId, unit.id)),
      ]);
      const thisSite = eq(accessEvents.siteId, siteId);
      const base: SQL[] = [thisSite];
      if (query.doorId !== undefined) base.push(eq(accessEvents.doorId, query.doorId));
      if (query.credentialId !== undefined)
        base.push(eq(accessEvents.credentialId, query.credentialId));
      if (query.carrierCodeId !== undefined)
        base.push(eq(accessEvents.carrierCodeId, query.carrierCodeId));
      if (byNumber) {
        const [anchor] = parcelAnchors(byNumber);
        if (!anchor) return [];
        base.push(anchor);
      }
      if (query.from) base.push(gte(accessEvents.at, query.from));
      if (query.to) base.push(lte(accessEvents.at, query.to));
      if (query.cursor) base.push(after(accessEvents.at, accessEvents.id, query.cursor));

      const anyOf: AnyOf[] = [];
      if (query.residentId !== undefined) {
        anyOf.push({
          name: 'resident',
          anchors: [
            eq(accessEvents.residentId, query.residentId),
            ...parcelAnchors(residentParcels ?? NO_PARCELS),
          ],
        });
      }
      if (unit !== null) {
        anyOf.push({
          name: 'unit',
          anchors: [
            ...residentAnchors(unit.residents),
            ...parcelAnchors(unitParcels ?? NO_PARCELS),
          ],
        });
      }
      if (text !== null) anyOf.push({ name: 'text', anchors: textAnchors(text) });
      if (query.cameraId !== undefined) {
        const watched = doorsOf(query.cameraId);
        anyOf.push({
          name: 'camera',
          anchors: [
            eq(accessEvents.cameraId, query.cameraId),
            ...(watched.length > 0
              ? [and(inArray(accessEvents.doorId, watched), isNull(accessEvents.cameraId))!]
              : []),
          ],
        });
      }
      if (types) {
        anyOf.push(
          types.length <= MAX_TYPE_BRANCHES
            ? { name: 'type', anchors: types.map((t) => eq(accessEvents.type, t)) }
            : { name: 'type', anchors: [inArray(accessEvents.type, [...types])] },
        );
      }

      // A tracking number or a credential already picks few events with one index: split
      // nothing. Otherwise split the first "any of" filter (they are listed most selective
      // first) and keep the rest as OR conditions.
      // An "any of" with nothing in it (free text naming nothing) matches no event.
      if (anyOf.some((f) => f.anchors.length === 0)) return [];
      const selective = query.trackingNumber !== undefined || query.credentialId !== undefined;
      const [split, ...rest] = selective ? [undefined, ...anyOf] : anyOf;
      for (const f of rest)
        if (f) base.push(f.anchors.length === 1 ? f.anchors[0]! : or(...f.anchors)!);
      const branches = split ? split.anchors : [undefined];

      const lists = await Promise.all(
        branches.map((anchor, i) =>
          run(
            split ? `events by ${split.name} ${i + 1}/${branches.length}` : 'events',
            db
              .select(eventColumns)
              .from(accessEvents)
              .where(
                anchor && ownSite.has(anchor)
                  ? and(...base.filter((c) => c !== thisSite), anchor)
                  : and(...base, ...(anchor ? [anchor] : [])),
              )
              .orderBy(desc(accessEvents.at), desc(accessEvents.id))
              .limit(want),
          ),
        ),
      );
      return mergeNewestFirst(lists, want).map((e) => ({ ...e, source: 'event' as const }));
    }

    async function searchFlags(): Promise<FlagHit[]> {
      const where: SQL[] = [eq(visionFlags.siteId, siteId)];
      // The kind column is text; kinds beyond the schema's enum (carrier_drop) are stored too.
      if (kinds) where.push(inArray(visionFlags.kind, [...kinds] as FlagKind[]));
      if (query.doorId !== undefined) where.push(eq(visionFlags.doorId, query.doorId));
      if (query.cameraId !== undefined) where.push(eq(visionFlags.cameraId, query.cameraId));
      if (query.credentialId !== undefined)
        where.push(eq(visionFlags.credentialId, query.credentialId));
      // A flag belongs to a person only through the credential that opened the door.
      const holders: (readonly string[])[] = [];
      if (query.residentId !== undefined) holders.push([query.residentId]);
      if (unit !== null) holders.push(unit.residents);
      if (text !== null) holders.push(text.residents);
      for (const ids of holders) {
        if (ids.length === 0) return [];
        where.push(inArray(visionFlags.credentialId, credentialsOf(ids)));
      }
      if (query.from) where.push(gte(visionFlags.at, query.from));
      if (query.to) where.push(lte(visionFlags.at, query.to));
      if (query.cursor) where.push(after(visionFlags.at, visionFlags.id, query.cursor));
      const rows = await run(
        'flags',
        db
          .select(flagColumns)
          .from(visionFlags)
          .where(and(...where))
          .orderBy(desc(visionFlags.at), desc(visionFlags.id))
          .limit(want),
      );
      return rows.map((f) => ({ ...f, source: 'flag' as const }));
    }

    const merged = mergeNewestFirst<Hit>([eventHits, flagHits], want);
    const page = merged.slice(0, limit);
    const last = page[page.length - 1];
    const items = await describeHits(deps, page);
    return {
      items,
      ...(merged.length > limit && last ? { nextCursor: encodeCursor(last) } : {}),
    };
  }

  return { search };
}
