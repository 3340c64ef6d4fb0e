/**
 * Carrier compliance figures for a period: per carrier and per delivery code, how many visits,
 * door openings and check-ins, how many visits left nothing checked in ("drops"), how many
 * parcels were checked in without a named recipient, and how long carriers spend in the room.
 *
 * A visit belongs to the period it started in; its check-ins count there even when they come
 * after the period's end. The door's record is read with a margin either side, so a visit that
 * spans an edge is built whole and counted once. A visit is a drop once it has ended with no
 * check-in and `dropGraceMs` has passed since; before that it is `pending`. The drop list links
 * each drop's flag (with the door camera's clip) when the drop watch has raised one, else the
 * clip of the entry itself.
 */
import { and, asc, eq, gte, inArray, isNotNull, lt, sql } from 'drizzle-orm';
import {
  accessEvents,
  carrierCodes,
  packages,
  residents,
  visionFlags,
  type Db,
} from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import type { ClipLinker } from '../cameras/clip.service.ts';
import type { SiteConfig } from '../config/index.ts';
import {
  buildVisits,
  mean,
  median,
  type CarrierVisit,
  type VisitCheckIn,
  type VisitEvent,
} from './visit.builder.ts';
import type {
  CarrierFigures,
  CodeFigures,
  ComplianceFigures,
  ComplianceReport,
  DropVisit,
} from './compliance.api.ts';

export type { CarrierFigures, CodeFigures, ComplianceFigures, ComplianceReport, DropVisit };

/** A check-in without an entry binding may join its code's visit this long after it ended. */
export const BIND_SLACK_MS = 15 * 60_000;

export type VisitStatus = 'ongoing' | 'checked_in' | 'pending' | 'drop';

export interface ReportRange {
  from: number;
  to: number;
  /** Only this carrier (as the codes name it). */
  carrier?: string | undefined;
}

export interface LoadedVisits {
  visits: CarrierVisit[];
  unbound: VisitCheckIn[];
  /** Carrier name per code id. */
  carriers: Map<string, string>;
}

export interface ComplianceService {
  /** Visits built from the record around [from, to) (not yet cut to the range). */
  loadVisits(from: number, to: number, now: number): Promise<LoadedVisits>;
  report(range: ReportRange): Promise<ComplianceReport>;
  statusOf(v: CarrierVisit, now: number): VisitStatus;
}

export interface ComplianceDeps {
  db: Db;
  site: Pick<SiteConfig, 'site' | 'doors' | 'cameras' | 'compliance'>;
  clock: Clock;
  clipLinks: ClipLinker;
}

export function emptyFigures(): ComplianceFigures {
  return {
    visits: 0,
    doorOpenings: 0,
    parcels: 0,
    parcelsWithoutVisit: 0,
    parcelsPerVisit: null,
    parcelsPerOpening: null,
    drops: 0,
    pending: 0,
    ongoing: 0,
    withoutRecipient: 0,
    unitWithoutResident: 0,
    avgTimeInRoomMs: null,
    medianTimeInRoomMs: null,
  };
}

/** A check-in with what the report needs to know about its addressee. */
export interface ReportCheckIn extends VisitCheckIn {
  /** Addressed to a unit where nobody lived at the time. */
  unitWithoutResident: boolean;
}

/** Figures over some visits and the code's check-ins outside any visit. */
export function figuresOf(
  visits: readonly CarrierVisit[],
  unbound: readonly VisitCheckIn[],
  statusOf: (v: CarrierVisit) => VisitStatus,
  emptyUnit: (c: VisitCheckIn) => boolean,
): ComplianceFigures {
  const f = emptyFigures();
  const onVisits = visits.reduce((n, v) => n + v.checkIns.length, 0);
  f.visits = visits.length;
  f.doorOpenings = visits.reduce((n, v) => n + v.openings, 0);
  f.parcelsWithoutVisit = unbound.length;
  f.parcels = onVisits + unbound.length;
  f.parcelsPerVisit = f.visits > 0 ? onVisits / f.visits : null;
  f.parcelsPerOpening = f.doorOpenings > 0 ? onVisits / f.doorOpenings : null;
  for (const v of visits) {
    const s = statusOf(v);
    if (s === 'drop') f.drops++;
    else if (s === 'pending') f.pending++;
    else if (s === 'ongoing') f.ongoing++;
  }
  for (const c of [...visits.flatMap((v) => v.checkIns), ...unbound]) {
    if (c.residentId !== null) continue;
    f.withoutRecipient++;
    if (emptyUnit(c)) f.unitWithoutResident++;
  }
  const times = visits.flatMap((v) => (v.timeInRoomMs === null ? [] : [v.timeInRoomMs]));
  f.avgTimeInRoomMs = mean(times);
  f.medianTimeInRoomMs = median(times);
  return f;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function createComplianceService(deps: ComplianceDeps): ComplianceService {
  const { db, site } = deps;
  const siteId = site.site.id;
  const cfg = site.compliance;
  const doorNames = new Map(site.doors.map((d) => [d.id, d.name]));
  // Wide enough to see the whole of a visit that crosses an edge, re-entries included.
  const margin = 2 * (cfg.maxVisitMs + cfg.visitGapMs) + BIND_SLACK_MS;

  const statusOf = (v: CarrierVisit, now: number): VisitStatus => {
    if (v.ongoing) return 'ongoing';
    if (v.checkIns.length > 0) return 'checked_in';
    return now - v.endAt >= cfg.dropGraceMs ? 'drop' : 'pending';
  };

  interface Loaded extends LoadedVisits {
    emptyUnit: Set<string>;
  }

  async function load(from: number, to: number, now: number): Promise<Loaded> {
    const lo = new Date(from - margin);
    const hi = new Date(Math.min(to + margin, now + 1));
    const [rows, parcels, codes] = await Promise.all([
      db
        .select({
          id: accessEvents.id,
          at: accessEvents.at,
          type: accessEvents.type,
          doorId: accessEvents.doorId,
          decision: accessEvents.decision,
          carrierCodeId: accessEvents.carrierCodeId,
          details: accessEvents.details,
        })
        .from(accessEvents)
        .where(
          and(
            eq(accessEvents.siteId, siteId),
            inArray(accessEvents.type, ['door_opened', 'door_closed']),
            gte(accessEvents.at, lo),
            lt(accessEvents.at, hi),
          ),
        )
        .orderBy(asc(accessEvents.at), asc(accessEvents.id)),
      db
        .select({
          id: packages.id,
          at: packages.checkedInAt,
          carrierCodeId: packages.carrierCodeId,
          entryEventId: packages.entryEventId,
          residentId: packages.residentId,
          unitId: packages.unitId,
        })
        .from(packages)
        .where(
          and(
            eq(packages.siteId, siteId),
            isNotNull(packages.carrierCodeId),
            gte(packages.checkedInAt, lo),
            lt(packages.checkedInAt, hi),
          ),
        ),
      db
        .select({ id: carrierCodes.id, carrier: carrierCodes.carrier })
        .from(carrierCodes)
        .where(eq(carrierCodes.siteId, siteId)),
    ]);

    // Who lived in the units that parcels were addressed to without a name, at the time.
    const unitIds = [...new Set(parcels.filter((p) => !p.residentId).map((p) => p.unitId))];
    const people = unitIds.length
      ? await db
          .select({
            unitId: residents.unitId,
            status: residents.status,
            moveInAt: residents.moveInAt,
            moveOutAt: residents.moveOutAt,
          })
          .from(residents)
          .where(and(eq(residents.siteId, siteId), inArray(residents.unitId, unitIds)))
      : [];
    const livedThere = (unitId: string, at: number) =>
      people.some(
        (r) =>
          r.unitId === unitId &&
          (r.moveInAt === null || r.moveInAt.getTime() <= at) &&
          (r.moveOutAt !== null ? r.moveOutAt.getTime() > at : r.status === 'active'),
      );
    const emptyUnit = new Set(
      parcels
        .filter((p) => !p.residentId && !livedThere(p.unitId, p.at.getTime()))
        .map((p) => p.id),
    );

    const events: VisitEvent[] = rows.map((r) => ({
      id: r.id,
      at: r.at.getTime(),
      type: r.type,
      doorId: r.doorId,
      decision: r.decision,
      carrierCodeId: r.carrierCodeId,
      details: (r.details ?? {}) as Record<string, unknown>,
    }));
    const checkIns: VisitCheckIn[] = parcels.map((p) => ({
      packageId: p.id,
      at: p.at.getTime(),
      carrierCodeId: p.carrierCodeId!,
      entryEventId: p.entryEventId,
      residentId: p.residentId,
    }));
    const built = buildVisits(events, checkIns, {
      visitGapMs: cfg.visitGapMs,
      maxVisitMs: cfg.maxVisitMs,
      bindSlackMs: BIND_SLACK_MS,
      now,
    });
    return {
      ...built,
      carriers: new Map(codes.map((c) => [c.id, c.carrier])),
      emptyUnit,
    };
  }

  return {
    statusOf,

    async loadVisits(from, to, now) {
      const { visits, unbound, carriers } = await load(from, to, now);
      return { visits, unbound, carriers };
    },

    async report(range) {
      const now = deps.clock.now();
      const loaded = await load(range.from, range.to, now);
      const carrierOf = (codeId: string) => loaded.carriers.get(codeId) ?? 'unknown carrier';
      const wanted = (codeId: string) =>
        range.carrier === undefined || carrierOf(codeId) === range.carrier;
      const inRange = (at: number) => at >= range.from && at < range.to;
      const visits = loaded.visits.filter((v) => inRange(v.startAt) && wanted(v.carrierCodeId));
      const unbound = loaded.unbound.filter((c) => inRange(c.at) && wanted(c.carrierCodeId));
      const status = (v: CarrierVisit) => statusOf(v, now);
      const emptyUnit = (c: VisitCheckIn) => loaded.emptyUnit.has(c.packageId);

      // Per code, then per carrier (a carrier may hold several codes: one per driver or route).
      const codeIds = [
        ...new Set([...visits.map((v) => v.carrierCodeId), ...unbound.map((c) => c.carrierCodeId)]),
      ];
      const codes: CodeFigures[] = codeIds.map((id) => ({
        carrierCodeId: id,
        carrier: carrierOf(id),
        ...figuresOf(
          visits.filter((v) => v.carrierCodeId === id),
          unbound.filter((c) => c.carrierCodeId === id),
          status,
          emptyUnit,
        ),
      }));
      const carrierNames = [...new Set(codes.map((c) => c.carrier))].sort((a, b) =>
        a.localeCompare(b),
      );
      const carriers: CarrierFigures[] = carrierNames.map((name) => {
        const mine = (id: string) => carrierOf(id) === name;
        return {
          carrier: name,
          ...figuresOf(
            visits.filter((v) => mine(v.carrierCodeId)),
            unbound.filter((c) => mine(c.carrierCodeId)),
            status,
            emptyUnit,
          ),
          codes: codes
            .filter((c) => c.carrier === name)
            .sort((a, b) => b.visits - a.visits || a.carrierCodeId.localeCompare(b.carrierCodeId)),
        };
      });

      const dropVisits = visits.filter((v) => status(v) === 'drop');
      const flagged = dropVisits.length
        ? await db
            .select({
              id: visionFlags.id,
              entryEventId: visionFlags.entryEventId,
              status: visionFlags.status,
              cameraId: visionFlags.cameraId,
            })
            .from(visionFlags)
            .where(
              and(
                eq(visionFlags.siteId, siteId),
                sql`${visionFlags.kind} = 'carrier_drop'`,
                inArray(
                  visionFlags.entryEventId,
                  dropVisits.map((v) => v.id),
                ),
              ),
            )
        : [];
      const flagOf = new Map(flagged.map((f) => [f.entryEventId, f]));
      const drops: DropVisit[] = dropVisits.map((v) => {
        const flag = flagOf.get(v.id);
        const entryClip = deps.clipLinks({ id: v.id, type: 'access', doorId: v.doorId });
        return {
          visitId: v.id,
          carrier: carrierOf(v.carrierCodeId),
          carrierCodeId: v.carrierCodeId,
          doorId: v.doorId,
          doorName: doorNames.get(v.doorId) ?? v.doorId,
          startAt: iso(v.startAt),
          endAt: iso(v.endAt),
          timeInRoomMs: v.timeInRoomMs ?? v.endAt - v.startAt,
          openings: v.openings,
          exitSeen: v.exitSeen,
          flagId: flag?.id ?? null,
          flagStatus: flag?.status ?? null,
          clipUrl:
            flag && flag.cameraId !== ''
              ? `/api/flags/${encodeURIComponent(flag.id)}/clip`
              : (entryClip?.clipUrl ?? null),
        };
      });

      return {
        from: iso(range.from),
        to: iso(range.to),
        generatedAt: iso(now),
        dropGraceMs: cfg.dropGraceMs,
        totals: figuresOf(visits, unbound, status, emptyUnit),
        carriers,
        drops,
      };
    },
  };
}
