/**
 * Pure pre- and post-processing for YOLO-family detectors: letterbox a packed RGB frame into the
 * model's planar input, decode the raw output into boxes, class-wise NMS, and map the boxes back
 * to frame pixels. No runtime here, so it is tested without a model and reused by any backend.
 *
 * YOLOX (Megvii) is what ships: its `preproc` resizes with one scale for both axes, puts the picture
 * at the TOP-LEFT of a canvas filled with 114 (padding only at the bottom and right), keeps OpenCV's
 * BGR order and raw 0-255 values. Its exported head gives, per anchor point of the 8/16/32 stride
 * grids, offsets from the grid cell, log width/height, and sigmoid objectness and class scores.
 * Ultralytics YOLOv8 exports instead give [1, 4+classes, N] of already decoded cx, cy, w, h with no
 * objectness, from RGB scaled to 0..1 and a centred letterbox.
 */
import type { Box, Detection } from './vision.ports.ts';

export type YoloLayout = 'yolox' | 'yolov8';
export type ChannelOrder = 'bgr' | 'rgb';
/** Where the resized picture sits in the model input: YOLOX top-left, Ultralytics centred. */
export type LetterboxPlacement = 'top-left' | 'centre';

export interface YoloConfig {
  inputWidth: number;
  inputHeight: number;
  layout: YoloLayout;
  channelOrder: ChannelOrder;
  /** Multiplier from 0..255 pixel values to model input: 1 (YOLOX) or 1/255 (YOLOv8). */
  scale: number;
  placement: LetterboxPlacement;
  /** Grey level of the letterbox padding, before `scale` (114 for both families). */
  padValue: number;
  numClasses: number;
  /** YOLOX anchor-free grid strides, finest first (the output's anchor order). */
  strides: readonly number[];
}

export const YOLOX_NANO: YoloConfig = {
  inputWidth: 416,
  inputHeight: 416,
  layout: 'yolox',
  channelOrder: 'bgr',
  scale: 1,
  placement: 'top-left',
  padValue: 114,
  numClasses: 80,
  strides: [8, 16, 32],
};

export const YOLOV8_640: YoloConfig = {
  inputWidth: 640,
  inputHeight: 640,
  layout: 'yolov8',
  channelOrder: 'rgb',
  scale: 1 / 255,
  placement: 'centre',
  padValue: 114,
  numClasses: 80,
  strides: [8, 16, 32],
};

/** The 80 COCO class names in the order the models were trained with. */
export const COCO_LABELS: readonly string[] = [
  'person',
  'bicycle',
  'car',
  'motorcycle',
  'airplane',
  'bus',
  'train',
  'truck',
  'boat',
  'traffic light',
  'fire hydrant',
  'stop sign',
  'parking meter',
  'bench',
  'bird',
  'cat',
  'dog',
  'horse',
  'sheep',
  'cow',
  'elephant',
  'bear',
  'zebra',
  'giraffe',
  'backpack',
  'umbrella',
  'handbag',
  'tie',
  'suitcase',
  'frisbee',
  'skis',
  'snowboard',
  'sports ball',
  'kite',
  'baseball bat',
  'baseball glove',
  'skateboard',
  'surfboard',
  'tennis racket',
  'bottle',
  'wine glass',
  'cup',
  'fork',
  'knife',
  'spoon',
  'bowl',
  'banana',
  'apple',
  'sandwich',
  'orange',
  'broccoli',
  'carrot',
  'hot dog',
  'pizza',
  'donut',
  'cake',
  'chair',
  'couch',
  'potted plant',
  'bed',
  'dining table',
  'toilet',
  'tv',
  'laptop',
  'mouse',
  'remote',
  'keyboard',
  'cell phone',
  'microwave',
  'oven',
  'toaster',
  'sink',
  'refrigerator',
  'book',
  'clock',
  'vase',
  'scissors',
  'teddy bear',
  'hair drier',
  'toothbrush',
];

export const PERSON_CLASS = 0;
/** Things people carry in and out of a package room: context for the person rules. */
export const CONTEXT_CLASSES: readonly number[] = [24, 26, 28]; // backpack, handbag, suitcase
/** What the package room keeps by default: people and what they carry. */
export const PACKAGE_ROOM_CLASSES: readonly number[] = [PERSON_CLASS, ...CONTEXT_CLASSES];

export function labelOf(classId: number): string {
  return COCO_LABELS[classId] ?? `class ${classId}`;
}

/** A frame or config that cannot be processed; says which value is wrong. */
export class YoloInputError extends Error {
  override readonly name = 'YoloInputError';
}

// ---------------------------------------------------------------------------------------------
// Letterbox

/** How a frame was placed into the model input; needed to map boxes back. */
export interface Letterbox {
  /** Model pixels per frame pixel (the same on both axes). */
  scale: number;
  /** Offset of the resized picture inside the model input, model pixels. */
  padX: number;
  padY: number;
  /** Size of the resized picture inside the model input. */
  resizedWidth: number;
  resizedHeight: number;
  frameWidth: number;
  frameHeight: number;
}

export function planLetterbox(frameWidth: number, frameHeight: number, cfg: YoloConfig): Letterbox {
  const positive = (v: number) => Number.isInteger(v) && v > 0;
  if (!positive(frameWidth) || !positive(frameHeight)) {
    throw new YoloInputError(`frame size ${frameWidth}×${frameHeight} is not a positive size`);
  }
  if (!positive(cfg.inputWidth) || !positive(cfg.inputHeight)) {
    throw new YoloInputError(
      `model input ${cfg.inputWidth}×${cfg.inputHeight} is not a positive size`,
    );
  }
  const scale = Math.min(cfg.inputWidth / frameWidth, cfg.inputHeight / frameHeight);
  // YOLOX: int(w * r) (truncation); Ultralytics: round(w * r). A 1-px difference at the edge.
  const resizedWidth = Math.max(
    1,
    Math.min(
      cfg.inputWidth,
      cfg.placement === 'top-left'
        ? Math.floor(frameWidth * scale)
        : Math.round(frameWidth * scale),
    ),
  );
  const resizedHeight = Math.max(
    1,
    Math.min(
      cfg.inputHeight,
      cfg.placement === 'top-left'
        ? Math.floor(frameHeight * scale)
        : Math.round(frameHeight * scale),
    ),
  );
  let padX = 0;
  let padY = 0;
  if (cfg.placement === 'centre') {
    // Ultralytics splits the padding, the odd pixel going right/bottom (round(dw - 0.1)).
    padX = Math.max(0, Math.round((cfg.inputWidth - resizedWidth) / 2 - 0.1));
    padY = Math.max(0, Math.round((cfg.inputHeight - resizedHeight) / 2 - 0.1));
  }
  return { scale, padX, padY, resizedWidth, resizedHeight, frameWidth, frameHeight };
}

/** Float32 planar [3, H, W] input buffer of the right size for `cfg`. */
export function allocateInput(cfg: YoloConfig): Float32Array {
  return new Float32Array(3 * cfg.inputWidth * cfg.inputHeight);
}

/**
 * Letterboxes packed RGB into the planar model input `out` (reused between frames), bilinear
 * resize with OpenCV's half-pixel centres (cv2.resize INTER_LINEAR, which YOLOX trains with).
 */
export function letterboxInto(
  rgb: Uint8Array,
  frameWidth: number,
  frameHeight: number,
  cfg: YoloConfig,
  out: Float32Array,
): Letterbox {
  const lb = planLetterbox(frameWidth, frameHeight, cfg);
  const W = cfg.inputWidth;
  const H = cfg.inputHeight;
  const plane = W * H;
  if (rgb.length !== frameWidth * frameHeight * 3) {
    throw new YoloInputError(
      `frame has ${rgb.length} bytes, expected ${frameWidth}×${frameHeight}×3 = ${frameWidth * frameHeight * 3}`,
    );
  }
  if (out.length !== 3 * plane) {
    throw new YoloInputError(`input buffer has ${out.length} floats, expected ${3 * plane}`);
  }
  const s = cfg.scale;
  out.fill(cfg.padValue * s);
  // Which plane gets R, G, B.
  const rPlane = cfg.channelOrder === 'bgr' ? 2 * plane : 0;
  const gPlane = plane;
  const bPlane = cfg.channelOrder === 'bgr' ? 0 : 2 * plane;

  // Horizontal taps, computed once per frame (the cost is in the per-pixel loop below).
  const xs0 = new Int32Array(lb.resizedWidth);
  const xs1 = new Int32Array(lb.resizedWidth);
  const xw = new Float32Array(lb.resizedWidth);
  const fx = frameWidth / lb.resizedWidth;
  for (let x = 0; x < lb.resizedWidth; x++) {
    const sx = Math.min(Math.max((x + 0.5) * fx - 0.5, 0), frameWidth - 1);
    const x0 = Math.floor(sx);
    xs0[x] = x0 * 3;
    xs1[x] = Math.min(x0 + 1, frameWidth - 1) * 3;
    xw[x] = sx - x0;
  }
  const fy = frameHeight / lb.resizedHeight;
  const rowBytes = frameWidth * 3;
  for (let y = 0; y < lb.resizedHeight; y++) {
    const sy = Math.min(Math.max((y + 0.5) * fy - 0.5, 0), frameHeight - 1);
    const y0 = Math.floor(sy);
    const wy = sy - y0;
    const r0 = y0 * rowBytes;
    const r1 = Math.min(y0 + 1, frameHeight - 1) * rowBytes;
    const w0 = 1 - wy;
    let o = (y + lb.padY) * W + lb.padX;
    for (let x = 0; x < lb.resizedWidth; x++, o++) {
      const a = r0 + xs0[x]!;
      const b = r0 + xs1[x]!;
      const c = r1 + xs0[x]!;
      const d = r1 + xs1[x]!;
      // Weights of the four neighbours, folded with the value scale.
      const wx = xw[x]!;
      const wa = (1 - wx) * w0 * s;
      const wb = wx * w0 * s;
      const wc = (1 - wx) * wy * s;
      const wd = wx * wy * s;
      out[rPlane + o] = rgb[a]! * wa + rgb[b]! * wb + rgb[c]! * wc + rgb[d]! * wd;
      out[gPlane + o] = rgb[a + 1]! * wa + rgb[b + 1]! * wb + rgb[c + 1]! * wc + rgb[d + 1]! * wd;
      out[bPlane + o] = rgb[a + 2]! * wa + rgb[b + 2]! * wb + rgb[c + 2]! * wc + rgb[d + 2]! * wd;
    }
  }
  return lb;
}

// ---------------------------------------------------------------------------------------------
// Decode

/** One box before NMS, in model input pixels. */
export interface Candidate {
  box: Box;
  classId: number;
  score: number;
}

export interface DecodeOptions {
  scoreThreshold: number;
  /** Class ids to keep; null keeps all. */
  classes: ReadonlySet<number> | null;
}

/** Number of anchor points of a YOLOX head for `cfg` (3549 for 416×416). */
export function yoloxAnchorCount(cfg: YoloConfig): number {
  let n = 0;
  for (const s of cfg.strides)
    n += Math.floor(cfg.inputWidth / s) * Math.floor(cfg.inputHeight / s);
  return n;
}

/**
 * Decodes a YOLOX output [1, N, 5 + classes] (N over the stride grids, row-major in each grid).
 * Score = objectness × class score, the best class per anchor point.
 */
export function decodeYolox(
  output: Float32Array,
  dims: readonly number[],
  cfg: YoloConfig,
  opts: DecodeOptions,
): Candidate[] {
  const per = 5 + cfg.numClasses;
  const n = yoloxAnchorCount(cfg);
  if (dims.length !== 3 || dims[1] !== n || dims[2] !== per) {
    throw new YoloInputError(
      `YOLOX output shape [${dims.join(',')}] does not match [1,${n},${per}] for ${cfg.inputWidth}×${cfg.inputHeight}`,
    );
  }
  if (output.length < n * per) {
    throw new YoloInputError(`YOLOX output has ${output.length} values, expected ${n * per}`);
  }
  const found: Candidate[] = [];
  let i = 0;
  for (const stride of cfg.strides) {
    const gw = Math.floor(cfg.inputWidth / stride);
    const gh = Math.floor(cfg.inputHeight / stride);
    for (let gy = 0; gy < gh; gy++) {
      for (let gx = 0; gx < gw; gx++, i++) {
        const o = i * per;
        const obj = output[o + 4]!;
        // No class score exceeds 1, so a low objectness rules the anchor out at once.
        if (obj < opts.scoreThreshold) continue;
        let best = -1;
        let bestScore = 0;
        for (let c = 0; c < cfg.numClasses; c++) {
          const sc = output[o + 5 + c]!;
          if (sc > bestScore && (opts.classes === null || opts.classes.has(c))) {
            best = c;
            bestScore = sc;
          }
        }
        const score = obj * bestScore;
        if (best < 0 || score < opts.scoreThreshold) continue;
        const cx = (output[o]! + gx) * stride;
        const cy = (output[o + 1]! + gy) * stride;
        const w = Math.exp(output[o + 2]!) * stride;
        const h = Math.exp(output[o + 3]!) * stride;
        found.push({
          box: { x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2 },
          classId: best,
          score,
        });
      }
    }
  }
  return found;
}

/**
 * Decodes a YOLOv8 output: [1, 4 + classes, N] as exported (channel-major), or the transposed
 * [1, N, 4 + classes] some exporters produce. Boxes are already cx, cy, w, h in input pixels.
 */
export function decodeYolov8(
  output: Float32Array,
  dims: readonly number[],
  cfg: YoloConfig,
  opts: DecodeOptions,
): Candidate[] {
  const per = 4 + cfg.numClasses;
  if (dims.length !== 3 || (dims[1] !== per && dims[2] !== per)) {
    throw new YoloInputError(
      `YOLOv8 output shape [${dims.join(',')}] has no axis of ${per} (4 box values + ${cfg.numClasses} classes)`,
    );
  }
  const channelMajor = dims[1] === per;
  const n = channelMajor ? dims[2]! : dims[1]!;
  if (output.length < n * per) {
    throw new YoloInputError(`YOLOv8 output has ${output.length} values, expected ${n * per}`);
  }
  const at = channelMajor
    ? (k: number, c: number) => output[c * n + k]!
    : (k: number, c: number) => output[k * per + c]!;
  const found: Candidate[] = [];
  for (let k = 0; k < n; k++) {
    let best = -1;
    let bestScore = 0;
    for (let c = 0; c < cfg.numClasses; c++) {
      const sc = at(k, 4 + c);
      if (sc > bestScore && (opts.classes === null || opts.classes.has(c))) {
        best = c;
        bestScore = sc;
      }
    }
    if (best < 0 || bestScore < opts.scoreThreshold) continue;
    const cx = at(k, 0);
    const cy = at(k, 1);
    const w = at(k, 2);
    const h = at(k, 3);
    found.push({
      box: { x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2 },
      classId: best,
      score: bestScore,
    });
  }
  return found;
}

export function decodeOutput(
  output: Float32Array,
  dims: readonly number[],
  cfg: YoloConfig,
  opts: DecodeOptions,
): Candidate[] {
  switch (cfg.layout) {
    case 'yolox':
      return decodeYolox(output, dims, cfg, opts);
    case 'yolov8':
      return decodeYolov8(output, dims, cfg, opts);
  }
}

// ---------------------------------------------------------------------------------------------
// NMS and mapping back

export function boxArea(b: Box): number {
  return Math.max(0, b.x2 - b.x1) * Math.max(0, b.y2 - b.y1);
}

export function iou(a: Box, b: Box): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = boxArea(a) + boxArea(b) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Greedy non-maximum suppression within each class: a box is dropped when it overlaps a better
 * one of the same class by more than `iouThreshold` (a person next to their suitcase keeps both).
 */
export function nmsByClass<T extends Candidate>(
  candidates: readonly T[],
  iouThreshold: number,
  maxDetections = 100,
): T[] {
  const sorted = [...candidates].sort((a, b) => b.score - a.score);
  const kept: T[] = [];
  for (const c of sorted) {
    if (kept.length >= maxDetections) break;
    let suppressed = false;
    for (const k of kept) {
      if (k.classId === c.classId && iou(k.box, c.box) > iouThreshold) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) kept.push(c);
  }
  return kept;
}

/** Maps a box from model input pixels back to frame pixels, clipped to the frame. */
export function unletterbox(box: Box, lb: Letterbox): Box {
  const clip = (v: number, max: number) => Math.min(Math.max(v, 0), max);
  return {
    x1: clip((box.x1 - lb.padX) / lb.scale, lb.frameWidth),
    y1: clip((box.y1 - lb.padY) / lb.scale, lb.frameHeight),
    x2: clip((box.x2 - lb.padX) / lb.scale, lb.frameWidth),
    y2: clip((box.y2 - lb.padY) / lb.scale, lb.frameHeight),
  };
}

export interface PostprocessOptions extends DecodeOptions {
  nmsThreshold: number;
  maxDetections?: number;
}

/** Output tensor → detections in frame pixels, best first. */
export function postprocess(
  output: Float32Array,
  dims: readonly number[],
  cfg: YoloConfig,
  lb: Letterbox,
  opts: PostprocessOptions,
): Detection[] {
  const kept = nmsByClass(
    decodeOutput(output, dims, cfg, opts),
    opts.nmsThreshold,
    opts.maxDetections,
  );
  const out: Detection[] = [];
  for (const c of kept) {
    const box = unletterbox(c.box, lb);
    // A box entirely in the padding maps to nothing in the frame.
    if (box.x2 - box.x1 < 1 || box.y2 - box.y1 < 1) continue;
    out.push({ box, classId: c.classId, label: labelOf(c.classId), score: c.score });
  }
  return out;
}
