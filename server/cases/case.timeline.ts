/**
 * What a case's items point at, as timeline rows: the same shape the audit search shows (time,
 * type, door, resident and unit, parcel, clip and snapshot links), plus a one-line summary for
 * the report. A case item names an event, a flag, a parcel or a door alarm by id; the row is
 * looked up when the case is read, so a later correction (a resident renamed) shows, and a row
 * that is gone reads as null instead of failing the case.
 *
 * A parcel's row is its check-in; its whole chain of custody (check-in, pickup, a wrong pickup,
 * the camera seeing it taken) is in `custody`, for the evidence package.
 */
import { and, asc, eq, inArray } from 'drizzle-orm';
import { accessEvents, packages, units, visionFlags, type Db } from '../../db/index.ts';
import {
  ALARM_EVENT_TYPES,
  describeHits,
  type AuditHit,
  type AuditRow,
} from '../audit/audit.search.ts';
import type { ClipLinker } from '../cameras/clip.service.ts';
import type { SiteConfig } from '../config/index.ts';
import { CASE_ITEM_KINDS, type CaseEntry as WireCaseEntry, type CaseItemKind } from './case.api.ts';

export { CASE_ITEM_KINDS, type CaseItemKind };

const ALARM_TYPES: ReadonlySet<string> = new Set(ALARM_EVENT_TYPES);

/** A timeline row with words for people and the door's name (the wire shape, its flag narrowed). */
export interface CaseEntry extends WireCaseEntry {
  flag?: AuditRow['flag'];
}

export interface TimelineRef {
  kind: CaseItemKind;
  refId: string;
}

/** The stored facts behind an entry, for clip windows (server ms). */
export type EntrySource =
  | {
      kind: 'event';
      id: string;
      at: number;
      type: string;
      doorId: string | null;
      cameraId: string | null;
      details: unknown;
    }
  | {
      kind: 'flag';
      id: string;
      at: number;
      cameraId: string;
      clipStartAt: number;
      clipEndAt: number;
      snapshotPath: string | null;
    };

export interface ResolvedRef {
  entry: CaseEntry;
  /** The event or flag itself; for a parcel, its custody events (oldest first). */
  sources: EntrySource[];
  /** A parcel's custody events as rows, oldest first (other kinds: just the entry). */
  custody: CaseEntry[];
}

export interface CaseTimeline {
  /** Each ref's row, or null when the row is gone (or is not that kind: an event that is no alarm). */
  resolve(refs: readonly TimelineRef[]): Promise<Map<string, ResolvedRef | null>>;
}

export const refKey = (r: TimelineRef) => `${r.kind}:${r.refId}`;

type EventRow = typeof accessEvents.$inferSelect;
type FlagRow = typeof visionFlags.$inferSelect;

const uniq = (xs: readonly (string | null | undefined)[]): string[] => [
  ...new Set(xs.filter((x): x is string => typeof x === 'string')),
];

const words = (s: string) => s.replace(/_/g, ' ');

export function createCaseTimeline(deps: {
  db: Db;
  siteId: string;
  site: Pick<SiteConfig, 'doors' | 'cameras'>;
  clipLinks?: ClipLinker | undefined;
}): CaseTimeline {
  const { db, siteId } = deps;
  const doorNames = new Map(deps.site.doors.map((d) => [d.id, d.name]));

  /** The audit search's rows for these events and flags, with door names and summaries. */
  async function describe(events: readonly EventRow[], flags: readonly FlagRow[]) {
    const hits: AuditHit[] = [
      ...events.map((e) => ({ ...e, source: 'event' as const })),
      ...flags.map((f) => ({ ...f, source: 'flag' as const })),
    ];
    const rows = new Map<string, CaseEntry>();
    for (const r of await describeHits({ db, clipLinks: deps.clipLinks }, hits)) {
      const doorName = r.doorId ? doorNames.get(r.doorId) : undefined;
      const row = doorName === undefined ? r : { ...r, doorName };
      rows.set(`${r.source}:${r.id}`, { ...row, summary: summarize(row) });
    }
    return rows;
  }

  const eventSource = (e: EventRow): EntrySource => ({
    kind: 'event',
    id: e.id,
    at: e.at.getTime(),
    type: e.type,
    doorId: e.doorId,
    cameraId: e.cameraId,
    details: e.details,
  });

  return {
    async resolve(refs) {
      const ids = (kind: CaseItemKind) =>
        uniq(refs.filter((r) => r.kind === kind).map((r) => r.refId));
      const eventIds = uniq([...ids('event'), ...ids('alarm')]);
      const flagIds = ids('flag');
      const packageIds = ids('package');
      const [events, flags, parcels, custody] = await Promise.all([
        eventIds.length === 0
          ? []
          : db
              .select()
              .from(accessEvents)
              .where(and(eq(accessEvents.siteId, siteId), inArray(accessEvents.id, eventIds))),
        flagIds.length === 0
          ? []
          : db
              .select()
              .from(visionFlags)
              .where(and(eq(visionFlags.siteId, siteId), inArray(visionFlags.id, flagIds))),
        packageIds.length === 0
          ? []
          : db
              .select({
                id: packages.id,
                checkedInAt: packages.checkedInAt,
                trackingNumber: packages.trackingNumber,
                carrier: packages.carrier,
                unit: units.label,
              })
              .from(packages)
              .innerJoin(units, eq(units.id, packages.unitId))
              .where(and(eq(packages.siteId, siteId), inArray(packages.id, packageIds))),
        packageIds.length === 0
          ? []
          : db
              .select()
              .from(accessEvents)
              .where(
                and(eq(accessEvents.siteId, siteId), inArray(accessEvents.packageId, packageIds)),
              )
              .orderBy(asc(accessEvents.at), asc(accessEvents.id))
              .limit(50 * packageIds.length),
      ]);
      const rows = await describe([...events, ...custody], flags);
      const out = new Map<string, ResolvedRef | null>();
      for (const r of refs) out.set(refKey(r), null);
      for (const e of events) {
        const entry = rows.get(`event:${e.id}`)!;
        const resolved = { entry, sources: [eventSource(e)], custody: [entry] };
        if (out.has(`event:${e.id}`)) out.set(`event:${e.id}`, resolved);
        if (out.has(`alarm:${e.id}`) && ALARM_TYPES.has(e.type)) out.set(`alarm:${e.id}`, resolved);
      }
      for (const f of flags) {
        const entry = rows.get(`flag:${f.id}`)!;
        out.set(`flag:${f.id}`, {
          entry,
          sources: [
            {
              kind: 'flag',
              id: f.id,
              at: f.at.getTime(),
              cameraId: f.cameraId,
              clipStartAt: f.clipStartAt.getTime(),
              clipEndAt: f.clipEndAt.getTime(),
              snapshotPath: f.snapshotPath,
            },
          ],
          custody: [entry],
        });
      }
      for (const p of parcels) {
        const own = custody.filter((e) => e.packageId === p.id);
        const chain = own.map((e) => rows.get(`event:${e.id}`)!);
        const checkIn = chain.find((r) => r.type === 'package_checked_in');
        // A parcel without its check-in event (imported, or the event was lost): the parcel's
        // own facts stand in, so the case still shows what it is.
        const fallback: CaseEntry = {
          id: p.id,
          at: p.checkedInAt.toISOString(),
          source: 'event',
          type: 'package_checked_in',
          packageId: p.id,
          trackingNumber: p.trackingNumber,
          carrier: p.carrier,
          packageUnit: p.unit,
          summary: `parcel ${p.trackingNumber} (${p.carrier}) for ${p.unit} checked in`,
        };
        out.set(`package:${p.id}`, {
          entry: checkIn ?? fallback,
          sources: own.map(eventSource),
          custody: chain.length > 0 ? chain : [fallback],
        });
      }
      return out;
    },
  };
}

/** One line for people: what, where, who. */
export function summarize(r: AuditRow & { doorName?: string }): string {
  const what = r.flag
    ? `${words(r.type)} flag (${r.flag.severity}, ${r.flag.status})`
    : r.decision
      ? `${words(r.type)} ${r.decision}${r.reason ? ` (${words(r.reason)})` : ''}`
      : words(r.type);
  const where = r.doorName ?? r.doorId;
  const parts = [what];
  if (where) parts.push(`at ${where}`);
  if (r.resident) parts.push(`by ${r.resident.name} (${r.resident.unit})`);
  if (r.trackingNumber)
    parts.push(
      `parcel ${r.trackingNumber}${r.carrier ? ` (${r.carrier})` : ''} for ${r.packageUnit ?? '?'}`,
    );
  else if (r.carrier) parts.push(`carrier ${r.carrier}`);
  return parts.join(', ');
}
