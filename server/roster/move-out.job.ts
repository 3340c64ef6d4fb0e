import { and, asc, eq, gt, lte } from 'drizzle-orm';
import { residents, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import { createRepeatingPass } from '../jobs/repeating.pass.ts';
import type { Logger } from '../log/logger.ts';
import { carryOutMoveOuts } from './roster.import.ts';

export interface MoveOutJob {
  start(): void;
  stop(): void;
  /** One pass now: residents whose move-out time has come lose their cards and codes. */
  runOnce(): Promise<{ movedOut: number; cardsRevoked: number; codesRevoked: number }>;
}

/**
 * Carries out move-outs dated in the future when their time comes. The doors do not wait for it:
 * the snapshot loader already treats a resident past `moveOutAt` as gone, so a card stops opening
 * at the minute of the move-out even when this job runs late; the job makes it permanent (cards
 * revoked, codes revoked, status moved_out) and visible in the console. It wakes at the next
 * move-out due, and at least every `maxIntervalMs`.
 */
export function createMoveOutJob(deps: {
  db: Db;
  siteId: string;
  /** Paces the passes. */
  clock: Clock;
  /** Decides who is due (the site's domain time). */
  domainClock: Clock;
  log: Logger;
  onAccessChange: () => Promise<unknown>;
  maxIntervalMs?: number;
}): MoveOutJob {
  const { db, siteId } = deps;
  const maxMs = deps.maxIntervalMs ?? 60_000;

  const pass: MoveOutJob['runOnce'] = async () => {
    const now = new Date(deps.domainClock.now());
    const due = await db
      .select({ id: residents.id })
      .from(residents)
      .where(
        and(
          eq(residents.siteId, siteId),
          eq(residents.status, 'active'),
          lte(residents.moveOutAt, now),
        ),
      );
    if (due.length === 0) return { movedOut: 0, cardsRevoked: 0, codesRevoked: 0 };
    const done = await db.transaction((tx) =>
      carryOutMoveOuts(
        tx,
        siteId,
        due.map((d) => d.id),
        now,
      ),
    );
    await deps.onAccessChange();
    deps.log.info('move-outs carried out', { residents: due.length, ...done });
    return { movedOut: due.length, ...done };
  };

  const nextDelay = async (): Promise<number> => {
    const now = deps.domainClock.now();
    const [next] = await db
      .select({ at: residents.moveOutAt })
      .from(residents)
      .where(
        and(
          eq(residents.siteId, siteId),
          eq(residents.status, 'active'),
          gt(residents.moveOutAt, new Date(now)),
        ),
      )
      .orderBy(asc(residents.moveOutAt))
      .limit(1);
    const wait = next?.at ? next.at.getTime() - now : maxMs;
    return Math.max(1_000, Math.min(maxMs, wait));
  };

  const { start, stop, runOnce } = createRepeatingPass({
    clock: deps.clock,
    pass,
    nextDelayMs: () => nextDelay().catch(() => maxMs),
    firstDelayMs: 1_000,
    onError: (err) => deps.log.warn('move-out pass failed; retrying', { err }),
  });
  return { start, stop, runOnce };
}
