/**
 * Reviewing camera flags in a real browser: Debian's Chromium against the running server
 * (`startServer` through the e2e harness: PGlite on disk, the built console, real ffmpeg).
 *
 * The real path first: a file camera plays a rendered package-room scene in real time (the
 * `person.png` fixture walks in through the doorway and stands by the shelves; nobody badges
 * in), the server's analytics run the real YOLOX-nano on it with a 5 s loitering limit, and a
 * loitering flag comes out of `GET /api/flags`. A staff member opens the Flags page, finds it and
 * confirms it with a note from the keyboard; the API then reports the decision and the audit log
 * has it. The Room page shows the analytics running: the model, the camera and its frame rate.
 *
 * Then the review itself in depth, on the demo room's simulated camera recorded by the real
 * ffmpeg: a resident badges in at the simulated reader. A tailgating flag on that entry is raised
 * before a staff member opens the Flags page; a loitering flag (still in the room after the visit
 * ended) is raised while the page is open and arrives on the live stream at the top of the queue.
 * Both go through the server's own `flags.raise` with a real frame (the person fixture, scaled
 * and padded as the analytics see it), so the server draws and encodes the snapshot with ffmpeg
 * and the clip is cut from the camera's recording; the test chooses their evidence, so it can
 * check every word and box.
 *
 * The reviewer sees who badged in (resident and card), the snapshot, and the clip with the boxes
 * over it at the flag's moment; typing a note does not trigger shortcuts; `c` confirms with the
 * note and `j` `d` dismisses the other. The API then reports the decisions, the audit log has
 * them with the note, and a manager sees the false-positive count.
 *
 * Last, a parcel the camera saw taken from its slot (the event the analytics record for the
 * chain of custody) gets a clip link in the event list and its words on the parcel's timeline.
 *
 * Screenshots: /tmp/flags-scene.png, /tmp/flags-scene-room.png, /tmp/flags-queue.png,
 * /tmp/flags-review.png, /tmp/flags-decided.png, /tmp/flags-manager.png,
 * /tmp/flags-seen-taken.png.
 */
import { execFile } from 'node:child_process';

import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../db/index.ts';
import { demoSite } from '../../server/config/index.ts';
import type { FlagCandidate } from '../../vision/rules.types.ts';
import { rtspServerAvailable } from '../../vision/index.ts';
import {
  LABELLED_CAMERA,
  renderLabelledScene,
  type LabelledScene,
} from '../../vision/scenes.labelled.ts';
import type { Frame } from '../../vision/vision.ports.ts';
import type { LaunchedChromium } from '../harness/chromium.ts';
import {
  badge,
  cameraRecording,
  createResidentWithCard,
  expectJson,
  launchWithPage,
  sessionCookie,
  signInAs,
  sleep,
  waitFor,
  type VideoElement,
} from '../harness/e2e.fixtures.ts';
import { api, startE2eSite, type E2eSite } from '../harness/e2e.server.ts';
import {
  reportMissing,
  requireChromium,
  requireModel,
  requireX264,
  TEST_MODEL_PATH,
} from '../harness/requirements.ts';
import { makeTempDir, type TempDir } from '../harness/temp-dir.ts';
import { testFixture } from '../harness/requirements.ts';

const chromiumPath = requireChromium();
const rtsp = await rtspServerAvailable();
if (!rtsp.ok) {
  reportMissing('GStreamer RTSP server', `${rtsp.reason}; the flag review e2e test is skipped.`);
}

const ffmpeg = requireX264('the flag e2e tests are skipped');

/** The detector the server loads (PARCELROOM_MODEL), absolute. */
const MODEL = TEST_MODEL_PATH;
const haveModel = requireModel('the flag e2e test on real video is skipped');
const canRun = chromiumPath !== null && rtsp.ok && ffmpeg !== null;
const canRunScene = chromiumPath !== null && ffmpeg !== null && haveModel;

const PERSON_PNG = testFixture('person.png');
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
/** The analysed frame: the sub-stream size the pipeline decodes to. */
const FRAME = { width: 640, height: 360 };
/** The person in the fixture, in pixels of that frame. */
const PERSON_BOX = { x1: 155, y1: 40, x2: 480, y2: 360 };
const NOTE = 'Checked the clip: stayed after the visit, desk told';
/** The resident's parcel whose shelf slot the camera sees emptied. */
const SEEN_TAKEN_PARCEL = 'TBA000000000777';

/** The demo room with 2 s segments, so clips are ready within seconds. */
function shortSegmentSite(): Record<string, unknown> {
  return { ...(demoSite() as Record<string, unknown>), recording: { segmentSeconds: 2 } };
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

/** A running server with the console and this test's staff (the admin comes from the env). */
async function startFlagSite(
  name: string,
  site: Record<string, unknown>,
  env: Record<string, string> = {},
): Promise<E2eSite> {
  const started = await startE2eSite({
    kind: 'pglite',
    name,
    admin: USERS.admin,
    pgBaseUrl: null,
    site,
    env,
  });
  try {
    for (const role of ['staff', 'manager'] as const) {
      await started.server.services.auth.createStaff({ ...USERS[role], role });
    }
  } catch (err) {
    await started.close();
    throw err;
  }
  return started;
}

interface FlagJson {
  id: string;
  kind: string;
  cameraId: string;
  status: string;
  hasSnapshot?: boolean;
  evidence?: { reason?: string; dwellMs?: number; thresholdMs?: number | null };
  reviewNote?: string;
  reviewedBy?: string;
}

/** A row of the audit log as GET /api/audit-log lists it. */
interface AuditRow {
  action: string;
  actor: string;
  targetId: string;
  details: Record<string, unknown>;
}

const SCENE_CAMERA = 'scene-cam';
const SCENE_NOTE = 'Stood by the shelves with nobody badged in; the desk spoke to them';

/**
 * Someone walks in through the doorway on the left 1.5 s into the video and stands by the
 * shelves until it ends, 12 s in; nobody badges in. With the 5 s loitering limit below that is
 * a loitering flag for staying (`dwell`), after one for coming in without an entry (`no_entry`).
 * The labelled set's accuracy run does not use this scene, so it expects nothing itself.
 */
const LOITERING_SCENE: LabelledScene = {
  id: 'e2e-loiter',
  description: 'someone walks in with nobody badged in and stands by the shelves',
  durationMs: 12_000,
  actors: [
    {
      image: 'person',
      heightFraction: 0.45,
      path: [
        { atMs: 1_500, x: -0.12, y: 0.97 },
        { atMs: 3_500, x: 0.5, y: 0.97 },
        { atMs: 12_000, x: 0.5, y: 0.97 },
      ],
    },
  ],
  grants: [],
  expected: [],
};

/** A room whose one camera plays the rendered scene once, with the labelled set's zones. */
function sceneSite(videoPath: string): Record<string, unknown> {
  return {
    site: { id: 'flags-scene', name: 'Flags scene' },
    doors: [{ id: 'front', name: 'Front', driver: { kind: 'sim' } }],
    readers: [{ id: 'front-reader', doorId: 'front' }],
    cameras: [
      {
        id: SCENE_CAMERA,
        name: 'Package room',
        doorId: 'front',
        // Played once: the video's end is the camera going offline, never a replay.
        source: { kind: 'file', path: videoPath, loop: false },
        zones: LABELLED_CAMERA.zones,
      },
    ],
    storage: {
      shelves: [{ id: 'shelf-a', slots: [{ id: 'a1', label: 'A1' }] }],
      oversized: { id: 'oversized', label: 'Oversized' },
      overflow: { id: 'overflow', label: 'Overflow' },
    },
    analytics: { loiteringSeconds: 5 },
    // Short segments: the clip is final a couple of seconds after the video has ended.
    recording: { segmentSeconds: 2 },
  };
}

describe.skipIf(!canRunScene)(
  'a loitering scene through the real model, reviewed in Chromium',
  () => {
    let scenes: TempDir | undefined;
    let site: E2eSite | undefined;
    let browser: LaunchedChromium | undefined;
    let page: Page;
    let url: string;
    let staffCookie: string;
    let flag: FlagJson;
    const errors: string[] = [];

    beforeAll(async () => {
      scenes = await makeTempDir('parcelroom-e2e-flags-scene');
      const video = await renderLabelledScene(LOITERING_SCENE, {
        cacheDir: scenes.path,
        ffmpeg: ffmpeg!,
      });
      site = await startFlagSite('flags-scene', sceneSite(video.path), { PARCELROOM_MODEL: MODEL });
      url = site.server.url;
      staffCookie = await sessionCookie(url, USERS.staff);
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await site?.close();
      await scenes?.cleanup();
    });

    it('raises a loitering flag from the video', async () => {
      const health = (await (await api(url, '/api/health')).json()) as { analytics: unknown };
      expect(health.analytics).toMatchObject({
        state: 'on',
        model: 'yolox_nano.onnx',
        cameras: 1,
        skipped: [],
      });

      // The person stands in the room from about 2 s into the video; 5 s later the flag is due.
      let listed: FlagJson[] = [];
      flag = await waitFor(
        'a loitering flag for staying in the room',
        async () => {
          const res = await api(url, '/api/flags?kind=loitering', {
            cookie: staffCookie,
          });
          expect(res.status).toBe(200);
          listed = ((await res.json()) as { items: FlagJson[] }).items;
          return listed.find((f) => f.evidence?.reason === 'dwell');
        },
        60_000,
      );
      expect(flag).toMatchObject({
        kind: 'loitering',
        cameraId: SCENE_CAMERA,
        status: 'new',
        hasSnapshot: true,
        evidence: { reason: 'dwell', thresholdMs: 5_000 },
      });
      expect(flag.evidence?.dwellMs).toBeGreaterThanOrEqual(5_000);
      // Nobody badged in: that was flagged first, as soon as the person was in the room.
      expect(listed.map((f) => f.evidence?.reason)).toContain('no_entry');
    }, 90_000);

    it('a staff member finds it on the Flags page and confirms it with a note', async () => {
      expect(flag, 'no flag from the scene').toBeDefined();
      ({ browser, page } = await launchWithPage(
        { baseURL: url, viewport: { width: 1280, height: 900 } },
        errors,
      ));
      await signInAs(page, USERS.staff, '/flags');

      const row = page.locator(`[data-testid="flag-row"][data-id="${flag.id}"]`);
      const seconds = Math.round((flag.evidence?.dwellMs ?? 0) / 1000);
      await row.getByText(`Loitering — ${seconds} s in the room`, { exact: true }).waitFor();
      await row.click();
      const review = page.getByTestId('flag-review');
      await expect.poll(() => review.getAttribute('data-id')).toBe(flag.id);
      // The snapshot is the server's JPEG of the frame the model saw, the person boxed.
      const snapshot = review.getByTestId('flag-snapshot');
      await expect
        .poll(() =>
          snapshot.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
        )
        .toBeGreaterThan(0);
      // The clip is cut from the camera's own recording of the scene once its window is recorded.
      const video = review.getByTestId('flag-video');
      await video.waitFor({ timeout: 60_000 });
      await expect
        .poll(() => video.evaluate((v) => (v as unknown as VideoElement).readyState), {
          timeout: 30_000,
        })
        .toBeGreaterThanOrEqual(1);
      expect(await video.evaluate((v) => (v as unknown as VideoElement).duration)).toBeGreaterThan(
        3,
      );

      await page.keyboard.press('n');
      await page.keyboard.type(SCENE_NOTE);
      await page.keyboard.press('Escape');
      await page.keyboard.press('c');
      await expect.poll(() => row.getAttribute('data-status')).toBe('confirmed');
      await review.getByTestId('flag-decision').getByText(`“${SCENE_NOTE}”`).waitFor();
      await page.screenshot({ path: '/tmp/flags-scene.png', fullPage: true });

      const stored = (await (
        await api(url, `/api/flags/${flag.id}`, { cookie: staffCookie })
      ).json()) as FlagJson;
      expect(stored).toMatchObject({ status: 'confirmed', reviewNote: SCENE_NOTE });
      const adminCookie = await sessionCookie(url, USERS.admin);
      const audit = (await (
        await api(url, '/api/audit-log?limit=50', { cookie: adminCookie })
      ).json()) as { items: AuditRow[] };
      const decision = audit.items.find(
        (a) => a.action === 'flag.review' && a.targetId === flag.id,
      );
      expect(decision).toMatchObject({
        actor: expect.stringContaining(USERS.staff.email) as unknown,
        details: { status: 'confirmed', previous: 'new', kind: 'loitering', note: SCENE_NOTE },
      });
      expect(errors, 'uncaught errors in the page').toEqual([]);
    }, 120_000);

    it('shows the analytics on the Room page: model, camera, frame rate and detector runs', async () => {
      await page.goto('/');
      const analytics = page.getByTestId('analytics-health');
      await expect.poll(() => analytics.getAttribute('data-state')).toBe('on');
      await analytics.getByText('yolox_nano.onnx, 1 camera analysed', { exact: false }).waitFor();
      const camera = analytics.locator(
        `[data-testid="analytics-camera"][data-camera="${SCENE_CAMERA}"]`,
      );
      await camera.getByText('Package room').waitFor();
      expect(await camera.textContent()).toMatch(
        /(\d+\.\d fps|fps not measured yet) · [1-9]\d* detector runs/,
      );
      await page.screenshot({ path: '/tmp/flags-scene-room.png', fullPage: true });
      expect(errors, 'uncaught errors in the page').toEqual([]);
    });
  },
);

describe.skipIf(!canRun)('flag review in Chromium', () => {
  let site: E2eSite | undefined;
  let browser: LaunchedChromium | undefined;
  let page: Page;
  let adminCookie: string;
  let entry: { id: string; at: number; credentialId: string };
  let tailgatingId: string;
  let loiteringId: string;
  let residentId: string;
  const errors: string[] = [];

  beforeAll(async () => {
    site = await startFlagSite('flags', shortSegmentSite());
    const { url } = site.server;
    adminCookie = await sessionCookie(url, USERS.admin);
    const cookie = adminCookie;

    const enrolled = await createResidentWithCard(url, cookie, RESIDENT, CARD);
    residentId = enrolled.residentId;
    const { credentialId } = enrolled;

    // A clip needs the camera's recording: wait until the simulated camera records.
    await cameraRecording(url, cookie, CAMERA);

    const decision = await badge(url, cookie, READER, CARD);
    expect(decision).toMatchObject({ decision: 'granted' });
    // The journal stores the grant a moment after the door decided: wait for it to be listed.
    const granted = await waitFor(
      'the grant in the event list',
      async () => {
        const events = (await (
          await api(url, '/api/events?type=access&decision=granted&limit=5', { cookie })
        ).json()) as { items: { id: string; at: string; credentialId?: string }[] };
        return events.items.find((e) => e.id === decision.eventId);
      },
      10_000,
    );
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
    const raised = await site.server.services.flags.raise(
      tailgating,
      await personFrame(ffmpeg!.path, tailgating.at),
    );
    expect(raised.stored).toBe('stored');
    expect(raised.snapshot.kind).toBe('written');
    tailgatingId = raised.flag.id;

    ({ browser, page } = await launchWithPage(
      { baseURL: url, viewport: { width: 1280, height: 900 } },
      errors,
    ));
    await signInAs(page, USERS.staff, '/flags');
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
    const raised = await site!.server.services.flags.raise(
      loitering,
      await personFrame(ffmpeg!.path, at),
    );
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

    const staffCookie = await sessionCookie(site!.server.url, USERS.staff);
    const stored = (await (
      await api(site!.server.url, `/api/flags/${loiteringId}`, { cookie: staffCookie })
    ).json()) as FlagJson;
    expect(stored).toMatchObject({ status: 'confirmed', reviewNote: NOTE });

    const audit = (await (
      await api(site!.server.url, '/api/audit-log?limit=50', { cookie: adminCookie })
    ).json()) as { items: AuditRow[] };
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
    await signInAs(page, USERS.manager, '/flags');
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

  it("puts a parcel the camera saw taken on its chain of custody, with the event's clip", async () => {
    const url = site!.server.url;
    const parcel = await expectJson<{ id: string; location: { id: string; label: string } }>(
      api(url, '/api/packages', {
        method: 'POST',
        cookie: adminCookie,
        body: {
          trackingNumber: SEEN_TAKEN_PARCEL,
          carrier: 'Amazon',
          residentId,
          size: 'standard',
        },
      }),
      201,
    );

    // What the analytics record when a slot empties during its owner's visit (compose.ts,
    // onLikelyPickedUp); the slot watch on real video is the vision tests' part.
    const seenId = newId(Date.now());
    await site!.server.services.journal.append({
      id: seenId,
      at: Date.now(),
      type: 'parcel_seen_taken',
      packageId: parcel.id,
      cameraId: CAMERA,
      residentId,
      details: {
        slotId: parcel.location.id,
        slot: parcel.location.label,
        entryEventId: entry.id,
        visitor: {
          who: 'resident',
          residentId,
          unit: RESIDENT.unit,
          entryEventId: entry.id,
          credentialId: entry.credentialId,
        },
        basis: 'appearance',
        score: 0.42,
        lastSeenUnchangedAt: new Date(Date.now() - 5_000).toISOString(),
      },
    });

    // The event list links its video, from the camera that saw it.
    const listed = await waitFor(
      'the parcel_seen_taken event stored',
      async () => {
        const page = (await (
          await api(url, '/api/events?type=parcel_seen_taken&limit=5', { cookie: adminCookie })
        ).json()) as { items: { id: string; clipUrl?: string; packageId?: string }[] };
        return page.items.find((e) => e.id === seenId);
      },
      10_000,
    );
    expect(listed).toMatchObject({ packageId: parcel.id, clipUrl: `/api/events/${seenId}/clip` });
    const timeline = (await (
      await api(url, `/api/packages/${parcel.id}/timeline`, { cookie: adminCookie })
    ).json()) as { items: { id: string; type: string }[] };
    expect(timeline.items.map((i) => i.type)).toContain('parcel_seen_taken');

    await page.goto('/packages');
    const row = page.getByTestId('parcel-row').filter({ hasText: SEEN_TAKEN_PARCEL });
    await row.getByRole('button', { name: 'Timeline' }).click();
    const dialog = page.getByRole('dialog', { name: /Chain of custody/ });
    const seen = dialog.locator('[data-testid="timeline-item"][data-type="parcel_seen_taken"]');
    await seen
      .getByText(`Seen taken from slot ${parcel.location.label} on camera — likely picked up`)
      .waitFor();
    await seen
      .filter({ hasText: `During the visit of ${RESIDENT.name} (${RESIDENT.unit})` })
      .waitFor();
    await page.screenshot({ path: '/tmp/flags-seen-taken.png', fullPage: true });
    expect(errors, 'uncaught errors in the page').toEqual([]);
  });
});
