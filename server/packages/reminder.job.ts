import { and, eq, gt, inArray, isNull, lte, or, sql } from 'drizzle-orm';
import { packages, residents, type Db } from '../../db/index.ts';
import type { Clock, TimerHandle } from '../../hardware/clock.ts';
import type { SiteConfig } from '../config/index.ts';
import type { Logger } from '../log/logger.ts';
import type { ParcelNotifier, ReminderParcel } from './parcel.notifier.ts';
import { roomFromSite } from './slot.assigner.ts';

export interface ReminderRun {
  /** Parcels named in a reminder this run. */
  parcels: number;
  /** Reminders sent (one per resident). */
  residents: number;
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

  let timer: TimerHandle | undefined;
  let stopped = true;
  let running: Promise<ReminderRun> | undefined;

  const pass = async (): Promise<ReminderRun> => {
    if (notifier.channels.length === 0) return { parcels: 0, residents: 0 };
    const now = deps.domainClock.now();
    const due = await db
      .select()
      .from(packages)
      .where(
        and(
          eq(packages.siteId, siteId),
          eq(packages.status, 'checked_in'),
          lte(packages.checkedInAt, new Date(now - everyMs)),
          // Past the return line the desk takes over; residents are not nagged further.
          gt(packages.checkedInAt, new Date(now - returnMs)),
          or(isNull(packages.remindedAt), lte(packages.remindedAt, new Date(now - everyMs))),
        ),
      );
    if (due.length === 0) return { parcels: 0, residents: 0 };

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
      const oldest = Math.min(...list.map((p) => p.checkedInAt.getTime()));
      const ok = await notifier.remind(
        residentId,
        list.map((p) => ({
          packageId: p.id,
          trackingNumber: p.trackingNumber,
          carrier: p.carrier,
          location: labels.get(p.locationId) ?? { kind: 'overflow', label: p.locationId },
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
    return { parcels: reminded.size, residents: sent };
  };

  const runOnce = (): Promise<ReminderRun> => {
    // Overlapping passes would remind twice; a second caller shares the running pass.
    running ??= pass().finally(() => {
      running = undefined;
    });
    return running;
  };

  const schedule = () => {
    if (stopped) return;
    timer = deps.clock.setTimeout(() => {
      runOnce()
        .catch((err: unknown) => log.warn('reminder pass failed; next pass retries', { err }))
        .finally(schedule);
    }, site.notifications.reminderCheckMs);
  };

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      schedule();
    },
    stop() {
      stopped = true;
      if (timer) deps.clock.clearTimeout(timer);
    },
    runOnce,
  };
}
