/**
 * Slot watch: tells, per shelf slot seen by a camera, whether the slot still looks like it did
 * when its parcel was checked in, and decides "this slot was emptied" only when nobody stands in
 * front of it and the change has held for a while.
 *
 * The measure (why it is built this way):
 *
 * - Every slot is cut into a small grid of cells (at most `patchCells` across) and each cell is the
 *   average grey of its pixels. Averaging many pixels beats sensor noise and H.264 blocking; the
 *   parcel and its edges are many cells big, so nothing that matters is lost.
 * - Lighting in a package room is global: the ceiling lights, daylight through a window and the
 *   camera's auto-exposure move the whole picture together, roughly as grey' = gain × grey +
 *   offset. A parcel leaving changes one slot. So the lighting change is measured on the whole
 *   picture (a 64-cell-wide thumbnail stored with each reference), with a fit that ignores what
 *   changed locally (people, other slots): a first guess from quartiles, then least squares on
 *   the cells that agree with it. The slot's cells are mapped back through that fit before being
 *   compared, so "brighter" is not "different".
 * - Structure: on blocks of 4×4 cells, the contrast-structure term of SSIM,
 *   (2·cov + C) / (var_ref + var_now + C). It ignores a block's mean (offset), barely moves with
 *   contrast (gain), is ~1 when both blocks are plain (C keeps flat shelf board from turning
 *   noise into "texture"), and falls towards 0 when a printed label or a box edge is replaced by
 *   plain board or by different print. `structure` is the mean of (1 − term) over the blocks: about
 *   the share of the slot whose pattern is different.
 * - Tone: a plain brown box on a plain grey shelf has no pattern to lose, only a different
 *   brightness. `tone` is the distance (half the L1, 0..1) between the 16-bin grey histograms of
 *   the slot now (lighting taken out) and of the reference.
 * - The change score is the larger of the two, 0 (same) .. 1 (all different).
 *
 * Decisions: a person's body in front of a slot is a change too, and it must never read as
 * "empty". So a slot overlapped by a person's box (by more than `occlusionFraction` of its area) is
 * "occluded" and judged not at all; a slot counts as emptied only once it has been seen unoccluded
 * and changed, on every frame, for `settleMs` (time from the frames, never frame counts). With a
 * reference of the empty slot (taken at start-up or when staff mark it empty) a changed slot is
 * told apart: "emptied" (looks like the empty slot) or "changed" (different from both: a parcel
 * moved, one of two taken, something else left there).
 *
 * References follow slow drift: a slot seen stable and unoccluded for `refreshMs`, still close
 * to its reference with the same occupancy, gets its reference re-taken. A reference asked for
 * while staff stand in front of the slot (the usual case at check-in) is taken once the slot is
 * clear and stable for `settleMs`.
 */
import type { Box, Frame, Track } from './vision.ports.ts';
import { PERSON_CLASS } from './yolo.decode.ts';
import { pointInPolygon, validateZone, ZoneError, type ZonePoint } from './zones.ts';

/** A shelf slot as the site file draws it, for a camera that sees it. */
export interface WatchedSlot {
  id: string;
  label: string;
  cameraId: string;
  /** Corners in fractions (0..1) of the camera picture. */
  polygon: readonly ZonePoint[];
}

/** The part of the site file's `storage` the watch reads. */
export interface StorageSlotsInput {
  shelves: readonly {
    id: string;
    slots: readonly {
      id: string;
      label: string;
      cameraId?: string | undefined;
      polygon?: readonly ZonePoint[] | undefined;
    }[];
  }[];
}

/** Slots of the site file that a camera can watch (a slot without camera or polygon cannot be). */
export function watchedSlotsOf(storage: StorageSlotsInput): WatchedSlot[] {
  const out: WatchedSlot[] = [];
  for (const shelf of storage.shelves) {
    for (const s of shelf.slots) {
      if (s.cameraId === undefined || s.polygon === undefined) continue;
      out.push({ id: s.id, label: s.label, cameraId: s.cameraId, polygon: s.polygon });
    }
  }
  return out;
}

export interface SlotWatchOptions {
  slots: readonly WatchedSlot[];
  /**
   * How long (ms) a slot must be seen unoccluded and changed, on every frame, before it is judged;
   * also how long it must be clear and stable before an asked-for reference is taken.
   */
  settleMs?: number;
  /** Change score (0..1) at or above which a slot differs from a reference. */
  changeThreshold?: number;
  /** Share of the slot's area a person's box may cover before the slot counts as occluded. */
  occlusionFraction?: number;
  /** Boxes are grown by this fraction of their size on each side (arms and hands stick out). */
  occluderPadFraction?: number;
  /** Track classes that hide a slot (default: person). */
  occluderClassIds?: readonly number[];
  /** Frame-to-frame change score below which a slot counts as still (for references). */
  stableThreshold?: number;
  /** A slot stable and close to its reference for this long (ms) gets its reference re-taken. */
  refreshMs?: number;
  /** Cells across the longer side of a slot's patch. */
  patchCells?: number;
  /** Cells across the whole-picture thumbnail used to measure lighting. */
  thumbWidth?: number;
}

export type ReferenceKind = 'occupied' | 'empty';
export type SlotOccupancy = 'occupied' | 'empty';

/** How a global lighting change was taken out: grey_now ≈ gain × grey_ref + offset. */
export interface LightingFit {
  gain: number;
  offset: number;
  /** False when the picture gave too little to fit (then gain 1, offset 0 are assumed). */
  fitted: boolean;
}

/** How different a slot looks from a reference (0 same .. 1 all different). */
export interface ChangeScore {
  /** max(structure, tone): the number thresholds apply to. */
  score: number;
  structure: number;
  tone: number;
  lighting: LightingFit;
}

/** What one frame showed of one slot. */
export type SlotObservation =
  | {
      slotId: string;
      status: 'occluded';
      occupancy: SlotOccupancy;
      /** Share of the slot's area behind the (grown) boxes. */
      coverage: number;
      byTrackIds: number[];
    }
  | {
      slotId: string;
      status: 'clear';
      occupancy: SlotOccupancy;
      /** Against the occupied reference; null when the slot has none (empty, or not yet taken). */
      vsOccupied: ChangeScore | null;
      /** Against the empty reference; null when none was taken. */
      vsEmpty: ChangeScore | null;
      /** Differs from its occupied reference on this frame. */
      changed: boolean;
      /** Since when (ms) it has been seen changed and clear without a break; null when not. */
      changedSince: number | null;
    };

/** A person (or other occluder) seen in front of a slot between its last good look and the change. */
export interface SlotOccluder {
  trackId: number;
  box: Box;
  at: number;
}

/**
 * A judged change of an occupied slot. `emptied`: it looks like the empty slot (basis
 * `matches_empty_reference`), or it changed and there is no empty reference to tell by (basis
 * `no_empty_reference`). `changed`: it differs from its occupied reference and from the empty one.
 */
export interface SlotDecision {
  kind: 'emptied' | 'changed';
  basis: 'matches_empty_reference' | 'no_empty_reference' | 'differs_from_empty_reference';
  slotId: string;
  label: string;
  cameraId: string;
  /** When the decision was made (the frame's time, ms). */
  at: number;
  /**
   * The change happened between these two times: the last clear frame that matched the occupied
   * reference (or the reference's own time), and the first clear frame that showed the change.
   */
  lastSeenUnchangedAt: number;
  changeSeenAt: number;
  score: ChangeScore;
  emptyScore: ChangeScore | null;
  /** Who stood in front of the slot in that window (last box per track). */
  occluders: SlotOccluder[];
  /** The slot's bounding box in pixels of the deciding frame (for snapshots). */
  bounds: Box;
}

export interface CapturedReference {
  slotId: string;
  kind: ReferenceKind;
  at: number;
  /** 'asked': an asked-for reference was taken; 'refresh': re-taken to follow slow drift. */
  why: 'asked' | 'refresh';
}

export type SlotMeasurement =
  | {
      status: 'measured';
      cameraId: string;
      at: number;
      slots: SlotObservation[];
      decisions: SlotDecision[];
      captured: CapturedReference[];
    }
  | {
      /** A frame older than the last one measured for its camera: nothing is judged on it. */
      status: 'ignored';
      cameraId: string;
      at: number;
      reason: string;
    };

export type CaptureResult =
  | { captured: true; at: number }
  /** Someone is in front of the slot: it is taken once the slot is clear and stable. */
  | { captured: false; reason: 'occluded'; coverage: number };

export interface SlotStatus {
  slotId: string;
  occupancy: SlotOccupancy;
  occupiedReferenceAt: number | null;
  emptyReferenceAt: number | null;
  /** A reference asked for and not taken yet. */
  pendingReference: ReferenceKind | null;
  changedSince: number | null;
}

export interface SlotWatch {
  readonly slots: readonly WatchedSlot[];
  /** The settle time in ms (rules use it to keep a visit open long enough for a decision). */
  readonly settleMs: number;
  /** Takes the occupied reference now (a parcel was checked in), unless someone is in front. */
  captureReference(slotId: string, frame: Frame, tracks?: readonly Track[]): CaptureResult;
  /** Takes the empty reference now (start-up, or staff say the slot is empty). */
  captureEmptyReference(slotId: string, frame: Frame, tracks?: readonly Track[]): CaptureResult;
  /** Takes a reference at the next moment the slot is clear and stable for `settleMs`. */
  requestReference(slotId: string, kind: ReferenceKind): void;
  /** The slot's parcels are gone by other means (picked up at the desk): stop watching them. */
  markEmpty(slotId: string): void;
  /** Judges the frame's camera's slots; `tracks` are that camera's live tracks. */
  measure(frame: Frame, tracks: readonly Track[]): SlotMeasurement;
  status(slotId: string): SlotStatus;
}

export class SlotWatchError extends Error {
  override readonly name = 'SlotWatchError';
}

const DEFAULTS = {
  settleMs: 2000,
  changeThreshold: 0.3,
  occlusionFraction: 0.02,
  occluderPadFraction: 0.05,
  stableThreshold: 0.12,
  refreshMs: 60_000,
  patchCells: 24,
  thumbWidth: 64,
};

/** Blocks of BLOCK×BLOCK cells for the structure term. */
const BLOCK = 4;
/** SSIM's C2 for 8-bit grey, (0.03 × 255)²: variance below ~8 grey levels reads as "plain". */
const STRUCTURE_C = (0.03 * 255) ** 2;
const TONE_BINS = 16;
/** Cells darker or brighter than this are clipped by the sensor and say nothing about lighting. */
const CLIP_LOW = 6;
const CLIP_HIGH = 249;

// ---------------------------------------------------------------------------------------------
// Sampling: grids in frame fractions, so a reference survives a change of stream resolution.

interface NormGrid {
  /** Top-left corner and cell size, in fractions of the frame. */
  x0: number;
  y0: number;
  cellW: number;
  cellH: number;
  cols: number;
  rows: number;
}

/** Pixel ranges of each column and row of a grid for one frame size. */
interface PixelRanges {
  xs0: Int32Array;
  xs1: Int32Array;
  ys0: Int32Array;
  ys1: Int32Array;
  step: number;
}

function pixelRanges(
  g: NormGrid,
  width: number,
  height: number,
  samplesPerSide: number,
): PixelRanges {
  const xs0 = new Int32Array(g.cols);
  const xs1 = new Int32Array(g.cols);
  const ys0 = new Int32Array(g.rows);
  const ys1 = new Int32Array(g.rows);
  for (let c = 0; c < g.cols; c++) {
    const a = Math.min(width - 1, Math.max(0, Math.floor((g.x0 + c * g.cellW) * width)));
    const b = Math.min(width, Math.max(a + 1, Math.floor((g.x0 + (c + 1) * g.cellW) * width)));
    xs0[c] = a;
    xs1[c] = b;
  }
  for (let r = 0; r < g.rows; r++) {
    const a = Math.min(height - 1, Math.max(0, Math.floor((g.y0 + r * g.cellH) * height)));
    const b = Math.min(height, Math.max(a + 1, Math.floor((g.y0 + (r + 1) * g.cellH) * height)));
    ys0[r] = a;
    ys1[r] = b;
  }
  // A bounded number of samples per cell: plenty against noise, bounded work on a 1080p frame.
  const cellPx = Math.max(1, (g.cellW * width + g.cellH * height) / 2);
  return { xs0, xs1, ys0, ys1, step: Math.max(1, Math.floor(cellPx / samplesPerSide)) };
}

/** Average grey (Rec. 601 luma) of every cell. */
function sampleGrey(frame: Frame, g: NormGrid, pr: PixelRanges): Float32Array {
  const out = new Float32Array(g.cols * g.rows);
  const { rgb, width } = frame;
  const step = pr.step;
  for (let r = 0; r < g.rows; r++) {
    for (let c = 0; c < g.cols; c++) {
      let sum = 0;
      let n = 0;
      for (let y = pr.ys0[r]!; y < pr.ys1[r]!; y += step) {
        let i = (y * width + pr.xs0[c]!) * 3;
        for (let x = pr.xs0[c]!; x < pr.xs1[c]!; x += step, i += step * 3) {
          sum += 77 * rgb[i]! + 150 * rgb[i + 1]! + 29 * rgb[i + 2]!;
          n++;
        }
      }
      out[r * g.cols + c] = sum / (n * 256);
    }
  }
  return out;
}

/** A box (pixels) grown by `pad` of its size on each side, in fractions of the frame. */
interface NormRect {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

function normRect(b: Box, width: number, height: number, pad: number): NormRect {
  const pw = (b.x2 - b.x1) * pad;
  const ph = (b.y2 - b.y1) * pad;
  return {
    x1: (b.x1 - pw) / width,
    y1: (b.y1 - ph) / height,
    x2: (b.x2 + pw) / width,
    y2: (b.y2 + ph) / height,
  };
}

/** Cell centres of a grid that fall inside any of the rectangles. */
function coveredCells(g: NormGrid, rects: readonly NormRect[]): Uint8Array {
  const out = new Uint8Array(g.cols * g.rows);
  if (rects.length === 0) return out;
  for (let r = 0; r < g.rows; r++) {
    const y = g.y0 + (r + 0.5) * g.cellH;
    for (let c = 0; c < g.cols; c++) {
      const x = g.x0 + (c + 0.5) * g.cellW;
      for (const q of rects) {
        if (x >= q.x1 && x <= q.x2 && y >= q.y1 && y <= q.y2) {
          out[r * g.cols + c] = 1;
          break;
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The measure

/** The whole picture, small: what lighting is measured on. */
interface Thumb {
  grey: Float32Array;
  /** Cells behind an occluder when it was taken (not used for the lighting fit). */
  hidden: Uint8Array;
}

/** One look at one slot: its cells and the picture they were taken from. */
interface Sample {
  at: number;
  grey: Float32Array;
  thumb: Thumb;
}

/**
 * Quantiles of values in 0..256 from a histogram of quarter grey levels: linear time, and a
 * quarter level is far finer than anything the fit needs.
 */
const QBINS = 1024;
function quantiles(values: Float32Array, n: number, qs: readonly number[]): number[] {
  const hist = new Uint32Array(QBINS);
  for (let i = 0; i < n; i++) {
    hist[Math.min(QBINS - 1, Math.max(0, Math.floor(values[i]! * 4)))]!++;
  }
  return qs.map((q) => {
    const want = q * n;
    let seen = 0;
    for (let b = 0; b < QBINS; b++) {
      const c = hist[b]!;
      if (seen + c >= want && c > 0) return (b + (want - seen) / c) / 4;
      seen += c;
    }
    return 256;
  });
}

const MIN_FIT_CELLS = 24;

/**
 * Lighting between two pictures, grey_now ≈ gain × grey_ref + offset, from the cells that neither
 * an occluder hid nor the sensor clipped. First guess from the quartiles (robust while less than a
 * quarter of the picture changed for other reasons), then least squares on the cells within a few
 * noise widths of it, twice.
 */
export function fitLighting(
  ref: Float32Array,
  now: Float32Array,
  skip?: (i: number) => boolean,
): LightingFit {
  const len = Math.min(ref.length, now.length);
  const xs = new Float32Array(len);
  const ys = new Float32Array(len);
  let n = 0;
  for (let i = 0; i < len; i++) {
    if (skip?.(i)) continue;
    const x = ref[i]!;
    const y = now[i]!;
    if (x < CLIP_LOW || x > CLIP_HIGH || y < CLIP_LOW || y > CLIP_HIGH) continue;
    xs[n] = x;
    ys[n] = y;
    n++;
  }
  if (n < MIN_FIT_CELLS) return { gain: 1, offset: 0, fitted: false };
  const [x25, x50, x75] = quantiles(xs, n, [0.25, 0.5, 0.75]) as [number, number, number];
  const [y25, y50, y75] = quantiles(ys, n, [0.25, 0.5, 0.75]) as [number, number, number];
  let gain = x75 - x25 > 4 ? (y75 - y25) / (x75 - x25) : 1;
  gain = Math.min(4, Math.max(0.25, gain));
  let offset = y50 - gain * x50;
  const res = new Float32Array(n);
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < n; i++) res[i] = Math.abs(ys[i]! - (gain * xs[i]! + offset));
    const mad = quantiles(res, n, [0.5])[0]!;
    const limit = Math.max(4, 3 * 1.4826 * mad);
    let n0 = 0;
    let mx = 0;
    let my = 0;
    for (let i = 0; i < n; i++) {
      if (res[i]! > limit) continue;
      n0++;
      mx += xs[i]!;
      my += ys[i]!;
    }
    if (n0 < MIN_FIT_CELLS) break;
    mx /= n0;
    my /= n0;
    let sxx = 0;
    let sxy = 0;
    for (let i = 0; i < n; i++) {
      if (res[i]! > limit) continue;
      sxx += (xs[i]! - mx) ** 2;
      sxy += (xs[i]! - mx) * (ys[i]! - my);
    }
    // A picture of one grey (dark room) fixes only the offset.
    const g = sxx / n0 > 16 ? sxy / sxx : 1;
    gain = Math.min(4, Math.max(0.25, g));
    offset = my - gain * mx;
  }
  return { gain, offset, fitted: true };
}

/** A slot's cell layout: its grid and which cells lie inside its polygon. */
interface SlotLayout {
  grid: NormGrid;
  inside: Uint8Array;
  insideCount: number;
  /** Blocks for the structure term: the inside cells of each. */
  blocks: Uint32Array[];
}

function layoutOf(slot: WatchedSlot, aspect: number, patchCells: number): SlotLayout {
  const xs = slot.polygon.map((p) => p[0]);
  const ys = slot.polygon.map((p) => p[1]);
  const x0 = Math.min(...xs);
  const y0 = Math.min(...ys);
  const w = Math.max(...xs) - x0;
  const h = Math.max(...ys) - y0;
  if (!(w > 0 && h > 0)) throw new SlotWatchError(`slot ${slot.id} has a polygon with no area`);
  // Square cells on the picture: w is in widths, h in heights, aspect = width / height.
  const wide = w * aspect;
  const cols = Math.max(2, Math.round(wide >= h ? patchCells : (patchCells * wide) / h));
  const rows = Math.max(2, Math.round(wide >= h ? (patchCells * h) / wide : patchCells));
  const grid: NormGrid = { x0, y0, cellW: w / cols, cellH: h / rows, cols, rows };
  const inside = new Uint8Array(cols * rows);
  let insideCount = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const p = { x: x0 + (c + 0.5) * grid.cellW, y: y0 + (r + 0.5) * grid.cellH };
      if (pointInPolygon(p, slot.polygon)) {
        inside[r * cols + c] = 1;
        insideCount++;
      }
    }
  }
  if (insideCount < 4) {
    throw new SlotWatchError(`slot ${slot.id} is too thin to measure (${insideCount} cells)`);
  }
  const blocks: Uint32Array[] = [];
  for (let br = 0; br < rows; br += BLOCK) {
    for (let bc = 0; bc < cols; bc += BLOCK) {
      const cells: number[] = [];
      for (let r = br; r < Math.min(rows, br + BLOCK); r++) {
        for (let c = bc; c < Math.min(cols, bc + BLOCK); c++) {
          if (inside[r * cols + c]) cells.push(r * cols + c);
        }
      }
      // A sliver of a block has too few cells for a variance worth the name.
      if (cells.length >= 4) blocks.push(Uint32Array.from(cells));
    }
  }
  return { grid, inside, insideCount, blocks };
}

function structureDistance(layout: SlotLayout, ref: Float32Array, now: Float32Array): number {
  if (layout.blocks.length === 0) return 0;
  let total = 0;
  for (const cells of layout.blocks) {
    let mr = 0;
    let mn = 0;
    for (const i of cells) {
      mr += ref[i]!;
      mn += now[i]!;
    }
    mr /= cells.length;
    mn /= cells.length;
    let vr = 0;
    let vn = 0;
    let cov = 0;
    for (const i of cells) {
      const a = ref[i]! - mr;
      const b = now[i]! - mn;
      vr += a * a;
      vn += b * b;
      cov += a * b;
    }
    const k = cells.length - 1;
    const cs = (2 * (cov / k) + STRUCTURE_C) / (vr / k + vn / k + STRUCTURE_C);
    total += Math.min(1, Math.max(0, 1 - cs));
  }
  return total / layout.blocks.length;
}

function toneDistance(layout: SlotLayout, ref: Float32Array, now: Float32Array): number {
  const hr = new Float64Array(TONE_BINS);
  const hn = new Float64Array(TONE_BINS);
  const add = (h: Float64Array, v: number) => {
    // Soft binning: a grey on a bin edge does not jump from one bin to the next with noise.
    const pos = Math.min(TONE_BINS - 1, Math.max(0, (v / 256) * TONE_BINS - 0.5));
    const lo = Math.floor(pos);
    const f = pos - lo;
    h[lo]! += 1 - f;
    if (lo + 1 < TONE_BINS) h[lo + 1]! += f;
  };
  for (let i = 0; i < layout.inside.length; i++) {
    if (!layout.inside[i]) continue;
    add(hr, ref[i]!);
    add(hn, now[i]!);
  }
  let l1 = 0;
  for (let b = 0; b < TONE_BINS; b++) l1 += Math.abs(hr[b]! - hn[b]!);
  return l1 / (2 * layout.insideCount);
}

// ---------------------------------------------------------------------------------------------
// The watch

interface SlotState {
  slot: WatchedSlot;
  provisional: SlotLayout;
  /** Cells for the camera's picture shape, fixed at the first frame (grids are in fractions). */
  layout: SlotLayout | null;
  occupancy: SlotOccupancy;
  occupiedRef: Sample | null;
  emptyRef: Sample | null;
  pending: ReferenceKind | null;
  /** Last clear frame that matched the occupied reference (or the reference's time). */
  lastSeenUnchangedAt: number | null;
  changedSince: number | null;
  occluders: Map<number, SlotOccluder>;
  /** Last clear look, for frame-to-frame stability. */
  lastClear: Sample | null;
  stableSince: number | null;
}

const positive = (v: number) => Number.isFinite(v) && v > 0;
const fraction = (v: number) => Number.isFinite(v) && v >= 0 && v <= 1;

export function createSlotWatch(options: SlotWatchOptions): SlotWatch {
  const o = { ...DEFAULTS };
  for (const k of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
    const v = options[k];
    if (v !== undefined) o[k] = v;
  }
  const checks: [keyof typeof DEFAULTS, (v: number) => boolean, string][] = [
    ['settleMs', (v) => Number.isFinite(v) && v >= 0, 'a number of ms ≥ 0'],
    ['changeThreshold', (v) => v > 0 && v <= 1, 'in (0, 1]'],
    ['occlusionFraction', fraction, 'in [0, 1]'],
    ['occluderPadFraction', (v) => v >= 0 && v <= 1, 'in [0, 1]'],
    ['stableThreshold', (v) => v > 0 && v <= 1, 'in (0, 1]'],
    ['refreshMs', positive, 'a number of ms > 0'],
    ['patchCells', (v) => Number.isInteger(v) && v >= 4 && v <= 128, 'a whole number 4..128'],
    ['thumbWidth', (v) => Number.isInteger(v) && v >= 8 && v <= 512, 'a whole number 8..512'],
  ];
  for (const [k, ok, what] of checks) {
    if (!ok(o[k])) throw new SlotWatchError(`slot watch option ${k} must be ${what}, got ${o[k]}`);
  }
  const occluderClasses = new Set(options.occluderClassIds ?? [PERSON_CLASS]);

  const states = new Map<string, SlotState>();
  for (const slot of options.slots) {
    if (states.has(slot.id)) throw new SlotWatchError(`slot ${slot.id} is listed twice`);
    if (!slot.cameraId) throw new SlotWatchError(`slot ${slot.id} names no camera`);
    try {
      validateZone({ id: slot.id, kind: 'shelf', polygon: slot.polygon });
    } catch (err) {
      if (err instanceof ZoneError) throw new SlotWatchError(`slot ${err.message}`);
      throw err;
    }
    // Built now for a 16:9 picture so a slot too thin to measure is refused at start-up; built
    // again for the camera's real shape at its first frame.
    const provisional = layoutOf(slot, 16 / 9, o.patchCells);
    states.set(slot.id, {
      slot,
      provisional,
      layout: null,
      occupancy: 'empty',
      occupiedRef: null,
      emptyRef: null,
      pending: null,
      lastSeenUnchangedAt: null,
      changedSince: null,
      occluders: new Map(),
      lastClear: null,
      stableSince: null,
    });
  }

  /** The thumbnail's shape is fixed by the first frame seen, per camera. */
  const thumbGrids = new Map<string, NormGrid>();
  const lastAtByCamera = new Map<string, number>();
  const rangeCache = new WeakMap<NormGrid, { w: number; h: number; pr: PixelRanges }>();

  /** Slot cells: up to 6×6 samples each; thumbnail cells (lighting only): 3×3 do. */
  const rangesFor = (g: NormGrid, frame: Frame, samplesPerSide: number): PixelRanges => {
    const hit = rangeCache.get(g);
    if (hit && hit.w === frame.width && hit.h === frame.height) return hit.pr;
    const pr = pixelRanges(g, frame.width, frame.height, samplesPerSide);
    rangeCache.set(g, { w: frame.width, h: frame.height, pr });
    return pr;
  };

  const checkFrame = (frame: Frame) => {
    if (
      !Number.isInteger(frame.width) ||
      !Number.isInteger(frame.height) ||
      frame.width <= 0 ||
      frame.height <= 0 ||
      frame.rgb.length !== frame.width * frame.height * 3
    ) {
      throw new SlotWatchError(
        `frame from camera ${frame.cameraId} is ${frame.width}×${frame.height} with ${frame.rgb.length} bytes; expected width×height×3`,
      );
    }
    if (!Number.isFinite(frame.at)) {
      throw new SlotWatchError(
        `frame from camera ${frame.cameraId} has no valid time (${frame.at})`,
      );
    }
  };

  const stateOf = (slotId: string): SlotState => {
    const s = states.get(slotId);
    if (!s) throw new SlotWatchError(`no watched slot ${slotId}`);
    return s;
  };

  const layoutFor = (s: SlotState, frame: Frame): SlotLayout => {
    if (!s.layout) {
      try {
        s.layout = layoutOf(s.slot, frame.width / frame.height, o.patchCells);
      } catch {
        // Only an odd picture shape can make it fail now; the 16:9 layout still measures.
        s.layout = s.provisional;
      }
    }
    return s.layout;
  };

  const occluderRects = (frame: Frame, tracks: readonly Track[]) =>
    tracks
      .filter((t) => t.cameraId === frame.cameraId && occluderClasses.has(t.classId))
      .map((t) => ({
        track: t,
        rect: normRect(t.box, frame.width, frame.height, o.occluderPadFraction),
      }));

  /**
   * Thumbnails by picture and occluders: references taken for several slots from one
   * frame (start-up, a delivery of many parcels) share it, and so share one lighting fit later.
   */
  const thumbs = new WeakMap<Uint8Array, { key: string; thumb: Thumb }>();
  const thumbOf = (frame: Frame, rects: readonly NormRect[]): Thumb => {
    const key = JSON.stringify(rects);
    const hit = thumbs.get(frame.rgb);
    if (hit && hit.key === key) return hit.thumb;
    let g = thumbGrids.get(frame.cameraId);
    if (!g) {
      const rows = Math.max(2, Math.round((o.thumbWidth * frame.height) / frame.width));
      g = { x0: 0, y0: 0, cellW: 1 / o.thumbWidth, cellH: 1 / rows, cols: o.thumbWidth, rows };
      thumbGrids.set(frame.cameraId, g);
    }
    const thumb = {
      grey: sampleGrey(frame, g, rangesFor(g, frame, 3)),
      hidden: coveredCells(g, rects),
    };
    thumbs.set(frame.rgb, { key, thumb });
    return thumb;
  };

  const sampleOf = (s: SlotState, frame: Frame, thumb: Thumb): Sample => {
    const layout = layoutFor(s, frame);
    return {
      at: frame.at,
      grey: sampleGrey(frame, layout.grid, rangesFor(layout.grid, frame, 6)),
      thumb,
    };
  };

  /** Share of the slot behind occluders, and whose boxes those are. */
  const coverageOf = (
    s: SlotState,
    frame: Frame,
    occ: readonly { track: Track; rect: NormRect }[],
  ): { coverage: number; by: Track[] } => {
    if (occ.length === 0) return { coverage: 0, by: [] };
    const layout = layoutFor(s, frame);
    const all = coveredCells(
      layout.grid,
      occ.map((x) => x.rect),
    );
    let covered = 0;
    for (let i = 0; i < all.length; i++) if (layout.inside[i] && all[i]) covered++;
    const by = occ
      .filter((x) =>
        coveredCells(layout.grid, [x.rect]).some((v, i) => v === 1 && layout.inside[i] === 1),
      )
      .map((x) => x.track);
    return { coverage: covered / layout.insideCount, by };
  };

  /**
   * Lighting fits of the frame being measured, by the reference picture they map from: slots whose
   * references were taken from the same frame share one fit.
   */
  let fits = new Map<Thumb, { now: Thumb; fit: LightingFit }>();
  const lightingBetween = (ref: Thumb, now: Thumb): LightingFit => {
    const hit = fits.get(ref);
    if (hit && hit.now === now) return hit.fit;
    const fit = fitLighting(ref.grey, now.grey, (i) => ref.hidden[i] === 1 || now.hidden[i] === 1);
    fits.set(ref, { now, fit });
    return fit;
  };

  const compare = (layout: SlotLayout, ref: Sample, now: Sample): ChangeScore => {
    const lighting = lightingBetween(ref.thumb, now.thumb);
    // Bring the slot as seen now back to the reference's lighting.
    const mapped = new Float32Array(now.grey.length);
    for (let i = 0; i < mapped.length; i++) {
      mapped[i] = Math.min(255, Math.max(0, (now.grey[i]! - lighting.offset) / lighting.gain));
    }
    const structure = structureDistance(layout, ref.grey, mapped);
    const tone = toneDistance(layout, ref.grey, mapped);
    return { score: Math.max(structure, tone), structure, tone, lighting };
  };

  const resetChange = (s: SlotState) => {
    s.changedSince = null;
    s.occluders.clear();
  };

  const takeReference = (s: SlotState, kind: ReferenceKind, sample: Sample) => {
    switch (kind) {
      case 'occupied':
        s.occupiedRef = sample;
        s.occupancy = 'occupied';
        s.lastSeenUnchangedAt = sample.at;
        resetChange(s);
        return;
      case 'empty':
        s.emptyRef = sample;
        s.occupancy = 'empty';
        s.occupiedRef = null;
        s.lastSeenUnchangedAt = null;
        resetChange(s);
        return;
    }
  };

  const capture = (
    slotId: string,
    kind: ReferenceKind,
    frame: Frame,
    tracks: readonly Track[],
  ): CaptureResult => {
    checkFrame(frame);
    const s = stateOf(slotId);
    if (frame.cameraId !== s.slot.cameraId) {
      throw new SlotWatchError(
        `slot ${slotId} is watched by camera ${s.slot.cameraId}, not ${frame.cameraId}`,
      );
    }
    const occ = occluderRects(frame, tracks);
    const { coverage } = coverageOf(s, frame, occ);
    if (coverage > o.occlusionFraction) {
      s.pending = kind;
      return { captured: false, reason: 'occluded', coverage };
    }
    const thumb = thumbOf(
      frame,
      occ.map((x) => x.rect),
    );
    takeReference(s, kind, sampleOf(s, frame, thumb));
    s.pending = null;
    return { captured: true, at: frame.at };
  };

  const measure = (frame: Frame, tracks: readonly Track[]): SlotMeasurement => {
    checkFrame(frame);
    const last = lastAtByCamera.get(frame.cameraId);
    if (last !== undefined && frame.at < last) {
      return {
        status: 'ignored',
        cameraId: frame.cameraId,
        at: frame.at,
        reason: `frame at ${frame.at} is older than the last one measured (${last})`,
      };
    }
    lastAtByCamera.set(frame.cameraId, frame.at);
    fits = new Map();
    const mine = [...states.values()].filter((s) => s.slot.cameraId === frame.cameraId);
    const occ = occluderRects(frame, tracks);
    const thumb = thumbOf(
      frame,
      occ.map((x) => x.rect),
    );
    const observations: SlotObservation[] = [];
    const decisions: SlotDecision[] = [];
    const captured: CapturedReference[] = [];

    for (const s of mine) {
      const layout = layoutFor(s, frame);
      const { coverage, by } = coverageOf(s, frame, occ);
      if (coverage > o.occlusionFraction) {
        // Judge nothing behind a person; remember who it was, in case the slot turns out changed.
        resetChangeTimerOnly(s);
        for (const t of by)
          s.occluders.set(t.id, { trackId: t.id, box: { ...t.box }, at: frame.at });
        s.lastClear = null;
        s.stableSince = null;
        observations.push({
          slotId: s.slot.id,
          status: 'occluded',
          occupancy: s.occupancy,
          coverage,
          byTrackIds: by.map((t) => t.id),
        });
        continue;
      }

      const now = sampleOf(s, frame, thumb);
      // Frame-to-frame stillness; a gap longer than the settle time starts stillness afresh.
      const still =
        s.lastClear !== null &&
        frame.at - s.lastClear.at <= Math.max(o.settleMs, 1) &&
        compare(layout, s.lastClear, now).score < o.stableThreshold;
      if (!still) s.stableSince = frame.at;
      const gapBroken = s.lastClear === null || frame.at - s.lastClear.at > Math.max(o.settleMs, 1);
      s.lastClear = now;
      const stableFor = frame.at - (s.stableSince ?? frame.at);

      if (s.pending !== null && stableFor >= o.settleMs) {
        const kind = s.pending;
        takeReference(s, kind, now);
        s.pending = null;
        captured.push({ slotId: s.slot.id, kind, at: frame.at, why: 'asked' });
      }

      const vsOccupied =
        s.occupancy === 'occupied' && s.occupiedRef ? compare(layout, s.occupiedRef, now) : null;
      const vsEmpty = s.emptyRef ? compare(layout, s.emptyRef, now) : null;
      const changed = vsOccupied !== null && vsOccupied.score >= o.changeThreshold;

      if (vsOccupied && s.occupiedRef) {
        if (!changed) {
          s.lastSeenUnchangedAt = frame.at;
          resetChange(s);
          // Follow slow drift: re-take a reference that has stayed close and still for a while.
          if (
            vsOccupied.score < o.changeThreshold / 2 &&
            stableFor >= o.refreshMs &&
            frame.at - s.occupiedRef.at >= o.refreshMs
          ) {
            s.occupiedRef = now;
            captured.push({ slotId: s.slot.id, kind: 'occupied', at: frame.at, why: 'refresh' });
          }
        } else {
          if (s.changedSince === null || gapBroken) s.changedSince = frame.at;
          if (frame.at - s.changedSince >= o.settleMs) {
            decisions.push(decide(s, frame, layout, vsOccupied, vsEmpty));
          }
        }
      } else if (s.occupancy === 'empty' && s.emptyRef && vsEmpty) {
        if (
          vsEmpty.score < o.changeThreshold / 2 &&
          stableFor >= o.refreshMs &&
          frame.at - s.emptyRef.at >= o.refreshMs
        ) {
          s.emptyRef = now;
          captured.push({ slotId: s.slot.id, kind: 'empty', at: frame.at, why: 'refresh' });
        }
      }

      observations.push({
        slotId: s.slot.id,
        status: 'clear',
        occupancy: s.occupancy,
        vsOccupied,
        vsEmpty,
        changed,
        changedSince: changed ? s.changedSince : null,
      });
    }
    return {
      status: 'measured',
      cameraId: frame.cameraId,
      at: frame.at,
      slots: observations,
      decisions,
      captured,
    };
  };

  /** Occlusion breaks "changed on every clear frame": the settle time starts again after it. */
  function resetChangeTimerOnly(s: SlotState) {
    s.changedSince = null;
  }

  function decide(
    s: SlotState,
    frame: Frame,
    layout: SlotLayout,
    score: ChangeScore,
    emptyScore: ChangeScore | null,
  ): SlotDecision {
    const looksEmpty =
      emptyScore !== null && emptyScore.score < o.changeThreshold && emptyScore.score < score.score;
    const kind: SlotDecision['kind'] = emptyScore === null || looksEmpty ? 'emptied' : 'changed';
    const basis: SlotDecision['basis'] =
      emptyScore === null
        ? 'no_empty_reference'
        : looksEmpty
          ? 'matches_empty_reference'
          : 'differs_from_empty_reference';
    const g = layout.grid;
    const decision: SlotDecision = {
      kind,
      basis,
      slotId: s.slot.id,
      label: s.slot.label,
      cameraId: s.slot.cameraId,
      at: frame.at,
      lastSeenUnchangedAt: s.lastSeenUnchangedAt ?? s.occupiedRef?.at ?? frame.at,
      changeSeenAt: s.changedSince ?? frame.at,
      score,
      emptyScore,
      occluders: [...s.occluders.values()],
      bounds: {
        x1: Math.round(g.x0 * frame.width),
        y1: Math.round(g.y0 * frame.height),
        x2: Math.round((g.x0 + g.cols * g.cellW) * frame.width),
        y2: Math.round((g.y0 + g.rows * g.cellH) * frame.height),
      },
    };
    const now = s.lastClear;
    switch (kind) {
      case 'emptied':
        s.occupancy = 'empty';
        s.occupiedRef = null;
        s.lastSeenUnchangedAt = null;
        break;
      case 'changed':
        // Still holds something, looking different now: that is what to watch from here on.
        if (now) s.occupiedRef = now;
        s.lastSeenUnchangedAt = frame.at;
        break;
    }
    resetChange(s);
    return decision;
  }

  return {
    slots: options.slots,
    settleMs: o.settleMs,
    captureReference: (slotId, frame, tracks = []) => capture(slotId, 'occupied', frame, tracks),
    captureEmptyReference: (slotId, frame, tracks = []) => capture(slotId, 'empty', frame, tracks),
    requestReference(slotId, kind) {
      stateOf(slotId).pending = kind;
    },
    markEmpty(slotId) {
      const s = stateOf(slotId);
      s.occupancy = 'empty';
      s.occupiedRef = null;
      s.lastSeenUnchangedAt = null;
      if (s.pending === 'occupied') s.pending = null;
      resetChange(s);
    },
    measure,
    status(slotId) {
      const s = stateOf(slotId);
      return {
        slotId,
        occupancy: s.occupancy,
        occupiedReferenceAt: s.occupiedRef?.at ?? null,
        emptyReferenceAt: s.emptyRef?.at ?? null,
        pendingReference: s.pending,
        changedSince: s.changedSince,
      };
    },
  };
}
