/**
 * Keeps recordings within the site's retention: every `intervalMs`, the oldest segments past
 * `retainDays`, and then the oldest while all of them weigh more than the disk budget, are
 * deleted (file first, then the row is marked `deletedAt`), never one that a flag under review, a
 * clip being made or an open incident case still needs (vision's planRetention decides; this job
 * feeds it and acts).
 *
 * Rows are read oldest first in pages, so a box with months of 4 s segments never loads them
 * all: each page is planned with the budget that is left for it once every newer segment is
 * counted as kept, and the walk stops as soon as the next page can have nothing to delete.
 *
 * A file already gone is fine (the row is marked anyway); a file that cannot be deleted keeps
 * its row, and the next run tries again. Only paths inside DATA_DIR/recordings are ever deleted.
 * Gap rows carry no file; past `retainDays` they are marked deleted too.
 */
import { rm } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { and, asc, eq, gt, inArray, isNull, lt, ne, or, sql } from 'drizzle-orm';
import { clips, recordings, visionFlags, type Db } from '../../db/index.ts';
import type { Clock, TimerHandle } from '../../hardware/clock.ts';
import { planRetention, type ProtectedWindow, type RetentionSegment } from '../../vision/index.ts';
import type { Logger } from '../log/logger.ts';

const DAY_MS = 86_400_000;
export const BYTES_PER_GB = 1_000_000_000;

/** Deleting a recording's file. */
export interface RetentionFs {
  /** 'missing' when there was no such file (deleted before, or lost). Throws on other errors. */
  remove(path: string): Promise<'deleted' | 'missing'>;
}

export const nodeRetentionFs: RetentionFs = {
  async remove(path) {
    try {
      await rm(path);
      return 'deleted';
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
      throw e;
    }
  },
};

export interface RetentionJobOptions {
  db: Db;
  siteId: string;
  dataDir: string;
  /** The recorders' clock (rows are stamped with it). */
  clock: Clock;
  log: Logger;
  /** Age limit; null: none. */
  retainDays: number | null;
  /** Disk budget of all segments in bytes; null: none. */
  maxBytes: number | null;
  intervalMs: number;
  /** The first check this long after start; default min(intervalMs, 60 s). */
  firstRunAfterMs?: number;
  /** Rows read per page; default 2 000. */
  pageSize?: number;
  fs?: RetentionFs;
  /**
   * More windows to keep, read at every run: open incident cases (their items' video and their
   * evidence packages' clips). A case closed since the last run protects nothing any more.
   */
  extraProtected?: () => Promise<ProtectedWindow[]>;
}

export type RetentionBudget =
  | { state: 'no_budget' }
  | { state: 'met' }
  | { state: 'blocked_by_protection'; overBytes: number; protectedBytes: number };

export interface RetentionRun {
  deletedSegments: number;
  freedBytes: number;
  byAge: number;
  byBudget: number;
  /** Segments a rule would delete that a flag or clip keeps. */
  protectedKept: number;
  /** Rows whose file could not be deleted (kept, tried again next run). */
  failed: number;
  /** Rows with nonsense times or sizes, never deleted. */
  invalid: number;
  /** Gap rows past the age limit, marked deleted. */
  gapsExpired: number;
  /** Bytes of the segments kept. */
  keptBytes: number;
  budget: RetentionBudget;
}

export interface RetentionJob {
  start(): void;
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
  /** One check now (waits for a run in progress first). */
  runOnce(): Promise<RetentionRun>;
  /** The last finished check and when it ended (recorders' clock), or null before the first. */
  lastRun(): { at: number; run: RetentionRun } | null;
}

type SegmentRow = RetentionSegment & { id: string; cameraId: string };

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export function createRetentionJob(opts: RetentionJobOptions): RetentionJob {
  const { db, siteId, clock, log } = opts;
  const fs = opts.fs ?? nodeRetentionFs;
  const pageSize = Math.max(1, opts.pageSize ?? 2_000);
  const recordingsRoot = resolve(opts.dataDir, 'recordings');
  if (!(opts.intervalMs > 0)) throw new RangeError('retention intervalMs must be positive');

  /** The absolute file of a row's path, or null when it would leave DATA_DIR/recordings. */
  const fileOf = (path: string): string | null => {
    const full = resolve(opts.dataDir, path);
    const rel = relative(recordingsRoot, full);
    if (!path || rel === '' || rel.startsWith('..') || isAbsolute(rel)) return null;
    return join(recordingsRoot, rel);
  };

  const protectedWindows = async (): Promise<ProtectedWindow[]> => {
    const flags = await db
      .select({
        id: visionFlags.id,
        cameraId: visionFlags.cameraId,
        startAt: visionFlags.clipStartAt,
        endAt: visionFlags.clipEndAt,
      })
      .from(visionFlags)
      .where(and(eq(visionFlags.siteId, siteId), ne(visionFlags.status, 'dismissed')));
    const pending = await db
      .select({
        id: clips.id,
        cameraId: clips.cameraId,
        startAt: clips.startAt,
        endAt: clips.endAt,
      })
      .from(clips)
      .where(and(eq(clips.siteId, siteId), eq(clips.status, 'pending')));
    const extra = opts.extraProtected ? await opts.extraProtected() : [];
    return [
      ...extra,
      ...flags.map((f) => ({
        kind: 'flag' as const,
        id: f.id,
        cameraId: f.cameraId,
        startAt: f.startAt.getTime(),
        endAt: f.endAt.getTime(),
      })),
      // A clip being assembled is an export in progress: its segments must still be there.
      ...pending.map((c) => ({
        kind: 'export' as const,
        id: c.id,
        cameraId: c.cameraId,
        startAt: c.startAt.getTime(),
        endAt: c.endAt.getTime(),
      })),
    ];
  };

  const liveSegments = and(
    eq(recordings.siteId, siteId),
    eq(recordings.kind, 'segment'),
    isNull(recordings.deletedAt),
  );

  const page = async (after: { startAt: Date; id: string } | null): Promise<SegmentRow[]> => {
    const rows = await db
      .select({
        id: recordings.id,
        cameraId: recordings.cameraId,
        path: recordings.path,
        startAt: recordings.startAt,
        endAt: recordings.endAt,
        bytes: recordings.bytes,
      })
      .from(recordings)
      .where(
        and(
          liveSegments,
          after
            ? or(
                gt(recordings.startAt, after.startAt),
                and(eq(recordings.startAt, after.startAt), gt(recordings.id, after.id)),
              )
            : undefined,
        ),
      )
      .orderBy(asc(recordings.startAt), asc(recordings.id))
      .limit(pageSize);
    return rows.map((r) => ({
      id: r.id,
      cameraId: r.cameraId,
      path: r.path,
      startAt: r.startAt.getTime(),
      endAt: r.endAt.getTime(),
      bytes: r.bytes,
    }));
  };

  const run = async (): Promise<RetentionRun> => {
    const now = clock.now();
    const windows = await protectedWindows();
    const [{ total }] = (await db
      .select({ total: sql<string>`coalesce(sum(${recordings.bytes}), 0)::text` })
      .from(recordings)
      .where(liveSegments)) as [{ total: string }];
    let keptBytes = Number(total);
    const horizon = opts.retainDays === null ? null : now - opts.retainDays * DAY_MS;
    const result: RetentionRun = {
      deletedSegments: 0,
      freedBytes: 0,
      byAge: 0,
      byBudget: 0,
      protectedKept: 0,
      failed: 0,
      invalid: 0,
      gapsExpired: 0,
      keptBytes: 0,
      budget: { state: 'no_budget' },
    };
    let protectedBytes = 0;
    let after: { startAt: Date; id: string } | null = null;
    for (;;) {
      const rows = await page(after);
      if (rows.length === 0) break;
      const last = rows.at(-1)!;
      after = { startAt: new Date(last.startAt), id: last.id };
      const pageBytes = rows.reduce(
        (sum, r) => sum + (Number.isFinite(r.bytes) && r.bytes > 0 ? r.bytes : 0),
        0,
      );
      // Every newer segment counts as kept: this page may only use what the budget leaves.
      const pageBudget =
        opts.maxBytes === null ? null : Math.max(0, opts.maxBytes - (keptBytes - pageBytes));
      const plan = planRetention({
        segments: rows,
        now,
        maxAgeDays: opts.retainDays,
        maxBytes: pageBudget,
        protectedWindows: windows,
      });
      result.protectedKept += plan.protectedKept;
      result.invalid += plan.invalid.length;
      if (plan.budget.state === 'blocked_by_protection')
        protectedBytes += plan.budget.protectedBytes;
      for (const inv of plan.invalid) {
        log.warn('recording row with nonsense times or size; never deleted', {
          id: inv.segment.id,
          path: inv.segment.path,
          reason: inv.reason,
        });
      }

      const removed: string[] = [];
      for (const d of plan.delete) {
        const s = d.segment;
        const file = fileOf(s.path);
        if (file === null) {
          result.failed++;
          log.error('recording row points outside DATA_DIR/recordings; file not deleted', {
            id: s.id,
            path: s.path,
          });
          continue;
        }
        try {
          await fs.remove(file);
        } catch (e) {
          result.failed++;
          log.error('could not delete a recording; tried again next time', {
            path: s.path,
            err: errorText(e),
          });
          continue;
        }
        removed.push(s.id);
        keptBytes -= s.bytes;
        result.deletedSegments++;
        result.freedBytes += s.bytes;
        if (d.reason === 'age') result.byAge++;
        else result.byBudget++;
      }
      if (removed.length > 0) {
        await db
          .update(recordings)
          .set({ deletedAt: new Date(now) })
          .where(and(eq(recordings.siteId, siteId), inArray(recordings.id, removed)));
      }

      const moreByAge = horizon !== null && last.endAt < horizon;
      const moreByBudget = opts.maxBytes !== null && keptBytes > opts.maxBytes;
      if (rows.length < pageSize || !(moreByAge || moreByBudget)) break;
    }

    if (horizon !== null) {
      const gaps = await db
        .update(recordings)
        .set({ deletedAt: new Date(now) })
        .where(
          and(
            eq(recordings.siteId, siteId),
            eq(recordings.kind, 'gap'),
            isNull(recordings.deletedAt),
            lt(recordings.endAt, new Date(horizon)),
          ),
        )
        .returning({ id: recordings.id });
      result.gapsExpired = gaps.length;
    }
    result.keptBytes = keptBytes;
    if (opts.maxBytes === null) result.budget = { state: 'no_budget' };
    else if (keptBytes <= opts.maxBytes) result.budget = { state: 'met' };
    else
      result.budget = {
        state: 'blocked_by_protection',
        overBytes: keptBytes - opts.maxBytes,
        protectedBytes,
      };
    return result;
  };

  let timer: TimerHandle | undefined;
  let running: Promise<RetentionRun> | null = null;
  let stopped = true;

  let last: { at: number; run: RetentionRun } | null = null;
  const runLogged = async (): Promise<RetentionRun> => {
    const r = await run();
    last = { at: clock.now(), run: r };
    if (r.deletedSegments > 0 || r.gapsExpired > 0) {
      log.info('recordings deleted by retention', {
        segments: r.deletedSegments,
        freedBytes: r.freedBytes,
        byAge: r.byAge,
        byBudget: r.byBudget,
        gaps: r.gapsExpired,
        keptBytes: r.keptBytes,
      });
    }
    if (r.budget.state === 'blocked_by_protection') {
      log.warn('recordings over the disk budget: what is left is kept for flags and clips', {
        overBytes: r.budget.overBytes,
        protectedBytes: r.budget.protectedBytes,
        protectedSegments: r.protectedKept,
        hint: 'review or dismiss open flags, or raise recording.maxDiskGb',
      });
    }
    return r;
  };

  const runOnce = (): Promise<RetentionRun> => {
    const next = (running ?? Promise.resolve()).then(
      () => runLogged(),
      () => runLogged(),
    );
    const mine = next.finally(() => {
      if (running === mine) running = null;
    });
    running = mine;
    return mine;
  };

  const schedule = (ms: number) => {
    if (stopped) return;
    timer = clock.setTimeout(() => {
      timer = undefined;
      runOnce().then(
        () => schedule(opts.intervalMs),
        (e: unknown) => {
          log.warn('retention check failed; trying again later', { err: errorText(e) });
          schedule(opts.intervalMs);
        },
      );
    }, ms);
  };

  return {
    lastRun: () => last,
    start() {
      if (!stopped) return;
      stopped = false;
      schedule(opts.firstRunAfterMs ?? Math.min(opts.intervalMs, 60_000));
    },
    async stop() {
      stopped = true;
      if (timer) clock.clearTimeout(timer);
      timer = undefined;
      await running?.catch(() => undefined);
    },
    runOnce,
  };
}
