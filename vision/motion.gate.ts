/**
 * Motion gate: decides whether a frame is worth the detector. A still package room at night is
 * most of a camera's life, and the detector is the expensive step (10-30 ms of both cores), so it
 * runs only while something moves or someone is being tracked.
 *
 * Frames are shrunk to a small grey picture (64 px wide by default: noise averages out and the
 * work is a few thousand pixels), compared with a background that follows the picture slowly (a
 * time constant in ms, so 2 fps and 10 fps adapt alike). Before thresholding, the median change
 * over the whole picture is taken out: daylight fading or a camera's auto-exposure moves every pixel
 * together, a person moves only some of them.
 */
import type { Frame } from './vision.ports.ts';
import { pointInPolygon, type Zone } from './zones.ts';

export interface MotionGateOptions {
  /** Zones to report motion for (site file shape); motion anywhere still counts as motion. */
  zones?: readonly Zone[];
  /** Width of the analysed grey picture, px. */
  analysisWidth?: number;
  /** Grey levels (0-255) a pixel must differ from the background, after the global shift. */
  pixelThreshold?: number;
  /** Fraction of the picture that must change to call it motion. */
  minChangedFraction?: number;
  /** Fraction of a zone that must change to call it motion in that zone. */
  zoneChangedFraction?: number;
  /** Time constant of the background (ms): a parked trolley melts into it after a few of these. */
  backgroundTauMs?: number;
  /** Keep detecting this long after the last motion (ms): people pause between steps. */
  holdMs?: number;
}

export interface ZoneMotion {
  zoneId: string;
  changedFraction: number;
  motion: boolean;
}

export interface MotionResult {
  at: number;
  /** True on the first frame (or after a size change): there is no background to compare yet. */
  warmingUp: boolean;
  motion: boolean;
  changedFraction: number;
  /** Median grey change of the whole picture against the background (lighting drift). */
  globalShift: number;
  zones: ZoneMotion[];
}

export interface DetectContext {
  /** Tracks still alive (tentative, confirmed or lost): keep detecting to follow them. */
  tracksAlive: number;
}

export interface MotionGate {
  analyse(frame: Frame): MotionResult;
  /** Analyses the frame and says whether to run the detector on it. */
  shouldDetect(frame: Frame, ctx: DetectContext): boolean;
  lastResult(): MotionResult | null;
  reset(): void;
}

export class MotionGateError extends Error {
  override readonly name = 'MotionGateError';
}

const DEFAULTS = {
  analysisWidth: 64,
  pixelThreshold: 20,
  minChangedFraction: 0.004,
  zoneChangedFraction: 0.02,
  backgroundTauMs: 5000,
  holdMs: 2000,
};

interface Grid {
  frameWidth: number;
  frameHeight: number;
  w: number;
  h: number;
  /** Source pixel ranges per analysis cell, and a sampling step that caps the work per cell. */
  x0: Int32Array;
  x1: Int32Array;
  y0: Int32Array;
  y1: Int32Array;
  step: number;
  zoneMasks: { zoneId: string; cells: Uint32Array }[];
  background: Float32Array;
  grey: Float32Array;
  lastAt: number;
}

export function createMotionGate(options: MotionGateOptions = {}): MotionGate {
  const o = { ...DEFAULTS };
  for (const k of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
    const v = options[k];
    if (v === undefined) continue;
    if (!Number.isFinite(v) || v < 0) {
      throw new MotionGateError(`motion gate option ${k} must be a non-negative number, got ${v}`);
    }
    o[k] = v;
  }
  if (o.analysisWidth < 2) throw new MotionGateError('analysisWidth must be at least 2 px');
  const zones = options.zones ?? [];
  let grid: Grid | null = null;
  let last: MotionResult | null = null;
  let lastMotionAt: number | null = null;

  const makeGrid = (frame: Frame): Grid => {
    const w = Math.max(1, Math.min(Math.round(o.analysisWidth), frame.width));
    const h = Math.max(1, Math.round((frame.height * w) / frame.width));
    const x0 = new Int32Array(w);
    const x1 = new Int32Array(w);
    const y0 = new Int32Array(h);
    const y1 = new Int32Array(h);
    for (let x = 0; x < w; x++) {
      x0[x] = Math.floor((x * frame.width) / w);
      x1[x] = Math.max(x0[x]! + 1, Math.floor(((x + 1) * frame.width) / w));
    }
    for (let y = 0; y < h; y++) {
      y0[y] = Math.floor((y * frame.height) / h);
      y1[y] = Math.max(y0[y]! + 1, Math.floor(((y + 1) * frame.height) / h));
    }
    // Average at most ~4×4 samples per cell: enough to beat sensor noise on a 720p frame.
    const step = Math.max(1, Math.floor(frame.width / w / 4));
    const zoneMasks = zones.map((z) => {
      const cells: number[] = [];
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          if (pointInPolygon({ x: (x + 0.5) / w, y: (y + 0.5) / h }, z.polygon))
            cells.push(y * w + x);
        }
      }
      return { zoneId: z.id, cells: Uint32Array.from(cells) };
    });
    return {
      frameWidth: frame.width,
      frameHeight: frame.height,
      w,
      h,
      x0,
      x1,
      y0,
      y1,
      step,
      zoneMasks,
      background: new Float32Array(w * h),
      grey: new Float32Array(w * h),
      lastAt: frame.at,
    };
  };

  const shrink = (frame: Frame, g: Grid) => {
    const { rgb, width } = frame;
    const step = g.step;
    for (let cy = 0; cy < g.h; cy++) {
      for (let cx = 0; cx < g.w; cx++) {
        let sum = 0;
        let n = 0;
        for (let y = g.y0[cy]!; y < g.y1[cy]!; y += step) {
          let i = (y * width + g.x0[cx]!) * 3;
          const di = step * 3;
          for (let x = g.x0[cx]!; x < g.x1[cx]!; x += step, i += di) {
            // Rec. 601 luma in integer weights (sum 256).
            sum += 77 * rgb[i]! + 150 * rgb[i + 1]! + 29 * rgb[i + 2]!;
            n++;
          }
        }
        g.grey[cy * g.w + cx] = sum / (n * 256);
      }
    }
  };

  const analyse = (frame: Frame): MotionResult => {
    if (
      !Number.isInteger(frame.width) ||
      !Number.isInteger(frame.height) ||
      frame.width <= 0 ||
      frame.height <= 0 ||
      frame.rgb.length !== frame.width * frame.height * 3
    ) {
      throw new MotionGateError(
        `frame from camera ${frame.cameraId} is ${frame.width}×${frame.height} with ${frame.rgb.length} bytes; expected width×height×3`,
      );
    }
    if (!grid || grid.frameWidth !== frame.width || grid.frameHeight !== frame.height) {
      grid = makeGrid(frame);
      shrink(frame, grid);
      grid.background.set(grid.grey);
      last = {
        at: frame.at,
        warmingUp: true,
        motion: false,
        changedFraction: 0,
        globalShift: 0,
        zones: grid.zoneMasks.map((z) => ({ zoneId: z.zoneId, changedFraction: 0, motion: false })),
      };
      return last;
    }
    const g = grid;
    shrink(frame, g);
    const n = g.w * g.h;
    // Median of the signed change, from a histogram of whole grey levels (-255..255).
    const hist = new Uint32Array(511);
    for (let i = 0; i < n; i++) hist[Math.round(g.grey[i]! - g.background[i]!) + 255]!++;
    let globalShift = 0;
    for (let b = 0, seen = 0; b < 511; b++) {
      seen += hist[b]!;
      if (seen * 2 >= n) {
        globalShift = b - 255;
        break;
      }
    }
    const changed = new Uint8Array(n);
    let changedCount = 0;
    for (let i = 0; i < n; i++) {
      if (Math.abs(g.grey[i]! - g.background[i]! - globalShift) > o.pixelThreshold) {
        changed[i] = 1;
        changedCount++;
      }
    }
    const zonesOut = g.zoneMasks.map((z) => {
      let c = 0;
      for (const cell of z.cells) c += changed[cell]!;
      const changedFraction = z.cells.length ? c / z.cells.length : 0;
      return {
        zoneId: z.zoneId,
        changedFraction,
        motion: changedFraction >= o.zoneChangedFraction,
      };
    });
    const changedFraction = changedCount / n;
    const motion =
      (changedCount > 0 && changedFraction >= o.minChangedFraction) ||
      zonesOut.some((z) => z.motion);
    // The background follows the picture with a time constant, so frame rate does not matter.
    const dt = Math.max(0, frame.at - g.lastAt);
    const alpha = 1 - Math.exp(-dt / Math.max(1, o.backgroundTauMs));
    for (let i = 0; i < n; i++) g.background[i]! += alpha * (g.grey[i]! - g.background[i]!);
    g.lastAt = Math.max(g.lastAt, frame.at);
    if (motion) lastMotionAt = frame.at;
    last = {
      at: frame.at,
      warmingUp: false,
      motion,
      changedFraction,
      globalShift,
      zones: zonesOut,
    };
    return last;
  };

  return {
    analyse,
    shouldDetect(frame, ctx) {
      const r = analyse(frame);
      if (r.warmingUp || r.motion || ctx.tracksAlive > 0) return true;
      return lastMotionAt !== null && frame.at - lastMotionAt < o.holdMs;
    },
    lastResult: () => last,
    reset() {
      grid = null;
      last = null;
      lastMotionAt = null;
    },
  };
}
