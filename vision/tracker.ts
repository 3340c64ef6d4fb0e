/**
 * Multi-object tracker: gives each person (or bag) a stable id across frames, so the rules can
 * say "the same person stood by the shelf for 40 s" or "two people went through on one grant".
 *
 * ByteTrack's idea, with time instead of frame counts: confident detections are matched first to
 * every track (including ones lost for a moment), then weak detections only keep already-running
 * tracks alive (a person half hidden behind another scores low, and dropping them would split the
 * track). Matching is a minimum-cost assignment on IoU against each track's box predicted to the
 * frame's time from its velocity in px/s, so a camera that delivers 2 fps for a while and 10 fps
 * later gives the same answers in seconds. A track is confirmed after `minConfirmMs` of being seen
 * and forgotten after `maxLostMs` without a match.
 */
import type { Box, Detection, Track } from './vision.ports.ts';
import { boxArea, iou } from './yolo.decode.ts';

export interface TrackerOptions {
  cameraId: string;
  /** Detections at or above this score take part in the first, all-tracks association. */
  highScore?: number;
  /** Detections below this are noise and ignored entirely. */
  lowScore?: number;
  /** Minimum score of an unmatched detection to start a new track. */
  newTrackScore?: number;
  /** IoU with the predicted box needed for a confident detection to continue a track. */
  matchIou?: number;
  /** IoU needed for a weak detection: stricter, it may only keep a running track alive. */
  lowMatchIou?: number;
  /** A new track is shown as confirmed once it has been seen for this long (ms). */
  minConfirmMs?: number;
  /** A track without a match for longer than this is gone (ms). */
  maxLostMs?: number;
  /** Time constant of the velocity smoothing (ms): jitter averages out, a turn shows within it. */
  velocityTauMs?: number;
  /** Longest a lost track is extrapolated (ms): people stop, a box flying on would match no one. */
  maxPredictMs?: number;
  /**
   * When boxes no longer overlap (2 fps, a fast walker, a track with no velocity yet), a confident
   * detection of similar size may still continue a track if its centre is within this many box
   * widths per second of the prediction. Such a match ranks below any IoU match. 0 turns it off.
   */
  maxSpeedWidthsPerS?: number;
}

export interface Tracker {
  /** Feeds one frame's detections taken at `at` (ms); returns every live track, by id. */
  update(detections: readonly Detection[], at: number): Track[];
  /** The live tracks as of the last update. */
  tracks(): Track[];
}

/** An update that cannot be applied (time going backwards, a bad timestamp). */
export class TrackerInputError extends Error {
  override readonly name = 'TrackerInputError';
}

interface TrackState {
  id: number;
  classId: number;
  label: string;
  /** The last matched detection's box and the time it was seen. */
  box: Box;
  score: number;
  firstSeenAt: number;
  lastSeenAt: number;
  vx: number;
  vy: number;
  /** False until two sightings far enough apart in time gave a speed. */
  velocityKnown: boolean;
  state: Track['state'];
}

const DEFAULTS = {
  highScore: 0.5,
  lowScore: 0.1,
  matchIou: 0.2,
  lowMatchIou: 0.5,
  minConfirmMs: 400,
  maxLostMs: 1500,
  velocityTauMs: 400,
  maxPredictMs: 1000,
  maxSpeedWidthsPerS: 3,
};

function validBox(b: Box): boolean {
  return (
    Number.isFinite(b.x1) &&
    Number.isFinite(b.y1) &&
    Number.isFinite(b.x2) &&
    Number.isFinite(b.y2) &&
    b.x2 > b.x1 &&
    b.y2 > b.y1
  );
}

/** Frames closer than this (a burst after a stall) are too close to measure a speed from. */
const MIN_VELOCITY_DT_MS = 40;

const centreX = (b: Box) => (b.x1 + b.x2) / 2;
const centreY = (b: Box) => (b.y1 + b.y2) / 2;

/**
 * Minimum-cost assignment (Hungarian method, O(n²m)) of rows to columns of a rectangular cost
 * matrix. Returns, per row, the column it got or -1 (when there are more rows than columns).
 */
export function assignMinCost(cost: readonly (readonly number[])[], columns: number): number[] {
  const rows = cost.length;
  if (rows === 0 || columns === 0) return new Array<number>(rows).fill(-1);
  if (rows > columns) {
    // The method needs rows ≤ columns: solve the transpose and read it back.
    const t: number[][] = [];
    for (let j = 0; j < columns; j++) t.push(cost.map((r) => r[j]!));
    const colToRow = assignMinCost(t, rows);
    const out = new Array<number>(rows).fill(-1);
    colToRow.forEach((r, c) => {
      if (r >= 0) out[r] = c;
    });
    return out;
  }
  const n = rows;
  const m = columns;
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1);
  const way = new Int32Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(m + 1).fill(Infinity);
    const used = new Uint8Array(m + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = cost[i0 - 1]![j - 1]! - u[i0]! - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]!] = u[p[j]!]! + delta;
          v[j] = v[j]! - delta;
        } else {
          minv[j] = minv[j]! - delta;
        }
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0 !== 0);
  }
  const out = new Array<number>(n).fill(-1);
  for (let j = 1; j <= m; j++) if (p[j]! > 0) out[p[j]! - 1] = j - 1;
  return out;
}

interface Pairing {
  track: TrackState;
  det: Detection;
}

/** How a track may be matched at one frame: its predicted box and how far it could have gone. */
interface Prediction {
  box: Box;
  /** Centre distance (px) a same-size detection may be from the prediction without overlap. */
  reach: number;
}

/**
 * Matches tracks to detections of the same class, minimising the total cost: 1 − IoU with the
 * predicted box when the IoU reaches `minIou`; else, if allowed, a cost between that and 1 for a
 * similar-sized box within reach (so it only wins when nothing overlaps); else no match.
 */
function associate(
  tracks: readonly TrackState[],
  predicted: ReadonlyMap<number, Prediction>,
  dets: readonly Detection[],
  minIou: number,
  useReach: boolean,
): { pairs: Pairing[]; restTracks: TrackState[]; restDets: Detection[] } {
  const cost = tracks.map((t) => {
    const p = predicted.get(t.id)!;
    const area = boxArea(p.box);
    return dets.map((d) => {
      if (d.classId !== t.classId) return 1;
      const o = iou(p.box, d.box);
      if (o >= minIou) return 1 - o;
      if (!useReach || p.reach <= 0) return 1;
      const ratio = boxArea(d.box) / area;
      const dist = Math.hypot(centreX(d.box) - centreX(p.box), centreY(d.box) - centreY(p.box));
      if (ratio < 0.5 || ratio > 2 || dist > p.reach) return 1;
      return 1 - minIou * 0.99 * (1 - dist / p.reach);
    });
  });
  const assignment = assignMinCost(cost, dets.length);
  const pairs: Pairing[] = [];
  const usedDets = new Set<number>();
  const restTracks: TrackState[] = [];
  tracks.forEach((t, i) => {
    const j = assignment[i]!;
    // Cost 1 is the same as no match, so a pair at 1 is never taken.
    if (j >= 0 && cost[i]![j]! < 1) {
      pairs.push({ track: t, det: dets[j]! });
      usedDets.add(j);
    } else {
      restTracks.push(t);
    }
  });
  return { pairs, restTracks, restDets: dets.filter((_, j) => !usedDets.has(j)) };
}

export function createTracker(options: TrackerOptions): Tracker {
  const o = { ...DEFAULTS, cameraId: options.cameraId };
  for (const k of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
    const v = options[k];
    if (v === undefined) continue;
    if (!Number.isFinite(v) || v < 0) {
      throw new TrackerInputError(`tracker option ${k} must be a non-negative number, got ${v}`);
    }
    o[k] = v;
  }
  const newTrackScore = options.newTrackScore ?? o.highScore;
  let live: TrackState[] = [];
  let nextId = 1;
  let lastAt: number | null = null;

  const predict = (t: TrackState, at: number): Box => {
    const dt = Math.min(Math.max(at - t.lastSeenAt, 0), o.maxPredictMs) / 1000;
    const dx = t.vx * dt;
    const dy = t.vy * dt;
    return { x1: t.box.x1 + dx, y1: t.box.y1 + dy, x2: t.box.x2 + dx, y2: t.box.y2 + dy };
  };

  const view = (t: TrackState, at: number): Track => ({
    id: t.id,
    cameraId: o.cameraId,
    classId: t.classId,
    label: t.label,
    box: t.state === 'lost' ? predict(t, at) : { ...t.box },
    score: t.score,
    firstSeenAt: t.firstSeenAt,
    lastSeenAt: t.lastSeenAt,
    velocity: { vx: t.vx, vy: t.vy },
    state: t.state,
  });

  const observe = (t: TrackState, d: Detection, at: number) => {
    const dt = at - t.lastSeenAt;
    if (dt > 0 && (t.velocityKnown || dt >= MIN_VELOCITY_DT_MS)) {
      const mvx = ((centreX(d.box) - centreX(t.box)) * 1000) / dt;
      const mvy = ((centreY(d.box) - centreY(t.box)) * 1000) / dt;
      if (!t.velocityKnown) {
        // First measurable step: the only velocity there is.
        t.vx = mvx;
        t.vy = mvy;
        t.velocityKnown = true;
      } else {
        // Exponential smoothing over time, not frames: a 500 ms gap weighs more than 100 ms.
        const a = 1 - Math.exp(-dt / Math.max(o.velocityTauMs, 1));
        t.vx += a * (mvx - t.vx);
        t.vy += a * (mvy - t.vy);
      }
    }
    t.box = { ...d.box };
    t.score = d.score;
    t.lastSeenAt = at;
    if (t.state === 'lost') t.state = 'confirmed';
    if (t.state === 'tentative' && at - t.firstSeenAt >= o.minConfirmMs) t.state = 'confirmed';
  };

  let lastOut: Track[] = [];

  return {
    update(detections, at) {
      if (!Number.isFinite(at)) throw new TrackerInputError(`frame time ${at} is not a number`);
      if (lastAt !== null && at < lastAt) {
        throw new TrackerInputError(
          `frame at ${at} ms is older than the previous one (${lastAt} ms); frames must come in order`,
        );
      }
      lastAt = at;
      const usable = detections.filter((d) => validBox(d.box) && d.score >= o.lowScore);
      const high = usable.filter((d) => d.score >= o.highScore);
      const low = usable.filter((d) => d.score < o.highScore);
      const predicted = new Map(
        live.map((t) => {
          const dt = Math.min(Math.max(at - t.lastSeenAt, 0), o.maxPredictMs) / 1000;
          const reach = o.maxSpeedWidthsPerS * (t.box.x2 - t.box.x1) * dt;
          return [t.id, { box: predict(t, at), reach }] as const;
        }),
      );

      // 1. Confident detections against every track, lost ones included.
      const first = associate(live, predicted, high, o.matchIou, true);
      for (const p of first.pairs) observe(p.track, p.det, at);
      // 2. Weak detections only keep running (not lost) tracks alive, and only by overlap.
      const running = first.restTracks.filter((t) => t.state !== 'lost');
      const second = associate(running, predicted, low, o.lowMatchIou, false);
      for (const p of second.pairs) observe(p.track, p.det, at);
      const matched = new Set([...first.pairs, ...second.pairs].map((p) => p.track.id));

      const next: TrackState[] = [];
      for (const t of live) {
        if (matched.has(t.id)) {
          next.push(t);
          continue;
        }
        // A track never confirmed that misses a frame was a flicker, not a person.
        if (t.state === 'tentative') continue;
        if (at - t.lastSeenAt > o.maxLostMs) continue;
        t.state = 'lost';
        next.push(t);
      }
      // 3. Confident detections nobody claimed start new tracks.
      for (const d of first.restDets) {
        if (d.score < newTrackScore) continue;
        next.push({
          id: nextId++,
          classId: d.classId,
          label: d.label,
          box: { ...d.box },
          score: d.score,
          firstSeenAt: at,
          lastSeenAt: at,
          vx: 0,
          vy: 0,
          velocityKnown: false,
          state: o.minConfirmMs <= 0 ? 'confirmed' : 'tentative',
        });
      }
      live = next.sort((a, b) => a.id - b.id);
      lastOut = live.map((t) => view(t, at));
      return lastOut.map((t) => ({ ...t, box: { ...t.box }, velocity: { ...t.velocity } }));
    },
    tracks() {
      return lastOut.map((t) => ({ ...t, box: { ...t.box }, velocity: { ...t.velocity } }));
    },
  };
}
