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
import { launchChromium, type LaunchedChromium } from '../harness/chromium.ts';
import {
  badge,
  cameraRecording,
  createResidentWithCard,
  expectPlaysFromStart,
  launchWithPage,
  noCameraSite,
  openPage,
  requireRecordedSimCamera,
  sessionCookie,
  shortClipSite,
  signInAs,
  videoLoaded,
  videoState,
  type VideoElement,
} from '../harness/e2e.fixtures.ts';
import { startE2eSite, type E2eSite } from '../harness/e2e.server.ts';
import { requireChromium } from '../harness/requirements.ts';

const chromiumPath = requireChromium();
const canRun = (await requireRecordedSimCamera('the camera e2e test')) && chromiumPath !== null;

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
      site: shortClipSite(CLIP_BEFORE_MS, CLIP_AFTER_MS),
    });
    const { url } = site.server;
    cookie = await sessionCookie(url, ADMIN);
    await createResidentWithCard(url, cookie, RESIDENT, CARD);
    await cameraRecording(url, cookie, CAMERA);

    ({ browser, page } = await launchWithPage(
      { baseURL: url, viewport: { width: 1280, height: 900 } },
      errors,
    ));
    await signInAs(page, ADMIN);
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
    expect(await badge(site!.server.url, cookie, READER, CARD)).toMatchObject({
      decision: 'granted',
    });

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
    const loaded = await videoLoaded(page, 'clip-video');
    expect(Math.abs(loaded.duration - WINDOW_S)).toBeLessThanOrEqual(DURATION_TOLERANCE_S);

    // From the start, playing: the frames advance.
    const clipVideo = page.getByTestId('clip-video');
    await expectPlaysFromStart(page, 'clip-video');
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
    const { page, errors } = await openPage(browser!);
    await signInAs(page, ADMIN);
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
