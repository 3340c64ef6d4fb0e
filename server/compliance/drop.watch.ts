/**
 * The drop watch: a carrier code opened the door, the carrier was in the room, and nothing was
 * checked in. Parcels left uncounted on the floor (or taken) are what the room exists to stop,
 * so once such a visit has ended and `compliance.dropGraceMs` has passed without a check-in,
 * staff get a `carrier_drop` flag in the review queue with the door camera's clip of the visit.
 *
 * Every `compliance.checkEveryMs` it reads the visits of the last day from the door's record.
 * One flag per visit, ever: the flag carries the visit's first grant as its entry, and visits
 * already flagged (in the database, or raised by this run and still queued through an outage)
 * are skipped, so a restart or an overlapping pass raises nothing twice.
 */
import { and, eq, gte, inArray, sql } from 'drizzle-orm';
import { visionFlags, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import { createRepeatingPass } from '../jobs/repeating.pass.ts';
import { pickSiteCamera } from '../cameras/clip.service.ts';
import type { SiteConfig } from '../config/index.ts';
import type { FlagStore } from '../flags/flag.store.ts';
import type { Logger } from '../log/logger.ts';
import type { ComplianceService } from './compliance.report.ts';
import type { CarrierVisit } from './visit.builder.ts';

/** How far back a pass looks: drops older than this at start-up are left to the report. */
export const DROP_LOOKBACK_MS = 24 * 3_600_000;
/** Video kept after the visit ended: the carrier walking away. */
export const DROP_CLIP_TAIL_MS = 5_000;

export interface DropPass {
  /** Flags raised this pass. */
  raised: number;
  /** Ended visits with no check-in still inside the grace period. */
  pending: number;
}

export interface DropWatch {
  start(): void;
  stop(): Promise<void>;
  /** One pass now (the timer runs it too); passes never overlap. */
  runOnce(): Promise<DropPass>;
}

export interface DropWatchDeps {
  db: Db;
  site: Pick<SiteConfig, 'site' | 'doors' | 'cameras' | 'compliance'>;
  compliance: Pick<ComplianceService, 'loadVisits' | 'statusOf'>;
  flags: Pick<FlagStore, 'raiseRecordFlag'>;
  /** Domain time: when a visit ended, whether the grace has passed. */
  clock: Clock;
  /** Paces the passes; default `clock`. */
  timerClock?: Clock;
  log: Logger;
}

export function createDropWatch(deps: DropWatchDeps): DropWatch {
  const { db, site, clock } = deps;
  const siteId = site.site.id;
  const cfg = site.compliance;
  const timerClock = deps.timerClock ?? clock;
  const log = deps.log.child({ component: 'compliance' });
  const doors = new Map(site.doors.map((d) => [d.id, d]));
  /** Visits flagged by this run (a queued flag is not in the database yet). */
  const raisedHere = new Set<string>();

  const cameraOf = (doorId: string) => pickSiteCamera(site.cameras, { doorIds: [doorId] });

  async function alreadyFlagged(visitIds: string[], since: number): Promise<Set<string>> {
    if (visitIds.length === 0) return new Set();
    const rows = await db
      .select({ entryEventId: visionFlags.entryEventId })
      .from(visionFlags)
      .where(
        and(
          eq(visionFlags.siteId, siteId),
          sql`${visionFlags.kind} = 'carrier_drop'`,
          gte(visionFlags.at, new Date(since)),
          inArray(visionFlags.entryEventId, visitIds),
        ),
      );
    return new Set(rows.map((r) => r.entryEventId).filter((id): id is string => id !== null));
  }

  async function raise(v: CarrierVisit, carrier: string): Promise<void> {
    const door = doors.get(v.doorId);
    const cameraId = cameraOf(v.doorId);
    const before = door?.clipBeforeMs ?? 5_000;
    await deps.flags.raiseRecordFlag({
      kind: 'carrier_drop',
      severity: 'medium',
      cameraId,
      doorId: v.doorId,
      at: v.endAt,
      clipWindow: { startAt: v.startAt - before, endAt: v.endAt + DROP_CLIP_TAIL_MS },
      entryEventId: v.id,
      evidence: {
        carrier,
        carrierCodeId: v.carrierCodeId,
        doorId: v.doorId,
        doorName: door?.name ?? v.doorId,
        visitStartAt: new Date(v.startAt).toISOString(),
        visitEndAt: new Date(v.endAt).toISOString(),
        timeInRoomMs: v.timeInRoomMs ?? v.endAt - v.startAt,
        openings: v.openings,
        grantEventIds: [...v.grantEventIds],
        exitSeen: v.exitSeen,
        graceMs: cfg.dropGraceMs,
        checkIns: 0,
      },
    });
  }

  const pass = async (): Promise<DropPass> => {
    const now = clock.now();
    const from = now - DROP_LOOKBACK_MS;
    const { visits, carriers } = await deps.compliance.loadVisits(from, now, now);
    const recent = visits.filter((v) => v.startAt >= from);
    const drops = recent.filter(
      (v) => deps.compliance.statusOf(v, now) === 'drop' && !raisedHere.has(v.id),
    );
    const pending = recent.filter((v) => deps.compliance.statusOf(v, now) === 'pending').length;
    const flagged = await alreadyFlagged(
      drops.map((v) => v.id),
      from,
    );
    let raised = 0;
    for (const v of drops) {
      if (flagged.has(v.id)) {
        raisedHere.add(v.id);
        continue;
      }
      const carrier = carriers.get(v.carrierCodeId) ?? 'unknown carrier';
      await raise(v, carrier);
      raisedHere.add(v.id);
      raised++;
      log.info('carrier drop flagged', {
        visitId: v.id,
        carrier,
        carrierCodeId: v.carrierCodeId,
        doorId: v.doorId,
      });
    }
    // Visits that left the look-back window can be forgotten.
    if (raisedHere.size > 10_000) raisedHere.clear();
    return { raised, pending };
  };

  const loop = createRepeatingPass({
    clock: timerClock,
    pass,
    nextDelayMs: () => cfg.checkEveryMs,
    onError: (err) => log.warn('carrier drop check failed; trying again', { err }),
  });

  return {
    start() {
      if (cfg.dropFlags) loop.start();
    },
    async stop() {
      loop.stop();
      await loop.current()?.catch(() => undefined);
    },
    runOnce: loop.runOnce,
  };
}
