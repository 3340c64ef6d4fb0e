import { timingSafeEqual } from 'node:crypto';
import { and, arrayContains, asc, eq, gt, gte, isNull, lte } from 'drizzle-orm';
import {
  accessEvents,
  newId,
  notificationAttempts,
  packages,
  residents,
  vacationHolds,
  type Db,
} from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';

const DAY_MS = 86_400_000;
/** A hold is at most this long: a year away is a move-out, not a vacation. */
export const MAX_HOLD_MS = 366 * DAY_MS;
/** The "pause notices" link in a notice works this long. */
export const HOLD_LINK_MS = 30 * DAY_MS;

import type { HoldView } from './pickup.api.ts';

export type { HoldView };

export interface VacationHoldService {
  /** A resident's holds that have not ended (or ended within a week), oldest first. */
  list(residentId: string): Promise<HoldView[]>;
  create(
    residentId: string,
    hold: { startsAt: number; endsAt: number; note?: string | undefined },
    createdBy: string,
  ): Promise<HoldView>;
  /** Null when there is no such hold on this site. */
  cancel(holdId: string): Promise<HoldView | null>;
  /** The hold covering `at`, or null: notices and reminders wait while there is one. */
  activeHold(residentId: string, at: number): Promise<{ id: string; endsAt: number } | null>;
  /** The signed, expiring token of the resident's "pause notices" page. */
  signLink(residentId: string): string;
  /** The resident a link token belongs to, or null when it is forged or expired. */
  verifyLink(token: string): { residentId: string; expiresAt: number } | null;
  /**
   * Held check-in notices whose resident is back: per resident, the parcels still waiting that
   * were held and have not been notified since. Each parcel is handed out once per process; a
   * notice sent records attempts, which keep it from coming back after a restart.
   */
  heldNoticesDue(): Promise<Map<string, string[]>>;
}

const view = (h: typeof vacationHolds.$inferSelect): HoldView => ({
  id: h.id,
  residentId: h.residentId,
  startsAt: h.startsAt.toISOString(),
  endsAt: h.endsAt.toISOString(),
  note: h.note,
  createdBy: h.createdBy,
  createdAt: h.createdAt.toISOString(),
  cancelledAt: h.cancelledAt?.toISOString() ?? null,
});

export function createVacationHolds(deps: {
  db: Db;
  siteId: string;
  clock: Clock;
  /** Keyed hash with the site secret, hex: signs the self-service links. */
  hashCode: (value: string) => string;
  /** Held notices older than this are past the return line; nobody is told any more. */
  returnAfterDays: number;
}): VacationHoldService {
  const { db, siteId, clock } = deps;
  const released = new Set<string>();

  const activeHold: VacationHoldService['activeHold'] = async (residentId, at) => {
    const [h] = await db
      .select({ id: vacationHolds.id, endsAt: vacationHolds.endsAt })
      .from(vacationHolds)
      .where(
        and(
          eq(vacationHolds.siteId, siteId),
          eq(vacationHolds.residentId, residentId),
          isNull(vacationHolds.cancelledAt),
          lte(vacationHolds.startsAt, new Date(at)),
          gt(vacationHolds.endsAt, new Date(at)),
        ),
      )
      .orderBy(asc(vacationHolds.endsAt))
      .limit(1);
    return h ? { id: h.id, endsAt: h.endsAt.getTime() } : null;
  };

  const sign = (payload: string) => deps.hashCode(`vacation-hold-link:${payload}`).slice(0, 32);

  return {
    async list(residentId) {
      const rows = await db
        .select()
        .from(vacationHolds)
        .where(
          and(
            eq(vacationHolds.siteId, siteId),
            eq(vacationHolds.residentId, residentId),
            gt(vacationHolds.endsAt, new Date(clock.now() - 7 * DAY_MS)),
          ),
        )
        .orderBy(asc(vacationHolds.startsAt), asc(vacationHolds.id));
      return rows.map(view);
    },
    async create(residentId, hold, createdBy) {
      const now = clock.now();
      const [row] = await db
        .insert(vacationHolds)
        .values({
          id: newId(now),
          siteId,
          residentId,
          startsAt: new Date(hold.startsAt),
          endsAt: new Date(hold.endsAt),
          note: hold.note ?? '',
          createdBy,
        })
        .returning();
      return view(row!);
    },
    async cancel(holdId) {
      const [row] = await db
        .update(vacationHolds)
        .set({ cancelledAt: new Date(clock.now()) })
        .where(and(eq(vacationHolds.id, holdId), eq(vacationHolds.siteId, siteId)))
        .returning();
      return row ? view(row) : null;
    },
    activeHold,
    signLink(residentId) {
      const payload = `${residentId}.${(clock.now() + HOLD_LINK_MS).toString(36)}`;
      return `${Buffer.from(payload).toString('base64url')}.${sign(payload)}`;
    },
    verifyLink(token) {
      const m = /^([A-Za-z0-9_-]{8,200})\.([0-9a-f]{32})$/.exec(token);
      if (!m) return null;
      const payload = Buffer.from(m[1]!, 'base64url').toString('utf8');
      const expected = Buffer.from(sign(payload));
      const given = Buffer.from(m[2]!);
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
      const dot = payload.lastIndexOf('.');
      const expiresAt = parseInt(payload.slice(dot + 1), 36);
      if (dot <= 0 || !Number.isFinite(expiresAt) || expiresAt <= clock.now()) return null;
      return { residentId: payload.slice(0, dot), expiresAt };
    },
    async heldNoticesDue() {
      const now = clock.now();
      const held = await db
        .select({
          at: accessEvents.at,
          residentId: accessEvents.residentId,
          packageId: accessEvents.packageId,
        })
        .from(accessEvents)
        .innerJoin(packages, eq(packages.id, accessEvents.packageId))
        .where(
          and(
            eq(accessEvents.siteId, siteId),
            eq(accessEvents.type, 'notice_held'),
            gte(accessEvents.at, new Date(now - deps.returnAfterDays * DAY_MS)),
            eq(packages.status, 'checked_in'),
          ),
        );
      const due = new Map<string, string[]>();
      const away = new Map<string, boolean>();
      for (const h of held) {
        if (!h.residentId || !h.packageId) continue;
        const key = `${h.residentId}/${h.packageId}`;
        if (released.has(key)) continue;
        if (!away.has(h.residentId)) {
          const [r] = await db
            .select({ status: residents.status })
            .from(residents)
            .where(eq(residents.id, h.residentId));
          away.set(
            h.residentId,
            r?.status !== 'active' || (await activeHold(h.residentId, now)) !== null,
          );
        }
        if (away.get(h.residentId)) continue;
        const [told] = await db
          .select({ id: notificationAttempts.id })
          .from(notificationAttempts)
          .where(
            and(
              eq(notificationAttempts.siteId, siteId),
              eq(notificationAttempts.residentId, h.residentId),
              arrayContains(notificationAttempts.packageIds, [h.packageId]),
              gte(notificationAttempts.at, h.at),
            ),
          )
          .limit(1);
        if (told) continue;
        released.add(key);
        const list = due.get(h.residentId) ?? [];
        if (!list.includes(h.packageId)) list.push(h.packageId);
        due.set(h.residentId, list);
      }
      return due;
    },
  };
}
