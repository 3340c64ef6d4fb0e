import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  reportMissing,
  requireModel,
  TEST_FIXTURES_DIR,
  TEST_MODEL_PATH,
} from '../test/harness/requirements.ts';
import { makeTempDir, type TempDir } from '../test/harness/temp-dir.ts';
import { createOnnxDetector, DetectorError, type OnnxDetector } from './detector.onnx.ts';
import { locateFfmpeg } from './ffmpeg.locate.ts';
import { readStillPicture } from './frame.source.ts';
import type { Frame } from './vision.ports.ts';
import { iou } from './yolo.decode.ts';

const MODEL = TEST_MODEL_PATH;
const FIXTURES = TEST_FIXTURES_DIR;
const ffmpeg = locateFfmpeg();
const haveModel = requireModel('detector tests skip');
if (!ffmpeg) reportMissing('ffmpeg', 'needed to decode the test pictures; detector tests skip');

async function picture(name: string): Promise<Frame> {
  const still = await readStillPicture({ ffmpeg: ffmpeg!, path: join(FIXTURES, name) });
  return { cameraId: 'test-cam', at: 0, ...still };
}

describe('createOnnxDetector: failures name the model', () => {
  let dir: TempDir;
  beforeAll(async () => {
    dir = await makeTempDir('detector');
  });
  afterAll(async () => {
    await dir.cleanup();
  });

  it('a missing model file is a model_missing error naming the path', async () => {
    const path = join(dir.path, 'nope.onnx');
    const err = await createOnnxDetector({ modelPath: path }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DetectorError);
    expect(err).toMatchObject({ kind: 'model_missing', modelPath: path });
    expect((err as Error).message).toContain(path);
  });

  it('a file that is not a model is a model_invalid error naming the path', async () => {
    const path = join(dir.path, 'garbage.onnx');
    await writeFile(path, 'this is not protobuf');
    const err = await createOnnxDetector({ modelPath: path }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'model_invalid', modelPath: path });
    expect((err as Error).message).toContain(path);
  });

  it('a runtime that cannot load is runtime_missing (the server shows a missing part)', async () => {
    const err = await createOnnxDetector({
      modelPath: MODEL,
      importRuntime: () => Promise.reject(new Error('libonnxruntime.so: cannot open')),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'runtime_missing' });
    expect((err as Error).message).toMatch(/cannot open/);
  });
});

describe.runIf(haveModel && ffmpeg)('YOLOX-nano on the real model', () => {
  let all: OnnxDetector;
  let room: OnnxDetector;
  beforeAll(async () => {
    all = await createOnnxDetector({ modelPath: MODEL, classes: 'all' });
    room = await createOnnxDetector({ modelPath: MODEL });
  }, 30_000);
  afterAll(async () => {
    await all?.close();
    await room?.close();
  });

  it('reads the input size and names from the model', () => {
    expect(all.info).toEqual({ model: 'yolox_nano.onnx', inputWidth: 416, inputHeight: 416 });
    expect(all.config.layout).toBe('yolox');
  });

  it('finds the person in person.png with a box over them', async () => {
    const frame = await picture('person.png');
    expect([frame.width, frame.height]).toEqual([900, 916]);
    const dets = await room.detect(frame);
    const people = dets.filter((d) => d.classId === 0);
    expect(people).toHaveLength(1);
    const p = people[0]!;
    expect(p.label).toBe('person');
    expect(p.score).toBeGreaterThan(0.5);
    // The man fills the picture from the hair (y ≈ 100) down to the bottom edge, shoulders from
    // x ≈ 35 to x ≈ 860 (looked up in the picture).
    expect(iou(p.box, { x1: 35, y1: 100, x2: 860, y2: 916 })).toBeGreaterThan(0.85);
    expect(p.box.y1).toBeGreaterThan(60);
    expect(p.box.y1).toBeLessThan(160);
    // Only the package room's classes: the tie (27) the full model also sees is left out.
    expect(dets.every((d) => [0, 24, 26, 28].includes(d.classId))).toBe(true);
  });

  it('finds the dog, the bicycle and the car, and no person, in the street picture', async () => {
    const frame = await picture('street_dog_bicycle_car.jpg');
    const dets = await all.detect(frame);
    const best = (label: string) =>
      Math.max(0, ...dets.filter((d) => d.label === label).map((d) => d.score));
    expect(best('dog')).toBeGreaterThan(0.6);
    expect(best('bicycle')).toBeGreaterThan(0.6);
    expect(best('car')).toBeGreaterThan(0.6);
    expect(best('person')).toBe(0);
    // Where each one is (looked up in the picture, 768×576): the boxes must sit on them.
    const on = (label: string, where: { x1: number; y1: number; x2: number; y2: number }) =>
      Math.max(0, ...dets.filter((d) => d.label === label).map((d) => iou(d.box, where)));
    expect(on('dog', { x1: 133, y1: 210, x2: 325, y2: 540 })).toBeGreaterThan(0.8);
    expect(on('car', { x1: 470, y1: 80, x2: 690, y2: 170 })).toBeGreaterThan(0.8);
    expect(on('bicycle', { x1: 125, y1: 140, x2: 570, y2: 420 })).toBeGreaterThan(0.7);
    expect(await room.detect(frame)).toEqual([]);
  });

  it('sees nothing in a blank grey frame', async () => {
    const frame: Frame = {
      cameraId: 'test-cam',
      at: 0,
      width: 640,
      height: 360,
      rgb: new Uint8Array(640 * 360 * 3).fill(128),
    };
    expect(await all.detect(frame)).toEqual([]);
  });

  it('answers overlapping calls one after the other with the same result', async () => {
    const frame = await picture('person.png');
    const grey: Frame = { ...frame, rgb: new Uint8Array(frame.rgb.length).fill(128) };
    const [a, b, c] = await Promise.all([
      room.detect(frame),
      room.detect(grey),
      room.detect(frame),
    ]);
    expect(a).toEqual(c);
    expect(a.length).toBeGreaterThan(0);
    expect(b).toEqual([]);
  });

  it('rejects a malformed frame with bad_frame and keeps working', async () => {
    const bad: Frame = {
      cameraId: 'cam-x',
      at: 0,
      width: 100,
      height: 100,
      rgb: new Uint8Array(7),
    };
    const err = await room.detect(bad).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'bad_frame' });
    expect((err as Error).message).toMatch(/cam-x/);
    expect((await room.detect(await picture('person.png'))).length).toBe(1);
  });

  it('refuses frames after close()', async () => {
    const d = await createOnnxDetector({ modelPath: MODEL, intraOpNumThreads: 1 });
    const frame = await picture('person.png');
    const pending = d.detect(frame);
    await d.close();
    expect((await pending).length).toBe(1); // asked before close: still answered
    await expect(d.detect(frame)).rejects.toMatchObject({ kind: 'closed' });
  });

  it('refuses a config that does not fit the model', async () => {
    await expect(
      createOnnxDetector({ modelPath: MODEL, inputWidth: 640, inputHeight: 640 }),
    ).rejects.toMatchObject({ kind: 'model_mismatch' });
  });
});
