import { describe, expect, it } from 'vitest';
import type { AccessEvent } from '../../access/access.events.ts';
import { manualClock, type ManualClock } from '../../hardware/clock.ts';
import { createSimDetector } from '../../vision/detector.sim.ts';
import type { FrameSourceEnd } from '../../vision/frame.source.ts';
import type { FlagCandidate } from '../../vision/rules.types.ts';
import type { Detection, Detector, Frame } from '../../vision/vision.ports.ts';
import { parseSite, type SiteConfig } from '../config/index.ts';
import { memoryLogger } from '../log/logger.ts';
import {
  analyticsRequest,
  analyticsSettingsFor,
  createAnalyticsRuntime,
  createOwnershipCache,
  createRestartingFrames,
  entryFromAccessEvent,
  NO_MODEL_REASON,
  type AnalyticsRuntimeOptions,
  type FrameOpener,
  type FrameStream,
  type FrameStreamRequest,
  type OwnershipSnapshot,
} from './analytics.runtime.ts';
import type { CameraInput, CameraStreamsView } from './camera.types.ts';

const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);
const W = 416;
const H = 234;
const FILE: CameraInput = { kind: 'file', path: '/videos/room.mp4', loop: true };

/** Lets promise callbacks and async generators run to their next wait. */
const settle = async (rounds = 20) => {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
};

const grey = (cameraId: string, at: number): Frame => ({
  cameraId,
  at,
  width: W,
  height: H,
  rgb: new Uint8Array(W * H * 3).fill(110),
});

/** A stream the test feeds by hand: frames in, then an end of its choosing. */
interface HandStream extends FrameStream {
  readonly req: FrameStreamRequest;
  push(frame: Frame): void;
  finish(end: FrameSourceEnd): void;
  stopCalls: number;
}

function handStream(req: FrameStreamRequest): HandStream {
  const queue: Frame[] = [];
  let waiter: ((r: IteratorResult<Frame>) => void) | null = null;
  let done: FrameSourceEnd | null = null;
  let resolveEnded!: (e: FrameSourceEnd) => void;
  const ended = new Promise<FrameSourceEnd>((r) => (resolveEnded = r));
  const finish = (end: FrameSourceEnd) => {
    if (done) return;
    done = end;
    resolveEnded(end);
    if (queue.length === 0 && waiter) {
      const w = waiter;
      waiter = null;
      w({ done: true, value: undefined });
    }
  };
  const s: HandStream = {
    req,
    stopCalls: 0,
    ended,
    stats: () => ({ framesDropped: 0 }),
    push(frame) {
      if (done) throw new Error('frame pushed after the stream ended');
      if (waiter) {
        const w = waiter;
        waiter = null;
        w({ done: false, value: frame });
      } else queue.push(frame);
    },
    finish,
    stop() {
      s.stopCalls++;
      finish({ reason: 'stopped' });
      return ended;
    },
    [Symbol.asyncIterator]() {
      return {
        next: () => {
          const f = queue.shift();
          if (f) return Promise.resolve({ done: false as const, value: f });
          if (done) return Promise.resolve({ done: true as const, value: undefined });
          return new Promise<IteratorResult<Frame>>((r) => (waiter = r));
        },
        return: async () => {
          await s.stop();
          return { done: true as const, value: undefined };
        },
      };
    },
  };
  return s;
}

/** An opener that hands out hand-fed streams and keeps them, so the test can drive each one. */
function handOpener(): FrameOpener & { streams: HandStream[] } {
  const streams: HandStream[] = [];
  const open = (req: FrameStreamRequest) => {
    const s = handStream(req);
    streams.push(s);
    return s;
  };
  return Object.assign(open, { streams });
}

/** Reads frames from an async iterable in the background, collecting them. */
function reader(frames: AsyncIterable<Frame>) {
  const got: Frame[] = [];
  const done = (async () => {
    for await (const f of frames) got.push(f);
  })();
  return { got, done };
}

describe('site analytics settings', () => {
  const site = parseSite(
    {
      doors: [{ id: 'front', name: 'Front', driver: { kind: 'sim' } }],
      cameras: [
        {
          id: 'cam',
          name: 'Room',
          source: { kind: 'sim' },
          zones: [
            {
              id: 'room',
              kind: 'room',
              polygon: [
                [0, 0],
                [1, 0],
                [1, 1],
              ],
            },
          ],
        },
        {
          id: 'cam2',
          name: 'Hall',
          source: { kind: 'sim' },
          zones: [
            {
              id: 'hall',
              kind: 'room',
              polygon: [
                [0, 0],
                [1, 0],
                [1, 1],
              ],
            },
          ],
        },
      ],
      storage: {
        oversized: { id: 'big', label: 'Big' },
        overflow: { id: 'of', label: 'Overflow' },
      },
      analytics: {
        loiteringSeconds: 30,
        loiteringZoneSeconds: { hall: 12 },
        visitMinutes: 2,
        tailgatingAfterGrantSeconds: 8,
      },
    },
    'test',
  );

  it('turns seconds and minutes into the rules’ ms, each camera taking only its own zones', () => {
    expect(analyticsSettingsFor(site.analytics, site.cameras[0]!)).toEqual({
      loitering: { thresholdMs: 30_000, visitMs: 120_000 },
      tailgating: { beforeGrantMs: 1_000, afterGrantMs: 8_000 },
    });
    expect(analyticsSettingsFor(site.analytics, site.cameras[1]!).loitering).toEqual({
      thresholdMs: 30_000,
      visitMs: 120_000,
      zoneThresholdMs: { hall: 12_000 },
    });
  });

  it('refuses a per-zone threshold for a zone no camera has, naming the field', () => {
    expect(() =>
      parseSite(
        {
          doors: [{ id: 'front', name: 'Front', driver: { kind: 'sim' } }],
          storage: { oversized: { id: 'b', label: 'B' }, overflow: { id: 'o', label: 'O' } },
          analytics: { loiteringZoneSeconds: { nowhere: 10 } },
        },
        'test',
      ),
    ).toThrow(/analytics\.loiteringZoneSeconds\.nowhere/);
  });

  it('says why analytics are off when no model is set', () => {
    expect(analyticsRequest(undefined)).toEqual({ state: 'off', reason: NO_MODEL_REASON });
    expect(analyticsRequest('/models/yolox_nano.onnx')).toEqual({
      state: 'on',
      model: '/models/yolox_nano.onnx',
    });
  });
});

describe('entries from the access log', () => {
  const base: AccessEvent = {
    id: 'ev1',
    at: T0,
    type: 'access',
    doorId: 'front',
    decision: 'granted',
    credentialId: 'cred1',
  };

  it('names who came in: resident, carrier or staff', () => {
    expect(entryFromAccessEvent({ ...base, residentId: 'r1' }, ['cam'])).toEqual({
      eventId: 'ev1',
      at: T0,
      doorId: 'front',
      who: 'resident',
      residentId: 'r1',
      credentialId: 'cred1',
      cameraIds: ['cam'],
    });
    expect(entryFromAccessEvent({ ...base, carrierCodeId: 'cc1' })?.who).toBe('carrier');
    expect(entryFromAccessEvent({ ...base, staffId: 's1' })?.who).toBe('staff');
  });

  it('ignores denials, other events and grants with nobody behind them', () => {
    expect(entryFromAccessEvent({ ...base, residentId: 'r1', decision: 'denied' })).toBeNull();
    expect(entryFromAccessEvent({ ...base, type: 'door_opened', residentId: 'r1' })).toBeNull();
    expect(entryFromAccessEvent(base)).toBeNull();
  });
});

describe('ownership cache', () => {
  const snapshot: OwnershipSnapshot = {
    parcels: [
      { packageId: 'p1', locationId: 'a1', residentId: 'r1', unitId: 'u4b' },
      { packageId: 'p2', locationId: 'a1', residentId: null, unitId: 'u4b' },
      { packageId: 'p3', locationId: 'a2', residentId: 'r2', unitId: 'u5c' },
    ],
    residents: [
      { residentId: 'r1', unitId: 'u4b' },
      { residentId: 'r2', unitId: 'u5c' },
    ],
  };

  it('answers whose parcels are in a slot and where a resident lives, from memory', async () => {
    let loads = 0;
    const cache = createOwnershipCache({
      load: () => {
        loads++;
        return Promise.resolve(snapshot);
      },
      log: memoryLogger(),
    });
    expect(cache.loaded()).toBe(false);
    expect(cache.owners('a1')).toEqual([]);
    expect(await cache.refresh()).toBe(true);
    expect(loads).toBe(1);
    expect(cache.owners('a1')).toEqual([
      { packageId: 'p1', unitId: 'u4b', residentId: 'r1' },
      { packageId: 'p2', unitId: 'u4b' },
    ]);
    expect(cache.owners('a3')).toEqual([]);
    expect(cache.unitOfResident('r2')).toBe('u5c');
    expect(cache.unitOfResident('nobody')).toBeUndefined();
  });

  it('keeps the last answers when the database fails, and says so', async () => {
    let fail = false;
    const log = memoryLogger();
    const cache = createOwnershipCache({
      load: () =>
        fail ? Promise.reject(new Error('connection refused')) : Promise.resolve(snapshot),
      log,
    });
    await cache.refresh();
    fail = true;
    expect(await cache.refresh()).toBe(false);
    expect(cache.owners('a2')).toHaveLength(1);
    expect(log.records.some((r) => String(r.err).includes('connection refused'))).toBe(true);
  });

  it('runs a burst of refreshes as one read now and one after', async () => {
    let loads = 0;
    let release!: () => void;
    const cache = createOwnershipCache({
      load: async () => {
        loads++;
        if (loads === 1) await new Promise<void>((r) => (release = r));
        return snapshot;
      },
      log: memoryLogger(),
    });
    const all = [cache.refresh(), cache.refresh(), cache.refresh()];
    await settle();
    release();
    expect(await Promise.all(all)).toEqual([true, true, true]);
    expect(loads).toBe(2);
  });
});

describe('restarting frames', () => {
  const make = (clock: ManualClock, input: () => CameraInput | null, opener: FrameOpener) =>
    createRestartingFrames({
      cameraId: 'cam',
      input,
      open: opener,
      fps: 5,
      width: W,
      height: H,
      clock,
      log: memoryLogger(),
      backoff: { minMs: 1_000, maxMs: 4_000 },
      healthyAfterMs: 10_000,
    });

  it('waits for the camera to connect, then reads its sub-stream at the asked rate and size', async () => {
    const clock = manualClock(T0);
    const opener = handOpener();
    let input: CameraInput | null = null;
    const frames = make(clock, () => input, opener);
    const r = reader(frames);
    await settle();
    expect(frames.status().state).toBe('waiting');
    expect(opener.streams).toHaveLength(0);
    input = FILE;
    clock.advance(1_000);
    await settle();
    expect(opener.streams).toHaveLength(1);
    expect(opener.streams[0]!.req).toEqual({
      cameraId: 'cam',
      input: FILE,
      fps: 5,
      width: W,
      height: H,
    });
    opener.streams[0]!.push(grey('cam', T0 + 1_000));
    await settle();
    expect(frames.status()).toEqual({ state: 'streaming', reason: null, restarts: 0 });
    expect(r.got).toHaveLength(1);
    await frames.stop();
    await r.done;
    expect(frames.status().state).toBe('stopped');
    expect(opener.streams[0]!.stopCalls).toBeGreaterThan(0);
  });

  it('opens the stream again after it fails, waiting longer each time, and carries on', async () => {
    const clock = manualClock(T0);
    const opener = handOpener();
    const frames = make(clock, () => FILE, opener);
    const r = reader(frames);
    await settle();
    opener.streams[0]!.push(grey('cam', T0));
    opener.streams[0]!.finish({
      reason: 'failed',
      message: 'ffmpeg exited with code 1: Connection refused',
      code: 1,
      signal: null,
    });
    await settle();
    expect(frames.status()).toEqual({
      state: 'backoff',
      reason: 'ffmpeg exited with code 1: Connection refused',
      restarts: 1,
    });
    clock.advance(999);
    await settle();
    expect(opener.streams).toHaveLength(1);
    clock.advance(1);
    await settle();
    expect(opener.streams).toHaveLength(2);
    // Fails again at once: the next wait is twice as long.
    opener.streams[1]!.finish({ reason: 'ended' });
    await settle();
    clock.advance(1_999);
    await settle();
    expect(opener.streams).toHaveLength(2);
    clock.advance(1);
    await settle();
    expect(opener.streams).toHaveLength(3);
    opener.streams[2]!.push(grey('cam', T0 + 5_000));
    await settle();
    expect(r.got.map((f) => f.at)).toEqual([T0, T0 + 5_000]);
    expect(frames.status().restarts).toBe(2);
    // Stopping during a wait ends the frames too.
    opener.streams[2]!.finish({ reason: 'ended' });
    await settle();
    expect(frames.status().state).toBe('backoff');
    await frames.stop();
    await r.done;
    expect(opener.streams).toHaveLength(3);
  });

  it('does not replay a file camera that does not loop once it has ended', async () => {
    const clock = manualClock(T0);
    const opener = handOpener();
    const once: CameraInput = { kind: 'file', path: '/videos/once.mp4', loop: false };
    const frames = make(clock, () => once, opener);
    const r = reader(frames);
    await settle();
    opener.streams[0]!.push(grey('cam', T0));
    opener.streams[0]!.finish({ reason: 'ended' });
    await r.done;
    expect(frames.status().state).toBe('ended');
    clock.advance(60_000);
    await settle();
    expect(opener.streams).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------
// The runtime

const SITE = parseSite(
  {
    doors: [{ id: 'front', name: 'Front', driver: { kind: 'sim' } }],
    cameras: [
      {
        id: 'cam',
        name: 'Room',
        doorId: 'front',
        source: { kind: 'file', path: '/videos/room.mp4' },
        zones: [
          {
            id: 'room',
            kind: 'room',
            polygon: [
              [0, 0],
              [1, 0],
              [1, 1],
              [0, 1],
            ],
          },
          {
            id: 'doorway',
            kind: 'door',
            polygon: [
              [0, 0.5],
              [0.15, 0.5],
              [0.15, 1],
              [0, 1],
            ],
          },
        ],
      },
      // Nothing drawn on it: left out, with the reason.
      { id: 'lobby', name: 'Lobby', source: { kind: 'file', path: '/videos/lobby.mp4' } },
    ],
    storage: {
      shelves: [
        {
          id: 'shelf-a',
          slots: [
            {
              id: 'a1',
              label: 'A1',
              cameraId: 'cam',
              polygon: [
                [0.05, 0.1],
                [0.2, 0.1],
                [0.2, 0.3],
                [0.05, 0.3],
              ],
            },
            {
              id: 'a2',
              label: 'A2',
              cameraId: 'cam',
              polygon: [
                [0.2, 0.1],
                [0.35, 0.1],
                [0.35, 0.3],
                [0.2, 0.3],
              ],
            },
          ],
        },
      ],
      oversized: { id: 'big', label: 'Big' },
      overflow: { id: 'of', label: 'Overflow' },
    },
    analytics: { loiteringSeconds: 1, restartMinMs: 1_000 },
  },
  'test',
);

/** A person standing in the middle of the room, feet on the floor. */
const PERSON: Detection = {
  box: { x1: 190, y1: 110, x2: 230, y2: 225 },
  classId: 0,
  label: 'person',
  score: 0.9,
};

function directory(streams: Record<string, CameraStreamsView | null>) {
  return {
    streams: (id: string) => {
      if (!(id in streams)) throw new Error(`unexpected camera ${id}`);
      return streams[id] ?? null;
    },
    forDoor: (doorId: string) => (doorId === 'front' ? 'cam' : null),
  };
}

interface Harness {
  clock: ManualClock;
  opener: ReturnType<typeof handOpener>;
  flags: { candidate: FlagCandidate; frame: Frame }[];
  loads: number;
  closes: number;
  factoryCalls: number;
  log: ReturnType<typeof memoryLogger>;
  runtime: ReturnType<typeof createAnalyticsRuntime>;
  snapshot: OwnershipSnapshot;
}

function harness(
  overrides: Partial<AnalyticsRuntimeOptions> & { site?: SiteConfig } = {},
  detections: readonly Detection[] = [PERSON],
): Harness {
  const clock = manualClock(T0);
  const opener = handOpener();
  const sim = createSimDetector({
    script: {
      kind: 'timeline',
      spans: [{ fromMs: T0, toMs: T0 + 3_600_000, reply: { kind: 'detections', detections } }],
    },
    info: { model: 'yolox_nano.onnx', inputWidth: 416, inputHeight: 416 },
  });
  const h: Harness = {
    clock,
    opener,
    flags: [],
    loads: 0,
    closes: 0,
    factoryCalls: 0,
    log: memoryLogger(),
    snapshot: {
      parcels: [{ packageId: 'p1', locationId: 'a1', residentId: 'r1', unitId: 'u4b' }],
      residents: [{ residentId: 'r1', unitId: 'u4b' }],
    },
    runtime: null as unknown as Harness['runtime'],
  };
  const detector: Detector = {
    info: sim.info,
    detect: (f) => sim.detect(f),
    close: () => {
      h.closes++;
      return sim.close();
    },
  };
  h.runtime = createAnalyticsRuntime({
    site: overrides.site ?? SITE,
    directory: directory({
      cam: { main: FILE, sub: FILE },
      lobby: { main: FILE, sub: FILE },
    }),
    detectorFactory: () => {
      h.factoryCalls++;
      return Promise.resolve(detector);
    },
    clock,
    log: h.log,
    onFlag: (candidate, frame) => {
      h.flags.push({ candidate, frame });
    },
    parcels: createOwnershipCache({
      load: () => {
        h.loads++;
        return Promise.resolve(h.snapshot);
      },
      log: h.log,
    }),
    ffmpeg: null,
    openFrames: opener,
    ...overrides,
  });
  return h;
}

/** Feeds the camera frames every 200 ms from `fromMs` for `ms`, the clock following. */
async function play(h: Harness, fromMs: number, ms: number) {
  const stream = h.opener.streams[h.opener.streams.length - 1]!;
  for (let t = fromMs; t <= fromMs + ms; t += 200) {
    h.clock.set(Math.max(h.clock.now(), t));
    stream.push(grey('cam', t));
    await settle(5);
  }
}

describe('analytics runtime', () => {
  it('stays off without loading the model when the site turns analytics off', async () => {
    const site = parseSite(
      { ...JSON.parse(JSON.stringify(SITE)), analytics: { enabled: false } },
      'test',
    );
    const h = harness({ site });
    expect(await h.runtime.start()).toEqual({
      state: 'off',
      reason: 'turned off in the site file (analytics.enabled: false)',
    });
    expect(h.factoryCalls).toBe(0);
    expect(h.opener.streams).toHaveLength(0);
    await h.runtime.close();
  });

  it('stays off, saying why, when the model cannot be loaded', async () => {
    const h = harness({
      detectorFactory: () =>
        Promise.reject(new Error('detector model /nope/yolox.onnx not found: ENOENT')),
    });
    const health = await h.runtime.start();
    expect(health).toEqual({
      state: 'off',
      reason:
        'the detector model cannot be used: detector model /nope/yolox.onnx not found: ENOENT',
    });
    expect(h.runtime.health()).toEqual(health);
    expect(h.opener.streams).toHaveLength(0);
    expect(h.log.records.some((r) => r.msg === 'analytics off')).toBe(true);
    await h.runtime.close();
  });

  it('stays off without ffmpeg', async () => {
    const log = memoryLogger();
    // No opener and no ffmpeg: nothing can decode the cameras. Every port is strict.
    const runtime = createAnalyticsRuntime({
      site: SITE,
      directory: directory({}),
      detectorFactory: () => {
        throw new Error('the model must not be loaded without ffmpeg');
      },
      clock: manualClock(T0),
      log,
      onFlag: () => {
        throw new Error('no flag expected');
      },
      parcels: createOwnershipCache({
        load: () => Promise.reject(new Error('not expected')),
        log,
      }),
      ffmpeg: null,
    });
    const health = await runtime.start();
    expect(health.state).toBe('off');
    expect(health.state === 'off' && health.reason).toMatch(/^ffmpeg not found/);
    await runtime.close();
  });

  it('runs the cameras with zones or slots; loitering flags carry the grant that let the person in', async () => {
    const h = harness();
    const health = await h.runtime.start();
    expect(health).toMatchObject({
      state: 'on',
      model: 'yolox_nano.onnx',
      cameras: 1,
      skipped: [
        {
          cameraId: 'lobby',
          reason: 'no room or door zone and no shelf slot drawn on its picture',
        },
      ],
    });
    expect(h.factoryCalls).toBe(1);
    expect(h.loads).toBe(1);
    await settle();
    expect(h.opener.streams).toHaveLength(1);
    expect(h.opener.streams[0]!.req).toMatchObject({
      cameraId: 'cam',
      fps: 5,
      width: 416,
      height: 234,
    });
    // The slots start from what the parcels table says: a1 holds p1, a2 nothing.
    expect(h.runtime.slotStatus('a1')?.pendingReference).toBe('occupied');
    expect(h.runtime.slotStatus('a2')?.pendingReference).toBe('empty');
    expect(h.runtime.slotStatus('nope')).toBeNull();

    h.runtime.onAccessEvent({
      id: 'ev-4b',
      at: T0,
      type: 'access',
      doorId: 'front',
      decision: 'granted',
      residentId: 'r1',
      credentialId: 'card-4b',
    });
    await play(h, T0 + 200, 3_000);
    const loitering = h.flags.filter((f) => f.candidate.kind === 'loitering');
    expect(loitering).toHaveLength(1);
    expect(loitering[0]!.candidate).toMatchObject({
      cameraId: 'cam',
      entryEventId: 'ev-4b',
      credentialId: 'card-4b',
      evidence: { reason: 'dwell', who: 'resident', thresholdMs: 1_000 },
    });
    expect(loitering[0]!.frame.cameraId).toBe('cam');

    const now = h.runtime.health();
    expect(now.state === 'on' && now.cameraStats[0]).toMatchObject({
      cameraId: 'cam',
      stream: 'streaming',
      pipeline: 'running',
      rules: ['loitering', 'tailgating', 'multi-package-grab'],
      flags: 1,
      restarts: 0,
    });
    expect(now.state === 'on' && now.cameraStats[0]!.detectorRuns).toBeGreaterThan(0);

    await h.runtime.close();
    expect(h.closes).toBe(1);
    const after = h.runtime.health();
    expect(after.state === 'on' && after.cameraStats[0]!.pipeline).toBe('stopped');
  });

  it('keeps the camera’s analytics through a stream that drops, opening it again', async () => {
    const h = harness({}, []);
    await h.runtime.start();
    await settle();
    await play(h, T0 + 200, 400);
    h.opener.streams[0]!.finish({
      reason: 'failed',
      message: 'ffmpeg exited with code 1: rtsp timeout',
      code: 1,
      signal: null,
    });
    await settle();
    let health = h.runtime.health();
    expect(health.state === 'on' && health.cameraStats[0]).toMatchObject({
      stream: 'backoff',
      reason: 'ffmpeg exited with code 1: rtsp timeout',
      pipeline: 'running',
      restarts: 1,
    });
    h.clock.advance(1_000);
    await settle();
    expect(h.opener.streams).toHaveLength(2);
    await play(h, T0 + 2_000, 400);
    health = h.runtime.health();
    expect(health.state === 'on' && health.cameraStats[0]).toMatchObject({
      stream: 'streaming',
      pipeline: 'running',
      framesIn: 6,
    });
    await h.runtime.close();
  });

  it('follows check-ins and pickups: a new parcel is the slot’s look, an emptied slot is let go', async () => {
    const h = harness({}, []);
    await h.runtime.start();
    await settle();
    h.snapshot.parcels.push({ packageId: 'p2', locationId: 'a2', residentId: null, unitId: 'u5c' });
    h.runtime.onAccessEvent({
      id: 'ci1',
      at: T0,
      type: 'package_checked_in',
      packageId: 'p2',
      details: { location: { kind: 'shelf', id: 'a2', label: 'A2' } },
    });
    await settle();
    expect(h.loads).toBe(2);
    expect(h.runtime.slotStatus('a2')?.pendingReference).toBe('occupied');

    h.snapshot.parcels = h.snapshot.parcels.filter((p) => p.packageId !== 'p2');
    h.runtime.onAccessEvent({
      id: 'pu1',
      at: T0,
      type: 'package_picked_up',
      packageId: 'p2',
      details: { location: { kind: 'shelf', id: 'a2', label: 'A2' } },
    });
    await settle();
    expect(h.runtime.slotStatus('a2')).toMatchObject({
      occupancy: 'empty',
      pendingReference: null,
    });
    // A locker parcel re-reads the owners but touches no slot.
    h.runtime.onAccessEvent({
      id: 'ci2',
      at: T0,
      type: 'package_checked_in',
      packageId: 'p3',
      details: { location: { kind: 'locker', id: 'l1', label: 'Locker 1' } },
    });
    await settle();
    expect(h.loads).toBe(4);
    expect(h.runtime.slotStatus('a1')?.pendingReference).toBe('occupied');
    await h.runtime.close();
  });

  it('stays off when no camera has anything to watch', async () => {
    const bare = parseSite(
      {
        doors: [{ id: 'front', name: 'Front', driver: { kind: 'sim' } }],
        cameras: [{ id: 'lobby', name: 'Lobby', source: { kind: 'file', path: '/v.mp4' } }],
        storage: { oversized: { id: 'b', label: 'B' }, overflow: { id: 'o', label: 'O' } },
      },
      'test',
    );
    const h = harness({ site: bare });
    const health = await h.runtime.start();
    expect(health.state === 'off' && health.reason).toMatch(/^no camera has anything to watch/);
    expect(h.factoryCalls).toBe(0);
    await h.runtime.close();
  });
});
