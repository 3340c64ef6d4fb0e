import { and, eq, gt, sql } from 'drizzle-orm';
import {
  packages,
  units,
  webhookDeliveries,
  webhookSubscriptions,
  type Db,
} from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import { createRepeatingPass } from '../jobs/repeating.pass.ts';
import { waitingSince } from '../packages/waiting.parcels.ts';
import type { Logger } from '../log/logger.ts';
import type { ParcelOverdue, WebhookSite } from './catalogue.ts';

const DAY_MS = 86_400_000;

export interface OverdueScanner {
  start(): void;
  stop(): void;
  /** One look now; resolves with the parcels announced. */
  runOnce(): Promise<number>;
}

/**
 * Announces `parcel.overdue` once per parcel, when it has waited `overdueAfterDays`. The event id
 * is the parcel's id with `.overdue`, and a parcel with a delivery row for it is not announced
 * again, so restarts and overlapping looks send nothing twice. Only parcels that became overdue
 * after the first subscription to the event existed are announced: subscribing does not replay
 * the building's history.
 */
export function createOverdueScanner(deps: {
  db: Db;
  site: WebhookSite;
  /** Paces the looks. */
  clock: Clock;
  /** Decides what is overdue (the site's domain time). */
  domainClock: Clock;
  log: Logger;
  overdueAfterDays: number;
  publish: (event: ParcelOverdue) => Promise<number>;
  intervalMs?: number;
}): OverdueScanner {
  const { db } = deps;
  const siteId = deps.site.id;
  const overdueMs = deps.overdueAfterDays * DAY_MS;
  const every = deps.intervalMs ?? 300_000;

  const pass = async (): Promise<number> => {
    const [first] = await db
      .select({ since: sql<Date | string | null>`min(${webhookSubscriptions.createdAt})` })
      .from(webhookSubscriptions)
      .where(
        and(
          eq(webhookSubscriptions.siteId, siteId),
          eq(webhookSubscriptions.active, true),
          sql`(cardinality(${webhookSubscriptions.events}) = 0 or 'parcel.overdue' = any(${webhookSubscriptions.events}))`,
        ),
      );
    if (!first?.since) return 0;
    const since = new Date(first.since).getTime();
    const now = deps.domainClock.now();
    const due = await db
      .select({
        id: packages.id,
        trackingNumber: packages.trackingNumber,
        carrier: packages.carrier,
        residentId: packages.residentId,
        checkedInAt: packages.checkedInAt,
        unit: units.label,
      })
      .from(packages)
      .innerJoin(units, eq(units.id, packages.unitId))
      .where(
        and(
          waitingSince(siteId, new Date(now - overdueMs)),
          gt(packages.checkedInAt, new Date(since - overdueMs)),
          sql`not exists (select 1 from ${webhookDeliveries} where ${webhookDeliveries.siteId} = ${siteId} and ${webhookDeliveries.eventId} = ${packages.id} || '.overdue')`,
        ),
      )
      .limit(1000);
    for (const p of due) {
      await deps.publish({
        id: `${p.id}.overdue`,
        type: 'parcel.overdue',
        at: new Date(p.checkedInAt.getTime() + overdueMs).toISOString(),
        site: deps.site,
        parcel: {
          id: p.id,
          trackingNumber: p.trackingNumber,
          carrier: p.carrier,
          unit: p.unit,
          ...(p.residentId ? { residentId: p.residentId } : {}),
          checkedInAt: p.checkedInAt.toISOString(),
        },
        waitingDays: Math.floor((now - p.checkedInAt.getTime()) / DAY_MS),
      });
    }
    return due.length;
  };

  const { start, stop, runOnce } = createRepeatingPass({
    clock: deps.clock,
    pass,
    nextDelayMs: () => every,
    onError: (err) => deps.log.warn('overdue webhook look failed', { err }),
  });
  return { start, stop, runOnce };
}
