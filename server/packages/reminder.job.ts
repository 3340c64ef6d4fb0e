import { and, eq, gt, inArray, isNull, lte, or, sql } from 'drizzle-orm';
import { packages, residents, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import { createRepeatingPass } from '../jobs/repeating.pass.ts';
import type { SiteConfig } from '../config/index.ts';
import type { Logger } from '../log/logger.ts';
import type { VacationHoldService } from '../pickup/vacation.holds.ts';
import type { ParcelNotifier, ReminderParcel } from './parcel.notifier.ts';
import { roomFromSite } from './slot.assigner.ts';
import { waitingSince } from './waiting.parcels.ts';

export interface ReminderRun {
  /** Parcels named in a reminder this run. */
  parcels: number;
  /** Reminders sent (one per resident). */
  residents: number;
  /** Check-in notices held during a vacation hold and sent this pass (one per resident). */
  released?: number;
}

export interface ReminderJob {
  start(): void;
  stop(): void;
  /** One pass now; the timer calls it too. */
  runOnce(): Promise<ReminderRun>;
}

const DAY_MS = 86_400_000;

/**
 * Reminds residents of parcels still waiting after `overdueAfterDays`, and again every that many
 * days, until the parcel reaches the return-to-sender line (then it is the desk's job). Each
 * resident gets one reminder listing all their overdue parcels, not one per parcel. A parcel is
 * marked reminded only after its notice went to the channels, so a crash in between reminds
 * again rather than never.
 */
export function createReminderJob(deps: {
  db: Db;
  site: SiteConfig;
  /** Paces the checks. */
  clock: Clock;
  /** Decides what is overdue (the site's domain time). */
  domainClock: Clock;
  log: Logger;
  notifier: ParcelNotifier;
  /** Vacation holds: notices held while a resident was away go out when they are back. */
  holds?: VacationHoldService;
}): ReminderJob {
  const { db, site, notifier } = deps;
  const siteId = site.site.id;
  const log = deps.log.child({ component: 'reminders' });
  const everyMs = site.notifications.overdueAfterDays * DAY_MS;
  const returnMs = site.notifications.returnAfterDays * DAY_MS;
  const room = roomFromSite(site.storage);
  const labels = new Map<string, { kind: ReminderParcel['location']['kind']; label: string }>();
  for (const shelf of room.shelves)
    for (const s of shelf.slots) labels.set(s.id, { kind: 'shelf', label: s.label });
  for (const l of room.lockers) labels.set(l.id, { kind: 'locker', label: l.label });
  labels.set(room.oversized.id, { kind: 'oversized', label: room.oversized.label });
  labels.set(room.overflow.id, { kind: 'overflow', label: room.overflow.label });

  const locationOf = (locationId: string) =>
    labels.get(locationId) ?? { kind: 'overflow' as const, label: locationId };

  /** Residents back from a hold get the notice they missed, once, with a fresh pickup code. */
  const releaseHeld = async (): Promise<Set<string>> => {
    const told = new Set<string>();
    if (!deps.holds) return told;
    for (const [residentId, ids] of await deps.holds.heldNoticesDue()) {
      const rows = await db
        .select()
        .from(packages)
        .where(and(inArray(packages.id, ids), eq(packages.status, 'checked_in')));
      const ok = await notifier.releaseHeld(
        residentId,
        rows.map((p) => ({
          packageId: p.id,
          trackingNumber: p.trackingNumber,
          carrier: p.carrier,
          location: locationOf(p.locationId),
        })),
      );
      if (!ok) continue;
      told.add(residentId);
      // The notice after the hold starts the reminder cadence afresh.
      await db
        .update(packages)
        .set({ remindedAt: new Date(deps.domainClock.now()) })
        .where(
          inArray(
            packages.id,
            rows.map((p) => p.id),
          ),
        );
    }
    if (told.size > 0) log.info('held notices sent after vacation holds', { residents: told.size });
    return told;
  };

  const pass = async (): Promise<ReminderRun> => {
    if (notifier.channels.length === 0) return { parcels: 0, residents: 0 };
    const released = await releaseHeld();
    const now = deps.domainClock.now();
    const due = await db
      .select()
      .from(packages)
      .where(
        and(
          waitingSince(siteId, new Date(now - everyMs)),
          // Past the return line the desk takes over; residents are not nagged further.
          gt(packages.checkedInAt, new Date(now - returnMs)),
          or(isNull(packages.remindedAt), lte(packages.remindedAt, new Date(now - everyMs))),
        ),
      );
    // `released` only when there were any: a pass without holds reads as before.
    const held = released.size > 0 ? { released: released.size } : {};
    if (due.length === 0) return { parcels: 0, residents: 0, ...held };

    // Parcels addressed to a unit remind everyone living there.
    const unitIds = [...new Set(due.filter((p) => !p.residentId).map((p) => p.unitId))];
    const household = unitIds.length
      ? await db
          .select({ id: residents.id, unitId: residents.unitId })
          .from(residents)
          .where(and(inArray(residents.unitId, unitIds), eq(residents.status, 'active')))
      : [];
    const byResident = new Map<string, typeof due>();
    for (const p of due) {
      const to = p.residentId
        ? [p.residentId]
        : household.filter((h) => h.unitId === p.unitId).map((h) => h.id);
      for (const r of to) byResident.set(r, [...(byResident.get(r) ?? []), p]);
    }
    let sent = 0;
    const reminded = new Set<string>();
    for (const [residentId, list] of byResident) {
      // Just told about these parcels after their hold: no reminder on top of it.
      if (released.has(residentId)) continue;
      const oldest = Math.min(...list.map((p) => p.checkedInAt.getTime()));
      const ok = await notifier.remind(
        residentId,
        list.map((p) => ({
          packageId: p.id,
          trackingNumber: p.trackingNumber,
          carrier: p.carrier,
          location: locationOf(p.locationId),
        })),
        Math.floor((now - oldest) / DAY_MS),
      );
      if (!ok) continue;
      sent++;
      for (const p of list) reminded.add(p.id);
    }
    if (reminded.size > 0)
      await db
        .update(packages)
        .set({ remindedAt: new Date(now), reminders: sql`${packages.reminders} + 1` })
        .where(inArray(packages.id, [...reminded]));
    if (sent > 0) log.info('reminders sent', { residents: sent, parcels: reminded.size });
    return { parcels: reminded.size, residents: sent, ...held };
  };

  // Overlapping passes would remind twice: the loop runs one pass at a time.
  const { start, stop, runOnce } = createRepeatingPass({
    clock: deps.clock,
    pass,
    nextDelayMs: () => site.notifications.reminderCheckMs,
    onError: (err) => log.warn('reminder pass failed; next pass retries', { err }),
  });
  return { start, stop, runOnce };
}
