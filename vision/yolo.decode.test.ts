import { describe, expect, it } from 'vitest';
import {
  allocateInput,
  COCO_LABELS,
  decodeYolov8,
  decodeYolox,
  iou,
  letterboxInto,
  nmsByClass,
  planLetterbox,
  postprocess,
  unletterbox,
  yoloxAnchorCount,
  YoloInputError,
  YOLOV8_640,
  YOLOX_NANO,
  type Candidate,
  type YoloConfig,
} from './yolo.decode.ts';

const solid = (w: number, h: number, r: number, g: number, b: number): Uint8Array => {
  const out = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) out.set([r, g, b], i * 3);
  return out;
};

const tiny = (over: Partial<YoloConfig>): YoloConfig => ({
  ...YOLOX_NANO,
  inputWidth: 8,
  inputHeight: 8,
  ...over,
});

describe('letterbox', () => {
  it('places the picture top-left and pads bottom/right for YOLOX (its preproc)', () => {
    const lb = planLetterbox(1280, 720, YOLOX_NANO);
    expect(lb.scale).toBeCloseTo(416 / 1280, 9);
    expect(lb).toMatchObject({ padX: 0, padY: 0, resizedWidth: 416, resizedHeight: 234 });
    // person.png, taller than wide: the padding is on the right.
    expect(planLetterbox(900, 916, YOLOX_NANO)).toMatchObject({
      padX: 0,
      padY: 0,
      resizedWidth: 408, // int(900 × 416/916) as YOLOX truncates
      resizedHeight: 416,
    });
  });

  it('writes BGR planes of raw 0-255 values and 114 in the padding (YOLOX)', () => {
    const cfg = tiny({});
    const out = allocateInput(cfg);
    // 4×2 frame → scale 2 → 8×4 picture in rows 0-3; rows 4-7 padding.
    const lb = letterboxInto(solid(4, 2, 10, 20, 30), 4, 2, cfg, out);
    expect(lb).toMatchObject({ scale: 2, resizedWidth: 8, resizedHeight: 4, padX: 0, padY: 0 });
    const at = (plane: number, x: number, y: number) => out[plane * 64 + y * 8 + x];
    for (const [x, y] of [
      [0, 0],
      [7, 3],
      [3, 2],
    ] as const) {
      expect([at(0, x, y), at(1, x, y), at(2, x, y)]).toEqual([30, 20, 10]); // B, G, R
    }
    for (const [x, y] of [
      [0, 4],
      [7, 7],
    ] as const) {
      expect([at(0, x, y), at(1, x, y), at(2, x, y)]).toEqual([114, 114, 114]);
    }
  });

  it('centres the picture and scales to 0..1 RGB for YOLOv8-style models', () => {
    const cfg = tiny({ ...YOLOV8_640, inputWidth: 8, inputHeight: 8 });
    const out = allocateInput(cfg);
    const lb = letterboxInto(solid(4, 2, 255, 0, 51), 4, 2, cfg, out);
    expect(lb).toMatchObject({ padX: 0, padY: 2 });
    const at = (plane: number, x: number, y: number) => out[plane * 64 + y * 8 + x]!;
    expect(at(0, 0, 2)).toBeCloseTo(1, 6); // R first
    expect(at(2, 0, 2)).toBeCloseTo(0.2, 6);
    expect(at(0, 0, 0)).toBeCloseTo(114 / 255, 6); // top padding
    expect(at(0, 0, 7)).toBeCloseTo(114 / 255, 6); // bottom padding
    expect(at(0, 0, 5)).toBeCloseTo(1, 6);
  });

  it('resizes bilinearly with half-pixel centres like cv2.resize', () => {
    const cfg = tiny({ inputWidth: 2, inputHeight: 2, channelOrder: 'rgb' });
    const out = allocateInput(cfg);
    const rgb = new Uint8Array([0, 0, 0, 100, 0, 0, 200, 0, 0, 250, 0, 0]); // 4×1, R ramp
    letterboxInto(rgb, 4, 1, cfg, out);
    // dst x0 ← src 0.5 (between 0 and 100), dst x1 ← src 2.5 (between 200 and 250).
    expect(out[0]).toBeCloseTo(50, 5);
    expect(out[1]).toBeCloseTo(225, 5);
    expect(out[2]).toBe(114); // row 1 is padding
  });

  it('copies a frame of the input size unchanged', () => {
    const cfg = tiny({ channelOrder: 'rgb' });
    const rgb = new Uint8Array(8 * 8 * 3).map((_, i) => (i * 37) % 256);
    const out = allocateInput(cfg);
    letterboxInto(rgb, 8, 8, cfg, out);
    for (let p = 0; p < 64; p++) {
      expect([out[p], out[64 + p], out[128 + p]]).toEqual([
        rgb[p * 3],
        rgb[p * 3 + 1],
        rgb[p * 3 + 2],
      ]);
    }
  });

  it('refuses a frame whose byte count does not match its size', () => {
    const cfg = tiny({});
    expect(() => letterboxInto(new Uint8Array(10), 4, 2, cfg, allocateInput(cfg))).toThrow(
      YoloInputError,
    );
    expect(() => planLetterbox(0, 10, cfg)).toThrow(/positive size/);
  });
});

describe('YOLOX decode', () => {
  const per = 85;
  const n = yoloxAnchorCount(YOLOX_NANO);
  const dims = [1, n, per];
  const put = (
    out: Float32Array,
    index: number,
    v: { tx: number; ty: number; tw: number; th: number; obj: number; cls: number; score: number },
  ) => {
    out.set([v.tx, v.ty, v.tw, v.th, v.obj], index * per);
    out[index * per + 5 + v.cls] = v.score;
  };

  it('has 3549 anchor points for 416×416', () => {
    expect(n).toBe(52 * 52 + 26 * 26 + 13 * 13);
    expect(n).toBe(3549);
  });

  it('decodes grid offsets, log sizes and obj × cls on the right stride grid', () => {
    const out = new Float32Array(n * per);
    // Stride 16 grid starts after the 52×52 stride-8 grid; cell (gx 5, gy 7) is row-major.
    put(out, 2704 + 7 * 26 + 5, {
      tx: 0.5,
      ty: 0.25,
      tw: Math.log(4),
      th: Math.log(2),
      obj: 0.9,
      cls: 0,
      score: 0.8,
    });
    // Stride 32, cell (gx 12, gy 0): a suitcase.
    put(out, 2704 + 676 + 12, { tx: 0, ty: 0, tw: 0, th: 0, obj: 0.7, cls: 28, score: 0.9 });
    const found = decodeYolox(out, dims, YOLOX_NANO, { scoreThreshold: 0.3, classes: null });
    expect(found).toHaveLength(2);
    const person = found.find((c) => c.classId === 0)!;
    expect(person.score).toBeCloseTo(0.72, 6);
    expect(person.box.x1).toBeCloseTo(88 - 32, 4);
    expect(person.box.x2).toBeCloseTo(88 + 32, 4);
    expect(person.box.y1).toBeCloseTo(116 - 16, 4);
    expect(person.box.y2).toBeCloseTo(116 + 16, 4);
    const suitcase = found.find((c) => c.classId === 28)!;
    expect(suitcase.box.x1).toBeCloseTo(12 * 32 - 16, 4);
    expect(suitcase.score).toBeCloseTo(0.63, 6);
  });

  it('keeps only the wanted classes and scores above the threshold', () => {
    const out = new Float32Array(n * per);
    put(out, 10, { tx: 0, ty: 0, tw: 0, th: 0, obj: 0.9, cls: 16, score: 0.95 }); // dog
    put(out, 20, { tx: 0, ty: 0, tw: 0, th: 0, obj: 0.5, cls: 0, score: 0.5 }); // person 0.25
    const only = (classes: number[]) =>
      decodeYolox(out, dims, YOLOX_NANO, { scoreThreshold: 0.2, classes: new Set(classes) });
    expect(only([0]).map((c) => c.classId)).toEqual([0]);
    expect(only([0, 16]).map((c) => c.classId)).toEqual([16, 0]);
    expect(
      decodeYolox(out, dims, YOLOX_NANO, { scoreThreshold: 0.3, classes: new Set([0]) }),
    ).toEqual([]);
  });

  it('refuses an output of the wrong shape, naming the expected one', () => {
    expect(() =>
      decodeYolox(new Float32Array(10), [1, 8400, 85], YOLOX_NANO, {
        scoreThreshold: 0.3,
        classes: null,
      }),
    ).toThrow(/\[1,3549,85\]/);
  });
});

describe('YOLOv8 decode', () => {
  const cfg = { ...YOLOV8_640, numClasses: 3 };
  it('reads channel-major [1, 4+C, N] and the transposed layout alike', () => {
    const N = 4;
    const rows = [
      [100, 200, 40, 80, 0.1, 0.9, 0.0], // class 1, 0.9
      [300, 300, 10, 10, 0.05, 0.1, 0.2], // below threshold
      [50, 60, 20, 20, 0.6, 0.0, 0.0], // class 0, 0.6
      [0, 0, 0, 0, 0, 0, 0],
    ];
    const channelMajor = new Float32Array(7 * N);
    rows.forEach((r, k) => r.forEach((v, c) => (channelMajor[c * N + k] = v)));
    const a = decodeYolov8(channelMajor, [1, 7, N], cfg, { scoreThreshold: 0.25, classes: null });
    const b = decodeYolov8(new Float32Array(rows.flat()), [1, N, 7], cfg, {
      scoreThreshold: 0.25,
      classes: null,
    });
    expect(a).toEqual(b);
    expect(a.map((c) => [c.classId, Math.round(c.score * 100)])).toEqual([
      [1, 90],
      [0, 60],
    ]);
    expect(a[0]!.box).toEqual({ x1: 80, y1: 160, x2: 120, y2: 240 });
  });
});

describe('NMS and mapping back', () => {
  const cand = (x1: number, classId: number, score: number): Candidate => ({
    box: { x1, y1: 0, x2: x1 + 100, y2: 100 },
    classId,
    score,
  });

  it('suppresses overlaps within a class only', () => {
    const kept = nmsByClass([cand(0, 0, 0.8), cand(10, 0, 0.9), cand(5, 28, 0.7)], 0.45);
    expect(kept.map((c) => [c.classId, c.score])).toEqual([
      [0, 0.9],
      [28, 0.7],
    ]);
    // Side by side (no overlap above the bar): both stay.
    expect(nmsByClass([cand(0, 0, 0.8), cand(90, 0, 0.9)], 0.45)).toHaveLength(2);
  });

  it('computes IoU', () => {
    expect(iou({ x1: 0, y1: 0, x2: 10, y2: 10 }, { x1: 5, y1: 0, x2: 15, y2: 10 })).toBeCloseTo(
      1 / 3,
      9,
    );
    expect(iou({ x1: 0, y1: 0, x2: 10, y2: 10 }, { x1: 10, y1: 0, x2: 20, y2: 10 })).toBe(0);
  });

  it('maps model boxes back to frame pixels and clips them to the frame', () => {
    const lb = planLetterbox(1280, 720, YOLOX_NANO);
    const s = lb.scale;
    const frameBox = { x1: 100, y1: 200, x2: 300, y2: 700 };
    const modelBox = {
      x1: frameBox.x1 * s,
      y1: frameBox.y1 * s,
      x2: frameBox.x2 * s,
      y2: frameBox.y2 * s,
    };
    const back = unletterbox(modelBox, lb);
    expect(back.x1).toBeCloseTo(100, 6);
    expect(back.y2).toBeCloseTo(700, 6);
    // A box running into the bottom padding is clipped at the frame's edge.
    expect(unletterbox({ x1: 10, y1: 200, x2: 50, y2: 300 }, lb).y2).toBe(720);

    const centred = planLetterbox(1280, 720, YOLOV8_640);
    expect(centred.padY).toBe(140);
    const c = unletterbox({ x1: 0, y1: 140, x2: 640, y2: 500 }, centred);
    expect(c).toEqual({ x1: 0, y1: 0, x2: 1280, y2: 720 });
  });

  it('postprocess: decode, NMS, unletterbox and COCO labels', () => {
    const n = yoloxAnchorCount(YOLOX_NANO);
    const out = new Float32Array(n * 85);
    // Two neighbouring stride-32 cells see the same person; one box survives.
    for (const [gx, obj] of [
      [3, 0.9],
      [4, 0.8],
    ] as const) {
      const i = 2704 + 676 + 2 * 13 + gx;
      out.set([0.5, 0.5, Math.log(3), Math.log(5), obj], i * 85);
      out[i * 85 + 5] = 0.95;
    }
    const lb = planLetterbox(832, 832, YOLOX_NANO); // scale 0.5
    const dets = postprocess(out, [1, n, 85], YOLOX_NANO, lb, {
      scoreThreshold: 0.3,
      nmsThreshold: 0.45,
      classes: null,
    });
    expect(dets).toHaveLength(1);
    expect(dets[0]!.label).toBe('person');
    expect(dets[0]!.score).toBeCloseTo(0.855, 6);
    // Centre (3.5 × 32, 2.5 × 32) = (112, 80) model px → (224, 160) frame px; 96×160 → 192×320.
    expect(dets[0]!.box.x1).toBeCloseTo(224 - 96, 3);
    expect(dets[0]!.box.y2).toBeCloseTo(160 + 160, 3);
  });

  it('labels the COCO classes the package room uses', () => {
    expect(COCO_LABELS).toHaveLength(80);
    expect([0, 24, 26, 28].map((c) => COCO_LABELS[c])).toEqual([
      'person',
      'backpack',
      'handbag',
      'suitcase',
    ]);
  });
});
