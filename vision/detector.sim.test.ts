import { describe, expect, it } from 'vitest';
import { createSimDetector, SimDetectorError } from './detector.sim.ts';
import type { Detection, Frame } from './vision.ports.ts';

const frame = (at: number): Frame => ({
  cameraId: 'cam',
  at,
  width: 4,
  height: 4,
  rgb: new Uint8Array(48),
});
const person = (x1: number, score = 0.9): Detection => ({
  box: { x1, y1: 10, x2: x1 + 50, y2: 150 },
  classId: 0,
  label: 'person',
  score,
});

describe('sim detector: call by call', () => {
  it('answers each call with its scripted reply and fails on one call too many', async () => {
    const d = createSimDetector({
      script: {
        kind: 'calls',
        replies: [
          { kind: 'detections', detections: [person(10)] },
          { kind: 'detections', detections: [] },
          { kind: 'fail', message: 'model crashed' },
        ],
      },
    });
    expect(d.remaining()).toBe(3);
    expect(await d.detect(frame(0))).toEqual([person(10)]);
    expect(await d.detect(frame(200))).toEqual([]);
    await expect(d.detect(frame(400))).rejects.toThrow('model crashed');
    expect(d.remaining()).toBe(0);
    await expect(d.detect(frame(600))).rejects.toThrow(/called 4 times but scripted for 3/);
    expect(d.frames.map((f) => f.at)).toEqual([0, 200, 400, 600]);
  });

  it('hands out copies, so a caller cannot change the script', async () => {
    const d = createSimDetector({
      script: {
        kind: 'calls',
        replies: [
          { kind: 'detections', detections: [person(10)] },
          { kind: 'detections', detections: [person(10)] },
        ],
      },
    });
    const first = await d.detect(frame(0));
    first[0]!.box.x1 = 999;
    expect((await d.detect(frame(1)))[0]!.box.x1).toBe(10);
  });

  it('refuses frames after close()', async () => {
    const d = createSimDetector({
      script: { kind: 'calls', replies: [{ kind: 'detections', detections: [] }] },
    });
    await d.close();
    await expect(d.detect(frame(0))).rejects.toBeInstanceOf(SimDetectorError);
  });
});

describe('sim detector: by frame time', () => {
  it('answers by the span the frame time falls in and fails outside every span', async () => {
    const d = createSimDetector({
      script: {
        kind: 'timeline',
        spans: [
          { fromMs: 0, toMs: 1000, reply: { kind: 'detections', detections: [] } },
          { fromMs: 1000, toMs: 3000, reply: { kind: 'detections', detections: [person(5)] } },
        ],
      },
    });
    expect(await d.detect(frame(999))).toEqual([]);
    expect(await d.detect(frame(1000))).toEqual([person(5)]);
    expect(await d.detect(frame(2999))).toEqual([person(5)]);
    await expect(d.detect(frame(3000))).rejects.toThrow(/no reply scripted for a frame at 3000 ms/);
  });

  it('refuses an empty span when built', () => {
    expect(() =>
      createSimDetector({
        script: {
          kind: 'timeline',
          spans: [{ fromMs: 5, toMs: 5, reply: { kind: 'detections', detections: [] } }],
        },
      }),
    ).toThrow(/empty/);
  });
});
