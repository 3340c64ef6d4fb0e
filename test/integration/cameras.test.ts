/**
 * The server's cameras against real parts: the demo room's simulated camera (a synthetic scene,
 * Debian's GStreamer RTSP server, our ONVIF device) recorded by the real ffmpeg through the
 * composed server, as `npm start` runs it. Checks the status API, the recordings index against
 * the files on disk, a camera outage (offline alarm, then online and a gap), the fallback without
 * GStreamer (the scene file recorded directly, with the npm-shipped ffmpeg), and a box without
 * ffmpeg at all (the camera is offline with `missing_part`, the server keeps answering).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessEvents, recordings } from '../../db/index.ts';
import type { CameraStatus } from '../../server/cameras/camera.types.ts';
import { NO_FFMPEG_REASON } from '../../server/cameras/camera.runtime.ts';
import { demoSite, parseSite, type SiteConfig } from '../../server/config/index.ts';
import { locateFfmpeg, rtspServerAvailable, type FfmpegBinary } from '../../vision/index.ts';
import { createTestApp, type TestApp } from '../harness/app.harness.ts';
import { reportMissing } from '../harness/requirements.ts';
import { makeTempDir, type TempDir } from '../harness/temp-dir.ts';

const availability = await rtspServerAvailable();
if (!availability.ok) {
  reportMissing('GStreamer RTSP server', `${availability.reason}; sim camera tests are skipped.`);
}
const systemFfmpeg = locateFfmpeg('system');
if (!systemFfmpeg) {
  reportMissing('ffmpeg', 'no system ffmpeg (apt-get install ffmpeg); camera tests are skipped.');
}
const npmFfmpeg = locateFfmpeg('npm');
if (!npmFfmpeg) {
  reportMissing('ffmpeg (npm)', '@ffmpeg-installer/ffmpeg is not installed; its test is skipped.');
}

const CAM = 'room-cam';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

/** The demo room with short segments, so a test sees several within seconds. */
function demoWithShortSegments(): SiteConfig {
  const raw = demoSite();
  raw.recording = { segmentSeconds: 2, offlineAfterMs: 5_000 };
  return parseSite(raw, 'demo');
}

let scenes: TempDir;
beforeAll(async () => {
  // One render of the scene for every app of this file.
  scenes = await makeTempDir('parcelroom-camera-scenes');
});
afterAll(async () => {
  await scenes?.cleanup();
});

async function camerasOf(t: TestApp, cookie: string): Promise<CameraStatus[]> {
  const res = await t.call('GET', '/api/cameras', { cookie });
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: CameraStatus[] }).items;
}

async function cameraIn(t: TestApp, cookie: string, state: CameraStatus['state']) {
  return waitFor(`camera ${CAM} ${state}`, async () => {
    const cam = (await camerasOf(t, cookie)).find((c) => c.id === CAM);
    return cam?.state === state ? cam : undefined;
  });
}

const rowsOf = (t: TestApp) =>
  t.database.db
    .select()
    .from(recordings)
    .where(eq(recordings.cameraId, CAM))
    .orderBy(asc(recordings.startAt), asc(recordings.id));

const cameraEvents = (t: TestApp, type: 'offline' | 'online') =>
  t.database.db
    .select()
    .from(accessEvents)
    .where(and(eq(accessEvents.type, type), eq(accessEvents.cameraId, CAM)));

/** Every segment row names a file in DATA_DIR of exactly its size. */
function expectFilesOnDisk(t: TestApp, rows: Awaited<ReturnType<typeof rowsOf>>) {
  for (const r of rows.filter((x) => x.kind === 'segment')) {
    expect(r.path).toMatch(new RegExp(`^recordings/${CAM}/\\d{4}-\\d{2}-\\d{2}/\\d{2}/`));
    const file = join(t.dataDir, r.path);
    expect(existsSync(file), file).toBe(true);
    expect(statSync(file).size).toBe(r.bytes);
    expect(r.bytes).toBeGreaterThan(1_000);
  }
}

describe.runIf(availability.ok && systemFfmpeg)('the demo camera over RTSP and ONVIF', () => {
  let t: TestApp;
  let cookie: string;

  beforeAll(async () => {
    t = await createTestApp('pglite', {
      site: demoWithShortSegments(),
      cameras: 'on',
      cameraOverrides: {
        ffmpeg: systemFfmpeg,
        sim: { cacheDir: scenes.path, sceneDurationMs: 6_000 },
        recorderBackoff: { initialMs: 250, maxMs: 1_000 },
      },
    });
    cookie = await t.login('staff');
  });

  afterAll(async () => {
    await t?.close();
  });

  it('is connected over ONVIF and recording; /api/cameras and /api/health say so', async () => {
    const cam = await cameraIn(t, cookie, 'online');
    expect(cam).toMatchObject({
      id: CAM,
      name: 'Package room',
      doorId: 'front',
      source: 'sim',
      recording: true,
      device: { manufacturer: 'Parcelroom', model: 'Package room simulator' },
    });
    expect(cam.fault).toBeUndefined();
    expect(cam.reason).toBeUndefined();
    // The recorder reads what ONVIF announced: the RTSP simulator, credentials in the URL.
    const streams = t.services.cameras.streams(CAM);
    expect(streams?.main).toMatchObject({
      kind: 'rtsp',
      url: expect.stringMatching(/^rtsp:\/\/parcelroom:[^@]+@127\.0\.0\.1:\d+\/main$/) as string,
    });
    expect(streams?.sub).toMatchObject({ url: expect.stringMatching(/\/sub$/) as string });
    expect(t.services.cameras.forDoor('front')).toBe(CAM);

    const health = await t.call('GET', '/api/health');
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: 'ok',
      cameras: { total: 1, online: 1, offline: 0, faults: [] },
    });
    // Staff sign-in required.
    expect((await t.call('GET', '/api/cameras')).status).toBe(401);
  });

  it('indexes contiguous segments whose files are on disk', async () => {
    const rows = await waitFor('three segments', async () => {
      const r = await rowsOf(t);
      return r.filter((x) => x.kind === 'segment').length >= 3 ? r : undefined;
    });
    expect(rows.every((r) => r.kind === 'segment' && r.siteId === 'demo')).toBe(true);
    expectFilesOnDisk(t, rows);
    for (let i = 1; i < rows.length; i++) {
      // One ffmpeg run: each segment starts where the one before ended (to the ms: the RTP
      // clock's packet times can be a few µs off the segment list's).
      const hole = rows[i]!.startAt.getTime() - rows[i - 1]!.endAt.getTime();
      expect(Math.abs(hole)).toBeLessThanOrEqual(2);
      const ms = rows[i]!.endAt.getTime() - rows[i]!.startAt.getTime();
      expect(ms).toBeGreaterThanOrEqual(1_500);
      expect(ms).toBeLessThanOrEqual(3_500);
    }
    // Times are the server's (the recorders run on the real clock).
    expect(Math.abs(rows.at(-1)!.endAt.getTime() - Date.now())).toBeLessThan(10_000);
  });

  it('a camera outage raises offline; its return raises online and indexes the hole as a gap', async () => {
    const sim = t.services.cameras.simCamera();
    expect(sim?.feed.kind).toBe('onvif');
    const before = (await rowsOf(t)).filter((r) => r.kind === 'segment');
    await sim!.outage();

    const down = await cameraIn(t, cookie, 'offline');
    expect(down).toMatchObject({ fault: 'offline', recording: false });
    expect(down.reason).toMatch(/ffmpeg|stream|video/);
    expect(down.reason).not.toMatch(/parcelroom:[^*]/); // the password is masked
    const [alarm] = await waitFor('the offline event', async () => {
      const e = await cameraEvents(t, 'offline');
      return e.length > 0 ? e : undefined;
    });
    expect(alarm).toMatchObject({
      type: 'offline',
      cameraId: CAM,
      doorId: null,
      details: { fault: 'offline', reason: down.reason },
    });
    const health = (await (await t.call('GET', '/api/health')).json()) as Record<string, unknown>;
    expect(health.cameras).toMatchObject({ online: 0, offline: 1, faults: [{ id: CAM }] });

    await sim!.restore();
    const up = await cameraIn(t, cookie, 'online');
    expect(up.recording).toBe(true);
    await waitFor('the online event', async () => {
      const e = await cameraEvents(t, 'online');
      return e.length > 0 ? e : undefined;
    });
    expect(await cameraEvents(t, 'offline')).toHaveLength(1);

    const rows = await waitFor('a segment after the gap', async () => {
      const r = await rowsOf(t);
      const gap = r.findIndex((x) => x.kind === 'gap');
      return gap >= 0 && r.slice(gap + 1).some((x) => x.kind === 'segment') ? r : undefined;
    });
    const gaps = rows.filter((r) => r.kind === 'gap');
    expect(gaps).toHaveLength(1);
    const gap = gaps[0]!;
    expect(gap).toMatchObject({ path: '', bytes: 0 });
    const lastBefore = Math.max(
      ...rows.filter((r) => r.startAt < gap.startAt).map((r) => r.endAt.getTime()),
    );
    expect(gap.startAt.getTime()).toBe(lastBefore);
    const firstAfter = rows.find((r) => r.kind === 'segment' && r.startAt >= gap.endAt)!;
    expect(firstAfter.startAt.getTime()).toBe(gap.endAt.getTime());
    // The hole covers at least the time the camera was reported offline.
    expect(gap.endAt.getTime()).toBeGreaterThan(new Date(down.since!).getTime());
    expect(rows.filter((r) => r.kind === 'segment').length).toBeGreaterThan(before.length);
    expectFilesOnDisk(t, rows);
  });
});

describe.runIf(npmFfmpeg ?? systemFfmpeg)('the demo camera without GStreamer', () => {
  let t: TestApp;
  let cookie: string;
  const ffmpeg = (npmFfmpeg ?? systemFfmpeg) as FfmpegBinary;

  beforeAll(async () => {
    t = await createTestApp('pglite', {
      site: demoWithShortSegments(),
      cameras: 'on',
      cameraOverrides: {
        // What a fresh `npm install` elsewhere has: the bundled ffmpeg and no RTSP simulator.
        ffmpeg,
        rtspAvailable: () =>
          Promise.resolve({ ok: false, reason: 'pretend: no GStreamer RTSP server here' }),
        sim: { cacheDir: scenes.path, sceneDurationMs: 6_000 },
      },
    });
    cookie = await t.login('staff');
  });

  afterAll(async () => {
    await t?.close();
  });

  it('records the scene file directly and says so in the status', async () => {
    const cam = await cameraIn(t, cookie, 'online');
    expect(cam.recording).toBe(true);
    expect(cam.reason).toMatch(
      /^RTSP simulator unavailable \(install .+\): demo camera plays a file$/,
    );
    expect(t.services.cameras.streams(CAM)).toEqual({
      main: { kind: 'file', path: expect.stringContaining(scenes.path) as string, loop: true },
      sub: { kind: 'file', path: expect.stringContaining(scenes.path) as string, loop: true },
    });
    const rows = await waitFor('two segments', async () => {
      const r = await rowsOf(t);
      return r.filter((x) => x.kind === 'segment').length >= 2 ? r : undefined;
    });
    expectFilesOnDisk(t, rows);
    expect(Math.abs(rows[1]!.startAt.getTime() - rows[0]!.endAt.getTime())).toBeLessThanOrEqual(2);
    await expect(t.services.cameras.simCamera()!.outage()).rejects.toThrow(/plays a file/);
    expect(
      t.log.records.some(
        (r) => r.level === 'warn' && String(r.msg).includes('the demo camera plays its scene file'),
      ),
    ).toBe(true);
  });
});

describe('a box without ffmpeg', () => {
  let t: TestApp;
  let cookie: string;

  beforeAll(async () => {
    t = await createTestApp('pglite', {
      cameras: 'on',
      cameraOverrides: {
        ffmpeg: null,
        rtspAvailable: () =>
          Promise.reject(new Error('no simulator may be started without ffmpeg')),
      },
    });
    cookie = await t.login('staff');
  });

  afterAll(async () => {
    await t?.close();
  });

  it('shows the camera offline with missing_part and keeps serving', async () => {
    const [cam] = await camerasOf(t, cookie);
    expect(cam).toMatchObject({
      id: CAM,
      state: 'offline',
      fault: 'missing_part',
      reason: NO_FFMPEG_REASON,
      recording: false,
    });
    expect(t.services.cameras.streams(CAM)).toBeNull();
    const health = await t.call('GET', '/api/health');
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: 'ok',
      cameras: { total: 1, online: 0, offline: 1, faults: [{ id: CAM, fault: 'missing_part' }] },
    });
    expect((await t.call('GET', '/api/doors', { cookie })).status).toBe(200);
    const [alarm] = await waitFor('the offline event', async () => {
      const e = await cameraEvents(t, 'offline');
      return e.length > 0 ? e : undefined;
    });
    expect(alarm?.details).toMatchObject({ fault: 'missing_part', reason: NO_FFMPEG_REASON });
  });
});
