/**
 * Event clips from real recordings: H.264 segments made by the real ffmpeg's segment muxer with
 * the recorder's fragmented-MP4 flags (lavfi testsrc2, no B-frames, a keyframe each second),
 * indexed as `recordings` rows in a real database, cut into clips by the clip service and served
 * by the clip routes behind the real session auth. Clips are checked with ffprobe; Range answers
 * byte for byte against the file; the cache by counting ffmpeg runs.
 *
 * The camera runtime is not part of this test: a strict fake CameraDirectory stands in (an
 * unexpected call fails). The routes are mounted on a small Hono app with the harness's auth.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessEvents, clips, newId, recordings } from '../../db/index.ts';
import { systemClock } from '../../hardware/clock.ts';
import type { CameraDirectory, CameraStatus } from '../../server/cameras/camera.types.ts';
import {
  createClipLinker,
  createClipService,
  type ClipService,
} from '../../server/cameras/clip.service.ts';
import { demoSite, parseSite } from '../../server/config/index.ts';
import { resolvePrincipal } from '../../server/http/auth.middleware.ts';
import type { AppEnv } from '../../server/http/context.ts';
import { ApiError, errorBody } from '../../server/http/errors.ts';
import { clipRoutes } from '../../server/routes/clips.routes.ts';
import { eventRoutes, type EventView } from '../../server/routes/events.routes.ts';
import { locateFfmpeg, type FfmpegBinary } from '../../vision/ffmpeg.locate.ts';
import {
  createFfmpegRunner,
  spawnFfmpegProcess,
  type FfmpegRunner,
} from '../../vision/ffmpeg.process.ts';
import { createTestApp, type TestApp } from '../harness/app.harness.ts';
import { reportMissing } from '../harness/requirements.ts';
import { makeTempDir, type TempDir } from '../harness/temp-dir.ts';

function requireSystemFfmpeg(): (FfmpegBinary & { ffprobePath: string }) | null {
  const ff = locateFfmpeg('system');
  const encoders = ff
    ? spawnSync(ff.path, ['-hide_banner', '-encoders'], { encoding: 'utf8' }).stdout
    : '';
  if (ff?.ffprobePath && /libx264/.test(encoders)) return { ...ff, ffprobePath: ff.ffprobePath };
  reportMissing(
    'ffmpeg',
    'no system ffmpeg with libx264 and ffprobe (apt-get install ffmpeg); the clip tests are skipped.',
  );
  return null;
}

const ffmpeg = requireSystemFfmpeg();

const SITE_ID = 'demo';
const NOW = Date.UTC(2026, 10, 21, 9, 0, 0);
/** The recording starts an hour before "now". */
const T = NOW - 3_600_000;
const DOOR_CAM = 'clip-door-cam';
const ROOM_CAM = 'clip-room-cam';
const SPARE_CAM = 'clip-spare-cam';
/** Recorded a little, then stopped; more of its recording is indexed later. */
const LATE_CAM = 'clip-late-cam';
const SEGMENT_S = 2;
const SEGMENTS = 10;

/** The demo room plus a camera-less back door; front keeps 3 s before and 6 s after an entry. */
const site = (() => {
  const raw = demoSite() as Record<string, unknown> & { doors: Record<string, unknown>[] };
  // The demo's shelves are watched by its camera; here the room camera has another id.
  const storage = JSON.parse(JSON.stringify(raw.storage).replaceAll('"room-cam"', `"${ROOM_CAM}"`));
  return parseSite(
    {
      ...raw,
      storage,
      doors: [
        { ...raw.doors[0], clipBeforeMs: 3_000, clipAfterMs: 6_000 },
        { id: 'back', name: 'Back door', driver: { kind: 'sim' } },
      ],
      cameras: [
        { id: DOOR_CAM, name: 'Front door', doorId: 'front', source: { kind: 'sim' } },
        { id: ROOM_CAM, name: 'Room', source: { kind: 'sim' } },
        { id: SPARE_CAM, name: 'Spare', source: { kind: 'sim' } },
        { id: LATE_CAM, name: 'Late', source: { kind: 'sim' } },
      ],
      recording: { segmentSeconds: SEGMENT_S },
    },
    'clips test',
  );
})();

const status = (id: string, name: string, doorId: string | null): CameraStatus => ({
  id,
  name,
  doorId,
  source: 'sim',
  state: 'online',
  since: new Date(T).toISOString(),
  recording: true,
});

/** Strict: the clip side may only list cameras and ask who watches a known door. */
const directory: CameraDirectory = {
  list: () => [
    status(DOOR_CAM, 'Front door', 'front'),
    status(ROOM_CAM, 'Room', null),
    status(SPARE_CAM, 'Spare', null),
    {
      ...status(LATE_CAM, 'Late', null),
      state: 'offline',
      recording: false,
      reason: 'no answer',
    },
  ],
  streams(id) {
    throw new Error(`unexpected streams(${id})`);
  },
  forDoor(doorId) {
    if (doorId === 'front') return DOOR_CAM;
    if (doorId === 'back') return null;
    throw new Error(`unexpected forDoor(${doorId})`);
  },
  onStatus() {
    throw new Error('unexpected onStatus');
  },
};

function ffprobe(args: string[]): string {
  const r = spawnSync(ffmpeg!.ffprobePath, ['-v', 'error', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffprobe ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}
const durationS = (path: string) =>
  Number(ffprobe(['-show_entries', 'format=duration', '-of', 'csv=p=0', path]));

describe.runIf(ffmpeg)('event clips from real segments', () => {
  let t: TestApp;
  let outside: TempDir;
  let service: ClipService;
  let runs = 0;
  /** What the journal still holds for the database, as the clip service is told. */
  let unstored = 0;
  /** The next ffmpeg run fails as a broken build would (a real ffmpeg, given a missing input). */
  let failNext = false;
  /** The door camera's segments, to index some of them again for the late camera. */
  const doorRows: { path: string; startAt: Date; endAt: Date; bytes: number }[] = [];
  let cookie: string;
  const api = new Hono<AppEnv>();
  const app = new Hono<AppEnv>();
  const ev: Record<string, string> = {};

  const request = (path: string, o: { headers?: Record<string, string>; method?: string } = {}) =>
    Promise.resolve(
      app.request(`http://parcelroom.test${path}`, {
        method: o.method ?? 'GET',
        headers: { cookie, ...o.headers },
      }),
    );
  const errorOf = async (res: Response) =>
    ((await res.json()) as { error: { code: string; message: string; field?: string } }).error;
  const clipFile = (eventId: string, cam = DOOR_CAM) =>
    join(t.dataDir, 'clips', cam, `${eventId}.mp4`);

  beforeAll(async () => {
    t = await createTestApp('pglite', { clockStart: NOW });
    outside = await makeTempDir('parcelroom-outside');
    cookie = await t.login('staff');
    const db = t.database.db;

    // Segments as the recorder writes them: segment muxer, reset timestamps, fragmented MP4.
    const rel = `recordings/${DOOR_CAM}/2026-11-21/08`;
    const dir = join(t.dataDir, rel);
    await mkdir(dir, { recursive: true }); // the segment muxer makes no folders
    const made = spawnSync(
      ffmpeg!.path,
      [
        ...['-hide_banner', '-nostdin', '-v', 'error', '-f', 'lavfi'],
        ...['-i', `testsrc2=size=320x240:rate=10:duration=${SEGMENT_S * SEGMENTS}`],
        ...['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-bf', '0'],
        ...['-g', '10', '-keyint_min', '10', '-sc_threshold', '0'],
        ...['-f', 'segment', '-segment_time', String(SEGMENT_S), '-reset_timestamps', '1'],
        ...['-segment_format', 'mp4'],
        ...['-segment_format_options', 'movflags=+frag_keyframe+empty_moov+default_base_moof'],
        join(dir, 'seg-%03d.mp4'),
      ],
      { encoding: 'utf8' },
    );
    expect(made.status, made.stderr).toBe(0);

    const names = (await readdir(dir)).filter((n) => n.endsWith('.mp4')).sort();
    expect(names).toHaveLength(SEGMENTS);
    let at = T;
    for (const name of names) {
      const ms = Math.round(durationS(join(dir, name)) * 1000);
      const row = {
        path: `${rel}/${name}`,
        startAt: new Date(at),
        endAt: new Date(at + ms),
        bytes: (await readFile(join(dir, name))).length,
      };
      doorRows.push(row);
      await db
        .insert(recordings)
        .values({ id: newId(at), siteId: SITE_ID, cameraId: DOOR_CAM, ...row });
      at += ms;
    }
    expect(at).toBe(T + SEGMENT_S * SEGMENTS * 1000);
    const gap = (cameraId: string, s: number, e: number) => ({
      id: newId(T + s),
      siteId: SITE_ID,
      cameraId,
      path: '',
      startAt: new Date(T + s),
      endAt: new Date(T + e),
      bytes: 0,
      kind: 'gap' as const,
    });
    // The door camera went offline after 20 s and came back at 40 s.
    await db.insert(recordings).values(gap(DOOR_CAM, 20_000, 40_000));
    // The room camera's first 20 s were deleted by retention; it recorded on later.
    await db.insert(recordings).values([
      {
        id: newId(T),
        siteId: SITE_ID,
        cameraId: ROOM_CAM,
        path: `recordings/${ROOM_CAM}/old.mp4`,
        startAt: new Date(T),
        endAt: new Date(T + 20_000),
        bytes: 1,
        deletedAt: new Date(NOW - 60_000),
      },
      gap(ROOM_CAM, 100_000, 102_000),
    ]);
    // A row pointing out of DATA_DIR, at a file that is really there: it must not be read.
    await writeFile(join(outside.path, 'secret.mp4'), 'not for clips');
    await db.insert(recordings).values([
      {
        id: newId(T),
        siteId: SITE_ID,
        cameraId: SPARE_CAM,
        path: `../${outside.path.split('/').pop()!}/secret.mp4`,
        startAt: new Date(T),
        endAt: new Date(T + 20_000),
        bytes: 13,
      },
      gap(SPARE_CAM, 20_000, 200_000),
    ]);

    const event = async (name: string, atMs: number, type: string, more: object = {}) => {
      ev[name] = newId(atMs);
      await db.insert(accessEvents).values({
        id: ev[name],
        siteId: SITE_ID,
        at: new Date(atMs),
        type,
        doorId: 'front',
        ...more,
      });
    };
    await event('entry', T + 5_500, 'access', { decision: 'granted' });
    await event('checkIn', T + 8_000, 'package_checked_in', {
      doorId: null,
      details: { entryEventId: ev.entry },
    });
    await event('tail', T + 16_000, 'door_opened');
    await event('closed', T + 17_000, 'door_closed');
    await event('offline', T + 28_000, 'access', { decision: 'denied' });
    await event('unrecorded', T + 600_000, 'access');
    await event('back', T + 5_000, 'access', { doorId: 'back' });
    await event('writing', NOW - 8_000, 'access');
    await event('future', NOW - 1_000, 'access');

    const real = createFfmpegRunner({
      spawn: spawnFfmpegProcess,
      clock: systemClock(),
      binary: ffmpeg!,
      log: () => undefined,
    });
    const runner: FfmpegRunner = {
      binary: real.binary,
      run(args, options) {
        runs++;
        if (failNext) {
          failNext = false;
          return real.run(
            ['-hide_banner', '-nostdin', '-v', 'error', '-i', '/nonexistent.mp4'],
            options,
          );
        }
        return real.run(args, options);
      },
    };
    service = createClipService({
      db,
      siteId: SITE_ID,
      site,
      dataDir: t.dataDir,
      clock: t.clock,
      runner,
      directory,
      log: t.log,
      unstoredEvents: () => unstored,
    });

    app.onError((err, c) => {
      if (!(err instanceof ApiError)) throw err;
      for (const [k, v] of Object.entries(err.headers ?? {})) c.header(k, v);
      return c.json(errorBody(err.code, err.message, err.field), err.status);
    });
    api.use('*', resolvePrincipal(t.auth));
    api.route('/', clipRoutes({ clips: service }));
    api.route(
      '/',
      eventRoutes({
        db,
        siteId: SITE_ID,
        live: {
          subscribe() {
            throw new Error('unexpected live subscription');
          },
        },
        clipLinks: createClipLinker(site),
      }),
    );
    api.all('*', (c) => c.json(errorBody('not_found', 'no route'), 404));
    app.route('/api', api);
  }, 60_000);

  afterAll(async () => {
    await service?.close();
    await t?.close();
    await outside?.cleanup();
  });

  it('cuts the window from the keyframe before it, across segments, once', async () => {
    const before = runs;
    const res = await request(`/api/events/${ev.entry}/clip`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    // Window 2.5 s..11.5 s; the keyframe at or before 2.5 s is the one at 2.0 s.
    expect(res.headers.get('x-clip-start')).toBe(new Date(T + 2_000).toISOString());
    expect(res.headers.get('x-clip-end')).toBe(new Date(T + 11_500).toISOString());
    expect(res.headers.get('x-clip-missing-ms')).toBe('0');
    const body = Buffer.from(await res.arrayBuffer());
    const onDisk = await readFile(clipFile(ev.entry!));
    expect(body.equals(onDisk)).toBe(true);
    expect(res.headers.get('content-length')).toBe(String(onDisk.length));
    // Keyframe scan, concat, poster.
    expect(runs - before).toBe(3);

    const seconds = durationS(clipFile(ev.entry!));
    expect(seconds).toBeGreaterThan(9 - 0.15); // the window
    expect(seconds).toBeLessThan(9 + 1 + 0.15); // plus at most one GOP in front
    expect(
      ffprobe([
        '-select_streams',
        'v',
        '-show_entries',
        'stream=codec_name',
        '-of',
        'csv=p=0',
        clipFile(ev.entry!),
      ]),
    ).toBe('h264');

    const [row] = await t.database.db.select().from(clips).where(eq(clips.eventId, ev.entry!));
    expect(row).toMatchObject({
      status: 'ready',
      cameraId: DOOR_CAM,
      path: `clips/${DOOR_CAM}/${ev.entry}.mp4`,
      posterPath: `clips/${DOOR_CAM}/${ev.entry}.jpg`,
      missingReason: null,
    });
    expect(row!.startAt.getTime()).toBe(T + 2_000);
  });

  it('serves ranges, HEAD and revalidation from the cached file without ffmpeg', async () => {
    const whole = await readFile(clipFile(ev.entry!));
    const before = runs;

    const part = await request(`/api/events/${ev.entry}/clip`, {
      headers: { range: 'bytes=100-1099' },
    });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-1099/${whole.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(whole.subarray(100, 1100))).toBe(true);

    const suffix = await request(`/api/events/${ev.entry}/clip`, {
      headers: { range: 'bytes=-500' },
    });
    expect(suffix.status).toBe(206);
    expect(Buffer.from(await suffix.arrayBuffer()).equals(whole.subarray(whole.length - 500))).toBe(
      true,
    );

    const past = await request(`/api/events/${ev.entry}/clip`, {
      headers: { range: `bytes=${whole.length}-` },
    });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${whole.length}`);

    const head = await request(`/api/events/${ev.entry}/clip`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(whole.length));
    expect(await head.text()).toBe('');

    const etag = head.headers.get('etag')!;
    expect(etag).toMatch(/^"/);
    expect(head.headers.get('last-modified')).toMatch(/GMT$/);
    const again = await request(`/api/events/${ev.entry}/clip`, {
      headers: { 'if-none-match': etag },
    });
    expect(again.status).toBe(304);

    expect(runs).toBe(before);
  });

  it('serves the poster as a JPEG', async () => {
    const res = await request(`/api/events/${ev.entry}/clip/poster`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    const jpeg = Buffer.from(await res.arrayBuffer());
    expect(jpeg.subarray(0, 2).toString('hex')).toBe('ffd8');
  });

  it('builds a clip once for requests that arrive together', async () => {
    const before = runs;
    const path = `/api/events/${ev.checkIn}/clip`;
    const answers = await Promise.all([
      request(path),
      request(path, { headers: { range: 'bytes=0-99' } }),
      service.clipForEvent(ev.checkIn!),
    ]);
    expect(answers[0].status).toBe(200);
    expect(answers[1].status).toBe(206);
    expect(answers[2]).toMatchObject({ kind: 'ready', cameraId: DOOR_CAM });
    await answers[0].arrayBuffer();
    await answers[1].arrayBuffer();
    expect(runs - before).toBe(3);
    // A check-in has no door: the window is its entry door's (3 s before, 6 s after).
    expect(answers[2]).toMatchObject({
      window: { startAt: T + 5_000, endAt: T + 14_000 },
      startAt: T + 5_000,
    });
    expect(await service.clipForEvent(ev.checkIn!)).toMatchObject({ fromCache: true });
    expect(runs - before).toBe(3);
  });

  it('plays through the unrecorded end of a window and says how much is missing', async () => {
    const res = await request(`/api/events/${ev.tail}/clip`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(res.headers.get('x-clip-missing-ms')).toBe('2000');
    const out = await service.clipForEvent(ev.tail!);
    expect(out).toMatchObject({
      kind: 'ready',
      fromCache: true,
      missing: [{ startAt: T + 20_000, endAt: T + 22_000 }],
    });
    // 13 s (a keyframe) to 20 s, where the recording stopped.
    expect(durationS(clipFile(ev.tail!))).toBeCloseTo(7, 0);
  });

  it('builds what there is once the recording gave up, and rebuilds when more turns up', async () => {
    const db = t.database.db;
    // The late camera recorded 0..4 s and stopped (its status says so).
    await db.insert(recordings).values(
      doorRows.slice(0, 2).map((r) => ({
        ...r,
        id: newId(r.startAt.getTime()),
        siteId: SITE_ID,
        cameraId: LATE_CAM,
      })),
    );
    const short = await service.clipForEvent(ev.entry!, LATE_CAM);
    expect(short).toMatchObject({
      kind: 'ready',
      fromCache: false,
      startAt: T + 2_000,
      endAt: T + 4_000,
      missing: [{ startAt: T + 4_000, endAt: T + 11_500 }],
    });
    expect(await service.clipForEvent(ev.entry!, LATE_CAM)).toMatchObject({ fromCache: true });

    // Its restarted recorder indexes what it had left behind: the clip is made again, whole.
    await db.insert(recordings).values(
      doorRows.slice(2, 7).map((r) => ({
        ...r,
        id: newId(r.startAt.getTime()),
        siteId: SITE_ID,
        cameraId: LATE_CAM,
      })),
    );
    const before = runs;
    const whole = await service.clipForEvent(ev.entry!, LATE_CAM);
    expect(whole).toMatchObject({
      kind: 'ready',
      fromCache: false,
      endAt: T + 11_500,
      missing: [],
    });
    expect(runs).toBeGreaterThan(before);
    expect(durationS(clipFile(ev.entry!, LATE_CAM))).toBeGreaterThan(9 - 0.15);
  });

  it('answers 503 when ffmpeg fails, caches nothing, and builds on the next request', async () => {
    // A clip not built yet: the late camera's part of the tail window (12..14 s).
    const path = `/api/events/${ev.tail}/clip?camera=${LATE_CAM}`;
    failNext = true;
    const failed = await request(path);
    expect(failed.status).toBe(503);
    expect((await errorOf(failed)).code).toBe('clip_failed');
    expect(existsSync(clipFile(ev.tail!, LATE_CAM))).toBe(false);
    const rows = await t.database.db.select().from(clips).where(eq(clips.cameraId, LATE_CAM));
    expect(rows.map((r) => r.eventId)).toEqual([ev.entry]);

    const before = runs;
    const retried = await request(path);
    expect(retried.status).toBe(200);
    await retried.arrayBuffer();
    expect(runs).toBeGreaterThan(before);
    expect(retried.headers.get('x-clip-end')).toBe(new Date(T + 14_000).toISOString());
  });

  it('answers 409 with Retry-After while the window is still to come or being written', async () => {
    const future = await request(`/api/events/${ev.future}/clip`);
    expect(future.status).toBe(409);
    expect((await errorOf(future)).code).toBe('clip_not_ready');
    // The window ends 5 s from now; the segment holding it closes half a segment (1 s) later on average.
    expect(future.headers.get('retry-after')).toBe('6');

    const writing = await request(`/api/events/${ev.writing}/clip`);
    expect(writing.status).toBe(409);
    expect(Number(writing.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await errorOf(writing)).message).toMatch(/still being written/);

    const [row] = await t.database.db.select().from(clips).where(eq(clips.eventId, ev.future!));
    expect(row?.status).toBe('pending');
  });

  it('answers 404 no_video with the reason when nothing covers the window', async () => {
    const offline = await request(`/api/events/${ev.offline}/clip`);
    expect(offline.status).toBe(404);
    expect(offline.headers.get('x-no-video-reason')).toBe('camera_offline');
    const e = await errorOf(offline);
    expect(e.code).toBe('no_video');
    expect(e.message).toBe(
      `Front door was offline from ${new Date(T + 20_000).toISOString()} to ${new Date(T + 40_000).toISOString()}`,
    );

    const never = await request(`/api/events/${ev.unrecorded}/clip`);
    expect(never.status).toBe(404);
    expect(never.headers.get('x-no-video-reason')).toBe('not_recorded');

    const deleted = await request(`/api/events/${ev.entry}/clip?camera=${ROOM_CAM}`);
    expect(deleted.status).toBe(404);
    expect(deleted.headers.get('x-no-video-reason')).toBe('retention');

    // The row's path leaves DATA_DIR: treated as a missing file, never read.
    const escaping = await request(`/api/events/${ev.entry}/clip?camera=${SPARE_CAM}`);
    expect(escaping.status).toBe(404);
    expect(escaping.headers.get('x-no-video-reason')).toBe('files_missing');

    const [row] = await t.database.db.select().from(clips).where(eq(clips.eventId, ev.offline!));
    expect(row).toMatchObject({ status: 'missing', missingReason: e.message, path: null });
  });

  it('refuses unknown events, unknown cameras, odd ids and callers without a session', async () => {
    const noCamera = await request(`/api/events/${ev.back}/clip`);
    expect(noCamera.status).toBe(404);
    expect((await errorOf(noCamera)).code).toBe('no_camera');

    const unknown = await request(`/api/events/${newId(T)}/clip`);
    expect(unknown.status).toBe(404);
    expect((await errorOf(unknown)).code).toBe('not_found');

    // While acknowledged events still wait for the database, an unknown id may be one of them:
    // "not ready, ask again", not "no such event".
    unstored = 3;
    const waiting = await request(`/api/events/${newId(T)}/clip`);
    unstored = 0;
    expect(waiting.status).toBe(409);
    expect((await errorOf(waiting)).code).toBe('clip_not_ready');
    expect(waiting.headers.get('retry-after')).toBe('2');

    const badCamera = await request(`/api/events/${ev.entry}/clip?camera=nope`);
    expect(badCamera.status).toBe(400);
    expect(await errorOf(badCamera)).toMatchObject({ code: 'unknown_camera', field: 'camera' });
    const sneakyCamera = await request(`/api/events/${ev.entry}/clip?camera=..%2F..%2Fetc`);
    expect(sneakyCamera.status).toBe(400);

    for (const id of ['..%2F..%2Fetc%2Fpasswd', '%2e%2e', 'a.b', '..', `${ev.entry}%00`]) {
      const res = await request(`/api/events/${id}/clip`);
      expect(res.status, id).toBe(404);
      const poster = await request(`/api/events/${id}/clip/poster`);
      expect(poster.status, id).toBe(404);
    }

    const anonymous = await app.request(`http://parcelroom.test/api/events/${ev.entry}/clip`);
    expect(anonymous.status).toBe(401);
  });

  it('links clips in the event list and says why video is missing', async () => {
    const res = await request('/api/events?limit=50');
    expect(res.status).toBe(200);
    const { items } = (await res.json()) as { items: EventView[] };
    const byId = new Map(items.map((i) => [i.id, i]));
    expect(byId.get(ev.entry!)).toMatchObject({
      type: 'access',
      decision: 'granted',
      doorId: 'front',
      clipUrl: `/api/events/${ev.entry}/clip`,
      snapshotUrl: `/api/events/${ev.entry}/clip/poster`,
      clipStatus: 'ready',
    });
    expect(byId.get(ev.checkIn!)?.clipUrl).toBe(`/api/events/${ev.checkIn}/clip`);
    expect(byId.get(ev.offline!)).toMatchObject({
      clipStatus: 'missing',
      clipMissingReason: expect.stringMatching(/offline/),
    });
    expect(byId.get(ev.closed!)).not.toHaveProperty('clipUrl');
    expect(byId.get(ev.back!)).not.toHaveProperty('clipUrl');
    expect(byId.get(ev.unrecorded!)).toMatchObject({ clipUrl: expect.any(String) });
  });
});
