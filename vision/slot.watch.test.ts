import { describe, expect, it } from 'vitest';
import {
  createSlotWatch,
  fitLighting,
  SlotWatchError,
  watchedSlotsOf,
  type SlotDecision,
  type SlotMeasurement,
  type SlotObservation,
  type SlotWatch,
  type SlotWatchOptions,
  type WatchedSlot,
} from './slot.watch.ts';
import type { Box, Frame, Track } from './vision.ports.ts';

const W = 320;
const H = 180;
const CAM = 'shelf-cam';
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

type SlotKey = 'A' | 'B' | 'C';
/** Left edge of each slot's parcel, fraction of the width. */
const PARCEL_X: Record<SlotKey, number> = { A: 0.07, B: 0.37, C: 0.67 };

const rect = (x1: number, y1: number, x2: number, y2: number): WatchedSlot['polygon'] => [
  [x1, y1],
  [x2, y1],
  [x2, y2],
  [x1, y2],
];

const SLOTS: WatchedSlot[] = [
  { id: 'A', label: 'A1', cameraId: CAM, polygon: rect(0.05, 0.2, 0.3, 0.6) },
  { id: 'B', label: 'A2', cameraId: CAM, polygon: rect(0.35, 0.2, 0.6, 0.6) },
  { id: 'C', label: 'A3', cameraId: CAM, polygon: rect(0.65, 0.2, 0.9, 0.6) },
];

/** Deterministic noise, so a failure reproduces. */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Scene {
  parcels: Record<SlotKey, boolean>;
  /** Lighting: every channel × gain + offset (a lamp, daylight, auto-exposure). */
  gain?: number;
  offset?: number;
  /** Sensor noise, standard deviation in grey levels. */
  noise?: number;
  /** A person (a textured blob of clothes) standing here, pixels. */
  person?: Box;
  /** Something else left in slot A: a plain dark bag instead of the parcel. */
  bagInA?: boolean;
}

const FULL: Record<SlotKey, boolean> = { A: true, B: true, C: true };

/** Unit noise (roughly Gaussian: the sum of three uniforms), shared by every frame at an offset. */
const NOISE_SPAN = 4096;
const UNIT_NOISE = (() => {
  const rand = prng(12345);
  return new Float32Array(W * H * 3 + NOISE_SPAN).map(() => (rand() + rand() + rand() - 1.5) * 2);
})();

const cleanPictures = new Map<string, Float32Array>();

/**
 * A wooden shelf (grain), a dark shelf edge, and cardboard parcels with a barcode label and a tape
 * strip: the textures a real slot has. Lighting and noise are applied as a camera would see them.
 */
function cleanPicture(scene: Scene): Float32Array {
  const key = JSON.stringify([scene.parcels, scene.person ?? null, scene.bagInA ?? false]);
  const hit = cleanPictures.get(key);
  if (hit) return hit;
  const px = new Float32Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    const fy = y / H;
    for (let x = 0; x < W; x++) {
      const fx = x / W;
      const grain = 12 * Math.sin(y * 0.9 + Math.sin(x * 0.05) * 2);
      let c: [number, number, number] = [150 + grain, 130 + grain, 100 + grain];
      if (fy > 0.6 && fy < 0.66) c = [90, 80, 70];
      for (const k of ['A', 'B', 'C'] as const) {
        const x0 = PARCEL_X[k];
        if (!scene.parcels[k] || fx <= x0 || fx >= x0 + 0.2 || fy <= 0.28 || fy >= 0.6) continue;
        c = [170, 120, 70];
        if (fx > x0 + 0.03 && fx < x0 + 0.12 && fy > 0.33 && fy < 0.45) {
          c = Math.floor(x / 2) % 3 === 0 ? [30, 30, 30] : [235, 235, 235];
        }
        if (Math.abs(fx - (x0 + 0.15)) < 0.008) c = [205, 185, 125];
      }
      if (scene.bagInA && fx > 0.1 && fx < 0.25 && fy > 0.35 && fy < 0.6) c = [40, 45, 50];
      const p = scene.person;
      if (p && x >= p.x1 && x < p.x2 && y >= p.y1 && y < p.y2) {
        c = [50 + (x % 7) * 12, 60 + (y % 9) * 8, 110 + ((x + y) % 5) * 15];
      }
      px.set(c, (y * W + x) * 3);
    }
  }
  cleanPictures.set(key, px);
  return px;
}

function render(scene: Scene, at: number, seed = at): Frame {
  const gain = scene.gain ?? 1;
  const offset = scene.offset ?? 0;
  const noise = scene.noise ?? 3;
  const clean = cleanPicture(scene);
  const shift = (Math.imul(seed, 2654435761) >>> 0) % NOISE_SPAN;
  const rgb = new Uint8Array(W * H * 3);
  for (let i = 0; i < rgb.length; i++) {
    const v = clean[i]! * gain + offset + UNIT_NOISE[i + shift]! * noise;
    rgb[i] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
  }
  return { cameraId: CAM, at, width: W, height: H, rgb };
}

function personTrack(id: number, box: Box, at: number): Track {
  return {
    id,
    cameraId: CAM,
    classId: 0,
    label: 'person',
    box,
    score: 0.9,
    firstSeenAt: at,
    lastSeenAt: at,
    velocity: { vx: 0, vy: 0 },
    state: 'confirmed',
  };
}

/** A person standing in front of slot A (and a bit of B), in pixels. */
const IN_FRONT_OF_A: Box = { x1: 20, y1: 20, x2: 110, y2: 180 };

function watchWithReferences(opts: Partial<SlotWatchOptions> = {}): SlotWatch {
  const w = createSlotWatch({ slots: SLOTS, ...opts });
  const f = render({ parcels: FULL }, T0);
  for (const s of SLOTS) expect(w.captureReference(s.id, f)).toEqual({ captured: true, at: T0 });
  return w;
}

interface Step {
  scene: Scene;
  tracks?: Track[];
}

/** Plays a scene script at a frame rate: `script(ms since start)` says what the camera sees. */
function play(
  w: SlotWatch,
  fromMs: number,
  toMs: number,
  fps: number,
  script: (t: number) => Step,
): { measurements: SlotMeasurement[]; decisions: SlotDecision[] } {
  const measurements: SlotMeasurement[] = [];
  const decisions: SlotDecision[] = [];
  const period = 1000 / fps;
  for (let t = fromMs; t <= toMs; t += period) {
    const at = T0 + Math.round(t);
    const step = script(t);
    const m = w.measure(render(step.scene, at), step.tracks ?? []);
    measurements.push(m);
    if (m.status === 'measured') decisions.push(...m.decisions);
  }
  return { measurements, decisions };
}

function observation(m: SlotMeasurement, slotId: string): SlotObservation {
  if (m.status !== 'measured') throw new Error(`frame was ${m.status}`);
  const o = m.slots.find((s) => s.slotId === slotId);
  if (!o) throw new Error(`no observation of ${slotId}`);
  return o;
}

function clearScores(ms: readonly SlotMeasurement[], slotId: string): number[] {
  return ms.flatMap((m) => {
    const o = observation(m, slotId);
    return o.status === 'clear' && o.vsOccupied ? [o.vsOccupied.score] : [];
  });
}

describe('slot watch: configuration and bad input', () => {
  it('takes the watchable slots from the site file', () => {
    const slots = watchedSlotsOf({
      shelves: [
        {
          id: 's1',
          slots: [
            { id: 'a', label: 'A1', cameraId: 'c1', polygon: rect(0, 0, 0.5, 0.5) },
            { id: 'b', label: 'A2', cameraId: 'c1' },
            { id: 'c', label: 'A3', polygon: rect(0, 0, 0.5, 0.5) },
          ],
        },
      ],
    });
    expect(slots.map((s) => s.id)).toEqual(['a']);
  });

  it('rejects options and slots it cannot use, naming them', () => {
    expect(() => createSlotWatch({ slots: SLOTS, settleMs: -1 })).toThrow(/settleMs/);
    expect(() => createSlotWatch({ slots: SLOTS, changeThreshold: 0 })).toThrow(/changeThreshold/);
    expect(() => createSlotWatch({ slots: [SLOTS[0]!, SLOTS[0]!] })).toThrow(/A is listed twice/);
    expect(() =>
      createSlotWatch({
        slots: [{ id: 'x', label: 'X', cameraId: CAM, polygon: rect(0.5, 0.5, 1.2, 0.9) }],
      }),
    ).toThrow(SlotWatchError);
    expect(() =>
      createSlotWatch({
        slots: [{ id: 'x', label: 'X', cameraId: '', polygon: rect(0, 0, 1, 1) }],
      }),
    ).toThrow(/names no camera/);
    expect(() =>
      createSlotWatch({
        slots: [{ id: 'x', label: 'X', cameraId: CAM, polygon: rect(0.2, 0.2, 0.2, 0.5) }],
      }),
    ).toThrow(/slot x has a polygon with no area/);
  });

  it('refuses a frame whose bytes do not match its size, and unknown slots', () => {
    const w = createSlotWatch({ slots: SLOTS });
    const bad: Frame = { cameraId: CAM, at: T0, width: W, height: H, rgb: new Uint8Array(10) };
    expect(() => w.measure(bad, [])).toThrow(/expected width×height×3/);
    expect(() => w.captureReference('nope', render({ parcels: FULL }, T0))).toThrow(
      /no watched slot nope/,
    );
    const other = { ...render({ parcels: FULL }, T0), cameraId: 'door-cam' };
    expect(() => w.captureReference('A', other)).toThrow(/watched by camera shelf-cam/);
  });

  it('ignores a frame older than the last one of its camera', () => {
    const w = watchWithReferences();
    expect(w.measure(render({ parcels: FULL }, T0 + 1000), []).status).toBe('measured');
    const m = w.measure(render({ parcels: FULL }, T0 + 500), []);
    expect(m).toMatchObject({ status: 'ignored', reason: /older than the last one/ });
  });

  it('measures only the slots of the frame’s camera', () => {
    const w = watchWithReferences();
    const m = w.measure({ ...render({ parcels: FULL }, T0 + 200), cameraId: 'door-cam' }, []);
    expect(m).toMatchObject({ status: 'measured', slots: [], decisions: [] });
  });
});

describe('slot watch: lighting fit', () => {
  it('recovers a gain and offset while a quarter of the picture changed for other reasons', () => {
    const rand = prng(7);
    const ref = new Float32Array(2000).map(() => 20 + rand() * 200);
    const now = ref.map((v, i) => (i % 5 === 0 ? 240 - v : 0.8 * v + 12));
    const fit = fitLighting(ref, now);
    expect(fit.fitted).toBe(true);
    expect(fit.gain).toBeCloseTo(0.8, 2);
    expect(fit.offset).toBeCloseTo(12, 0);
  });

  it('says so when the picture is too dark or clipped to fit', () => {
    const ref = new Float32Array(500).fill(2);
    expect(fitLighting(ref, ref)).toEqual({ gain: 1, offset: 0, fitted: false });
  });
});

describe('slot watch: change against the check-in reference', () => {
  it('sees no change in a still shelf with sensor noise', () => {
    const w = watchWithReferences();
    const run = play(w, 200, 10_000, 5, () => ({ scene: { parcels: FULL, noise: 6 } }));
    expect(run.decisions).toEqual([]);
    for (const id of ['A', 'B', 'C']) {
      expect(Math.max(...clearScores(run.measurements, id))).toBeLessThan(0.1);
    }
  });

  it.each([
    ['darker by 30%', { gain: 0.7 }],
    ['brighter by 30%', { gain: 1.3 }],
    ['a lamp adds 40 grey levels', { offset: 40 }],
    ['dimmed by 40 grey levels', { offset: -40 }],
  ])('sees no change when the room gets %s', (_name, lighting) => {
    const w = watchWithReferences();
    const run = play(w, 200, 6000, 5, () => ({ scene: { parcels: FULL, noise: 4, ...lighting } }));
    expect(run.decisions).toEqual([]);
    for (const id of ['A', 'B', 'C']) {
      expect(Math.max(...clearScores(run.measurements, id))).toBeLessThan(0.15);
    }
  });

  it('judges a removed parcel emptied once the change has held for settleMs, in ms', () => {
    const w = watchWithReferences({ settleMs: 2000 });
    const run = play(w, 200, 8000, 5, (t) => ({
      scene: { parcels: { ...FULL, A: t < 3000 }, noise: 4 },
    }));
    expect(run.decisions).toHaveLength(1);
    const d = run.decisions[0]!;
    expect(d).toMatchObject({
      kind: 'emptied',
      basis: 'no_empty_reference',
      slotId: 'A',
      label: 'A1',
      cameraId: CAM,
      changeSeenAt: T0 + 3000,
      lastSeenUnchangedAt: T0 + 2800,
      at: T0 + 5000,
      emptyScore: null,
      occluders: [],
    });
    expect(d.score.score).toBeGreaterThan(0.3);
    expect(d.bounds).toEqual({ x1: 16, y1: 36, x2: 96, y2: 108 });
    expect(w.status('A')).toMatchObject({ occupancy: 'empty', occupiedReferenceAt: null });
    expect(w.status('B')).toMatchObject({ occupancy: 'occupied', occupiedReferenceAt: T0 });
  });

  it('waits the same time at 2 fps and at 10 fps: the settle time is ms, not frames', () => {
    for (const fps of [2, 10]) {
      const w = watchWithReferences({ settleMs: 2000 });
      const run = play(w, 0, 8000, fps, (t) => ({ scene: { parcels: { ...FULL, A: t < 3000 } } }));
      expect(run.decisions.map((d) => [d.slotId, d.changeSeenAt, d.at])).toEqual([
        ['A', T0 + 3000, T0 + 5000],
      ]);
    }
  });

  it('still sees the removal when the lights change at the same moment', () => {
    const w = watchWithReferences();
    const run = play(w, 200, 8000, 5, (t) => ({
      scene: { parcels: { ...FULL, A: t < 3000 }, gain: t < 3000 ? 1 : 0.7, noise: 6 },
    }));
    expect(run.decisions.map((d) => [d.slotId, d.kind])).toEqual([['A', 'emptied']]);
  });

  it('does not judge a change that goes away before settleMs (a hand, a shadow)', () => {
    const w = watchWithReferences({ settleMs: 2000 });
    const run = play(w, 200, 8000, 5, (t) => ({
      scene: { parcels: { ...FULL, A: t < 3000 || t >= 4400 } },
    }));
    expect(run.decisions).toEqual([]);
    const changed = run.measurements.map((m) => observation(m, 'A'));
    expect(changed.some((o) => o.status === 'clear' && o.changed)).toBe(true);
  });
});

describe('slot watch: a person in front of the slot', () => {
  it('judges nothing while a person covers the slot, and only settleMs after they leave', () => {
    const w = watchWithReferences({ settleMs: 2000 });
    // 2 s: the person steps in front of A; 3 s: the parcel goes; 9 s: they step away.
    const run = play(w, 200, 14_000, 5, (t) => {
      const present = t >= 2000 && t < 9000;
      return {
        scene: { parcels: { ...FULL, A: t < 3000 }, person: present ? IN_FRONT_OF_A : undefined },
        tracks: present ? [personTrack(7, IN_FRONT_OF_A, T0 + t)] : [],
      };
    });
    const during = run.measurements.filter((m) => m.at >= T0 + 2000 && m.at < T0 + 9000);
    for (const m of during) {
      expect(observation(m, 'A')).toMatchObject({ status: 'occluded', byTrackIds: [7] });
    }
    expect(run.decisions).toHaveLength(1);
    expect(run.decisions[0]).toMatchObject({
      slotId: 'A',
      kind: 'emptied',
      lastSeenUnchangedAt: T0 + 1800,
      changeSeenAt: T0 + 9000,
      at: T0 + 11_000,
      occluders: [{ trackId: 7, box: IN_FRONT_OF_A }],
    });
  });

  it('does not take a person standing in front of a full slot for a change', () => {
    const w = watchWithReferences();
    const run = play(w, 200, 10_000, 5, (t) => {
      const present = t >= 2000 && t < 6000;
      return {
        scene: { parcels: FULL, person: present ? IN_FRONT_OF_A : undefined, noise: 5 },
        tracks: present ? [personTrack(3, IN_FRONT_OF_A, T0 + t)] : [],
      };
    });
    expect(run.decisions).toEqual([]);
    expect(Math.max(...clearScores(run.measurements, 'A'))).toBeLessThan(0.15);
    // B is only partly behind the box: beyond the occlusion fraction, so also judged occluded.
    const b = observation(run.measurements[15]!, 'B');
    expect(b.status).toBe('occluded');
  });

  it('counts a person’s body the detector missed as a change that never settles while they move', () => {
    const w = watchWithReferences({ settleMs: 2000 });
    // No track: the body itself is seen, but it moves every 400 ms, so the change is short-lived.
    const run = play(w, 200, 10_000, 5, (t) => {
      const x = 30 + (Math.floor(t / 400) % 2) * 60;
      const present = t >= 2000 && t < 3600;
      return {
        scene: {
          parcels: FULL,
          person: present ? { x1: x, y1: 40, x2: x + 40, y2: 180 } : undefined,
        },
      };
    });
    expect(run.decisions).toEqual([]);
  });

  it('ignores boxes of other classes and other cameras', () => {
    const w = watchWithReferences();
    const bag: Track = { ...personTrack(9, IN_FRONT_OF_A, T0), classId: 28, label: 'suitcase' };
    const elsewhere: Track = { ...personTrack(10, IN_FRONT_OF_A, T0), cameraId: 'door-cam' };
    const m = w.measure(render({ parcels: FULL }, T0 + 200), [bag, elsewhere]);
    expect(observation(m, 'A').status).toBe('clear');
  });
});

describe('slot watch: empty references and asked-for references', () => {
  it('tells "looks like the empty slot" from "changed" with an empty reference', () => {
    const w = createSlotWatch({ slots: SLOTS });
    // Start-up: slot A is empty and staff say so; then a parcel is checked in.
    const empty = render({ parcels: { ...FULL, A: false } }, T0);
    for (const s of SLOTS) {
      if (s.id === 'A') w.captureEmptyReference('A', empty);
      else w.captureReference(s.id, empty);
    }
    expect(w.status('A')).toMatchObject({ occupancy: 'empty', emptyReferenceAt: T0 });
    expect(w.captureReference('A', render({ parcels: FULL }, T0 + 1000))).toEqual({
      captured: true,
      at: T0 + 1000,
    });
    const run = play(w, 1200, 9000, 5, (t) => ({
      scene: { parcels: { ...FULL, A: t < 3000 }, gain: 0.8 },
    }));
    expect(run.decisions).toHaveLength(1);
    const d = run.decisions[0]!;
    expect(d).toMatchObject({ kind: 'emptied', basis: 'matches_empty_reference' });
    expect(d.emptyScore!.score).toBeLessThan(0.15);
  });

  it('reports a slot holding something else as changed, then watches its new look', () => {
    const w = createSlotWatch({ slots: SLOTS });
    w.captureEmptyReference('A', render({ parcels: { ...FULL, A: false } }, T0));
    w.captureReference('A', render({ parcels: FULL }, T0 + 200));
    const run = play(w, 400, 12_000, 5, (t) => ({
      scene: { parcels: { ...FULL, A: t < 3000 }, bagInA: t >= 3000 },
    }));
    expect(run.decisions.map((d) => [d.kind, d.basis])).toEqual([
      ['changed', 'differs_from_empty_reference'],
    ]);
    expect(w.status('A')).toMatchObject({ occupancy: 'occupied', occupiedReferenceAt: T0 + 5000 });
  });

  it('takes an asked-for reference once the slot is clear and still for settleMs', () => {
    const w = createSlotWatch({ slots: SLOTS, settleMs: 1000 });
    // Check-in: staff stand in front of slot A as the parcel goes in.
    const f = render({ parcels: FULL, person: IN_FRONT_OF_A }, T0);
    expect(w.captureReference('A', f, [personTrack(1, IN_FRONT_OF_A, T0)])).toMatchObject({
      captured: false,
      reason: 'occluded',
    });
    expect(w.status('A').pendingReference).toBe('occupied');
    const run = play(w, 200, 6000, 5, (t) => {
      const present = t < 2000;
      return {
        scene: { parcels: FULL, person: present ? IN_FRONT_OF_A : undefined },
        tracks: present ? [personTrack(1, IN_FRONT_OF_A, T0 + t)] : [],
      };
    });
    const captured = run.measurements.flatMap((m) => (m.status === 'measured' ? m.captured : []));
    expect(captured).toEqual([{ slotId: 'A', kind: 'occupied', at: T0 + 3000, why: 'asked' }]);
    expect(w.status('A')).toMatchObject({
      occupancy: 'occupied',
      occupiedReferenceAt: T0 + 3000,
      pendingReference: null,
    });
  });

  it('follows slow drift by re-taking a reference that stayed close and still', () => {
    const w = watchWithReferences({ refreshMs: 3000 });
    const run = play(w, 200, 5000, 5, (t) => ({ scene: { parcels: FULL, gain: 1 - t / 50_000 } }));
    const refreshed = run.measurements.flatMap((m) =>
      m.status === 'measured' ? m.captured.map((c) => [c.slotId, c.why]) : [],
    );
    expect(refreshed).toEqual([
      ['A', 'refresh'],
      ['B', 'refresh'],
      ['C', 'refresh'],
    ]);
    expect(w.status('A').occupiedReferenceAt).toBe(T0 + 3200);
  });

  it('stops watching a slot marked empty by the server', () => {
    const w = watchWithReferences();
    w.markEmpty('A');
    const run = play(w, 200, 6000, 5, (t) => ({ scene: { parcels: { ...FULL, A: t < 2000 } } }));
    expect(run.decisions).toEqual([]);
    expect(observation(run.measurements[20]!, 'A')).toMatchObject({
      status: 'clear',
      occupancy: 'empty',
      vsOccupied: null,
      changed: false,
    });
  });
});
