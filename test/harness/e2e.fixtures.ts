/**
 * The set-up the browser tests share: sessions made through the API, a resident with a card, a
 * badge at the simulated reader, waiting for the demo room's camera to record, and a Chromium
 * page whose uncaught errors are collected (a test expects none).
 */
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { BUILTIN_FORMATS, encodeCard } from '../../access/index.ts';
import type { CameraStatus } from '../../server/cameras/camera.types.ts';
import { demoSite } from '../../server/config/index.ts';
import { locateFfmpeg, rtspServerAvailable } from '../../vision/index.ts';
import {
  launchChromium,
  type LaunchedChromium,
  type PersistentContextOptions,
} from './chromium.ts';
import { api, signIn } from './e2e.server.ts';
import { reportMissing } from './requirements.ts';

export interface Login {
  email: string;
  password: string;
}

/** A facility code and card number, as printed on a 26-bit (H10301) card. */
export interface TestCard {
  facility: number;
  card: number;
}

const H10301 = BUILTIN_FORMATS.find((f) => f.id === 'H10301')!;

/** The response has `status` (the body names what went wrong otherwise); its JSON body. */
export async function expectJson<T>(res: Promise<Response> | Response, status = 200): Promise<T> {
  const r = await res;
  expect(r.status, await r.clone().text()).toBe(status);
  return (await r.json()) as T;
}

/** The id of what a POST made (201). */
export async function createdId(res: Promise<Response>): Promise<string> {
  return (await expectJson<{ id: string }>(res, 201)).id;
}

/** The `name=value` of the session cookie a response sets. */
export function cookieOf(res: Response): string {
  return res.headers.getSetCookie()[0]?.split(';')[0] ?? '';
}

/** Sign `who` in through the API; the session cookie to send with later calls. */
export async function sessionCookie(url: string, who: Login): Promise<string> {
  const res = await api(url, '/api/auth/login', {
    method: 'POST',
    body: { email: who.email, password: who.password },
  });
  expect(res.status).toBe(200);
  return cookieOf(res);
}

/** A staff member made by `cookie`'s admin; their id. */
export function createStaff(
  url: string,
  cookie: string,
  staff: Login & { name: string; role: string },
): Promise<string> {
  return createdId(api(url, '/api/staff', { method: 'POST', body: staff, cookie }));
}

/** A resident with an H10301 card enrolled, made by `cookie`'s staff member. */
export async function createResidentWithCard(
  url: string,
  cookie: string,
  resident: Record<string, unknown>,
  card: TestCard,
): Promise<{ residentId: string; credentialId: string }> {
  const residentId = await createdId(
    api(url, '/api/residents', { method: 'POST', body: resident, cookie }),
  );
  const credentialId = await createdId(
    api(url, '/api/credentials', {
      method: 'POST',
      cookie,
      body: {
        residentId,
        kind: 'card',
        format: 'H10301',
        facilityCode: card.facility,
        cardNumber: card.card,
      },
    }),
  );
  return { residentId, credentialId };
}

/** Present `card` at the simulated reader `readerId`; the door's decision. */
export async function badge(
  url: string,
  cookie: string,
  readerId: string,
  card: TestCard,
): Promise<{ decision: string; eventId: string }> {
  return expectJson(
    api(url, `/api/sim/readers/${readerId}/wiegand`, {
      method: 'POST',
      cookie,
      body: { bits: encodeCard(H10301, card) },
    }),
  );
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Ask `probe` every 250 ms until it gives a value; throw naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(250);
  }
}

/**
 * Until `cameraId` is online and recording: the simulated camera renders its scene on a fresh
 * data folder first, then connects and records. An offline camera fails at once, with its reason.
 */
export function cameraRecording(url: string, cookie: string, cameraId: string) {
  return waitFor(
    `camera ${cameraId} online and recording`,
    async () => {
      const res = await api(url, '/api/cameras', { cookie });
      const { items } = (await res.json()) as { items: CameraStatus[] };
      const cam = items.find((c) => c.id === cameraId);
      if (cam?.state === 'offline') throw new Error(`camera offline: ${cam.reason ?? ''}`);
      return cam?.state === 'online' && cam.recording ? cam : undefined;
    },
    150_000,
  );
}

/**
 * Whether the demo room's simulated camera can run and be recorded here: GStreamer's RTSP server
 * serves it, the system ffmpeg records it. What is missing is reported (`what` is skipped).
 */
export async function requireRecordedSimCamera(what: string): Promise<boolean> {
  const rtsp = await rtspServerAvailable();
  if (!rtsp.ok) reportMissing('GStreamer RTSP server', `${rtsp.reason}; ${what} is skipped.`);
  const ffmpeg = locateFfmpeg('system');
  if (!ffmpeg) {
    reportMissing('ffmpeg', `no system ffmpeg (apt-get install ffmpeg); ${what} is skipped.`);
  }
  return rtsp.ok && ffmpeg !== null;
}

/** The demo room with 2 s segments and a short clip window per entry, so a clip is ready soon. */
export function shortClipSite(clipBeforeMs = 2_000, clipAfterMs = 4_000): Record<string, unknown> {
  const site = demoSite() as Record<string, unknown> & { doors: Record<string, unknown>[] };
  return {
    ...site,
    doors: site.doors.map((d) => ({ ...d, clipBeforeMs, clipAfterMs })),
    recording: { segmentSeconds: 2 },
  };
}

/** Collect the page's uncaught errors into `errors`. */
export function collectPageErrors(page: Page, errors: string[]): void {
  page.on('pageerror', (err) => errors.push(err.stack ?? err.message));
}

/** A fresh tab, and the uncaught errors the console throws in it. */
export async function openPage(
  browser: LaunchedChromium,
  errors: string[] = [],
): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.context.newPage();
  collectPageErrors(page, errors);
  return { page, errors };
}

/** Chromium with one tab open; the tab's uncaught errors go to `errors`. */
export async function launchWithPage(
  options: PersistentContextOptions,
  errors: string[],
): Promise<{ browser: LaunchedChromium; page: Page }> {
  const browser = await launchChromium(options);
  try {
    return { browser, page: (await openPage(browser, errors)).page };
  } catch (err) {
    await browser.close();
    throw err;
  }
}

/**
 * A fresh session for `who` in the browser (the one before, perhaps another role's, is dropped
 * first), landing on `next`.
 */
export async function signInAs(page: Page, who: Login, next = '/'): Promise<void> {
  await page.context().clearCookies();
  await page.goto(`/login?next=${encodeURIComponent(next)}`);
  await signIn(page, who.email, who.password);
  await page.waitForURL((u) => u.pathname === new URL(next, 'http://x').pathname);
}

/** What a video element reports. */
export interface VideoState {
  readyState: number;
  duration: number;
  currentTime: number;
  paused: boolean;
  error: number | null;
}

/** The part of the browser's HTMLVideoElement the tests use (this project has no DOM types). */
export interface VideoElement {
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
export async function videoState(page: Page, testId: string): Promise<VideoState | null> {
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

/** Until the video with this test id has its metadata (a duration); a media error fails at once. */
export function videoLoaded(page: Page, testId: string): Promise<VideoState> {
  return waitFor(
    'the clip to load its metadata',
    async () => {
      const s = await videoState(page, testId);
      if (s?.error) throw new Error(`the video element failed: MediaError ${s.error}`);
      return s && s.readyState >= 1 && Number.isFinite(s.duration) ? s : undefined;
    },
    30_000,
  );
}

/** Played from the start (muted), the video's frames advance: half a second within ten. */
export async function expectPlaysFromStart(page: Page, testId: string): Promise<void> {
  const start = await page.getByTestId(testId).evaluate(async (el) => {
    const v = el as unknown as VideoElement;
    v.pause();
    v.currentTime = 0;
    v.muted = true;
    await v.play();
    return v.currentTime;
  });
  await expect
    .poll(async () => (await videoState(page, testId))?.currentTime ?? -1, {
      timeout: 10_000,
      interval: 200,
    })
    .toBeGreaterThan(start + 0.5);
}

/** The demo room without its camera (and without shelf slots watched by it): no video at all. */
export function noCameraSite(): Record<string, unknown> {
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

/**
 * The demo room with its notices e-mailed to a test SMTP server. `batchQuietMs` 0 sends each
 * check-in's notice at once; a long one leaves sending to whoever ends the visit (the kiosk).
 */
export function emailNoticeSite(
  smtp: { host: string; port: number },
  batchQuietMs = 0,
): Record<string, unknown> {
  return {
    ...demoSite(),
    notifications: {
      email: { host: smtp.host, port: smtp.port, tls: 'none', from: 'Parcels <p@demo.example>' },
      batchQuietMs,
    },
  };
}
