/**
 * The analytics wired into the running server: a file camera playing a synthetic package room
 * in real time (the room rendered by ffmpeg, the `person.png` fixture walking in and standing by
 * the shelves), the real YOLOX-nano on onnxruntime-node, the real frame source, and a card grant
 * at the simulated door fed in through the event journal. The loitering flag must come out of
 * the composed server as a stored flag (`GET /api/flags`) tied to that grant, with its snapshot,
 * and `/api/health` must show the camera being analysed. Without a usable model the server still
 * runs and says why the analytics are off.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormatRegistry, encodeCard, type WiegandFormat } from '../../access/index.ts';
import { openDatabase, type Database } from '../../db/index.ts';
import { systemClock } from '../../hardware/clock.ts';
import {
  analyticsRequest,
  NO_MODEL_REASON,
  type AnalyticsRequest,
} from '../../server/cameras/analytics.runtime.ts';
import { composeServices, type Composed } from '../../server/compose.ts';
import { parseSite, type SiteConfig } from '../../server/config/index.ts';
import { memoryLogger } from '../../server/log/logger.ts';

import {
  LABELLED_CAMERA,
  renderLabelledScene,
  type LabelledScene,
} from '../../vision/scenes.labelled.ts';
import { requireModel, requireX264, TEST_MODEL_PATH } from '../harness/requirements.ts';
import { makeTempDir, type TempDir } from '../harness/temp-dir.ts';

const ffmpeg = requireX264('the server analytics tests are skipped');
const MODEL = TEST_MODEL_PATH;
const haveModel = requireModel('the server analytics tests are skipped');

/**
 * A resident walks in through the doorway on the left 3 s into the video and stands by the
 * shelves until it ends; the door grant comes before, from the test. 13 s of real-time video.
 */
const STANDING: LabelledScene = {
  id: 'server-loiter',
  description: 'a resident walks in and stands in the room',
  durationMs: 13_000,
  actors: [
    {
      image: 'person',
      heightFraction: 0.45,
      path: [
        { atMs: 3_000, x: -0.12, y: 0.97 },
        { atMs: 5_000, x: 0.5, y: 0.97 },
        { atMs: 13_000, x: 0.5, y: 0.97 },
      ],
    },
  ],
  grants: [],
  expected: [],
};

const formats = createFormatRegistry();
const CARD_BITS = encodeCard(formats.get('H10301') as WiegandFormat, { facility: 12, card: 4242 });
const STAFF = { email: 'staff@example.test', password: 'staff-password-123' };
const MANAGER = { email: 'manager@example.test', password: 'manager-password-123' };

type Json = Record<string, unknown>;

function siteWith(videoPath: string): SiteConfig {
  return parseSite(
    {
      site: { id: 'analytics-test', name: 'Analytics test' },
      doors: [{ id: 'front', name: 'Front', driver: { kind: 'sim' } }],
      readers: [{ id: 'front-reader', doorId: 'front' }],
      cameras: [
        {
          id: 'room-cam',
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
    },
    'analytics-test',
  );
}

/** One composed server on a shared database and data folder, and HTTP helpers for it. */
async function compose(
  database: Database,
  dataDir: string,
  site: SiteConfig,
  analytics: AnalyticsRequest,
  cameras: 'on' | 'off',
) {
  const log = memoryLogger();
  const services: Composed = await composeServices({
    site,
    siteSource: 'analytics-test',
    database,
    dataDir,
    // Real time for the doors too: a grant and the camera's frames must share one clock.
    clock: systemClock(),
    log,
    version: 'test',
    sessionIdleMs: 3_600_000,
    secureCookies: 'never',
    webDir: null,
    analytics,
    cameras,
  });
  const call = async (method: string, path: string, o: { body?: unknown; cookie?: string } = {}) =>
    services.app.request(`http://parcelroom.test${path}`, {
      method,
      headers: {
        ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(o.cookie ? { cookie: o.cookie } : {}),
      },
      ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
    });
  const login = async (who: { email: string; password: string }) => {
    const res = await call('POST', '/api/auth/login', { body: who });
    expect(res.status).toBe(200);
    return (res.headers.get('set-cookie') ?? '').split(';')[0]!;
  };
  const health = async () => (await (await call('GET', '/api/health')).json()) as Json;
  return { services, log, call, login, health };
}

describe.runIf(ffmpeg && haveModel)('analytics in the running server (real model)', () => {
  let dir: TempDir;
  let database: Database;
  let site: SiteConfig;

  beforeAll(async () => {
    dir = await makeTempDir('parcelroom-analytics');
    const video = await renderLabelledScene(STANDING, { cacheDir: dir.path, ffmpeg: ffmpeg! });
    site = siteWith(video.path);
    database = await openDatabase({ dataDir: 'memory://' });
    // First the people and the card, with no cameras running, so the video starts only once
    // the door can let the resident in.
    const setup = await compose(database, dir.path, site, analyticsRequest(undefined), 'off');
    try {
      await setup.services.auth.createStaff({ ...STAFF, name: 'Staff', role: 'staff' });
      await setup.services.auth.createStaff({ ...MANAGER, name: 'Manager', role: 'manager' });
      const manager = await setup.login(MANAGER);
      const resident = await setup.call('POST', '/api/residents', {
        cookie: manager,
        body: { name: 'Ann Lee', unit: '4B' },
      });
      expect(resident.status).toBe(201);
      const residentId = ((await resident.json()) as Json).id as string;
      const card = await setup.call('POST', '/api/credentials', {
        cookie: manager,
        body: { residentId, kind: 'card', format: 'H10301', facilityCode: 12, cardNumber: 4242 },
      });
      expect(card.status).toBe(201);
    } finally {
      await setup.services.close();
    }
  });

  afterAll(async () => {
    await database?.close();
    await dir?.cleanup();
  });

  it('raises a loitering flag from real video through the real model, tied to the grant', async () => {
    const s = await compose(database, dir.path, site, { state: 'on', model: MODEL }, 'on');
    try {
      const staff = await s.login(STAFF);
      const swipe = await s.call('POST', '/api/sim/readers/front-reader/wiegand', {
        cookie: staff,
        body: { bits: CARD_BITS },
      });
      const decision = (await swipe.json()) as Json;
      expect(decision).toMatchObject({ decision: 'granted' });
      const grantId = decision.eventId as string;

      const health = await s.health();
      expect(health.analytics).toMatchObject({
        state: 'on',
        model: 'yolox_nano.onnx',
        cameras: 1,
        skipped: [],
      });

      // The person is in view ~3.5 s into the video; 5 s later the flag is due.
      let flag: Json | undefined;
      const deadline = Date.now() + 30_000;
      while (!flag && Date.now() < deadline) {
        const res = await s.call('GET', '/api/flags?kind=loitering', { cookie: staff });
        expect(res.status).toBe(200);
        flag = ((await res.json()) as { items: Json[] }).items[0];
        if (!flag) await new Promise((r) => setTimeout(r, 500));
      }
      expect(flag, 'no loitering flag within 30 s').toBeDefined();
      expect(flag).toMatchObject({
        kind: 'loitering',
        cameraId: 'room-cam',
        doorId: 'front',
        status: 'new',
        entryEventId: grantId,
        hasSnapshot: true,
        evidence: { reason: 'dwell', who: 'resident', thresholdMs: 5_000, entryEventId: grantId },
      });
      const snapshot = await s.call('GET', flag!.snapshotUrl as string, { cookie: staff });
      expect(snapshot.status).toBe(200);
      expect(snapshot.headers.get('content-type')).toMatch(/image\/jpeg/);

      const after = (await s.health()).analytics as {
        cameraStats: { cameraId: string; detectorRuns: number; flags: number; rules: string[] }[];
      };
      expect(after.cameraStats[0]).toMatchObject({
        cameraId: 'room-cam',
        rules: ['loitering', 'tailgating'],
      });
      expect(after.cameraStats[0]!.detectorRuns).toBeGreaterThan(10);
      expect(after.cameraStats[0]!.flags).toBeGreaterThanOrEqual(1);
      process.stdout.write(`analytics in the server: ${JSON.stringify(after.cameraStats[0])}\n`);
    } finally {
      await s.services.close();
    }
  });

  it('runs without analytics when the model file is missing, and says why', async () => {
    const s = await compose(
      database,
      dir.path,
      site,
      { state: 'on', model: `${dir.path}/no-such-model.onnx` },
      'on',
    );
    try {
      const analytics = (await s.health()).analytics as Json;
      expect(analytics.state).toBe('off');
      expect(analytics.reason).toMatch(
        /^the detector model cannot be used: .*no-such-model\.onnx not found/,
      );
      expect(s.services.analytics?.health()).toEqual(analytics);
      expect(s.log.records.some((r) => r.msg === 'analytics off')).toBe(true);
      // Doors, API and cameras carry on.
      expect((await s.health()).status).toBe('ok');
    } finally {
      await s.services.close();
    }
  });
});

describe('analytics without PARCELROOM_MODEL', () => {
  it('are off with the reason in /api/health, and nothing is started for them', async () => {
    const dir = await makeTempDir('parcelroom-analytics-off');
    const database = await openDatabase({ dataDir: 'memory://' });
    try {
      const s = await compose(
        database,
        dir.path,
        siteWith('/nowhere/room.mp4'),
        analyticsRequest(undefined),
        'off',
      );
      try {
        expect((await s.health()).analytics).toEqual({ state: 'off', reason: NO_MODEL_REASON });
        expect(s.services.analytics).toBeNull();
      } finally {
        await s.services.close();
      }
    } finally {
      await database.close();
      await dir.cleanup();
    }
  });
});
