/**
 * Faults, each counted: access events, parcels and clips (and recordings where video is involved)
 * before and after, and nothing that was acknowledged may be missing afterwards. The doors must
 * keep deciding while the fault lasts.
 *
 *  1. PostgreSQL stopped and restarted during a burst of badges and check-ins (moved here from
 *     resilience.test.ts, its assertions kept, parcels and clip rows added).
 *  2. The server process SIGKILLed mid-burst: test/integration/resilience.test.ts (two real
 *     server starts, so it runs as a file of its own, beside this one).
 *  3. A camera's RTSP stream dropped and returned, with the real recorder (ffmpeg).
 *  4. The disk budget exceeded (`recording.maxDiskGb` at its lowest, 0.1 GB).
 *  5. The MQTT broker restarted under a door on the mqtt driver.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { and, asc, count, eq, inArray, isNull } from 'drizzle-orm';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormatRegistry, encodeCard, type WiegandFormat } from '../../access/index.ts';
import {
  accessEvents,
  clips,
  newId,
  openDatabase,
  packages,
  recordings,
  visionFlags,
  type Db,
} from '../../db/index.ts';
import type { CameraStatus } from '../../server/cameras/camera.types.ts';
import { demoSite, parseSite, type SiteConfig } from '../../server/config/index.ts';
import { locateFfmpeg } from '../../vision/ffmpeg.locate.ts';
import { createTestApp, type TestApp } from '../harness/app.harness.ts';
import { getFreePort } from '../harness/free-port.ts';
import {
  requireMosquitto,
  startMosquitto,
  type MosquittoServer,
} from '../harness/mosquitto.server.ts';
import { createDatabase, startPostgres, type PostgresServer } from '../harness/postgres.server.ts';
import { reportMissing, requirePostgres, requireX264 } from '../harness/requirements.ts';
import { startTestCamera, type TestCamera } from '../harness/rtsp.camera.ts';
import { makeTempDir, type TempDir } from '../harness/temp-dir.ts';

type Json = Record<string, unknown>;
const h10301 = createFormatRegistry().get('H10301') as WiegandFormat;
const GOOD = encodeCard(h10301, { facility: 12, card: 4242 });
const UNKNOWN = encodeCard(h10301, { facility: 12, card: 4243 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([
    p,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms),
    ),
  ]);

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Amazon-style labels (no check digit): unique per call. */
let labelNo = 0;
const label = () =>
  `TBA${String(Date.now() % 1e8).padStart(8, '0')}${String(++labelNo).padStart(4, '0')}`;

/** Rows of each kind in the database, for before/after. */
async function counts(db: Db) {
  const n = async (q: Promise<{ n: number }[]>) => Number((await q)[0]?.n ?? 0);
  return {
    events: await n(db.select({ n: count() }).from(accessEvents)),
    parcels: await n(db.select({ n: count() }).from(packages)),
    clips: await n(db.select({ n: count() }).from(clips)),
    recordings: await n(db.select({ n: count() }).from(recordings)),
  };
}

/** Stored events by type. */
async function eventTypes(db: Db): Promise<Record<string, number>> {
  const rows = await db
    .select({ type: accessEvents.type, n: count() })
    .from(accessEvents)
    .groupBy(accessEvents.type);
  return Object.fromEntries(rows.map((r) => [r.type, Number(r.n)]));
}

/** Which of `ids` have an access_events row (looked up in chunks). */
async function storedEventIds(db: Db, ids: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < ids.length; i += 300) {
    const rows = await db
      .select({ id: accessEvents.id })
      .from(accessEvents)
      .where(inArray(accessEvents.id, ids.slice(i, i + 300)));
    for (const r of rows) found.add(r.id);
  }
  return found;
}

/** A manager creates Ann Lee in 4B with card 12/4242; returns her id. */
async function enrolAnn(t: TestApp): Promise<string> {
  const manager = await t.login('manager');
  const res = await t.call('POST', '/api/residents', {
    cookie: manager,
    body: { name: 'Ann Lee', unit: '4B' },
  });
  const { id } = (await res.json()) as { id: string };
  const card = await t.call('POST', '/api/credentials', {
    cookie: manager,
    body: { residentId: id, kind: 'card', format: 'H10301', facilityCode: 12, cardNumber: 4242 },
  });
  expect(card.status).toBe(201);
  return id;
}

// ---------------------------------------------------------------------------------------------
// 1. PostgreSQL outage

describe.skipIf(!requirePostgres())(
  'PostgreSQL stops during a burst of badges and check-ins',
  () => {
    let pg: PostgresServer;
    let t: TestApp;
    let residentId: string;

    beforeAll(async () => {
      pg = await startPostgres();
      const url = await createDatabase(pg.url, 'outage');
      t = await createTestApp('postgres', { database: await openDatabase({ url, poolSize: 4 }) });
      residentId = await enrolAnn(t);
    });
    afterAll(async () => {
      await t?.close();
      await pg?.stop();
    });

    it('keeps deciding at the door, keeps every event and every acknowledged parcel, refuses check-ins with 503 meanwhile', async () => {
      const staff = await t.login('staff');
      const before = await counts(t.database.db);
      const reader = t.doors.simReader('front-reader')!;
      const swipe = async (bits: string) => {
        const outcome = t.doors.nextOutcome('front-reader');
        reader.send({ kind: 'frame', bits });
        const o = await outcome;
        if (o.kind !== 'decision') throw new Error(`unexpected outcome ${o.kind}`);
        return o;
      };
      type CheckIn = {
        phase: 'before' | 'outage' | 'after';
        status: number;
        id?: string;
        code?: string;
      };
      const checkIns: CheckIn[] = [];
      const checkIn = async (phase: CheckIn['phase']) => {
        const res = await t.call('POST', '/api/packages', {
          cookie: staff,
          body: { trackingNumber: label(), carrier: 'Amazon', residentId, size: 'standard' },
        });
        const body = (await res.json()) as { id?: string; error?: { code: string } };
        checkIns.push({
          phase,
          status: res.status,
          ...(body.id ? { id: body.id } : {}),
          ...(body.error ? { code: body.error.code } : {}),
        });
      };
      const ids: string[] = [];
      const duringOutage: string[] = [];
      let health: Response | undefined;
      for (let i = 0; i < 900; i++) {
        if (i === 300) await pg.halt('fast');
        if (i === 600) {
          health = await t.call('GET', '/api/health');
          await pg.resume();
        }
        const good = i % 3 !== 0;
        const o = await swipe(good ? GOOD : UNKNOWN);
        // The door decides from memory whether or not the database is there.
        expect(o.decision.decision, `swipe ${i}`).toBe(good ? 'granted' : 'denied');
        ids.push(o.eventId);
        if (i >= 300 && i < 600) duringOutage.push(o.eventId);
        if (good) t.clock.advance(5_000);
        if (i % 30 === 15) await checkIn(i < 300 ? 'before' : i < 600 ? 'outage' : 'after');
      }
      expect(health?.status).toBe(503);
      const during = (await health?.json()) as { journal: { backlog: number } };
      expect(during).toMatchObject({ status: 'degraded', database: 'postgres' });
      // The events of the outage wait in the journal, and health says how many.
      expect(during.journal.backlog).toBeGreaterThan(0);

      // Once it is back, the desk checks parcels in again.
      await checkIn('after');
      expect(checkIns.at(-1)?.status).toBe(201);

      await within(t.services.journal.drained(), 30_000, 'draining the journal');
      const stored = await storedEventIds(t.database.db, ids);
      expect(stored.size).toBe(900);
      expect(duringOutage.every((id) => stored.has(id))).toBe(true);
      const stats = t.services.journal.stats();
      expect(stats.backlog).toBe(0);
      expect(stats.failedWrites).toBeGreaterThan(0);

      // A check-in needs the database (the parcel row is its acknowledgement): without it the desk
      // is told so plainly and nothing is acknowledged.
      const byPhase = (p: CheckIn['phase']) => checkIns.filter((c) => c.phase === p);
      expect(byPhase('before').map((c) => c.status)).toEqual(Array(10).fill(201));
      expect(byPhase('outage').map((c) => [c.status, c.code])).toEqual(
        Array(10).fill([503, 'database_unavailable']),
      );
      // Right after the restart a pooled connection may still be a dead one: 503, never 500.
      for (const c of byPhase('after')) expect([201, 503]).toContain(c.status);

      const acked = checkIns.filter((c) => c.status === 201).map((c) => c.id!);
      const rows = await t.database.db
        .select({ id: packages.id })
        .from(packages)
        .where(inArray(packages.id, acked));
      expect(rows.map((r) => r.id).sort()).toEqual([...acked].sort());
      const checkedInEvents = await t.database.db
        .select({ packageId: accessEvents.packageId })
        .from(accessEvents)
        .where(eq(accessEvents.type, 'package_checked_in'));
      expect(checkedInEvents.map((e) => e.packageId).sort()).toEqual([...acked].sort());

      const after = await counts(t.database.db);
      expect(after.parcels - before.parcels).toBe(acked.length);
      // 900 decisions and one event per acknowledged check-in, besides the door's own (unlocked,
      // no entry, relocked after each grant); no camera here, so no clip rows.
      const types = await eventTypes(t.database.db);
      expect(types.access).toBe(900);
      expect(types.package_checked_in).toBe(acked.length);
      expect(after.events - before.events).toBeGreaterThanOrEqual(900 + acked.length);
      expect(after.clips).toBe(before.clips);
    });
  },
);

// ---------------------------------------------------------------------------------------------
// 3 and 4 need a real H.264 file (ffmpeg with libx264).

const ffmpeg = requireX264('the camera-drop and disk-budget fault tests are skipped');
const ffprobePath = ffmpeg ? (locateFfmpeg('system')?.ffprobePath ?? null) : null;
if (ffmpeg && !ffprobePath) {
  reportMissing(
    'ffprobe',
    'the system ffmpeg has no ffprobe beside it; camera fault tests skipped.',
  );
}

/** testsrc2, 320x240, 10 fps, no B-frames, a keyframe every second. */
function renderH264(path: string, seconds: number, extra: string[] = []): void {
  execFileSync(
    ffmpeg!.path,
    [
      ...['-hide_banner', '-nostdin', '-v', 'error', '-y', '-f', 'lavfi'],
      ...['-i', `testsrc2=size=320x240:rate=10:duration=${seconds}`],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-bf', '0'],
      ...['-g', '10', '-keyint_min', '10', '-sc_threshold', '0'],
      ...extra,
      path,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
}

const durationS = (path: string) =>
  Number(
    execFileSync(
      ffprobePath!,
      ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', path],
      { encoding: 'utf8' },
    ).trim(),
  );

/** The demo room with its camera `source` replaced and short segments and clip windows. */
function demoWith(o: { source?: unknown; recording: Json }): SiteConfig {
  const raw = demoSite() as Json & { doors: Json[]; cameras: Json[] };
  raw.doors[0] = { ...raw.doors[0], clipBeforeMs: 1_000, clipAfterMs: 2_000 };
  if (o.source) raw.cameras[0] = { ...raw.cameras[0], source: o.source };
  raw.recording = o.recording;
  return parseSite(raw, 'faults test');
}

const CAM = 'room-cam';

// ---------------------------------------------------------------------------------------------
// 3. A camera's stream drops

describe.runIf(ffmpeg && ffprobePath)('a camera stream drops and returns', () => {
  let work: TempDir;
  let camera: TestCamera | null = null;
  let port: number;
  let file: string;
  let t: TestApp;
  let staff: string;
  let residentId: string;

  beforeAll(async () => {
    work = await makeTempDir('parcelroom-drop');
    file = join(work.path, 'camera.mp4');
    renderH264(file, 20);
    port = await getFreePort('127.0.0.1');
    camera = await startTestCamera(ffmpeg!.path, file, port, work.path);
    t = await createTestApp('pglite', {
      clockStart: Date.now(),
      site: demoWith({
        source: { kind: 'rtsp', url: camera.url },
        recording: { segmentSeconds: 2, offlineAfterMs: 5_000 },
      }),
      cameras: 'on',
      cameraOverrides: { ffmpeg, recorderBackoff: { initialMs: 250, maxMs: 1_000 } },
    });
    residentId = await enrolAnn(t);
    staff = await t.login('staff');
  });
  afterAll(async () => {
    await t?.close();
    await camera?.stop();
    await work?.cleanup();
  });

  /** Domain time follows real time here: the recorders stamp segments with the real clock. */
  const now = () => {
    t.clock.set(Math.max(t.clock.now(), Date.now()));
    return t.clock.now();
  };
  const camStatus = async () => {
    const res = await t.call('GET', '/api/cameras', { cookie: staff });
    return ((await res.json()) as { items: CameraStatus[] }).items.find((c) => c.id === CAM)!;
  };
  const cameraIs = (state: CameraStatus['state']) =>
    waitFor(`camera ${state}`, async () => {
      now();
      const s = await camStatus();
      return s.state === state ? s : undefined;
    });
  const badge = async (bits: string) => {
    now();
    const res = await t.call('POST', '/api/sim/readers/front-reader/wiegand', {
      cookie: staff,
      body: { bits },
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { decision: string; eventId: string };
  };
  const clipOf = (eventId: string) => {
    now();
    return t.call('GET', `/api/events/${eventId}/clip`, { cookie: staff });
  };
  const segmentsOf = () =>
    t.database.db
      .select()
      .from(recordings)
      .where(eq(recordings.cameraId, CAM))
      .orderBy(asc(recordings.startAt), asc(recordings.id));
  const cameraEvents = (type: 'offline' | 'online') =>
    t.database.db
      .select({ id: accessEvents.id })
      .from(accessEvents)
      .where(and(eq(accessEvents.type, type), eq(accessEvents.cameraId, CAM)));

  it('goes offline with an event, doors keep deciding, rows are kept, recording resumes, clips answer', async () => {
    await cameraIs('online');
    // A clip made before the drop: a badge once segments are coming, its window (1 s before,
    // 2 s after) recorded, then the MP4.
    await waitFor('two segments', async () =>
      (await segmentsOf()).length >= 2 ? true : undefined,
    );
    const early = await badge(GOOD);
    expect(early.decision).toBe('granted');
    // The answer came once the event was durable in the journal; the clip route reads the
    // database, which the journal feeds a moment later.
    await within(t.services.journal.drained(), 10_000, 'draining the journal');
    const earlyClip = await waitFor('the clip before the drop', async () => {
      const res = await clipOf(early.eventId);
      if (res.status === 409) return undefined;
      if (res.status !== 200) throw new Error(`clip: ${res.status} ${await res.text()}`);
      return res;
    });
    expect(earlyClip.status).toBe(200);
    const earlyBytes = Buffer.from(await earlyClip.arrayBuffer());
    expect(earlyBytes.length).toBeGreaterThan(1_000);
    const beforeRows = await segmentsOf();
    const before = await counts(t.database.db);

    // The camera loses power.
    await camera!.stop();
    camera = null;
    const down = await cameraIs('offline');
    expect(down).toMatchObject({ fault: 'offline', recording: false });
    await waitFor('the offline event', async () =>
      (await cameraEvents('offline')).length === 1 ? true : undefined,
    );
    // The door does not wait for the camera.
    const during: string[] = [];
    for (const bits of [GOOD, UNKNOWN, GOOD]) {
      const d = await badge(bits);
      expect(d.decision).toBe(bits === GOOD ? 'granted' : 'denied');
      during.push(d.eventId);
    }
    const parcel = await t.call('POST', '/api/packages', {
      cookie: staff,
      body: { trackingNumber: label(), carrier: 'Amazon', residentId, size: 'standard' },
    });
    expect(parcel.status).toBe(201);
    // Once the window of a badge during the drop is over, its clip says why there is no video.
    await sleep(4_500);
    await within(t.services.journal.drained(), 10_000, 'draining the journal');
    const noVideo = await clipOf(during[0]!);
    expect(noVideo.status).toBe(404);
    expect(noVideo.headers.get('x-no-video-reason')).toBe('camera_offline');
    expect(((await noVideo.json()) as { error: { code: string } }).error.code).toBe('no_video');

    // The camera comes back on the same address.
    camera = await startTestCamera(ffmpeg!.path, file, port, work.path);
    const up = await cameraIs('online');
    expect(up.recording).toBe(true);
    await waitFor('the online event', async () =>
      (await cameraEvents('online')).length === 1 ? true : undefined,
    );
    const rows = await waitFor('a segment after the gap', async () => {
      const r = await segmentsOf();
      const gap = r.findIndex((x) => x.kind === 'gap');
      return gap >= 0 && r.slice(gap + 1).some((x) => x.kind === 'segment') ? r : undefined;
    });
    // Every row from before the drop is still there, and the hole is one gap row.
    const ids = new Set(rows.map((r) => r.id));
    expect(beforeRows.filter((r) => !ids.has(r.id))).toEqual([]);
    const gaps = rows.filter((r) => r.kind === 'gap');
    expect(gaps).toHaveLength(1);
    expect(gaps[0]!.startAt.getTime()).toBeLessThanOrEqual(Date.parse(down.since!));
    expect(rows.filter((r) => r.kind === 'segment').length).toBeGreaterThan(
      beforeRows.filter((r) => r.kind === 'segment').length,
    );
    for (const r of rows.filter((x) => x.kind === 'segment' && !x.deletedAt)) {
      expect(statSync(join(t.dataDir, r.path)).size).toBe(r.bytes);
    }

    // The clip from before the drop still plays, byte for byte; the drop's still says why not.
    const again = await clipOf(early.eventId);
    expect(again.status).toBe(200);
    expect(Buffer.from(await again.arrayBuffer()).equals(earlyBytes)).toBe(true);
    const stillNone = await clipOf(during[0]!);
    expect(stillNone.status).toBe(404);
    expect(stillNone.headers.get('x-no-video-reason')).toBe('camera_offline');

    await within(t.services.journal.drained(), 10_000, 'draining the journal');
    const stored = await storedEventIds(t.database.db, [early.eventId, ...during]);
    expect(stored.size).toBe(4);
    const after = await counts(t.database.db);
    const types = await eventTypes(t.database.db);
    // 4 decisions (1 before, 3 during), a check-in, the camera's offline and online; the rest are
    // the door's own (unlocked, no entry, relocked after each grant).
    expect(types).toMatchObject({ access: 4, package_checked_in: 1, offline: 1, online: 1 });
    expect(after.events - before.events).toBeGreaterThanOrEqual(3 + 1 + 2);
    expect(after.parcels - before.parcels).toBe(1);
    // The clip from before plus the drop's (a row saying why there is no video).
    expect(after.clips - before.clips).toBe(1);
    expect(after.recordings).toBeGreaterThan(before.recordings);
    expect(durationS(join(t.dataDir, 'clips', CAM, `${early.eventId}.mp4`))).toBeGreaterThan(2);
  });
});

// ---------------------------------------------------------------------------------------------
// 4. The disk budget

describe.runIf(ffmpeg && ffprobePath)('recordings over the disk budget', () => {
  const MB = 1_000_000;
  const FILLER = 25 * MB;
  const NOW = Date.UTC(2026, 10, 21, 9, 0, 0);
  let t: TestApp;
  let staff: string;
  let residentId: string;
  /** Old recordings: 25 MB each (sparse files, so the box's disk is not filled for real). */
  const fillers: { id: string; path: string; startAt: number }[] = [];
  /** The last minutes, real H.264 segments of 2 s. */
  const recent: { id: string; path: string; startAt: number; endAt: number }[] = [];
  let entryId: string;
  let oldEntryId: string;

  /** Old recording no. `k`: a sparse 25 MB file of 4 s from `startAt`, indexed as recorded. */
  const addFiller = async (k: number, startAt: number) => {
    const path = `recordings/room-cam/2026-11-21/07/old-${k}.mp4`;
    await writeFile(join(t.dataDir, path), '');
    await truncate(join(t.dataDir, path), FILLER);
    const id = newId(startAt);
    fillers.push({ id, path, startAt });
    await t.database.db.insert(recordings).values({
      id,
      siteId: 'demo',
      cameraId: CAM,
      path,
      startAt: new Date(startAt),
      endAt: new Date(startAt + 4_000),
      bytes: FILLER,
    });
  };

  beforeAll(async () => {
    t = await createTestApp('pglite', {
      clockStart: NOW,
      // 0.1 GB is the lowest budget the site file takes.
      site: demoWith({ recording: { segmentSeconds: 2, maxDiskGb: 0.1 } }),
    });
    residentId = await enrolAnn(t);
    staff = await t.login('staff');
    const db = t.database.db;
    const day = 'recordings/room-cam/2026-11-21';

    // Six old 25 MB segments of 4 s, two hours ago.
    await mkdir(join(t.dataDir, day, '07'), { recursive: true });
    for (let k = 0; k < 6; k++) await addFiller(k, NOW - 2 * 3_600_000 + k * 4_000);
    // Twenty seconds of real video ten minutes ago, cut as the recorder cuts it.
    const dir = join(t.dataDir, day, '08');
    await mkdir(dir, { recursive: true });
    renderH264(join(dir, 'seg-%03d.mp4'), 20, [
      ...['-f', 'segment', '-segment_time', '2', '-reset_timestamps', '1'],
      ...['-segment_format', 'mp4'],
      ...['-segment_format_options', 'movflags=+frag_keyframe+empty_moov+default_base_moof'],
    ]);
    let at = NOW - 600_000;
    for (const name of (await readdir(dir)).filter((n) => n.endsWith('.mp4')).sort()) {
      const path = `${day}/08/${name}`;
      const ms = Math.round(durationS(join(t.dataDir, path)) * 1000);
      const id = newId(at);
      recent.push({ id, path, startAt: at, endAt: at + ms });
      await db.insert(recordings).values({
        id,
        siteId: 'demo',
        cameraId: CAM,
        path,
        startAt: new Date(at),
        endAt: new Date(at + ms),
        bytes: (await stat(join(t.dataDir, path))).size,
      });
      at += ms;
    }
    // A door entry in the middle of the real video, and one whose window (1 s before, 2 s
    // after) lies within the first old segment.
    entryId = newId(NOW - 590_000);
    oldEntryId = newId(fillers[0]!.startAt + 1_500);
    await db.insert(accessEvents).values([
      {
        id: entryId,
        siteId: 'demo',
        at: new Date(NOW - 590_000),
        type: 'access',
        doorId: 'front',
        decision: 'granted',
      },
      {
        id: oldEntryId,
        siteId: 'demo',
        at: new Date(fillers[0]!.startAt + 1_500),
        type: 'access',
        doorId: 'front',
        decision: 'granted',
      },
    ]);
  });
  afterAll(async () => {
    await t?.close();
  });

  const flag = (startAt: number, endAt: number) =>
    t.database.db.insert(visionFlags).values({
      id: newId(startAt),
      siteId: 'demo',
      kind: 'loitering',
      cameraId: CAM,
      at: new Date(startAt),
      clipStartAt: new Date(startAt),
      clipEndAt: new Date(endAt),
    });
  const live = async () =>
    new Set(
      (
        await t.database.db
          .select({ id: recordings.id })
          .from(recordings)
          .where(and(eq(recordings.cameraId, CAM), isNull(recordings.deletedAt)))
      ).map((r) => r.id),
    );

  it('deletes the oldest unflagged segments, keeps flagged ones, reports the state; events, parcels and clips are untouched', async () => {
    // The second old segment is under review (a flag's window).
    await flag(fillers[1]!.startAt + 100, fillers[1]!.startAt + 3_900);
    const parcel = await t.call('POST', '/api/packages', {
      cookie: staff,
      body: { trackingNumber: label(), carrier: 'Amazon', residentId, size: 'standard' },
    });
    expect(parcel.status).toBe(201);
    const badge = await t.call('POST', '/api/sim/readers/front-reader/wiegand', {
      cookie: staff,
      body: { bits: GOOD },
    });
    expect(((await badge.json()) as Json).decision).toBe('granted');
    await within(t.services.journal.drained(), 10_000, 'draining the journal');
    const before = await counts(t.database.db);

    // 150 MB of old video plus the recent: over 100 MB. Oldest first, the flagged one skipped.
    const run = await t.services.retention.runOnce();
    expect(run).toMatchObject({ byBudget: 3, byAge: 0, failed: 0, budget: { state: 'met' } });
    expect(run.protectedKept).toBeGreaterThanOrEqual(1);
    expect(run.keptBytes).toBeLessThanOrEqual(100 * MB);
    const kept = await live();
    const gone = [0, 2, 3].map((k) => fillers[k]!);
    for (const f of gone) {
      expect(kept.has(f.id)).toBe(false);
      expect(existsSync(join(t.dataDir, f.path))).toBe(false);
    }
    for (const k of [1, 4, 5]) expect(kept.has(fillers[k]!.id)).toBe(true);
    expect(existsSync(join(t.dataDir, fillers[1]!.path))).toBe(true);
    for (const r of recent) expect(kept.has(r.id)).toBe(true);

    // Events and parcels are not the retention's business; the deletion is logged.
    const after = await counts(t.database.db);
    expect(after).toEqual({ ...before, recordings: before.recordings });
    expect(
      t.log.records.some(
        (r) => r.msg === 'recordings deleted by retention' && (r as Json).byBudget === 3,
      ),
    ).toBe(true);

    // The entry in the recent video still gets its clip; the one in deleted video says why.
    const clip = await t.call('GET', `/api/events/${entryId}/clip`, { cookie: staff });
    expect(clip.status).toBe(200);
    expect((await clip.arrayBuffer()).byteLength).toBeGreaterThan(1_000);
    const deleted = await t.call('GET', `/api/events/${oldEntryId}/clip`, { cookie: staff });
    expect(deleted.status).toBe(404);
    expect(deleted.headers.get('x-no-video-reason')).toBe('retention');
  });

  it('says so when flags alone keep it over budget, and deletes nothing flagged', async () => {
    // Two more old 25 MB segments and the recent video all under review: 125 MB flagged.
    const db = t.database.db;
    for (let k = 6; k < 8; k++) await addFiller(k, fillers[1]!.startAt + 60_000 + k * 4_000);
    await flag(fillers[4]!.startAt, fillers[7]!.startAt + 4_000);
    await flag(recent[0]!.startAt, recent.at(-1)!.endAt);
    const before = await counts(db);
    const keptBefore = await live();

    const run = await t.services.retention.runOnce();
    expect(run.deletedSegments).toBe(0);
    expect(run.budget.state).toBe('blocked_by_protection');
    if (run.budget.state !== 'blocked_by_protection') return;
    expect(run.budget.overBytes).toBeGreaterThan(25 * MB);
    expect(await live()).toEqual(keptBefore);
    expect(
      t.log.records.some(
        (r) =>
          r.level === 'warn' &&
          String(r.msg).startsWith('recordings over the disk budget') &&
          (r as Json).hint === 'review or dismiss open flags, or raise recording.maxDiskGb',
      ),
    ).toBe(true);
    expect(await counts(db)).toEqual(before);
    // The flagged recent video still makes its clip (cached from before, or built again).
    const clip = await t.call('GET', `/api/events/${entryId}/clip`, { cookie: staff });
    expect(clip.status).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------
// 5. The MQTT broker restarts

describe.skipIf(!requireMosquitto())('the MQTT broker restarts under a door in use', () => {
  let broker: MosquittoServer;
  let controller: MqttClient;
  let t: TestApp;
  let staff: string;
  const prefix = 'building/faults';

  beforeAll(async () => {
    broker = await startMosquitto();
    const raw = demoSite() as Json;
    raw.doors = [
      {
        id: 'front',
        name: 'Package room door',
        driver: { kind: 'mqtt', url: broker.url, firmware: 'generic', topicPrefix: prefix },
      },
      { id: 'back', name: 'Back door', driver: { kind: 'sim' } },
    ];
    raw.readers = [
      { id: 'front-reader', doorId: 'front', keypad: true },
      { id: 'back-reader', doorId: 'back' },
    ];
    t = await createTestApp('pglite', {
      site: parseSite(raw, 'mqtt faults'),
      clockStart: Date.now(),
    });
    // The controller at the door: on every (re)connect it says where it stands, as firmware does
    // (the broker keeps no retained messages across its restart).
    controller = await connectAsync(broker.url, {
      clientId: 'faults-controller',
      reconnectPeriod: 200,
    });
    controller.on('error', () => undefined);
    const announce = async () => {
      await controller.publishAsync(`${prefix}/status`, 'online', { retain: true });
      await controller.publishAsync(`${prefix}/contact`, 'closed', { retain: true });
      await controller.publishAsync(`${prefix}/strike/state`, 'locked', { retain: true });
    };
    controller.on('connect', () => void announce().catch(() => undefined));
    await announce();
    await enrolAnn(t);
    staff = await t.login('staff');
  });
  afterAll(async () => {
    await t?.close();
    await controller?.endAsync(true);
    await broker?.close();
  });

  /**
   * The driver's reconnect backoff runs on the domain clock, stopped in tests: let it follow real
   * time while we wait.
   */
  const waitSynced = <T>(what: string, probe: () => T | undefined) =>
    waitFor(what, () => {
      t.clock.set(Math.max(t.clock.now(), Date.now()));
      return Promise.resolve(probe());
    });
  const front = () => t.doors.doors().find((d) => d.id === 'front')!;
  const offlineAlarm = () => front().alarms.some((a) => a.kind === 'offline');
  const frames = async (n: number) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const outcome = t.doors.nextOutcome('front-reader');
      await controller.publishAsync(
        `${prefix}/reader/front-reader/frame`,
        JSON.stringify({ bits: i % 4 === 3 ? UNKNOWN : GOOD }),
      );
      const o = await within(outcome, 10_000, `frame ${i}`);
      if (o.kind !== 'decision') throw new Error(`unexpected outcome ${o.kind}`);
      expect(o.decision.decision).toBe(i % 4 === 3 ? 'denied' : 'granted');
      ids.push(o.eventId);
    }
    return ids;
  };
  const doorEvents = (type: string) =>
    t.database.db
      .select({ id: accessEvents.id, details: accessEvents.details })
      .from(accessEvents)
      .where(and(eq(accessEvents.type, type), eq(accessEvents.doorId, 'front')))
      .orderBy(asc(accessEvents.at), asc(accessEvents.id));

  it('stores every frame sent before and after, reports the door offline and back, and the other door decides meanwhile', async () => {
    await waitSynced('the door online', () => (offlineAlarm() ? undefined : true));
    const before = await counts(t.database.db);
    const offlineBefore = (await doorEvents('offline')).length;
    const onlineBefore = (await doorEvents('online')).length;
    const beforeIds = await frames(12);

    await broker.stop();
    await waitSynced('the offline alarm', () => (offlineAlarm() ? true : undefined));
    // The sim door does not care about the broker.
    const backIds: string[] = [];
    for (const bits of [GOOD, UNKNOWN]) {
      const res = await t.call('POST', '/api/sim/readers/back-reader/wiegand', {
        cookie: staff,
        body: { bits },
      });
      const body = (await res.json()) as { decision: string; eventId: string };
      expect(body.decision).toBe(bits === GOOD ? 'granted' : 'denied');
      backIds.push(body.eventId);
    }

    await broker.restart();
    await waitSynced('the alarm to clear', () => (offlineAlarm() ? undefined : true)).catch(
      (e: Error) => {
        throw new Error(`${e.message}: ${JSON.stringify(front())}`);
      },
    );
    const afterIds = await frames(12);

    await within(t.services.journal.drained(), 10_000, 'draining the journal');
    const all = [...beforeIds, ...backIds, ...afterIds];
    expect(new Set(all).size).toBe(26);
    expect((await storedEventIds(t.database.db, all)).size).toBe(26);
    // Strike and contact each went offline once, and came back.
    const offline = (await doorEvents('offline')).slice(offlineBefore);
    expect(offline.map((e) => (e.details as Json).device).sort()).toEqual(['contact', 'strike']);
    const online = (await doorEvents('online')).slice(onlineBefore);
    expect(online.map((e) => (e.details as Json).device).sort()).toEqual(['contact', 'strike']);
    const after = await counts(t.database.db);
    // 26 decisions, the door's offline and online twice; no parcel or clip came or went.
    expect(after.events - before.events).toBeGreaterThanOrEqual(26 + 4);
    const decisions = await t.database.db
      .select({ n: count() })
      .from(accessEvents)
      .where(eq(accessEvents.type, 'access'));
    expect(Number(decisions[0]!.n)).toBe(26);
    expect(after.parcels).toBe(before.parcels);
    expect(after.clips).toBe(before.clips);
  });
});
