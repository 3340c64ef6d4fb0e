import { describe, expect, it } from 'vitest';
import { assignMinCost, createTracker, TrackerInputError, type TrackerOptions } from './tracker.ts';
import type { Detection, Track } from './vision.ports.ts';

/** A person whose box centre is at (cx, cy). */
const person = (cx: number, cy: number, score = 0.9, w = 80, h = 200): Detection => ({
  box: { x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2 },
  classId: 0,
  label: 'person',
  score,
});
const cx = (t: Track) => (t.box.x1 + t.box.x2) / 2;
const base: TrackerOptions = { cameraId: 'cam', minConfirmMs: 400, maxLostMs: 1500 };

/** Frame times from `from` to `to` (exclusive) every `stepMs`. */
const times = (from: number, to: number, stepMs: number) =>
  Array.from({ length: Math.ceil((to - from) / stepMs) }, (_, i) => from + i * stepMs);

describe('assignMinCost', () => {
  it('finds the assignment with the least total cost, not the greedy one', () => {
    // Greedy would take row 0 → col 0 (0.1), leaving row 1 → col 1 (0.9): 1.0 in total.
    const cost = [
      [0.1, 0.2],
      [0.3, 0.9],
    ];
    expect(assignMinCost(cost, 2)).toEqual([1, 0]); // 0.2 + 0.3 = 0.5
  });

  it('handles more rows than columns and empty sides', () => {
    expect(assignMinCost([[0.5], [0.1], [0.9]], 1)).toEqual([-1, 0, -1]);
    expect(assignMinCost([], 3)).toEqual([]);
    expect(assignMinCost([[], []], 0)).toEqual([-1, -1]);
  });
});

describe('tracker', () => {
  it('gives a new person a tentative track, confirmed after minConfirmMs of sightings', () => {
    const tr = createTracker(base);
    const states = times(0, 700, 100).map((at) => {
      const [t] = tr.update([person(100 + at / 10, 300)], at);
      return [at, t!.id, t!.state] as const;
    });
    expect(states.map((s) => s[1])).toEqual([1, 1, 1, 1, 1, 1, 1]);
    expect(states.filter((s) => s[2] === 'tentative').map((s) => s[0])).toEqual([0, 100, 200, 300]);
    expect(states.filter((s) => s[2] === 'confirmed').map((s) => s[0])).toEqual([400, 500, 600]);
  });

  it('keeps the ids of two people crossing each other', () => {
    const tr = createTracker(base);
    // A walks right at 200 px/s, B walks left at 200 px/s a little lower (nearer the camera);
    // their boxes overlap heavily around t = 1.5 s.
    const a = (at: number) => person(50 + 0.2 * at, 300);
    const b = (at: number) => person(650 - 0.2 * at, 320, 0.85, 90, 220);
    const ids = new Set<number>();
    let idA = -1;
    let idB = -1;
    for (const at of times(0, 3000, 100)) {
      const tracks = tr.update([b(at), a(at)], at);
      for (const t of tracks) ids.add(t.id);
      if (at === 0) {
        idA = tracks.find((t) => cx(t) < 300)!.id;
        idB = tracks.find((t) => cx(t) > 300)!.id;
      }
      const ta = tracks.find((t) => t.id === idA)!;
      const tb = tracks.find((t) => t.id === idB)!;
      expect(cx(ta)).toBeCloseTo(50 + 0.2 * at, 6);
      expect(cx(tb)).toBeCloseTo(650 - 0.2 * at, 6);
    }
    expect(ids.size).toBe(2);
    const end = tr.tracks();
    expect(end.find((t) => t.id === idA)!.velocity.vx).toBeCloseTo(200, 0);
    expect(end.find((t) => t.id === idB)!.velocity.vx).toBeCloseTo(-200, 0);
  });

  it('keeps the ids when the one behind is hidden during the crossing', () => {
    const tr = createTracker(base);
    const a = (at: number) => person(50 + 0.2 * at, 300);
    const b = (at: number) => person(650 - 0.2 * at, 320, 0.85, 90, 220);
    let idA = -1;
    for (const at of times(0, 3000, 100)) {
      // From 1.3 s to 1.7 s B (in front) hides A completely: only B is detected.
      const hidden = at >= 1300 && at <= 1700;
      const tracks = tr.update(hidden ? [b(at)] : [a(at), b(at)], at);
      if (at === 0) idA = tracks.find((t) => cx(t) < 300)!.id;
      const ta = tracks.find((t) => t.id === idA);
      expect(ta, `track A at ${at} ms`).toBeDefined();
      expect(ta!.state).toBe(hidden ? 'lost' : at < 400 ? 'tentative' : 'confirmed');
      // While hidden, A's box is where its speed says it is.
      expect(cx(ta!)).toBeCloseTo(50 + 0.2 * at, 0);
    }
    expect(new Set(tr.tracks().map((t) => t.id)).size).toBe(2);
  });

  it('keeps the id through 300 ms without a detection, and forgets after maxLostMs', () => {
    const tr = createTracker(base);
    const walk = (at: number) => person(100 + 0.1 * at, 300);
    const id = tr.update([walk(0)], 0)[0]!.id;
    for (const at of times(100, 1100, 100)) tr.update([walk(at)], at);
    // No detection at 1100, 1200, 1300 (300 ms).
    for (const at of [1100, 1200, 1300]) {
      const [t] = tr.update([], at);
      expect(t).toMatchObject({ id, state: 'lost', lastSeenAt: 1000 });
    }
    expect(tr.update([walk(1400)], 1400)).toMatchObject([{ id, state: 'confirmed' }]);
    // Gone for good: lost at 1500, forgotten once more than 1500 ms passed since 1400.
    expect(tr.update([], 2900)).toHaveLength(1);
    expect(tr.update([], 2901)).toEqual([]);
    const [fresh] = tr.update([walk(3000)], 3000);
    expect(fresh!.id).not.toBe(id);
    expect(fresh!.state).toBe('tentative');
  });

  it('uses weak detections only to keep a running track alive (ByteTrack)', () => {
    const tr = createTracker(base);
    const id = tr.update([person(100, 300, 0.9)], 0)[0]!.id;
    for (const at of times(100, 600, 100)) tr.update([person(100, 300, 0.9)], at);
    // Half hidden: scored 0.3, overlapping the track: it keeps the track confirmed.
    expect(tr.update([person(102, 300, 0.3)], 600)).toMatchObject([
      { id, state: 'confirmed', score: 0.3 },
    ]);
    // A weak detection elsewhere starts nothing.
    expect(tr.update([person(100, 300, 0.9), person(500, 300, 0.3)], 700)).toHaveLength(1);
    // And noise below lowScore is ignored entirely.
    expect(tr.update([person(100, 300, 0.05)], 800)).toMatchObject([{ id, state: 'lost' }]);
  });

  it('drops a tentative track that misses a frame (a flicker, not a person)', () => {
    const tr = createTracker(base);
    tr.update([person(100, 300)], 0);
    expect(tr.update([], 100)).toEqual([]);
  });

  it('does not match across classes', () => {
    const tr = createTracker({ ...base, minConfirmMs: 0 });
    const [p] = tr.update([person(100, 300)], 0);
    const bag: Detection = { ...person(100, 300), classId: 28, label: 'suitcase' };
    const tracks = tr.update([bag], 100);
    expect(tracks.map((t) => [t.id === p!.id, t.label, t.state])).toEqual([
      [true, 'person', 'lost'],
      [false, 'suitcase', 'confirmed'],
    ]);
  });

  /** Runs one walker sampled at the given frame times; reports what happened when. */
  function run(frameTimes: readonly number[], visibleUntil: number) {
    const tr = createTracker(base);
    const ids = new Set<number>();
    let confirmedAt: number | null = null;
    let goneAt: number | null = null;
    let vx = NaN;
    for (const at of frameTimes) {
      // 60 px/s, an 80 px wide box: 30 px per frame at 2 fps, 6 px at 10 fps.
      const tracks = tr.update(at <= visibleUntil ? [person(100 + 0.06 * at, 300)] : [], at);
      for (const t of tracks) ids.add(t.id);
      const t = tracks[0];
      if (t?.state === 'confirmed' && confirmedAt === null) confirmedAt = at;
      if (t && at <= visibleUntil) vx = t.velocity.vx;
      if (!t && goneAt === null && at > visibleUntil) goneAt = at;
    }
    return { ids: ids.size, confirmedAt, goneAt, vx };
  }

  it('behaves the same in time terms at 2 fps, 10 fps, and 2 then 10 fps', () => {
    const slow = run(times(0, 6000, 500), 3000);
    const fast = run(times(0, 6000, 100), 3000);
    const mixed = run([...times(0, 3000, 500), ...times(3000, 6000, 100)], 3000);
    // Confirmed at the first frame at least 400 ms after the first sighting.
    expect(slow.confirmedAt).toBe(500);
    expect(fast.confirmedAt).toBe(400);
    expect(mixed.confirmedAt).toBe(500);
    // Forgotten at the first frame more than 1500 ms after the last sighting (3000 ms).
    expect(slow.goneAt).toBe(5000);
    expect(fast.goneAt).toBe(4600);
    expect(mixed.goneAt).toBe(4600);
    for (const r of [slow, fast, mixed]) {
      expect(r.ids).toBe(1);
      expect(r.vx).toBeCloseTo(60, 6); // px per second whatever the frame rate
    }
  });

  it('follows a walker whose boxes no longer overlap at 2 fps', () => {
    // 200 px/s with an 80 px box: 100 px between frames, so the boxes never overlap.
    const walk = (opts: TrackerOptions) => {
      const tr = createTracker(opts);
      const ids = new Set<number>();
      for (const at of times(0, 2000, 500)) {
        for (const t of tr.update([person(100 + 0.2 * at, 300)], at)) ids.add(t.id);
      }
      return { ids: ids.size, last: tr.tracks()[0]! };
    };
    const within = walk(base);
    expect(within.ids).toBe(1);
    expect(within.last.state).toBe('confirmed');
    expect(within.last.velocity.vx).toBeCloseTo(200, 6);
    // By overlap alone every frame would be a new person.
    expect(walk({ ...base, maxSpeedWidthsPerS: 0 }).ids).toBe(4);
  });

  it('refuses frames that go back in time and bad options', () => {
    const tr = createTracker(base);
    tr.update([], 1000);
    expect(() => tr.update([], 999)).toThrow(TrackerInputError);
    expect(() => tr.update([], NaN)).toThrow(/not a number/);
    expect(() => createTracker({ cameraId: 'c', maxLostMs: -1 })).toThrow(/maxLostMs/);
    // A malformed box is ignored, not a crash.
    const broken: Detection = { ...person(100, 100), box: { x1: 5, y1: 5, x2: 5, y2: NaN } };
    expect(tr.update([broken], 1100)).toEqual([]);
  });
});
