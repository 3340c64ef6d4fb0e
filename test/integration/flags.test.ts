/**
 * Vision flags through the composed server: candidates as the rules make them are raised through
 * the store with a real frame (the `person.png` fixture), their snapshots drawn and encoded by the
 * real ffmpeg and decoded again to check the boxes, then listed, filtered, paged and reviewed over
 * the HTTP API on PGlite and PostgreSQL. The live stream and a real webhook receiver must get each
 * flag, signed like the parcel notices.
 */
import { spawnSync } from 'node:child_process';
import { and, eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { staffAuditLog } from '../../db/index.ts';
import { manualClock } from '../../hardware/clock.ts';
import { demoSite, parseSite } from '../../server/config/index.ts';
import { createFlagNotifier } from '../../server/flags/flag.notifier.ts';
import type { FlagRecord } from '../../server/flags/flag.store.ts';
import { memoryLogger } from '../../server/log/logger.ts';
import {
  EVENT_HEADER,
  SIGNATURE_HEADER,
  verifyWebhookSignature,
} from '../../server/notify/webhook.channel.ts';
import { flagView, type FlagView } from '../../server/routes/flags.routes.ts';
import { locateFfmpeg } from '../../vision/ffmpeg.locate.ts';
import type { FlagCandidate } from '../../vision/rules.types.ts';
import type { Frame } from '../../vision/vision.ports.ts';
import { createTestApp, databaseKinds, type TestApp } from '../harness/app.harness.ts';
import { reportMissing, testFixture } from '../harness/requirements.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../harness/webhook.receiver.ts';

type Json = Record<string, unknown>;
const json = async (res: Response) => (await res.json()) as Json;

const SECRET = 'whsec_flags_integration_51c2';
const CAM = 'room-cam';
const W = 640;
const H = 480;
const RED = { r: 235, g: 30, b: 30 };
/** The person's box in the frame: outlines are 3 px inside it at 640×480. */
const PERSON_BOX = { x1: 200, y1: 60, x2: 440, y2: 470 };

const ffmpeg = locateFfmpeg();
if (!ffmpeg) reportMissing('ffmpeg', 'needed to draw and check flag snapshots; those tests skip');

const FIXTURE = testFixture('person.png');

/** The fixture photo as the analytics would see it: packed RGB at 640×480. */
function personFrame(at: number): Frame {
  const out = spawnSync(
    ffmpeg!.path,
    [
      '-v',
      'error',
      '-i',
      FIXTURE,
      '-vf',
      `scale=${W}:${H}`,
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  if (out.status !== 0) throw new Error(`decoding the fixture failed: ${out.stderr.toString()}`);
  return { cameraId: CAM, at, width: W, height: H, rgb: new Uint8Array(out.stdout) };
}

function decodeJpeg(jpeg: Buffer): Uint8Array {
  const out = spawnSync(
    ffmpeg!.path,
    ['-v', 'error', '-i', 'pipe:0', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
    { input: jpeg, maxBuffer: 64 * 1024 * 1024 },
  );
  if (out.status !== 0) throw new Error(`decoding the snapshot failed: ${out.stderr.toString()}`);
  return new Uint8Array(out.stdout);
}

const pixel = (rgb: Uint8Array, x: number, y: number) => {
  const i = (y * W + x) * 3;
  return { r: rgb[i]!, g: rgb[i + 1]!, b: rgb[i + 2]! };
};
const near = (a: { r: number; g: number; b: number }, b: typeof a, tol: number) =>
  Math.abs(a.r - b.r) <= tol && Math.abs(a.g - b.g) <= tol && Math.abs(a.b - b.b) <= tol;

describe.each(databaseKinds())('vision flags on %s', (kind) => {
  let t: TestApp;
  let receiver: WebhookReceiver;
  let staff: string;
  let manager: string;

  const candidate = (over: Partial<FlagCandidate> = {}): FlagCandidate => {
    const at = t.clock.now();
    return {
      kind: 'loitering',
      severity: 'medium',
      cameraId: CAM,
      at,
      clipWindow: { startAt: at - 95_000, endAt: at + 5_000 },
      trackIds: [7],
      boxes: [{ box: PERSON_BOX, label: 'person 7 (95 s)', trackId: 7 }],
      evidence: { reason: 'dwell', zoneId: 'room', dwellMs: 95_000, thresholdMs: 90_000 },
      ...over,
    };
  };

  /** Raises a flag through the store, one second after the last, so the order is known. */
  const raise = async (over: Partial<FlagCandidate> = {}, frame?: Frame): Promise<FlagRecord> => {
    t.clock.advance(1_000);
    const out = await t.services.flags.raise(candidate(over), frame);
    expect(out.stored).toBe('stored');
    return out.flag;
  };

  const list = async (query: string) => {
    const res = await t.call('GET', `/api/flags${query}`, { cookie: staff });
    expect(res.status).toBe(200);
    return (await json(res)) as { items: FlagView[]; nextCursor?: string };
  };

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    const site = parseSite(
      { ...demoSite(), notifications: { webhook: { url: receiver.url, secret: SECRET } } },
      'flags-test',
    );
    t = await createTestApp(kind, { site });
    staff = await t.login('staff');
    manager = await t.login('manager');
  });

  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  it.runIf(ffmpeg)('draws the boxes on the snapshot and serves it as a JPEG', async () => {
    const frame = personFrame(t.clock.now());
    const flag = await raise({}, frame);
    expect(flag.snapshotPath).toBe(`flags/${flag.id}.jpg`);

    const res = await t.call('GET', `/api/flags/${flag.id}/snapshot`, { cookie: staff });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    const rgb = decodeJpeg(Buffer.from(await res.arrayBuffer()));
    expect(rgb.length).toBe(W * H * 3);
    // On the outline (left, right and bottom edges, 3 px inside the box): the person's red.
    const midY = Math.round((PERSON_BOX.y1 + PERSON_BOX.y2) / 2);
    expect(pixel(rgb, PERSON_BOX.x1 + 1, midY)).toSatisfy((p: typeof RED) => near(p, RED, 45));
    expect(pixel(rgb, PERSON_BOX.x2 - 2, midY)).toSatisfy((p: typeof RED) => near(p, RED, 45));
    expect(pixel(rgb, 320, PERSON_BOX.y2 - 2)).toSatisfy((p: typeof RED) => near(p, RED, 45));
    // Inside the box and away from it, the photo itself (JPEG-close to the frame).
    for (const [x, y] of [
      [320, 250],
      [20, 300],
    ] as const) {
      expect(near(pixel(rgb, x, y), pixel(frame.rgb, x, y), 20)).toBe(true);
    }
  });

  it('answers the contract fields and the rest of the flag', async () => {
    const flag = await raise();
    const res = await t.call('GET', `/api/flags/${flag.id}`, { cookie: staff });
    expect(res.status).toBe(200);
    const view = await json(res);
    expect(view).toMatchObject({
      id: flag.id,
      at: new Date(flag.at).toISOString(),
      kind: 'loitering',
      severity: 'medium',
      cameraId: CAM,
      doorId: 'front',
      status: 'new',
      clipUrl: `/api/flags/${flag.id}/clip`,
      snapshotUrl: `/api/flags/${flag.id}/snapshot`,
      hasSnapshot: false,
      clipWindow: {
        startAt: new Date(flag.at - 95_000).toISOString(),
        endAt: new Date(flag.at + 5_000).toISOString(),
      },
      evidence: { reason: 'dwell', zoneId: 'room', trackIds: [7], boxes: [{ box: PERSON_BOX }] },
    });
    expect(view).not.toHaveProperty('reviewedBy');
    // Without a frame there is no snapshot, and the answer says so.
    const snap = await t.call('GET', `/api/flags/${flag.id}/snapshot`, { cookie: staff });
    expect(snap.status).toBe(404);
    expect(await json(snap)).toMatchObject({ error: { code: 'no_snapshot' } });
    const missing = await t.call('GET', '/api/flags/no-such-flag', { cookie: staff });
    expect(missing.status).toBe(404);
  });

  it('lists newest first, filters by kind and status, and pages with a cursor', async () => {
    const a = await raise({ kind: 'tailgating', severity: 'high', evidence: { doorId: 'front' } });
    const b = await raise({ kind: 'multi_package_grab' });
    const c = await raise({ kind: 'tailgating', evidence: { doorId: 'front' } });

    const all = await list('?limit=500');
    const ats = all.items.map((f) => Date.parse(f.at));
    expect(ats).toEqual([...ats].sort((x, y) => y - x));
    expect(all.items.slice(0, 3).map((f) => f.id)).toEqual([c.id, b.id, a.id]);

    const tail = await list('?kind=tailgating');
    expect(tail.items.map((f) => f.id)).toEqual([c.id, a.id]);
    expect(tail.items.every((f) => f.kind === 'tailgating')).toBe(true);

    const paged: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await list(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.items.length).toBeLessThanOrEqual(2);
      paged.push(...page.items.map((f) => f.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(paged).toEqual(all.items.map((f) => f.id));

    const bad = await t.call('GET', '/api/flags?kind=shoplifting', { cookie: staff });
    expect(bad.status).toBe(400);
    expect(await json(bad)).toMatchObject({ error: { field: 'kind' } });
    const badStatus = await t.call('GET', '/api/flags?status=maybe', { cookie: staff });
    expect(await json(badStatus)).toMatchObject({ error: { field: 'status' } });
    const badCursor = await t.call('GET', '/api/flags?cursor=nonsense', { cookie: staff });
    expect(badCursor.status).toBe(400);
  });

  it('records a review with who, when and the note, audited; a later decision replaces it', async () => {
    const flag = await raise({ kind: 'multi_package_grab', severity: 'high' });
    t.clock.advance(30_000);
    const res = await t.call('POST', `/api/flags/${flag.id}/review`, {
      cookie: staff,
      body: { status: 'confirmed', note: 'took 4B and 2A parcels' },
    });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({
      id: flag.id,
      status: 'confirmed',
      reviewedBy: t.users.staff.id,
      reviewedAt: new Date(t.clock.now()).toISOString(),
      reviewNote: 'took 4B and 2A parcels',
    });
    expect((await list('?status=confirmed')).items.map((f) => f.id)).toContain(flag.id);

    const again = await t.call('POST', `/api/flags/${flag.id}/review`, {
      cookie: manager,
      body: { status: 'escalated' },
    });
    const escalated = await json(again);
    expect(escalated).toMatchObject({ status: 'escalated', reviewedBy: t.users.manager.id });
    expect(escalated).not.toHaveProperty('reviewNote');

    const audit = await t.database.db
      .select()
      .from(staffAuditLog)
      .where(and(eq(staffAuditLog.action, 'flag.review'), eq(staffAuditLog.targetId, flag.id)));
    expect(
      audit
        .sort((x, y) => x.at.getTime() - y.at.getTime())
        .map((r) => ({ who: r.actorStaffId, type: r.targetType, details: r.details })),
    ).toEqual([
      {
        who: t.users.staff.id,
        type: 'flag',
        details: {
          status: 'confirmed',
          previous: 'new',
          kind: 'multi_package_grab',
          note: 'took 4B and 2A parcels',
        },
      },
      {
        who: t.users.manager.id,
        type: 'flag',
        details: { status: 'escalated', previous: 'confirmed', kind: 'multi_package_grab' },
      },
    ]);

    const badStatus = await t.call('POST', `/api/flags/${flag.id}/review`, {
      cookie: staff,
      body: { status: 'new' },
    });
    expect(badStatus.status).toBe(400);
    expect(await json(badStatus)).toMatchObject({ error: { field: 'status' } });
    const extra = await t.call('POST', `/api/flags/${flag.id}/review`, {
      cookie: staff,
      body: { status: 'dismissed', by: 'someone' },
    });
    expect(extra.status).toBe(400);
    const unknown = await t.call('POST', '/api/flags/no-such-flag/review', {
      cookie: staff,
      body: { status: 'dismissed' },
    });
    expect(unknown.status).toBe(404);
    expect((await t.services.flags.get(flag.id))?.status).toBe('escalated');
  });

  it('lets an integration token with a staff role review; it is named as the reviewer', async () => {
    const admin = await t.login('admin');
    const made = await json(
      await t.call('POST', '/api/tokens', {
        cookie: admin,
        body: { name: 'guard-app', role: 'staff' },
      }),
    );
    const flag = await raise();
    const res = await t.call('POST', `/api/flags/${flag.id}/review`, {
      bearer: String(made.token),
      body: { status: 'dismissed' },
    });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ reviewedBy: `token:${String(made.id)}` });
  });

  it('refuses callers without a session (401) and roles or origins that may not (403)', async () => {
    const flag = await raise();
    const routes: [string, string, unknown?][] = [
      ['GET', '/api/flags'],
      ['GET', `/api/flags/${flag.id}`],
      ['GET', `/api/flags/${flag.id}/clip`],
      ['GET', `/api/flags/${flag.id}/snapshot`],
      ['GET', '/api/flags/false-positives'],
      ['POST', `/api/flags/${flag.id}/review`, { status: 'confirmed' }],
    ];
    for (const [method, path, body] of routes) {
      const res = await t.call(method, path, body === undefined ? {} : { body });
      expect(res.status, `${method} ${path}`).toBe(401);
      const bad = await t.call(method, path, {
        bearer: 'prt_made_up',
        ...(body === undefined ? {} : { body }),
      });
      expect(bad.status, `${method} ${path} with a made-up token`).toBe(401);
    }
    // Staff review flags but do not see the false-positive statistics.
    const stats = await t.call('GET', '/api/flags/false-positives', { cookie: staff });
    expect(stats.status).toBe(403);
    expect(await json(stats)).toMatchObject({ error: { code: 'forbidden' } });
    // A review is a write: from another site's page with the session cookie it is refused.
    const csrf = await t.call('POST', `/api/flags/${flag.id}/review`, {
      cookie: staff,
      headers: { origin: 'http://evil.example' },
      body: { status: 'dismissed' },
    });
    expect(csrf.status).toBe(403);
    expect((await t.services.flags.get(flag.id))?.status).toBe('new');
  });

  it('gives managers dismissed against total per camera and zone, and per kind', async () => {
    const door = await raise({ evidence: { zoneId: 'doorway' } });
    await t.call('POST', `/api/flags/${door.id}/review`, {
      cookie: staff,
      body: { status: 'dismissed' },
    });
    const res = await t.call('GET', '/api/flags/false-positives', { cookie: manager });
    expect(res.status).toBe(200);
    const stats = (await json(res)) as {
      byZone: { cameraId: string; zoneId: string; total: number; dismissed: number }[];
      byKind: { kind: string; total: number; dismissed: number }[];
    };
    // The same counts, worked out from the flags themselves.
    const all = (await list('?limit=500')).items;
    const zoneOf = (f: FlagView) =>
      typeof f.evidence.zoneId === 'string' ? f.evidence.zoneId : 'room';
    const expected = (keep: (f: FlagView) => boolean) => ({
      total: all.filter(keep).length,
      dismissed: all.filter((f) => keep(f) && f.status === 'dismissed').length,
    });
    expect(stats.byZone.find((z) => z.zoneId === 'doorway')).toMatchObject({
      cameraId: CAM,
      ...expected((f) => zoneOf(f) === 'doorway'),
    });
    expect(stats.byZone.find((z) => z.zoneId === 'room')).toMatchObject(
      expected((f) => zoneOf(f) === 'room'),
    );
    for (const k of ['loitering', 'tailgating', 'multi_package_grab']) {
      expect(stats.byKind.find((s) => s.kind === k)).toMatchObject(expected((f) => f.kind === k));
    }
    expect(stats.byZone.find((z) => z.zoneId === 'doorway')?.dismissed).toBe(1);
  });

  it('answers a clip like an event clip: 409 with Retry-After before its window ends, 404 without video', async () => {
    const soon = await raise({
      clipWindow: { startAt: t.clock.now() - 5_000, endAt: t.clock.now() + 60_000 },
    });
    const early = await t.call('GET', `/api/flags/${soon.id}/clip`, { cookie: staff });
    expect(early.status).toBe(409);
    expect(Number(early.headers.get('retry-after'))).toBeGreaterThanOrEqual(60);
    expect(await json(early)).toMatchObject({ error: { code: 'clip_not_ready' } });

    // Long past, and this test box records nothing: the reason is given, not a broken video.
    const old = await raise({
      clipWindow: { startAt: t.clock.now() - 3_600_000, endAt: t.clock.now() - 3_500_000 },
    });
    const none = await t.call('GET', `/api/flags/${old.id}/clip`, { cookie: staff });
    expect(none.status).toBe(404);
    expect(await json(none)).toMatchObject({ error: { code: 'no_video' } });
    expect(none.headers.get('x-no-video-reason')).toBeTruthy();
    const unknown = await t.call('GET', '/api/flags/no-such-flag/clip', { cookie: staff });
    expect(unknown.status).toBe(404);
  });

  it('streams new and reviewed flags to the console on the live feed', async () => {
    const res = await t.call('GET', '/api/events/stream', { cookie: staff });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const until = async (pattern: RegExp) => {
      const deadline = Date.now() + 10_000;
      while (!pattern.test(text) && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value);
      }
      return pattern.test(text);
    };
    try {
      expect(await until(/event: hello/)).toBe(true);
      const flag = await raise({ kind: 'tailgating', evidence: { doorId: 'front', crossings: 2 } });
      const raised = new RegExp(`event: flag\\ndata: \\{"id":"${flag.id}"[^\\n]*"status":"new"`);
      expect(await until(raised)).toBe(true);
      const line = text.split('\n').find((l) => l.startsWith(`data: {"id":"${flag.id}"`))!;
      expect(JSON.parse(line.slice('data: '.length))).toEqual(
        JSON.parse(JSON.stringify(flagView(flag))),
      );
      await t.call('POST', `/api/flags/${flag.id}/review`, {
        cookie: staff,
        body: { status: 'confirmed' },
      });
      const reviewed = new RegExp(
        `event: flag\\ndata: \\{"id":"${flag.id}"[^\\n]*"status":"confirmed"`,
      );
      expect(await until(reviewed)).toBe(true);
    } finally {
      await reader.cancel();
    }
  });

  it('posts each new flag to the webhook, signed like the parcel notices', async () => {
    const flag = await raise({ kind: 'multi_package_grab', severity: 'high' });
    await t.services.flagNotifier.settled();
    const got = receiver.requests.filter((r) => r.body.includes(`"id":"${flag.id}"`));
    expect(got).toHaveLength(1);
    const req = got[0]!;
    expect(req.method).toBe('POST');
    expect(req.headers[EVENT_HEADER.toLowerCase()]).toBe('flag.raised');
    expect(req.headers['content-type']).toBe('application/json');
    const signature = req.headers[SIGNATURE_HEADER.toLowerCase()] as string;
    expect(verifyWebhookSignature(SECRET, signature, req.body, Math.floor(Date.now() / 1000))).toBe(
      true,
    );
    expect(
      verifyWebhookSignature('another-secret-value', signature, req.body, Date.now() / 1000),
    ).toBe(false);
    expect(JSON.parse(req.body)).toEqual({
      type: 'flag.raised',
      id: flag.id,
      at: new Date(flag.at).toISOString(),
      site: { id: 'demo', name: 'Demo building' },
      flag: JSON.parse(JSON.stringify(flagView(flag))),
    });
    // A review is not a new flag: no second webhook.
    await t.call('POST', `/api/flags/${flag.id}/review`, {
      cookie: staff,
      body: { status: 'escalated' },
    });
    await t.services.flagNotifier.settled();
    expect(receiver.requests.filter((r) => r.body.includes(`"id":"${flag.id}"`))).toHaveLength(1);
  });
});

describe('flag webhook retries (real receiver, manual clock)', () => {
  let receiver: WebhookReceiver;
  const cleanups: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    receiver = await startWebhookReceiver();
  });
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });
  afterAll(async () => {
    await receiver?.close();
  });

  const view = (id: string): FlagView =>
    flagView({
      id,
      kind: 'tailgating',
      severity: 'high',
      cameraId: CAM,
      doorId: 'front',
      at: Date.UTC(2026, 10, 21, 9, 0, 0),
      entryEventId: null,
      credentialId: null,
      clipWindow: {
        startAt: Date.UTC(2026, 10, 21, 8, 59, 55),
        endAt: Date.UTC(2026, 10, 21, 9, 0, 30),
      },
      snapshotPath: null,
      evidence: { crossings: 2, grants: 1 },
      status: 'new',
      reviewedBy: null,
      reviewedAt: null,
      reviewNote: null,
    });

  function notifier() {
    const clock = manualClock();
    const log = memoryLogger();
    const n = createFlagNotifier({
      webhook: { url: receiver.url, secret: SECRET },
      site: { id: 'demo', name: 'Demo building' },
      clock,
      log,
      retryDelaysMs: [5_000, 30_000],
    });
    cleanups.push(() => n.close());
    return { n, clock, log };
  }

  const requestsFor = (id: string) =>
    receiver.requests.filter((r) => r.body.includes(`"id":"${id}"`));

  it('retries a refused delivery on its schedule, signing each attempt, same id', async () => {
    const { n, clock } = notifier();
    receiver.failNext(1, 503);
    n.raised(view('flag-retry-1'));
    await n.settled();
    expect(requestsFor('flag-retry-1').map((r) => r.outcome)).toEqual([503]);
    expect(n.pending()).toBe(1);
    clock.advance(4_999);
    await n.settled();
    expect(requestsFor('flag-retry-1')).toHaveLength(1);
    clock.advance(1);
    await n.settled();
    const reqs = requestsFor('flag-retry-1');
    expect(reqs.map((r) => r.outcome)).toEqual([503, 200]);
    expect(reqs[0]!.body).toBe(reqs[1]!.body);
    for (const r of reqs) {
      const sig = r.headers[SIGNATURE_HEADER.toLowerCase()] as string;
      expect(verifyWebhookSignature(SECRET, sig, r.body, Math.floor(Date.now() / 1000))).toBe(true);
    }
    expect(n.pending()).toBe(0);
    expect(n.failures()).toEqual([]);
  });

  it('gives up after the last retry, once, with the reason', async () => {
    const { n, clock, log } = notifier();
    receiver.failNext(3, 500);
    n.raised(view('flag-retry-2'));
    await n.settled();
    clock.advance(5_000);
    await n.settled();
    clock.advance(30_000);
    await n.settled();
    expect(requestsFor('flag-retry-2').map((r) => r.outcome)).toEqual([500, 500, 500]);
    expect(n.failures()).toMatchObject([
      { flagId: 'flag-retry-2', attempts: 3, error: expect.stringContaining('HTTP 500') as string },
    ]);
    expect(n.pending()).toBe(0);
    expect(log.records.filter((r) => r.msg === 'flag webhook failed, giving up')).toHaveLength(1);
    clock.advance(3_600_000);
    await n.settled();
    expect(requestsFor('flag-retry-2')).toHaveLength(3);
  });

  it('sends nothing when the site has no webhook', async () => {
    const before = receiver.requests.length;
    const n = createFlagNotifier({
      webhook: undefined,
      site: { id: 'demo', name: 'Demo building' },
      clock: manualClock(),
      log: memoryLogger(),
    });
    n.raised(view('flag-quiet'));
    await n.settled();
    expect(n.pending()).toBe(0);
    expect(receiver.requests.length).toBe(before);
    await n.close();
  });
});
