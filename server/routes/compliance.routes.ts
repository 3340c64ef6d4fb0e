/**
 * Carrier compliance for managers (`compliance:read`): the figures per carrier and per code with
 * the list of drops (`GET /compliance`), the same as a CSV weekly summary to send to a carrier's
 * dispatch (`GET /compliance.csv`), and what the printed delivery instructions need
 * (`GET /compliance/instructions`).
 *
 * A period is `week=2026-W47` (Monday to Monday in the building's time zone), or `from` and `to`
 * (ISO 8601), or by default the current week. `carrier=` narrows to one carrier as its codes
 * name it, for the summary sent to that carrier.
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { Clock } from '../../hardware/clock.ts';
import { csvLine } from '../audit/csv.format.ts';
import type { InstructionSheet } from '../compliance/compliance.api.ts';
import type { ComplianceReport, ComplianceService } from '../compliance/compliance.report.ts';
import { parseWeek, weekOf } from '../compliance/week.range.ts';
import type { SiteConfig } from '../config/index.ts';
import { requirePermission } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { ApiError, readQuery } from '../http/errors.ts';

const isoTime = z.iso.datetime({ offset: true });
/** A year is the longest period one report reads. */
const MAX_RANGE_MS = 366 * 86_400_000;

const reportQuery = z.strictObject({
  week: z
    .string()
    .regex(/^\d{4}-W\d{2}$/, 'an ISO week like 2026-W47')
    .optional(),
  from: isoTime.optional(),
  to: isoTime.optional(),
  carrier: z.string().trim().min(1).max(80).optional(),
});

export const COMPLIANCE_CSV_COLUMNS = [
  'period_from',
  'period_to',
  'carrier',
  'carrier_code_id',
  'visits',
  'door_openings',
  'parcels_checked_in',
  'parcels_per_visit',
  'parcels_per_door_opening',
  'drops',
  'drops_pending',
  'visits_ongoing',
  'parcels_without_visit',
  'parcels_without_recipient',
  'parcels_unit_without_resident',
  'avg_time_in_room_s',
  'median_time_in_room_s',
] as const;

const ratio = (v: number | null) => (v === null ? '' : v.toFixed(2));
const seconds = (ms: number | null) => (ms === null ? '' : String(Math.round(ms / 1000)));

/** The weekly summary: one line per carrier (all its codes), then one per code. */
export function complianceCsv(r: ComplianceReport): string {
  let out = csvLine(COMPLIANCE_CSV_COLUMNS);
  const line = (carrier: string, codeId: string, f: ComplianceReport['totals']) =>
    csvLine([
      r.from,
      r.to,
      carrier,
      codeId,
      String(f.visits),
      String(f.doorOpenings),
      String(f.parcels),
      ratio(f.parcelsPerVisit),
      ratio(f.parcelsPerOpening),
      String(f.drops),
      String(f.pending),
      String(f.ongoing),
      String(f.parcelsWithoutVisit),
      String(f.withoutRecipient),
      String(f.unitWithoutResident),
      seconds(f.avgTimeInRoomMs),
      seconds(f.medianTimeInRoomMs),
    ]);
  for (const c of r.carriers) out += line(c.carrier, 'all', c);
  for (const c of r.carriers)
    for (const code of c.codes) out += line(c.carrier, code.carrierCodeId, code);
  return out;
}

export type { InstructionSheet };

export function complianceRoutes(deps: {
  compliance: ComplianceService;
  site: SiteConfig;
  clock: Clock;
  /** How long after the door entry the kiosk takes the carrier's code (kiosk routes' window). */
  kioskEntryWindowMs?: number;
}) {
  const { site, clock } = deps;
  const tz = site.site.timezone;
  const app = new Hono<AppEnv>();

  const rangeOf = (c: Context<AppEnv>) => {
    const q = readQuery(c, reportQuery);
    if (q.week !== undefined) {
      if (q.from !== undefined || q.to !== undefined)
        throw new ApiError(400, 'invalid_query', 'give week, or from and to, not both', 'week');
      const w = parseWeek(q.week, tz);
      if (!w) throw new ApiError(400, 'invalid_query', `week: no such week '${q.week}'`, 'week');
      return { from: w.from, to: w.to, carrier: q.carrier };
    }
    if ((q.from === undefined) !== (q.to === undefined))
      throw new ApiError(
        400,
        'invalid_query',
        'give both from and to',
        q.from === undefined ? 'from' : 'to',
      );
    if (q.from === undefined || q.to === undefined) {
      const w = weekOf(clock.now(), tz);
      return { from: w.from, to: w.to, carrier: q.carrier };
    }
    const from = Date.parse(q.from);
    const to = Date.parse(q.to);
    if (!(to > from)) throw new ApiError(400, 'invalid_query', 'to: must be after from', 'to');
    if (to - from > MAX_RANGE_MS)
      throw new ApiError(400, 'invalid_query', 'to: a report covers at most a year', 'to');
    return { from, to, carrier: q.carrier };
  };

  app.get('/compliance', requirePermission('compliance:read'), async (c) =>
    c.json(await deps.compliance.report(rangeOf(c))),
  );

  app.get('/compliance.csv', requirePermission('compliance:read'), async (c) => {
    const range = rangeOf(c);
    const report = await deps.compliance.report(range);
    const who = range.carrier ? `-${range.carrier.replace(/[^A-Za-z0-9_-]+/g, '_')}` : '';
    const stamp = report.from.slice(0, 10);
    return c.body(complianceCsv(report), 200, {
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': `attachment; filename="parcelroom-carriers${who}-${stamp}.csv"`,
      'Cache-Control': 'no-store',
    });
  });

  app.get('/compliance/instructions', requirePermission('compliance:read'), (c) => {
    const notifications = site.notifications as Record<string, unknown>;
    const publicUrl =
      typeof notifications['publicUrl'] === 'string' ? notifications['publicUrl'] : null;
    const sheet: InstructionSheet = {
      site: { id: site.site.id, name: site.site.name },
      publicUrl,
      codeLength: site.access.carrierCodeLength,
      doors: site.doors.map((d) => ({
        id: d.id,
        name: d.name,
        keypad: site.readers.some((r) => r.doorId === d.id && r.keypad),
        kioskPath: `/kiosk?door=${encodeURIComponent(d.id)}`,
      })),
      kioskEntryWindowMinutes: Math.round((deps.kioskEntryWindowMs ?? 15 * 60_000) / 60_000),
      overflowLabel: site.storage.overflow.label,
      oversizedLabel: site.storage.oversized.label,
      deskContact: site.compliance.deskContact ?? null,
      fullRoomNote: site.compliance.fullRoomNote ?? null,
    };
    return c.json(sheet);
  });

  return app;
}
