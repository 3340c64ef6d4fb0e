/**
 * Reviewing camera flags in a real browser: Debian's Chromium against the server's own services
 * (the demo room's simulated camera recorded by the real ffmpeg, PGlite on disk, the built
 * console), composed in-process the way `startServer` does, so the test can reach the flag store.
 *
 * A resident badges in at the simulated reader. A tailgating flag on that entry is raised before
 * a staff member opens the Flags page; a loitering flag (still in the room after the visit ended)
 * is raised while the page is open and arrives on the live stream at the top of the queue. Both
 * go through `flags.raise` with a real frame (the person fixture, scaled and padded as the
 * analytics see it), so the server draws and encodes the snapshot with ffmpeg and the clip is
 * cut from the camera's recording.
 *
 * The reviewer sees who badged in (resident and card), the snapshot, and the clip with the boxes
 * over it at the flag's moment; typing a note does not trigger shortcuts; `c` confirms with the
 * note and `j` `d` dismisses the other. The API then reports the decisions, the audit log has
 * them with the note, and a manager sees the false-positive count.
 *
 * The analytics pipeline that raises flags from video is another part's test
 * (test/integration/vision.accuracy.test.ts); here the flags are raised by the test.
 *
 * Screenshots: /tmp/flags-queue.png, /tmp/flags-review.png, /tmp/flags-decided.png,
 * /tmp/flags-manager.png.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, type ServerType } from '@hono/node-server';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_FORMATS, encodeCard } from '../../access/index.ts';
import { openDatabase, type Database } from '../../db/index.ts';
import { systemClock } from '../../hardware/clock.ts';
import type { CameraStatus } from '../../server/cameras/camera.types.ts';
import { composeServices, type Composed } from '../../server/compose.ts';
import { demoSite, parseSite } from '../../server/config/index.ts';
import { createLogger } from '../../server/log/logger.ts';
import type { FlagCandidate } from '../../vision/rules.types.ts';
import { locateFfmpeg, rtspServerAvailable } from '../../vision/index.ts';
import type { Frame } from '../../vision/vision.ports.ts';
import { launchChromium, type LaunchedChromium } from '../harness/chromium.ts';
import { api, signIn } from '../harness/e2e.server.ts';
import { getFreePort } from '../harness/free-port.ts';
import { reportMissing, requireChromium } from '../harness/requirements.ts';
import { makeTempDir, type TempDir } from '../harness/temp-dir.ts';
import { ensureWebBuilt, WEB_BUILD_DIR } from '../harness/web-build.ts';

const chromiumPath = requireChromium();
const rtsp = await rtspServerAvailable();
if (!rtsp.ok) {
  reportMissing('GStreamer RTSP server', `${rtsp.reason}; the flag review e2e test is skipped.`);
}
const ffmpeg = locateFfmpeg('system');
if (!ffmpeg) {
  reportMissing('ffmpeg', 'no system ffmpeg (apt-get install ffmpeg); the flag e2e is skipped.');
}
const canRun = chromiumPath !== null && rtsp.ok && ffmpeg !== null;

const PERSON_PNG = fileURLToPath(new URL('../../../shared/fixtures/person.png', import.meta.url));
const USERS = {
  admin: { email: 'admin@flags.test', password: 'admin password for flags e2e', name: 'Ada Admin' },
  staff: { email: 'desk@flags.test', password: 'staff password for flags e2e', name: 'Sam Desk' },
  manager: {
    email: 'manager@flags.test',
    password: 'manager password for flags e2e',
    name: 'Mia Manager',
  },
} as const;
const CAMERA = 'room-cam';
const READER = 'front-reader';
const RESIDENT = { name: 'Katherine Johnson', unit: '3C' };
const CARD = { facility: 21, card: 3131 };
const H10301 = BUILTIN_FORMATS.find((f) => f.id === 'H10301')!;
/** The analysed frame: the sub-stream size the pipeline decodes to. */
const FRAME = { width: 640, height: 360 };
/** The person in the fixture, in pixels of that frame. */
const PERSON_BOX = { x1: 155, y1: 40, x2: 480, y2: 360 };
const NOTE = 'Checked the clip: stayed after the visit, desk told';

/** The demo room with 2 s segments and a short scene, so clips are ready within seconds. */
function shortSegmentSite() {
  const site = demoSite() as Record<string, unknown>;
  return parseSite({ ...site, recording: { segmentSeconds: 2 } }, 'flags e2e');
}

/** The person fixture as the analytics see it: scaled to fit, padded black, packed RGB. */
function personFrame(ffmpegPath: string, at: number): Promise<Frame> {
  const { width, height } = FRAME;
  const vf = `scale=${width}:${height}:force_original_aspect_ratio=decrease,pad=${width}:${height}:(ow-iw)/2:(oh-ih)/2`;
  return new Promise((resolve, reject) => {
    execFile(
      ffmpegPath,
      ['-v', 'error', '-i', PERSON_PNG, '-vf', vf, '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1'],
      { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 },
      (err, stdout) => {
        if (err) reject(err);
        else if (stdout.length !== width * height * 3)
          reject(new Error(`ffmpeg gave ${stdout.length} bytes for a ${width}x${height} frame`));
        else resolve({ cameraId: CAMERA, at, width, height, rgb: new Uint8Array(stdout) });
      },
    );
  });
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

async function login(url: string, who: { email: string; password: string }): Promise<string> {
  const res = await api(url, '/api/auth/login', {
    method: 'POST',
    body: { email: who.email, password: who.password },
  });
  expect(res.status).toBe(200);
  return res.headers.getSetCookie()[0]?.split(';')[0] ?? '';
}

/** The box's own services behind a real HTTP server, as `startServer` composes them. */
interface FlagSite {
  url: string;
  services: Composed;
  close(): Promise<void>;
}

/** Listens on a free port; another process may take it between asking and binding: retry. */
async function listen(fetch: Composed['app']['fetch']): Promise<ServerType> {
  for (let attempt = 1; ; attempt++) {
    const port = await getFreePort();
    try {
      return await new Promise<ServerType>((resolve, reject) => {
        const s = serve({ fetch, port, hostname: '127.0.0.1' }, () => resolve(s));
        s.once('error', reject);
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 3) continue;
      throw err;
    }
  }
}

async function startFlagSite(): Promise<FlagSite> {
  await ensureWebBuilt();
  const dataDir: TempDir = await makeTempDir('parcelroom-e2e-flags');
  const database: Database = await openDatabase({ dataDir: dataDir.path });
  let services: Composed | undefined;
  let server: ServerType | undefined;
  try {
    services = await composeServices({
      site: shortSegmentSite(),
      siteSource: 'flags e2e',
      database,
      dataDir: dataDir.path,
      clock: systemClock(),
      log: createLogger({ level: 'error' }),
      version: 'e2e',
      sessionIdleMs: 3_600_000,
      secureCookies: 'never',
      webDir: WEB_BUILD_DIR,
      analytics: { state: 'off', reason: 'this test raises its flags itself' },
      cameraOverrides: {
        sim: { cacheDir: join(dataDir.path, 'scenes'), sceneDurationMs: 6_000 },
      },
    });
    for (const role of ['admin', 'staff', 'manager'] as const) {
      await services.auth.createStaff({ ...USERS[role], role });
    }
    server = await listen(services.app.fetch);
  } catch (err) {
    await services?.close();
    await database.close();
    await dataDir.cleanup();
    throw err;
  }
  const running = server;
  const composed = services;
  return {
    url: `http://127.0.0.1:${(running.address() as { port: number }).port}`,
    services: composed,
    async close() {
      await new Promise<void>((r) => {
        running.close(() => r());
        (running as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await composed.close();
      await database.close();
      await dataDir.cleanup();
    },
  };
}

interface FlagJson {
  id: string;
  status: string;
  reviewNote?: string;
  reviewedBy?: string;
}

/** What the page's video element reports (this project has no DOM types). */
interface VideoElement {
  readyState: number;
  duration: number;
  currentTime: number;
}

describe.skipIf(!canRun)('flag review in Chromium', () => {
  let site: FlagSite | undefined;
  let browser: LaunchedChromium | undefined;
  let page: Page;
  let adminCookie: string;
  let entry: { id: string; at: number; credentialId: string };
  let tailgatingId: string;
  let loiteringId: string;
  const errors: string[] = [];

  beforeAll(async () => {
    site = await startFlagSite();
    const { url } = site;
    adminCookie = await login(url, USERS.admin);
    const cookie = adminCookie;

    const residentId = await created(
      api(url, '/api/residents', { method: 'POST', body: RESIDENT, cookie }),
    );
    const credentialId = await created(
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

    // A clip needs the camera's recording: wait until the simulated camera records.
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

    const badge = await api(url, `/api/sim/readers/${READER}/wiegand`, {
      method: 'POST',
      cookie,
      body: { bits: encodeCard(H10301, CARD) },
    });
    expect(await badge.json()).toMatchObject({ decision: 'granted' });
    const events = (await (
      await api(url, '/api/events?type=access&decision=granted&limit=5', { cookie })
    ).json()) as { items: { id: string; at: string; credentialId?: string }[] };
    const granted = events.items[0]!;
    expect(granted.credentialId).toBe(credentialId);
    entry = { id: granted.id, at: Date.parse(granted.at), credentialId };

    // Two people walked in on that badge: raised before anyone opens the page.
    const tailgating: FlagCandidate = {
      kind: 'tailgating',
      severity: 'medium',
      cameraId: CAMERA,
      at: entry.at + 1_500,
      entryEventId: entry.id,
      clipWindow: { startAt: entry.at - 3_000, endAt: entry.at + 3_000 },
      trackIds: [3, 4],
      boxes: [{ box: PERSON_BOX, label: 'person 3', trackId: 3 }],
      evidence: {
        doorId: 'front',
        crossings: 2,
        grants: 1,
        peoplePerGrant: 2,
        trackIds: [3, 4],
        entryEventIds: [entry.id],
        crossedAt: [entry.at + 500, entry.at + 1_500],
        windowStartAt: entry.at - 1_000,
        windowEndAt: entry.at + 15_000,
      },
    };
    const raised = await site.services.flags.raise(
      tailgating,
      await personFrame(ffmpeg!.path, tailgating.at),
    );
    expect(raised.stored).toBe('stored');
    expect(raised.snapshot.kind).toBe('written');
    tailgatingId = raised.flag.id;

    browser = await launchChromium({ baseURL: url, viewport: { width: 1280, height: 900 } });
    page = await browser.context.newPage();
    page.on('pageerror', (err) => errors.push(err.stack ?? err.message));
    await page.goto('/login?next=/flags');
    await signIn(page, USERS.staff.email, USERS.staff.password);
    await page.waitForURL((u) => u.pathname === '/flags');
    await page.getByRole('heading', { level: 1, name: 'Flags', exact: true }).waitFor();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('shows the queue, and a flag raised meanwhile arrives at the top without a reload', async () => {
    const rows = page.getByTestId('flag-row');
    await rows.first().waitFor();
    expect(await rows.count()).toBe(1);
    const tailRow = rows.first();
    expect(await tailRow.getAttribute('data-id')).toBe(tailgatingId);
    await tailRow.getByText('Tailgating — 2 people on 1 badge').waitFor();
    // Who badged in: the entry's resident and card, from the events and residents APIs.
    await tailRow
      .getByText(`badged in: ${RESIDENT.name} (${RESIDENT.unit}) · card H10301 21:3131`)
      .waitFor();
    await page.getByTestId('flags-live').filter({ hasText: 'live' }).waitFor();

    // Seen a second after the badge, still there 7 s after the visit allowance ran out: raised
    // now, while the page is open (at least 9 s after the entry, so the story adds up).
    const at = Math.max(Date.now() - 1_000, entry.at + 9_000);
    if (at > Date.now() - 500) await sleep(at - Date.now() + 500);
    const sessionEndsAt = at - 7_000;
    const loitering: FlagCandidate = {
      kind: 'loitering',
      severity: 'medium',
      cameraId: CAMERA,
      at,
      entryEventId: entry.id,
      credentialId: entry.credentialId,
      clipWindow: { startAt: at - 5_000, endAt: at + 2_000 },
      trackIds: [7],
      boxes: [{ box: PERSON_BOX, label: 'person 7 (overstay)', trackId: 7 }],
      evidence: {
        reason: 'overstay',
        zoneId: null,
        dwellMs: at - (entry.at + 1_000),
        thresholdMs: sessionEndsAt - entry.at,
        firstSeenAt: entry.at + 1_000,
        sessionEndsAt,
        entryEventId: entry.id,
        who: 'resident',
        trackIds: [7],
      },
    };
    const raised = await site!.services.flags.raise(loitering, await personFrame(ffmpeg!.path, at));
    loiteringId = raised.flag.id;

    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2);
    expect(await rows.first().getAttribute('data-id')).toBe(loiteringId);
    await rows.first().getByText('Loitering — 7 s in the room after the visit ended').waitFor();
    await page.getByTestId('flag-keys').getByText('confirm').waitFor();
    await page.screenshot({ path: '/tmp/flags-queue.png', fullPage: true });
    expect(errors, 'uncaught errors in the page').toEqual([]);
  });

  it('shows the snapshot and plays the clip with the boxes at the flag moment', async () => {
    // The tailgating flag was selected first; k moves up to the new one.
    await page.keyboard.press('k');
    const review = page.getByTestId('flag-review');
    await expect.poll(() => review.getAttribute('data-id')).toBe(loiteringId);
    await review.getByTestId('flag-headline').getByText('Loitering — 7 s').waitFor();
    await review.getByTestId('flag-who').getByText(`${RESIDENT.name} (${RESIDENT.unit})`).waitFor();
    await review.getByTestId('flag-credential').getByText('card H10301 21:3131').waitFor();

    // The snapshot is the server's JPEG of the analysed frame, boxes drawn in.
    const snapshot = review.getByTestId('flag-snapshot');
    await snapshot.waitFor();
    await expect
      .poll(() =>
        snapshot.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
      )
      .toBe(FRAME.width);

    // The clip is ready once its window is recorded (2 s segments); Retry-After brings it in.
    const video = review.getByTestId('flag-video');
    await video.waitFor({ timeout: 60_000 });
    await expect
      .poll(() => video.evaluate((v) => (v as unknown as VideoElement).readyState), {
        timeout: 30_000,
      })
      .toBeGreaterThanOrEqual(1);
    const duration = await video.evaluate((v) => (v as unknown as VideoElement).duration);
    expect(duration).toBeGreaterThan(3);

    // At the flag's moment the boxes are over the picture and the marker sits on the timeline.
    await review.getByTestId('flag-moment').click();
    const boxes = review.getByTestId('flag-boxes');
    await expect.poll(() => boxes.getAttribute('data-visible')).toBe('true');
    expect(await boxes.getAttribute('data-count')).toBe('1');
    await boxes.getByText('person 7 (overstay)').waitFor({ state: 'attached' });
    const marker = review.getByTestId('flag-marker');
    const left = Number.parseFloat(
      (await marker.evaluate((m) => (m as unknown as { style: { left: string } }).style.left)) ??
        '',
    );
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(100);
    // The box lands on the person: the overlay scales the 640×360 frame to the video's size.
    const rect = await boxes.locator('rect').first().boundingBox();
    const stage = await video.boundingBox();
    expect(rect && stage).toBeTruthy();
    expect(rect!.x - stage!.x).toBeCloseTo((PERSON_BOX.x1 / FRAME.width) * stage!.width, -1);
    expect(rect!.width).toBeCloseTo(
      ((PERSON_BOX.x2 - PERSON_BOX.x1) / FRAME.width) * stage!.width,
      -1,
    );
    await page.screenshot({ path: '/tmp/flags-review.png', fullPage: true });
    expect(errors, 'uncaught errors in the page').toEqual([]);
  });

  it('confirms with a note from the keyboard; the decision is stored and audited', async () => {
    const review = page.getByTestId('flag-review');
    // n focuses the note; what is typed there is text, not shortcuts (the note has c, d and e).
    await page.keyboard.press('n');
    await page.keyboard.type(NOTE);
    expect(await page.locator('#flag-note').inputValue()).toBe(NOTE);
    expect(await review.getAttribute('data-status')).toBe('new');
    await page.keyboard.press('Escape');
    await page.keyboard.press('c');

    const row = page.locator(`[data-testid="flag-row"][data-id="${loiteringId}"]`);
    await expect.poll(() => row.getAttribute('data-status')).toBe('confirmed');
    await review.getByTestId('flag-decision').getByText(`“${NOTE}”`).waitFor();
    await review.getByTestId('flag-decision').getByText('by you', { exact: false }).waitFor();

    // j then d: the tailgating flag was a false positive.
    await page.keyboard.press('j');
    await expect.poll(() => review.getAttribute('data-id')).toBe(tailgatingId);
    await page.keyboard.press('d');
    const tailRow = page.locator(`[data-testid="flag-row"][data-id="${tailgatingId}"]`);
    await expect.poll(() => tailRow.getAttribute('data-status')).toBe('dismissed');
    // Staff do not see the managers' panel.
    expect(await page.getByTestId('false-positives').count()).toBe(0);
    await page.screenshot({ path: '/tmp/flags-decided.png', fullPage: true });

    const staffCookie = await login(site!.url, USERS.staff);
    const stored = (await (
      await api(site!.url, `/api/flags/${loiteringId}`, { cookie: staffCookie })
    ).json()) as FlagJson;
    expect(stored).toMatchObject({ status: 'confirmed', reviewNote: NOTE });

    const audit = (await (
      await api(site!.url, '/api/audit-log?limit=50', { cookie: adminCookie })
    ).json()) as {
      items: {
        action: string;
        actor: string;
        targetId: string;
        details: Record<string, unknown>;
      }[];
    };
    const reviews = audit.items.filter((a) => a.action === 'flag.review');
    expect(reviews.find((a) => a.targetId === loiteringId)).toMatchObject({
      actor: expect.stringContaining(USERS.staff.email) as unknown,
      details: { status: 'confirmed', previous: 'new', kind: 'loitering', note: NOTE },
    });
    expect(reviews.find((a) => a.targetId === tailgatingId)).toMatchObject({
      details: { status: 'dismissed', previous: 'new', kind: 'tailgating' },
    });
    expect(errors, 'uncaught errors in the page').toEqual([]);
  });

  it('shows a manager the false positives by zone', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((u) => u.pathname === '/login');
    await page.goto('/login?next=/flags');
    await signIn(page, USERS.manager.email, USERS.manager.password);
    await page.waitForURL((u) => u.pathname === '/flags');
    // Both were reviewed: the default queue (new flags) is empty.
    await page.getByTestId('flags-empty').getByText('No new flags to review.').waitFor();
    const panel = page.getByTestId('false-positives');
    const zone = panel.getByTestId('fp-zone').first();
    await zone.waitFor();
    expect(await zone.textContent()).toMatch(/room.*1 of 2.*2.*50 %/s);
    await panel
      .getByTestId('fp-kind')
      .filter({ hasText: 'Tailgating' })
      .getByText('1 of 1')
      .waitFor();
    await page.screenshot({ path: '/tmp/flags-manager.png', fullPage: true });
    expect(errors, 'uncaught errors in the page').toEqual([]);
  });
});
