import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  clips,
  newId,
  openDatabase,
  recordings,
  visionFlags,
  type Database,
} from '../../db/index.ts';
import { manualClock } from '../../hardware/clock.ts';
import { makeTempDir, type TempDir } from '../../test/harness/temp-dir.ts';
import { demoSite, parseSite } from '../config/index.ts';
import { memoryLogger } from '../log/logger.ts';
import { syncSite } from '../site.sync.ts';
import { createRetentionJob, type RetentionFs, type RetentionJobOptions } from './retention.job.ts';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 21, 12, 0, 0);
const CAM = 'room-cam';
const site = parseSite(demoSite(), 'demo');

let database: Database;
let dir: TempDir;

beforeAll(async () => {
  database = await openDatabase({ dataDir: 'memory://' });
  await syncSite(database.db, site, new Date(NOW));
});

afterAll(async () => {
  await database?.close();
});

beforeEach(async () => {
  dir = await makeTempDir('parcelroom-retention');
  await database.db.delete(recordings);
  await database.db.delete(visionFlags);
  await database.db.delete(clips);
});

afterEach(async () => {
  await dir.cleanup();
});

/** A real segment file of `bytes` bytes and its row; `ageDays` is how long ago it ended. */
async function segment(name: string, ageDays: number, bytes = 1_000, camera = CAM) {
  const endAt = NOW - ageDays * DAY;
  const startAt = endAt - 4_000;
  const path = `recordings/${camera}/${name}.mp4`;
  await mkdir(dirname(join(dir.path, path)), { recursive: true });
  await writeFile(join(dir.path, path), Buffer.alloc(bytes));
  const id = newId(startAt);
  await database.db.insert(recordings).values({
    id,
    siteId: 'demo',
    cameraId: camera,
    path,
    startAt: new Date(startAt),
    endAt: new Date(endAt),
    bytes,
    kind: 'segment',
  });
  return { id, path, file: join(dir.path, path), startAt, endAt };
}

async function flag(
  over: { status?: 'new' | 'confirmed' | 'dismissed' | 'escalated'; at: number },
  camera = CAM,
) {
  await database.db.insert(visionFlags).values({
    id: newId(over.at),
    siteId: 'demo',
    kind: 'loitering',
    cameraId: camera,
    at: new Date(over.at),
    clipStartAt: new Date(over.at - 5_000),
    clipEndAt: new Date(over.at + 5_000),
    status: over.status ?? 'new',
  });
}

function job(over: Partial<RetentionJobOptions> = {}) {
  const log = memoryLogger();
  const clock = manualClock(NOW);
  const j = createRetentionJob({
    db: database.db,
    siteId: 'demo',
    dataDir: dir.path,
    clock,
    log,
    retainDays: 14,
    maxBytes: null,
    intervalMs: 600_000,
    ...over,
  });
  return { job: j, log, clock };
}

const live = async () =>
  (await database.db.select().from(recordings))
    .filter((r) => r.deletedAt === null)
    .map((r) => r.path)
    .sort();

describe('retention job', () => {
  it('deletes segments past retainDays, file and row, oldest first, and keeps the rest', async () => {
    const old1 = await segment('old1', 20);
    const old2 = await segment('old2', 15);
    const fresh = await segment('fresh', 1);
    const { job: j, log } = job();
    expect(j.lastRun()).toBeNull();
    const run = await j.runOnce();
    // What /api/health shows: the last check, when it ended and what it found.
    expect(j.lastRun()).toEqual({ at: NOW, run });
    expect(run).toMatchObject({
      deletedSegments: 2,
      freedBytes: 2_000,
      byAge: 2,
      byBudget: 0,
      failed: 0,
      keptBytes: 1_000,
      budget: { state: 'no_budget' },
    });
    expect(existsSync(old1.file)).toBe(false);
    expect(existsSync(old2.file)).toBe(false);
    expect(existsSync(fresh.file)).toBe(true);
    expect(await live()).toEqual([fresh.path]);
    const deleted = (await database.db.select().from(recordings)).filter((r) => r.deletedAt);
    expect(deleted.map((r) => r.deletedAt?.getTime())).toEqual([NOW, NOW]);
    expect(log.records).toContainEqual(
      expect.objectContaining({ msg: 'recordings deleted by retention', segments: 2 }),
    );
    // A second run finds nothing more to do.
    expect(await j.runOnce()).toMatchObject({ deletedSegments: 0, keptBytes: 1_000 });
  });

  it('never deletes what an open flag or a clip being made needs; a dismissed flag protects nothing', async () => {
    const flagged = await segment('flagged', 20);
    const dismissed = await segment('dismissed', 19);
    const exported = await segment('exported', 18);
    const otherCam = await segment('other-cam', 17, 1_000, 'yard-cam');
    await flag({ at: flagged.startAt + 1_000, status: 'confirmed' });
    await flag({ at: dismissed.startAt + 1_000, status: 'dismissed' });
    // A flag on another camera in the same minute does not protect this one's video.
    await flag({ at: otherCam.startAt + 1_000 }, 'some-other-camera');
    await database.db.insert(clips).values({
      id: newId(NOW),
      siteId: 'demo',
      cameraId: CAM,
      startAt: new Date(exported.startAt - 1_000),
      endAt: new Date(exported.endAt + 1_000),
      status: 'pending',
    });
    const run = await job().job.runOnce();
    expect(run).toMatchObject({ deletedSegments: 2, protectedKept: 2 });
    expect(await live()).toEqual([exported.path, flagged.path].sort());
    expect(existsSync(flagged.file)).toBe(true);
    expect(existsSync(dismissed.file)).toBe(false);
    expect(existsSync(otherCam.file)).toBe(false);
  });

  it('keeps what open cases need, read at every run, and lets go once the case is closed', async () => {
    const evidence = await segment('evidence', 20);
    const packaged = await segment('packaged', 19, 1_000, 'yard-cam');
    const other = await segment('other', 18);
    let caseOpen = true;
    const { job: j } = job({
      extraProtected: async () =>
        caseOpen
          ? [
              // An item's window protects every camera; a package's clip only its own camera.
              { kind: 'case', id: 'case-1', startAt: evidence.startAt, endAt: evidence.endAt },
              {
                kind: 'export',
                id: 'export-1',
                cameraId: 'yard-cam',
                startAt: packaged.startAt,
                endAt: packaged.endAt,
              },
              {
                kind: 'export',
                id: 'export-1',
                cameraId: 'yard-cam',
                startAt: other.startAt,
                endAt: other.endAt,
              },
            ]
          : [],
    });
    expect(await j.runOnce()).toMatchObject({ deletedSegments: 1, protectedKept: 2 });
    expect(await live()).toEqual([evidence.path, packaged.path].sort());
    expect(existsSync(other.file)).toBe(false);
    caseOpen = false;
    expect(await j.runOnce()).toMatchObject({ deletedSegments: 2, protectedKept: 0 });
    expect(await live()).toEqual([]);
  });

  it('deletes nothing when the open cases cannot be read', async () => {
    const kept = await segment('kept', 20);
    const { job: j } = job({
      extraProtected: () => Promise.reject(new Error('database away')),
    });
    await expect(j.runOnce()).rejects.toThrow('database away');
    expect(existsSync(kept.file)).toBe(true);
    expect(await live()).toEqual([kept.path]);
  });

  it('keeps to the disk budget oldest first, and says when protection keeps it over', async () => {
    const a = await segment('a', 5, 400);
    const b = await segment('b', 4, 400);
    const c = await segment('c', 3, 400);
    const d = await segment('d', 2, 400);
    await flag({ at: a.startAt + 1_000 });
    const { job: j, log } = job({ maxBytes: 900 });
    const run = await j.runOnce();
    // a is protected, so b and c go; a + d = 800 fits.
    expect(run).toMatchObject({
      deletedSegments: 2,
      byBudget: 2,
      keptBytes: 800,
      budget: { state: 'met' },
    });
    expect(await live()).toEqual([a.path, d.path].sort());

    const tight = job({ maxBytes: 300 });
    const blocked = await tight.job.runOnce();
    expect(blocked).toMatchObject({
      deletedSegments: 1,
      keptBytes: 400,
      budget: { state: 'blocked_by_protection', overBytes: 100, protectedBytes: 400 },
    });
    expect(await live()).toEqual([a.path]);
    expect(existsSync(b.file) || existsSync(c.file) || existsSync(d.file)).toBe(false);
    expect(tight.log.records).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        msg: 'recordings over the disk budget: what is left is kept for flags and clips',
        overBytes: 100,
      }),
    );
    expect(log.records.some((r) => r.level === 'warn')).toBe(false);
  });

  it('walks the rows page by page with the same outcome', async () => {
    const made = [];
    for (let i = 0; i < 7; i++) made.push(await segment(`p${i}`, 30 - i, 100));
    made.push(await segment('new1', 1, 100), await segment('new2', 0.5, 100));
    // Age deletes the 7 old ones; the budget (150) then takes new1 too.
    const run = await job({ pageSize: 2, maxBytes: 150 }).job.runOnce();
    expect(run).toMatchObject({ deletedSegments: 8, byAge: 7, byBudget: 1, keptBytes: 100 });
    expect(await live()).toEqual([made.at(-1)!.path]);
  });

  it('marks a segment whose file is already gone; keeps a row it may not or cannot delete', async () => {
    const gone = await segment('gone', 20);
    const stuck = await segment('stuck', 19);
    const outside = newId(NOW);
    await database.db.insert(recordings).values({
      id: outside,
      siteId: 'demo',
      cameraId: CAM,
      path: '../../etc/passwd',
      startAt: new Date(NOW - 21 * DAY),
      endAt: new Date(NOW - 21 * DAY + 4_000),
      bytes: 10,
      kind: 'segment',
    });
    const removed: string[] = [];
    const fs: RetentionFs = {
      remove(path) {
        removed.push(path);
        if (path === gone.file) return Promise.resolve('missing');
        if (path === stuck.file) return Promise.reject(new Error('EACCES: permission denied'));
        return Promise.reject(new Error(`unexpected delete of ${path}`));
      },
    };
    const { job: j, log } = job({ fs });
    const run = await j.runOnce();
    expect(run).toMatchObject({ deletedSegments: 1, failed: 2 });
    // Never asked to touch anything outside DATA_DIR/recordings.
    expect(removed.sort()).toEqual([gone.file, stuck.file].sort());
    expect(await live()).toEqual(['../../etc/passwd', stuck.path].sort());
    expect(log.records.filter((r) => r.level === 'error').map((r) => r.msg)).toEqual([
      'recording row points outside DATA_DIR/recordings; file not deleted',
      'could not delete a recording; tried again next time',
    ]);
  });

  it('expires gap rows past the age limit', async () => {
    for (const [ageDays, id] of [
      [20, newId(NOW)],
      [2, newId(NOW)],
    ] as const) {
      await database.db.insert(recordings).values({
        id,
        siteId: 'demo',
        cameraId: CAM,
        path: '',
        startAt: new Date(NOW - ageDays * DAY - 60_000),
        endAt: new Date(NOW - ageDays * DAY),
        bytes: 0,
        kind: 'gap',
      });
    }
    const run = await job().job.runOnce();
    expect(run).toMatchObject({ gapsExpired: 1, deletedSegments: 0 });
    const gaps = await database.db.select().from(recordings);
    expect(gaps.filter((g) => g.deletedAt !== null)).toHaveLength(1);
  });

  it('runs on its clock every interval once started, and not after stop', async () => {
    await segment('old', 20);
    const { job: j, clock } = job({ firstRunAfterMs: 1_000, intervalMs: 10_000 });
    j.start();
    clock.advance(999);
    await new Promise((r) => setTimeout(r, 50));
    expect(await live()).toHaveLength(1);
    clock.advance(1);
    await j.stop();
    expect(await live()).toEqual([]);
    expect(clock.pendingTimers()).toBe(0);
  });
});
