import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { accessEvents, newId, openDatabase, visionFlags, type Database } from '../../db/index.ts';
import { manualClock, type ManualClock } from '../../hardware/clock.ts';
import { makeTempDir, type TempDir } from '../../test/harness/temp-dir.ts';
import type { FlagCandidate } from '../../vision/rules.types.ts';
import type { Frame } from '../../vision/vision.ports.ts';
import type { ClipRequest, ClipService } from '../cameras/clip.service.ts';
import { demoSite, parseSite } from '../config/index.ts';
import { memoryLogger } from '../log/logger.ts';
import { syncSite } from '../site.sync.ts';
import type { FlagSnapshots, SnapshotOutcome } from './flag.snapshot.ts';
import {
  createFlagStore,
  dbFlagWrite,
  FlagInputError,
  type FlagChange,
  type FlagRecord,
  type FlagStore,
  type FlagStoreDeps,
  type FlagWrite,
} from './flag.store.ts';

const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);
/** Retries run on the manual clock; this only bounds waiting for their database I/O. */
const WAIT = { timeout: 5_000, interval: 5 };
const CAM = 'room-cam';
const site = parseSite(demoSite(), 'demo');

let database: Database;
let dir: TempDir;
let clock: ManualClock;
let log: ReturnType<typeof memoryLogger>;
let told: { flag: FlagRecord; change: FlagChange }[];
const stores: FlagStore[] = [];

// Opening PGlite and migrating it can take a while on a busy machine.
beforeAll(async () => {
  database = await openDatabase({ dataDir: 'memory://' });
  await syncSite(database.db, site, new Date(T0));
}, 60_000);

afterAll(async () => {
  await database?.close();
});

beforeEach(async () => {
  dir = await makeTempDir('parcelroom-flags');
  clock = manualClock(T0);
  log = memoryLogger();
  told = [];
  await database.db.delete(visionFlags);
});

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  await dir.cleanup();
});

/** Records what it was asked to draw and writes nothing: the drawing has its own tests. */
function recordingSnapshots(
  outcome: (id: string) => SnapshotOutcome = (id) => ({
    kind: 'written',
    path: `flags/${id}.jpg`,
    bytes: 10,
  }),
) {
  const calls: { id: string; cameraId: string; frame: Frame | undefined; labels: string[] }[] = [];
  const snaps: FlagSnapshots = {
    write(id, cameraId, frame, boxes) {
      calls.push({
        id,
        cameraId,
        frame: frame as Frame | undefined,
        labels: boxes.map((b) => b.label),
      });
      return Promise.resolve(outcome(id));
    },
  };
  return { snaps, calls };
}

/** The clip service must not be asked anything in these tests unless a test says so. */
const noClips: Pick<ClipService, 'clipFor'> = {
  clipFor: (r) => Promise.reject(new Error(`unexpected clipFor(${r.owner.id})`)),
};

function store(over: Partial<FlagStoreDeps> = {}): FlagStore {
  const s = createFlagStore({
    db: database.db,
    site,
    dataDir: dir.path,
    clock,
    log,
    clips: noClips,
    snapshots: recordingSnapshots().snaps,
    onFlag: (flag, change) => told.push({ flag, change }),
    ...over,
  });
  stores.push(s);
  return s;
}

function candidate(over: Partial<FlagCandidate> = {}): FlagCandidate {
  return {
    kind: 'loitering',
    severity: 'medium',
    cameraId: CAM,
    at: T0,
    clipWindow: { startAt: T0 - 90_000, endAt: T0 + 10_000 },
    trackIds: [7],
    boxes: [{ box: { x1: 10, y1: 20, x2: 110, y2: 220 }, label: 'person 7 (95 s)', trackId: 7 }],
    evidence: { reason: 'dwell', zoneId: 'room', dwellMs: 95_000 },
    ...over,
  };
}

const frame = (): Frame => ({
  cameraId: CAM,
  at: T0,
  width: 320,
  height: 240,
  rgb: new Uint8Array(320 * 240 * 3),
});

/** A granted entry (the access log is append-only: each test makes its own). */
async function grant(doorId: string, credentialId: string): Promise<string> {
  const id = newId();
  await database.db.insert(accessEvents).values({
    id,
    siteId: 'demo',
    at: new Date(T0 - 100_000),
    type: 'access',
    doorId,
    decision: 'granted',
    reason: 'granted',
    credentialId,
  });
  return id;
}

describe('raise', () => {
  it('stores the flag with the door and credential of its entry, the clip window and the boxes', async () => {
    const entry = await grant('front', 'cred-9');
    const { snaps, calls } = recordingSnapshots();
    const s = store({ snapshots: snaps });
    const out = await s.raise(candidate({ entryEventId: entry }), frame());
    expect(out.stored).toBe('stored');
    expect(out.snapshot).toMatchObject({ kind: 'written' });
    expect(calls).toEqual([
      { id: out.flag.id, cameraId: CAM, frame: frame(), labels: ['person 7 (95 s)'] },
    ]);
    const got = await s.get(out.flag.id);
    expect(got).toEqual(out.flag);
    expect(got).toMatchObject({
      kind: 'loitering',
      severity: 'medium',
      cameraId: CAM,
      doorId: 'front',
      at: T0,
      entryEventId: entry,
      credentialId: 'cred-9',
      clipWindow: { startAt: T0 - 90_000, endAt: T0 + 10_000 },
      snapshotPath: `flags/${out.flag.id}.jpg`,
      status: 'new',
      reviewedBy: null,
      evidence: {
        reason: 'dwell',
        zoneId: 'room',
        dwellMs: 95_000,
        trackIds: [7],
        boxes: [
          { box: { x1: 10, y1: 20, x2: 110, y2: 220 }, label: 'person 7 (95 s)', trackId: 7 },
        ],
        frameSize: { width: 320, height: 240 },
      },
    });
    expect(told).toEqual([{ flag: out.flag, change: 'raised' }]);
  });

  it("takes the evidence's door, else the camera's, when there is no entry", async () => {
    const s = store();
    const tailgate = await s.raise(
      candidate({ kind: 'tailgating', evidence: { doorId: 'side', crossings: 2, grants: 1 } }),
    );
    expect(tailgate.flag.doorId).toBe('side');
    const alone = await s.raise(candidate({ entryEventId: 'no-such-entry' }));
    expect(alone.flag).toMatchObject({ doorId: 'front', credentialId: null });
  });

  it('keeps a flag whose snapshot could not be made, without a snapshot path', async () => {
    const { snaps } = recordingSnapshots(() => ({
      kind: 'none',
      reason: 'no_ffmpeg',
      message: 'ffmpeg is not installed',
    }));
    const s = store({ snapshots: snaps });
    const out = await s.raise(candidate());
    expect(out.flag.snapshotPath).toBeNull();
    expect(await s.snapshot(out.flag.id)).toEqual({
      kind: 'none',
      reason: 'no snapshot could be made for this flag',
    });
    expect(log.records.some((r) => r.msg === 'flag snapshot not made')).toBe(true);
  });

  it('refuses a malformed candidate naming the field, and stores nothing', async () => {
    const s = store({ snapshots: { write: () => Promise.reject(new Error('unexpected write')) } });
    const bad: [Partial<FlagCandidate>, RegExp][] = [
      [{ kind: 'shoplifting' as never }, /kind/],
      [{ severity: 'extreme' as never }, /severity/],
      [{ cameraId: 'attic-cam' }, /attic-cam/],
      [{ at: Number.NaN }, /at must be/],
      [{ clipWindow: { startAt: T0, endAt: T0 } }, /clipWindow/],
      [{ entryEventId: '../etc' }, /entryEventId/],
      [{ trackIds: [1.5] }, /trackIds/],
      [{ boxes: [{ box: { x1: 0, y1: 0, x2: Infinity, y2: 1 }, label: 'x' }] }, /boxes\[0\]/],
      [{ evidence: [] as never }, /evidence/],
    ];
    for (const [over, msg] of bad) {
      await expect(s.raise(candidate(over))).rejects.toThrow(FlagInputError);
      await expect(s.raise(candidate(over))).rejects.toThrow(msg);
    }
    expect(await database.db.select().from(visionFlags)).toEqual([]);
    expect(told).toEqual([]);
  });

  it('goes on when the listener throws', async () => {
    const s = store({
      onFlag: () => {
        throw new Error('console gone');
      },
    });
    const out = await s.raise(candidate());
    expect(out.stored).toBe('stored');
    expect(log.records.some((r) => r.msg === 'flag listener failed')).toBe(true);
  });
});

describe('a database outage', () => {
  /** Refuses the first `n` writes, then writes for real. */
  /** Refuses the first `n` writes as an unreachable server would, then writes for real. */
  function flakyWrite(n: number): { write: FlagWrite; calls: () => number } {
    let calls = 0;
    const real = dbFlagWrite(database.db, 'demo');
    return {
      calls: () => calls,
      write: (f) => {
        calls++;
        if (calls <= n) return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
        return real(f);
      },
    };
  }

  it('queues flags on disk, tells the console at once, retries and logs the outage once', async () => {
    const flaky = flakyWrite(3);
    const s = store({ record: flaky.write, retry: { minMs: 1_000, maxMs: 4_000 } });
    const a = await s.raise(candidate({ at: T0 }));
    const b = await s.raise(candidate({ at: T0 + 1 }));
    expect([a.stored, b.stored]).toEqual(['queued', 'queued']);
    // The second one waited behind the first without another write.
    expect(flaky.calls()).toBe(1);
    expect(told.map((t) => t.flag.id)).toEqual([a.flag.id, b.flag.id]);
    expect(existsSync(join(dir.path, 'flags', `${a.flag.id}.pending.json`))).toBe(true);
    expect(s.stats()).toMatchObject({ queued: 2, outageSince: T0 });
    // Readable while queued; not reviewable yet.
    expect(await s.get(a.flag.id)).toEqual(a.flag);
    expect(await s.review(a.flag.id, { status: 'confirmed' }, 'staff-1')).toEqual({
      kind: 'not_stored',
    });

    // Each failed attempt sets its retry timer once the refusal has come back.
    const retryPending = () => vi.waitFor(() => expect(clock.pendingTimers()).toBe(1), WAIT);
    clock.advance(1_000); // attempt 2 fails
    await vi.waitFor(() => expect(flaky.calls()).toBe(2), WAIT);
    await retryPending();
    clock.advance(1_999); // backoff doubled: not yet
    expect(flaky.calls()).toBe(2);
    clock.advance(1); // attempt 3 fails
    await vi.waitFor(() => expect(flaky.calls()).toBe(3), WAIT);
    await retryPending();
    clock.advance(4_000); // attempt 4 stores both
    await vi.waitFor(() => expect(s.stats().queued).toBe(0), WAIT);

    const rows = await database.db.select({ id: visionFlags.id }).from(visionFlags);
    expect(rows.map((r) => r.id).sort()).toEqual([a.flag.id, b.flag.id].sort());
    expect(readdirSync(join(dir.path, 'flags')).filter((n) => n.endsWith('.pending.json'))).toEqual(
      [],
    );
    const outageLogs = log.records.filter((r) => /refuses flags|stored again/.test(String(r.msg)));
    expect(outageLogs.map((r) => r.msg)).toEqual([
      'the database refuses flags; they are kept on disk and retried',
      'flags are stored again',
    ]);
    expect(outageLogs[1]).toMatchObject({ stored: 2, outageMs: 7_000 });
    expect(s.stats()).toEqual({ queued: 0, outageSince: null });
    expect(told).toHaveLength(2);
  });

  it('keeps queued flags on disk across a restart and stores them at the next start', async () => {
    const down: FlagWrite = () => Promise.reject(new Error('database is down'));
    const first = store({ record: down });
    const a = await first.raise(candidate());
    await first.close();
    expect(await database.db.select().from(visionFlags)).toEqual([]);

    const second = store();
    await second.start();
    expect((await second.get(a.flag.id))?.id).toBe(a.flag.id);
    expect(await database.db.select({ id: visionFlags.id }).from(visionFlags)).toEqual([
      { id: a.flag.id },
    ]);
  });

  it('holds at most maxQueued in memory; the rest wait on disk and are stored too', async () => {
    const flaky = flakyWrite(1);
    const s = store({ record: flaky.write, maxQueued: 1, retry: { minMs: 500, maxMs: 500 } });
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await s.raise(candidate({ at: T0 + i }))).flag.id);
    expect(s.stats().queued).toBe(3);
    clock.advance(500);
    await vi.waitFor(() => expect(s.stats().queued).toBe(0), WAIT);
    const rows = await database.db.select({ id: visionFlags.id }).from(visionFlags);
    expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
  });
});

describe('list, review and false positives', () => {
  async function seed(s: FlagStore) {
    const made: FlagRecord[] = [];
    const specs: Partial<FlagCandidate>[] = [
      { kind: 'loitering', at: T0 + 1_000, evidence: { zoneId: 'room' } },
      { kind: 'tailgating', at: T0 + 2_000, evidence: { doorId: 'front' } },
      { kind: 'loitering', at: T0 + 3_000, evidence: { zoneId: 'doorway' } },
      { kind: 'multi_package_grab', at: T0 + 4_000, evidence: { changedSlots: [] } },
      { kind: 'loitering', at: T0 + 5_000, evidence: { zoneId: null } },
    ];
    for (const spec of specs) made.push((await s.raise(candidate(spec))).flag);
    return made;
  }

  it('lists newest first, filters by kind, status and camera, and pages with a cursor', async () => {
    const s = store();
    const made = await seed(s);
    const all = await s.list();
    expect(all.items.map((f) => f.at)).toEqual([5, 4, 3, 2, 1].map((n) => T0 + n * 1_000));
    expect(all.nextCursor).toBeUndefined();

    const loiter = await s.list({ kind: 'loitering' });
    expect(loiter.items.map((f) => f.id)).toEqual([made[4]!.id, made[2]!.id, made[0]!.id]);
    expect((await s.list({ cameraId: 'other-cam' })).items).toEqual([]);

    const p1 = await s.list({ limit: 2 });
    expect(p1.items.map((f) => f.id)).toEqual([made[4]!.id, made[3]!.id]);
    const p2 = await s.list({ limit: 2, cursor: p1.nextCursor! });
    expect(p2.items.map((f) => f.id)).toEqual([made[2]!.id, made[1]!.id]);
    const p3 = await s.list({ limit: 2, cursor: p2.nextCursor! });
    expect(p3.items.map((f) => f.id)).toEqual([made[0]!.id]);
    expect(p3.nextCursor).toBeUndefined();

    await s.review(made[1]!.id, { status: 'dismissed' }, 'staff-1');
    expect((await s.list({ status: 'dismissed' })).items.map((f) => f.id)).toEqual([made[1]!.id]);
    expect((await s.list({ status: 'new' })).items).toHaveLength(4);
  });

  it('replaces an earlier decision with a later one and keeps who, when and the note', async () => {
    const s = store();
    const [f] = await seed(s);
    clock.advance(60_000);
    const first = await s.review(
      f!.id,
      { status: 'confirmed', note: 'took two parcels' },
      'staff-1',
    );
    expect(first).toMatchObject({
      kind: 'reviewed',
      previous: 'new',
      flag: {
        status: 'confirmed',
        reviewedBy: 'staff-1',
        reviewedAt: T0 + 60_000,
        reviewNote: 'took two parcels',
      },
    });
    clock.advance(60_000);
    const second = await s.review(f!.id, { status: 'escalated' }, 'staff-2');
    expect(second).toMatchObject({
      kind: 'reviewed',
      previous: 'confirmed',
      flag: {
        status: 'escalated',
        reviewedBy: 'staff-2',
        reviewedAt: T0 + 120_000,
        reviewNote: null,
      },
    });
    expect(await s.get(f!.id)).toMatchObject({ status: 'escalated', reviewedBy: 'staff-2' });
    expect(told.filter((t) => t.change === 'reviewed').map((t) => t.flag.status)).toEqual([
      'confirmed',
      'escalated',
    ]);
    expect(await s.review('no-such-flag', { status: 'confirmed' }, 'staff-1')).toEqual({
      kind: 'not_found',
    });
    expect(await s.review('../../x', { status: 'confirmed' }, 'staff-1')).toEqual({
      kind: 'not_found',
    });
  });

  it('counts dismissed against all flags per camera and zone, and per kind', async () => {
    const s = store();
    const made = await seed(s);
    await s.review(made[0]!.id, { status: 'dismissed' }, 'staff-1');
    await s.review(made[4]!.id, { status: 'dismissed' }, 'staff-1');
    await s.review(made[2]!.id, { status: 'confirmed' }, 'staff-1');
    const fp = await s.falsePositives();
    expect(fp.byZone).toEqual([
      { cameraId: CAM, zoneId: 'room', total: 4, reviewed: 2, dismissed: 2 },
      { cameraId: CAM, zoneId: 'doorway', total: 1, reviewed: 1, dismissed: 0 },
    ]);
    expect(fp.byKind).toEqual([
      { kind: 'loitering', total: 3, reviewed: 3, dismissed: 2 },
      { kind: 'multi_package_grab', total: 1, reviewed: 0, dismissed: 0 },
      { kind: 'tailgating', total: 1, reviewed: 0, dismissed: 0 },
    ]);
    const recent = await s.falsePositives({ since: T0 + 4_500 });
    expect(recent.byKind).toEqual([{ kind: 'loitering', total: 1, reviewed: 1, dismissed: 1 }]);
  });
});

describe('clip and snapshot', () => {
  it("asks the clip service for the flag's own window and camera", async () => {
    const asked: ClipRequest[] = [];
    const s = store({
      clips: {
        clipFor: (r) => {
          asked.push(r);
          return Promise.resolve({ kind: 'no_camera', reason: 'test' });
        },
      },
    });
    const { flag } = await s.raise(candidate());
    expect(await s.clip(flag.id)).toEqual({ kind: 'no_camera', reason: 'test' });
    expect(asked).toEqual([
      { owner: { kind: 'flag', id: flag.id }, cameraId: CAM, window: flag.clipWindow, eventAt: T0 },
    ]);
    expect(await s.clip('unknown-flag')).toMatchObject({ kind: 'not_found' });
    expect(asked).toHaveLength(1);
  });

  it('gives the absolute snapshot path inside DATA_DIR', async () => {
    const s = store();
    const { flag } = await s.raise(candidate(), frame());
    expect(await s.snapshot(flag.id)).toEqual({
      kind: 'ready',
      path: join(dir.path, 'flags', `${flag.id}.jpg`),
    });
    expect(await s.snapshot('nope')).toEqual({ kind: 'not_found' });
  });
});
