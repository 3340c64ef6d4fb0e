/**
 * Cameras on the Room page, in a real browser: Debian's Chromium against the server started
 * in-process with its cameras on, as `npm start` runs it. The demo room's simulated camera (a
 * synthetic scene served by GStreamer's RTSP server behind our ONVIF device) is recorded by the
 * real ffmpeg into 2 s segments; the front door keeps 2 s before and 4 s after an entry.
 *
 * A resident's card is presented at the simulated reader; the entry reaches the page over the
 * event stream with its clip link; the clip is opened from the keyboard, says it is still being
 * recorded until its window is on disk, then plays: its `duration` is the 6 s window (from the
 * keyframe at or before the window start) and `currentTime` moves while it plays. The live tile
 * of the door's camera shows it online and its HLS video gets frames. A site without cameras
 * gets a Room page that says so, with nothing broken.
 *
 * Screenshots: /tmp/clips-waiting.png (when the waiting state was caught), /tmp/clips-room.png.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_FORMATS, encodeCard } from '../../access/index.ts';
import type { CameraStatus } from '../../server/cameras/camera.types.ts';
import { demoSite } from '../../server/config/index.ts';
import { locateFfmpeg, rtspServerAvailable } from '../../vision/index.ts';
import { launchChromium, type LaunchedChromium } from '../harness/chromium.ts';
import { api, signIn, startE2eSite, type E2eSite } from '../harness/e2e.server.ts';
import { reportMissing, requireChromium } from '../harness/requirements.ts';

const chromiumPath = requireChromium();
const rtsp = await rtspServerAvailable();
if (!rtsp.ok) {
  reportMissing('GStreamer RTSP server', `${rtsp.reason}; the camera e2e test is skipped.`);
}
const ffmpeg = locateFfmpeg('system');
if (!ffmpeg) {
  reportMissing('ffmpeg', 'no system ffmpeg (apt-get install ffmpeg); the camera e2e is skipped.');
}
const canRun = chromiumPath !== null && rtsp.ok && ffmpeg !== null;

const ADMIN = { email: 'admin@clips.test', password: 'admin password for clips e2e' };
const CAMERA = 'room-cam';
const READER = 'front-reader';
const CLIP_BEFORE_MS = 2_000;
const CLIP_AFTER_MS = 4_000;
const WINDOW_S = (CLIP_BEFORE_MS + CLIP_AFTER_MS) / 1000;
/** The clip starts at the keyframe at or before the window (1 s GOP) and ends near its end. */
const DURATION_TOLERANCE_S = 2.5;
const RESIDENT = { name: 'Katherine Johnson', unit: '3C' };
const CARD = { facility: 21, card: 3131 };
const H10301 = BUILTIN_FORMATS.find((f) => f.id === 'H10301')!;

/** The demo room, with a short clip window and 2 s segments so a clip is ready within seconds. */
function shortClipSite(): Record<string, unknown> {
  const site = demoSite() as Record<string, unknown> & { doors: Record<string, unknown>[] };
  return {
    ...site,
    doors: site.doors.map((d) => ({
      ...d,
      clipBeforeMs: CLIP_BEFORE_MS,
      clipAfterMs: CLIP_AFTER_MS,
    })),
    recording: { segmentSeconds: 2 },
  };
}

/** The demo room without its camera (and without shelf slots watched by it). */
function noCameraSite(): Record<string, unknown> {
  const site = demoSite() as Record<string, unknown> & {
    storage: { shelves: { slots: Record<string, unknown>[] }[] };
  };
  return {
    ...site,
    cameras: [],
    storage: {
      ...site.storage,
      shelves: site.storage.shelves.map((shelf) => ({
        ...shelf,
        slots: shelf.slots.map(({ cameraId: _camera, ...slot }) => slot),
      })),
    },
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(250);
  }
}

async function created(res: Promise<Response>): Promise<string> {
  const r = await res;
  expect(r.status, await r.clone().text()).toBe(201);
  return ((await r.json()) as { id: string }).id;
}

/** What the clip's video element reports. */
interface VideoState {
  readyState: number;
  duration: number;
  currentTime: number;
  paused: boolean;
  error: number | null;
}

/** The part of the browser's HTMLVideoElement the test reads (this project has no DOM types). */
interface VideoElement {
  readyState: number;
  duration: number;
  currentTime: number;
  paused: boolean;
  muted: boolean;
  poster: string;
  error: { code: number } | null;
  pause(): void;
  play(): Promise<void>;
}

/** The state of the first video element with this test id, or null while there is none. */
async function videoState(page: Page, testId: string): Promise<VideoState | null> {
  const video = page.getByTestId(testId).first();
  if ((await video.count()) === 0) return null;
  return video.evaluate((el) => {
    const v = el as unknown as VideoElement;
    return {
      readyState: v.readyState,
      duration: v.duration,
      currentTime: v.currentTime,
      paused: v.paused,
      error: v.error?.code ?? null,
    };
  });
}

describe.skipIf(!canRun)('camera tiles and event clips in Chromium', () => {
  let site: E2eSite | undefined;
  let browser: LaunchedChromium | undefined;
  let page: Page;
  let cookie: string;
  const errors: string[] = [];

  beforeAll(async () => {
    site = await startE2eSite({
      kind: 'pglite',
      name: 'clips',
      admin: ADMIN,
      pgBaseUrl: null,
      site: shortClipSite(),
    });
    const { url } = site.server;
    const login = await api(url, '/api/auth/login', { method: 'POST', body: ADMIN });
    expect(login.status).toBe(200);
    cookie = login.headers.getSetCookie()[0]?.split(';')[0] ?? '';

    const residentId = await created(
      api(url, '/api/residents', { method: 'POST', body: RESIDENT, cookie }),
    );
    await created(
      api(url, '/api/credentials', {
        method: 'POST',
        cookie,
        body: {
          residentId,
          kind: 'card',
          format: 'H10301',
          facilityCode: CARD.facility,
          cardNumber: CARD.card,
        },
      }),
    );

    // The simulated camera renders its scene on a fresh data folder, then connects and records.
    await waitFor(
      `camera ${CAMERA} online and recording`,
      async () => {
        const res = await api(url, '/api/cameras', { cookie });
        const { items } = (await res.json()) as { items: CameraStatus[] };
        const cam = items.find((c) => c.id === CAMERA);
        if (cam?.state === 'offline') throw new Error(`camera offline: ${cam.reason ?? ''}`);
        return cam?.state === 'online' && cam.recording ? cam : undefined;
      },
      150_000,
    );

    browser = await launchChromium({ baseURL: url, viewport: { width: 1280, height: 900 } });
    page = await browser.context.newPage();
    page.on('pageerror', (err) => errors.push(err.stack ?? err.message));
    await page.goto('/login');
    await signIn(page, ADMIN.email, ADMIN.password);
    await page.waitForURL((u) => u.pathname === '/');
    await page.getByRole('heading', { level: 1, name: 'Room', exact: true }).waitFor();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('shows the door camera live beside its door', async () => {
    const group = page.getByTestId('door-group-front');
    await group.getByTestId('door-front').waitFor();
    const tile = group.getByTestId(`camera-${CAMERA}`);
    await tile.waitFor();
    await tile.getByTestId('camera-state').filter({ hasText: 'online' }).waitFor();
    expect(await tile.getAttribute('data-state')).toBe('online');
    await page.getByTestId('cameras-online').filter({ hasText: '1 of 1 online' }).waitFor();
    await page.getByText('Each camera is shown beside the door it watches.').waitFor();
    // The live stream starts on demand: the first HLS segments take a few seconds.
    await expect
      .poll(async () => (await videoState(page, 'camera-video'))?.readyState ?? -1, {
        timeout: 45_000,
        interval: 500,
      })
      .toBeGreaterThanOrEqual(2);
    expect(errors, 'uncaught errors in the page').toEqual([]);
  });

  it('badge in → the entry gets a clip → it plays the window', async () => {
    await page.getByTestId('live-state').filter({ hasText: 'Live' }).waitFor();
    const badge = await api(site!.server.url, `/api/sim/readers/${READER}/wiegand`, {
      method: 'POST',
      cookie,
      body: { bits: encodeCard(H10301, CARD) },
    });
    expect(await badge.json()).toMatchObject({ decision: 'granted' });

    const row = page
      .getByTestId('event-row')
      .filter({ has: page.getByRole('cell', { name: 'Access granted', exact: true }) })
      .filter({ hasText: RESIDENT.name });
    await row.waitFor();
    const at = Date.parse((await row.locator('time').getAttribute('datetime')) ?? '');
    expect(Number.isFinite(at)).toBe(true);

    // Opened from the keyboard: the control is a real button.
    // Named for what it plays, so a screen reader tells the rows' buttons apart.
    await row.getByRole('button', { name: /^Play clip: Access granted at / }).waitFor();
    const toggle = row.getByTestId('clip-toggle');
    await toggle.focus();
    const askedAt = Date.now();
    await page.keyboard.press('Enter');
    expect(await toggle.getAttribute('aria-expanded')).toBe('true');
    const player = page.getByTestId('clip-player');
    await player.waitFor();

    // Asked before the window ended (with a second to spare): the server must say "not yet",
    // and the player must say so with the time to wait. Later, the clip may already be there.
    if (askedAt < at + CLIP_AFTER_MS - 1_000) {
      const waiting = page.getByTestId('clip-waiting');
      await waiting.waitFor();
      expect(await waiting.textContent()).toMatch(
        /^Video still recording — (ready in \d+ s|checking…)$/,
      );
      await page.screenshot({ path: '/tmp/clips-waiting.png', fullPage: true });
    }

    // Retry-After brings it back by itself once the covering segment is recorded.
    await page.getByTestId('clip-video').waitFor({ timeout: 60_000 });
    const loaded = await waitFor(
      'the clip to load its metadata',
      async () => {
        const s = await videoState(page, 'clip-video');
        if (s?.error) throw new Error(`the video element failed: MediaError ${s.error}`);
        return s && s.readyState >= 1 && Number.isFinite(s.duration) ? s : undefined;
      },
      30_000,
    );
    expect(Math.abs(loaded.duration - WINDOW_S)).toBeLessThanOrEqual(DURATION_TOLERANCE_S);

    // From the start, playing: the frames advance.
    const clipVideo = page.getByTestId('clip-video');
    const start = await clipVideo.evaluate(async (el) => {
      const v = el as unknown as VideoElement;
      v.pause();
      v.currentTime = 0;
      v.muted = true;
      await v.play();
      return v.currentTime;
    });
    await expect
      .poll(async () => (await videoState(page, 'clip-video'))?.currentTime ?? -1, {
        timeout: 10_000,
        interval: 200,
      })
      .toBeGreaterThan(start + 0.5);
    const playing = await videoState(page, 'clip-video');
    expect(playing?.error).toBeNull();

    // Its poster is the JPEG of the moment, served with the same session.
    const poster = await clipVideo.evaluate(async (el) => {
      const res = await fetch((el as unknown as VideoElement).poster, {
        credentials: 'same-origin',
      });
      return { status: res.status, type: res.headers.get('content-type') };
    });
    expect(poster).toEqual({ status: 200, type: 'image/jpeg' });

    await page.screenshot({ path: '/tmp/clips-room.png', fullPage: true });

    // Escape closes it and gives the focus back to the button that opened it.
    await clipVideo.focus();
    await page.keyboard.press('Escape');
    await player.waitFor({ state: 'detached' });
    expect(await toggle.getAttribute('aria-expanded')).toBe('false');
    expect(
      await toggle.evaluate(
        (el) =>
          el ===
          (globalThis as unknown as { document: { activeElement: unknown } }).document
            .activeElement,
      ),
    ).toBe(true);
    expect(errors, 'uncaught errors in the page').toEqual([]);
  });
});

describe.skipIf(!chromiumPath)('the Room page of a site without cameras', () => {
  let site: E2eSite | undefined;
  let browser: LaunchedChromium | undefined;

  beforeAll(async () => {
    site = await startE2eSite({
      kind: 'pglite',
      name: 'no-cameras',
      admin: ADMIN,
      pgBaseUrl: null,
      site: noCameraSite(),
    });
    browser = await launchChromium({ baseURL: site.server.url });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('shows the doors and says there are no cameras', async () => {
    const page = await browser!.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.stack ?? err.message));
    await page.goto('/login');
    await signIn(page, ADMIN.email, ADMIN.password);
    await page.getByRole('heading', { level: 1, name: 'Room', exact: true }).waitFor();
    await page.getByTestId('door-front').waitFor();
    const cameras = page.getByRole('region', { name: 'Cameras' });
    await cameras.getByText('No cameras are configured.').waitFor();
    expect(await page.getByTestId('door-group-front').count()).toBe(0);
    expect(await page.locator('video').count()).toBe(0);
    expect(await page.getByRole('alert').count()).toBe(0);
    expect(errors, 'uncaught errors in the page').toEqual([]);
  });
});
