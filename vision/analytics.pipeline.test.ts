import { describe, expect, it } from 'vitest';
import { manualClock, type ManualClock } from '../hardware/clock.ts';
import {
  createAnalyticsPipeline,
  createCameraAnalytics,
  PipelineError,
  type AnalyticsPipelineOptions,
  type PipelineProblem,
  type PipelineStats,
} from './analytics.pipeline.ts';
import { createSimDetector, type SimDetectorSpan } from './detector.sim.ts';
import { createMotionGate } from './motion.gate.ts';
import { RuleInputError, type Entry, type FlagCandidate, type Rule } from './rules.types.ts';
import { createTracker } from './tracker.ts';
import type { Detection, Detector, Frame, Track } from './vision.ports.ts';

const W = 64;
const H = 36;
const T0 = Date.UTC(2026, 0, 1, 12);
const STEP = 200;

/** A grey room; `blockX` draws a bright 8×12 block (something moving) at that column. */
function picture(at: number, blockX: number | null): Frame {
  const rgb = new Uint8Array(W * H * 3).fill(100);
  if (blockX !== null) {
    for (let y = 20; y < 32; y++) rgb.fill(250, (y * W + blockX) * 3, (y * W + blockX + 8) * 3);
  }
  return { cameraId: 'cam', at, width: W, height: H, rgb };
}

/** Frames every 200 ms; the clock shows each frame's time as it is handed over. */
async function* framesOf(clock: ManualClock, list: readonly Frame[]): AsyncGenerator<Frame> {
  for (const f of list) {
    clock.set(Math.max(clock.now(), f.at));
    yield f;
  }
}

const person = (x: number): Detection => ({
  box: { x1: x, y1: 8, x2: x + 8, y2: 32 },
  classId: 0,
  label: 'person',
  score: 0.9,
});

/** A detector that takes `ms` of clock time per frame and answers from a strict script. */
function slowDetector(clock: ManualClock, spans: SimDetectorSpan[], ms = 30) {
  const sim = createSimDetector({ script: { kind: 'timeline', spans } });
  const detector: Detector = {
    info: sim.info,
    async detect(frame) {
      const r = await sim.detect(frame);
      clock.advance(ms);
      return r;
    },
    close: () => sim.close(),
  };
  return { sim, detector };
}

interface RuleCall {
  cameraId: string;
  trackIds: number[];
  at: number;
  frameAt: number | undefined;
}

/** A rule that records what it is given and answers from `decide`. */
function recordingRule(
  name: string,
  decide: (tracks: readonly Track[], at: number) => FlagCandidate[] = () => [],
) {
  const calls: RuleCall[] = [];
  const entries: Entry[] = [];
  const rule: Rule = {
    name,
    update(cameraId, tracks, at, frame) {
      calls.push({ cameraId, trackIds: tracks.map((t) => t.id), at, frameAt: frame?.at });
      return decide(tracks, at);
    },
    onEntry(e) {
      entries.push(e);
    },
  };
  return { rule, calls, entries };
}

const flagAt = (at: number, trackIds: number[]): FlagCandidate => ({
  kind: 'loitering',
  severity: 'low',
  cameraId: 'cam',
  at,
  clipWindow: { startAt: at - 5000, endAt: at + 5000 },
  trackIds,
  boxes: [],
  evidence: { reason: 'dwell' },
});

function base(clock: ManualClock, frames: readonly Frame[], detector: Detector, rules: Rule[]) {
  const flags: [FlagCandidate, Frame][] = [];
  const problems: PipelineProblem[] = [];
  const opts: AnalyticsPipelineOptions = {
    cameraId: 'cam',
    frames: framesOf(clock, frames),
    motionGate: createMotionGate(),
    detector,
    tracker: createTracker({ cameraId: 'cam' }),
    rules,
    clock,
    onFlag: (f, fr) => {
      flags.push([f, fr]);
    },
    onProblem: (p) => problems.push(p),
  };
  return { opts, flags, problems };
}

const times = (from: number, to: number) =>
  Array.from({ length: Math.round((to - from) / STEP) }, (_, i) => T0 + from + i * STEP);

describe('analytics pipeline: motion-gated detection', () => {
  it('runs the detector only on motion or while someone is tracked, and rules on every frame', async () => {
    const clock = manualClock(T0);
    // 0-2 s still; 2-4 s a person walks (block moves); 4-5 s they are gone and all is still;
    // 5-12 s still again.
    const frames = [
      ...times(0, 2000).map((at) => picture(at, null)),
      ...times(2000, 4000).map((at, i) => picture(at, 4 + i * 4)),
      ...times(4000, 12_000).map((at) => picture(at, null)),
    ];
    const { sim, detector } = slowDetector(clock, [
      { fromMs: T0, toMs: T0 + 1, reply: { kind: 'detections', detections: [] } },
      ...times(2000, 4000).map((at, i) => ({
        fromMs: at,
        toMs: at + STEP,
        reply: { kind: 'detections' as const, detections: [person(4 + i * 4)] },
      })),
      { fromMs: T0 + 4000, toMs: T0 + 8000, reply: { kind: 'detections', detections: [] } },
    ]);
    const rec = recordingRule('recorder');
    const { opts, problems } = base(clock, frames, detector, [rec.rule]);
    const seen: PipelineStats[] = [];
    const p = createAnalyticsPipeline({
      ...opts,
      onStats: (s) => seen.push(s),
      statsEveryMs: 5000,
    });
    expect(await p.start()).toEqual({ reason: 'ended' });
    expect(problems).toEqual([]);

    const detected = sim.frames.map((f) => f.at - T0);
    // The first frame (no background yet), the walk, then until the lost track is dropped
    // (1.5 s) and the motion hold (2 s after the last motion) has run out.
    expect(detected[0]).toBe(0);
    expect(detected.slice(1, 11)).toEqual(times(2000, 4000).map((t) => t - T0));
    const tail = detected.slice(11);
    expect(tail[0]).toBe(4000);
    expect(tail[tail.length - 1]).toBeLessThanOrEqual(6000);
    expect(tail[tail.length - 1]).toBeGreaterThanOrEqual(5400);

    const s = p.stats();
    expect(s).toMatchObject({
      cameraId: 'cam',
      state: 'ended',
      framesIn: frames.length,
      detectorRuns: detected.length,
      framesSkipped: frames.length - detected.length,
      detectorErrors: 0,
      ruleErrors: 0,
      framesRejected: 0,
      framesDroppedBySource: null,
      lastFrameAt: T0 + 11_800,
      tracksAlive: 0,
      lastProblem: null,
    });
    // 30 ms of detector per run; the detector's time is the only lag here.
    expect(s.lagMsMax).toBe(30);
    // The rule saw every frame, in order, with its picture, and the person as one track.
    expect(rec.calls.map((c) => c.at)).toEqual(frames.map((f) => f.at));
    expect(rec.calls.every((c) => c.frameAt === c.at && c.cameraId === 'cam')).toBe(true);
    expect(new Set(rec.calls.flatMap((c) => c.trackIds))).toEqual(new Set([1]));
    // Stats every 5 s of clock time plus one at the end.
    expect(seen.map((x) => x.state)).toEqual(['running', 'running', 'running', 'ended']);
  });

  it('measures frames per second and detector time by the clock', async () => {
    const clock = manualClock(T0);
    const frames = times(0, 4000).map((at, i) => picture(at, 2 + (i % 10) * 5));
    const { detector } = slowDetector(clock, [
      { fromMs: T0, toMs: T0 + 4000, reply: { kind: 'detections', detections: [] } },
    ]);
    const { opts } = base(clock, frames, detector, []);
    const p = createAnalyticsPipeline(opts);
    await p.start();
    const s = p.stats();
    expect(s.fps).toBeCloseTo(5, 0);
    expect(s.detectFps).toBeCloseTo(5, 0);
    expect(s.detectorMsMean).toBe(30);
    expect(s.lagMs).toBe(30);
  });
});

describe('analytics pipeline: flags, entries and failures', () => {
  it('delivers flags with their frame, passes entries on, and survives a broken rule', async () => {
    const clock = manualClock(T0);
    const frames = times(0, 1000).map((at, i) => picture(at, 2 + i * 6));
    const { detector } = slowDetector(clock, [
      { fromMs: T0, toMs: T0 + 1000, reply: { kind: 'detections', detections: [] } },
    ]);
    const broken: Rule = {
      name: 'broken',
      update: () => {
        throw new RuleInputError('broken: slot map missing');
      },
      onEntry: () => {
        throw new Error('broken: cannot take entries');
      },
    };
    const good = recordingRule('good', (_t, at) => (at === T0 + 600 ? [flagAt(at, [])] : []));
    const { opts, flags, problems } = base(clock, frames, detector, [broken, good.rule]);
    const p = createAnalyticsPipeline(opts);
    const e: Entry = { eventId: 'ev1', at: T0, doorId: 'front', who: 'carrier' };
    p.onEntry(e);
    expect(good.entries).toEqual([e]);
    expect(() => p.onEntry({ ...e, eventId: '' })).toThrow(RuleInputError);
    await p.start();
    expect(flags.map(([f, fr]) => [f.at, fr.at])).toEqual([[T0 + 600, T0 + 600]]);
    expect(good.calls).toHaveLength(5);
    const s = p.stats();
    expect(s.flags).toBe(1);
    expect(s.ruleErrors).toBe(6); // one onEntry + five frames
    expect(problems.filter((x) => x.kind === 'rule').every((x) => x.rule === 'broken')).toBe(true);
    expect(s.lastProblem).toBe('broken: slot map missing');
  });

  it('reports a flag that could not be delivered and carries on', async () => {
    const clock = manualClock(T0);
    const frames = times(0, 600).map((at, i) => picture(at, 2 + i * 6));
    const { detector } = slowDetector(clock, [
      { fromMs: T0, toMs: T0 + 600, reply: { kind: 'detections', detections: [] } },
    ]);
    const rec = recordingRule('r', (_t, at) => [flagAt(at, [])]);
    const { opts, problems } = base(clock, frames, detector, [rec.rule]);
    let n = 0;
    const p = createAnalyticsPipeline({
      ...opts,
      onFlag: () => {
        n++;
        if (n === 1) throw new Error('database is read-only');
        if (n === 2) return Promise.reject(new Error('webhook queue full'));
        return Promise.resolve();
      },
    });
    await p.start();
    await new Promise((r) => setImmediate(r));
    expect(p.stats()).toMatchObject({ flags: 3, flagDeliveryErrors: 2 });
    expect(problems.map((x) => [x.kind, x.message])).toEqual([
      ['flag_delivery', 'a loitering flag could not be delivered: database is read-only'],
      ['flag_delivery', 'a loitering flag could not be delivered: webhook queue full'],
    ]);
  });

  it('keeps going when the stats listener throws', async () => {
    const clock = manualClock(T0);
    const frames = times(0, 1000).map((at, i) => picture(at, 2 + i * 6));
    const { detector } = slowDetector(clock, [
      { fromMs: T0, toMs: T0 + 1000, reply: { kind: 'detections', detections: [] } },
    ]);
    const { opts } = base(clock, frames, detector, []);
    const p = createAnalyticsPipeline({
      ...opts,
      statsEveryMs: 1,
      onStats: () => {
        throw new Error('status page gone');
      },
    });
    expect(await p.start()).toEqual({ reason: 'ended' });
    expect(p.stats()).toMatchObject({
      framesIn: 5,
      lastProblem: 'stats listener failed: status page gone',
    });
  });

  it('keeps the tracks through a failed detection, and ends when the detector is closed', async () => {
    const clock = manualClock(T0);
    const frames = times(0, 2000).map((at, i) => picture(at, 2 + (i % 8) * 6));
    const { detector } = slowDetector(clock, [
      { fromMs: T0, toMs: T0 + 600, reply: { kind: 'detections', detections: [person(20)] } },
      { fromMs: T0 + 600, toMs: T0 + 800, reply: { kind: 'fail', message: 'inference failed' } },
      {
        fromMs: T0 + 800,
        toMs: T0 + 1000,
        reply: { kind: 'detections', detections: [person(20)] },
      },
    ]);
    const rec = recordingRule('r');
    const { opts, problems } = base(clock, frames, detector, [rec.rule]);
    // From 1 s on, the model is gone.
    const closing: Detector = {
      ...detector,
      detect: (f) =>
        f.at >= T0 + 1000
          ? Promise.reject(Object.assign(new Error('detector is closed'), { kind: 'closed' }))
          : detector.detect(f),
    };
    const p = createAnalyticsPipeline({ ...opts, detector: closing });
    expect(await p.start()).toEqual({
      reason: 'failed',
      message: 'detector closed: detector is closed',
    });
    // The failed frame still told the rules the person was there (track 1, unchanged).
    expect(rec.calls.map((c) => c.trackIds)).toEqual([[1], [1], [1], [1], [1]]);
    expect(p.stats()).toMatchObject({ state: 'failed', detectorErrors: 2, detectorRuns: 4 });
    expect(problems.map((x) => x.kind)).toEqual(['detector', 'detector']);
  });

  it('refuses bad frames and frames out of order without stopping', async () => {
    const clock = manualClock(T0);
    const ok = times(0, 600).map((at, i) => picture(at, 2 + i * 6));
    const frames = [
      ok[0]!,
      { ...ok[1]!, rgb: new Uint8Array(10) },
      ok[2]!,
      { ...picture(T0 + 100, 30) },
    ];
    const { detector } = slowDetector(clock, [
      { fromMs: T0, toMs: T0 + 600, reply: { kind: 'detections', detections: [] } },
    ]);
    const rec = recordingRule('r');
    const { opts, problems } = base(clock, frames, detector, [rec.rule]);
    const p = createAnalyticsPipeline(opts);
    expect(await p.start()).toEqual({ reason: 'ended' });
    expect(p.stats()).toMatchObject({ framesIn: 4, framesRejected: 2 });
    expect(problems.map((x) => x.kind)).toEqual(['frame', 'frame']);
    expect(problems[0]!.message).toMatch(/64×36 with 10 bytes/);
    expect(problems[1]!.message).toMatch(/older than the previous one/);
    expect(rec.calls.map((c) => c.at)).toEqual([T0, T0 + 400]);
  });
});

describe('analytics pipeline: stopping', () => {
  /** A camera that sends one frame and then nothing: next() waits until return() is called. */
  function stalledSource(clock: ManualClock, returns: boolean) {
    let returned = 0;
    let sent = false;
    let release: ((r: IteratorResult<Frame>) => void) | null = null;
    const iterable: AsyncIterable<Frame> = {
      [Symbol.asyncIterator]: () => ({
        next() {
          if (!sent) {
            sent = true;
            return Promise.resolve({ done: false, value: picture(clock.now(), null) });
          }
          return new Promise((r) => (release = r));
        },
        return() {
          returned++;
          if (!returns) return new Promise<IteratorResult<Frame>>(() => undefined);
          release?.({ done: true, value: undefined });
          return Promise.resolve({ done: true, value: undefined });
        },
      }),
    };
    return { iterable, returned: () => returned };
  }

  it('stops while waiting for a frame and closes the source', async () => {
    const clock = manualClock(T0);
    const src = stalledSource(clock, true);
    const { detector } = slowDetector(clock, [
      { fromMs: T0, toMs: T0 + 1, reply: { kind: 'detections', detections: [] } },
    ]);
    const { opts } = base(clock, [], detector, []);
    const p = createAnalyticsPipeline({ ...opts, frames: src.iterable });
    const done = p.start();
    await new Promise((r) => setImmediate(r));
    expect(p.stats()).toMatchObject({ state: 'running', framesIn: 1 });
    expect(await p.stop()).toEqual({ reason: 'stopped' });
    expect(await done).toEqual({ reason: 'stopped' });
    expect(src.returned()).toBe(1);
    expect(p.stats().state).toBe('stopped');
    // Stopping again, or starting after, changes nothing.
    expect(await p.stop()).toEqual({ reason: 'stopped' });
    expect(await p.start()).toEqual({ reason: 'stopped' });
  });

  it('gives a source that does not close stopTimeoutMs, then stops anyway', async () => {
    const clock = manualClock(T0);
    const src = stalledSource(clock, false);
    const { detector } = slowDetector(clock, [
      { fromMs: T0, toMs: T0 + 1, reply: { kind: 'detections', detections: [] } },
    ]);
    const { opts } = base(clock, [], detector, []);
    const p = createAnalyticsPipeline({ ...opts, frames: src.iterable, stopTimeoutMs: 3000 });
    void p.start();
    await new Promise((r) => setImmediate(r));
    let stopped = false;
    const stopping = p.stop().then((e) => {
      stopped = true;
      return e;
    });
    await new Promise((r) => setImmediate(r));
    expect(stopped).toBe(false);
    expect(p.stats().state).toBe('stopping');
    clock.advance(3000);
    expect(await stopping).toEqual({ reason: 'stopped' });
  });

  it('a pipeline stopped before it started never reads a frame', async () => {
    const clock = manualClock(T0);
    const iterable: AsyncIterable<Frame> = {
      [Symbol.asyncIterator]: () => {
        throw new Error('must not be read');
      },
    };
    const { detector } = slowDetector(clock, []);
    const { opts } = base(clock, [], detector, []);
    const p = createAnalyticsPipeline({ ...opts, frames: iterable });
    expect(await p.stop()).toEqual({ reason: 'stopped' });
    expect(p.stats()).toMatchObject({ state: 'stopped', framesIn: 0 });
  });

  it('ends as failed when the frame source fails', async () => {
    const clock = manualClock(T0);
    const { detector } = slowDetector(clock, [
      { fromMs: T0, toMs: T0 + 1, reply: { kind: 'detections', detections: [] } },
    ]);
    const { opts } = base(clock, [], detector, []);
    // One frame, then ffmpeg gives up.
    async function* failing(): AsyncGenerator<Frame> {
      yield picture(T0, null);
      await Promise.resolve();
      throw new Error('ffmpeg exited with code 1: Connection refused');
    }
    const p = createAnalyticsPipeline({ ...opts, frames: failing() });
    expect(await p.start()).toEqual({
      reason: 'failed',
      message: 'frame source failed: ffmpeg exited with code 1: Connection refused',
    });
    expect(p.stats()).toMatchObject({ state: 'failed', framesIn: 1 });
  });
});

describe('camera analytics from the site file', () => {
  const zones = [
    {
      id: 'room',
      kind: 'room' as const,
      polygon: [
        [0, 0],
        [1, 0],
        [1, 1],
        [0, 1],
      ] as [number, number][],
    },
    {
      id: 'doorway',
      kind: 'door' as const,
      polygon: [
        [0, 0.5],
        [0.2, 0.5],
        [0.2, 1],
        [0, 1],
      ] as [number, number][],
    },
  ];
  const clock = manualClock(T0);
  const common = () => ({
    frames: framesOf(clock, []),
    detector: createSimDetector({ script: { kind: 'calls', replies: [] } }),
    clock,
    onFlag: () => undefined,
  });

  it('runs loitering and tailgating on a door camera, plus the extra rules', () => {
    const extra = recordingRule('slot-watch').rule;
    const a = createCameraAnalytics({
      ...common(),
      camera: { id: 'cam', doorId: 'front', zones },
      extraRules: [extra],
    });
    expect(a.rules.map((r) => r.name)).toEqual(['loitering', 'tailgating', 'slot-watch']);
    expect(a.notes).toEqual([]);
    expect(a.pipeline.cameraId).toBe('cam');
  });

  it('says why a rule is off', () => {
    const noDoor = createCameraAnalytics({ ...common(), camera: { id: 'c2', zones } });
    expect(noDoor.rules.map((r) => r.name)).toEqual(['loitering']);
    expect(noDoor.notes).toEqual(['tailgating off: camera c2 watches no door (doorId)']);
    const bare = createCameraAnalytics({ ...common(), camera: { id: 'c3', doorId: 'front' } });
    expect(bare.rules).toEqual([]);
    expect(bare.notes).toEqual([
      'loitering off: camera c3 has no room zone',
      'tailgating off: camera c3 needs a door zone and a room zone',
    ]);
    const off = createCameraAnalytics({
      ...common(),
      camera: { id: 'c4', doorId: 'front', zones },
      settings: { loitering: false, tailgating: { afterGrantMs: 8000 } },
    });
    expect(off.rules.map((r) => r.name)).toEqual(['tailgating']);
    expect(off.notes).toEqual(['loitering off in the settings']);
  });

  it('refuses broken zones and duplicate rules with a clear error', () => {
    expect(() =>
      createCameraAnalytics({
        ...common(),
        camera: {
          id: 'c5',
          zones: [
            {
              id: 'z',
              kind: 'room',
              polygon: [
                [0, 0, 1],
                [1, 0],
                [1, 1],
              ],
            },
          ],
        },
      }),
    ).toThrow(/camera c5 zone z corner 0 must be \[x, y\]/);
    const r = recordingRule('loitering').rule;
    expect(() =>
      createCameraAnalytics({ ...common(), camera: { id: 'c6', zones }, extraRules: [r] }),
    ).toThrow(PipelineError);
  });
});
