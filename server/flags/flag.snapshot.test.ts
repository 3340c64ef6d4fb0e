import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../hardware/clock.ts';
import { reportMissing } from '../../test/harness/requirements.ts';
import { makeTempDir, type TempDir } from '../../test/harness/temp-dir.ts';
import { locateFfmpeg } from '../../vision/ffmpeg.locate.ts';
import type { FlagBox } from '../../vision/rules.types.ts';
import {
  createFfmpegJpegEncoder,
  createFlagSnapshots,
  drawFlagBoxes,
  labelColour,
  outlineWidth,
  SnapshotError,
  type JpegEncoder,
  type RgbImage,
  type Rgb,
} from './flag.snapshot.ts';

const GREY = 100;

function grey(width: number, height: number): RgbImage {
  return { width, height, rgb: new Uint8Array(width * height * 3).fill(GREY) };
}

const px = (img: { width: number; rgb: Uint8Array }, x: number, y: number): Rgb => {
  const i = (y * img.width + x) * 3;
  return { r: img.rgb[i]!, g: img.rgb[i + 1]!, b: img.rgb[i + 2]! };
};

const RED = labelColour('person 1');
const YELLOW = labelColour('slot B4');

describe('labelColour', () => {
  it('colours by the kind of thing boxed: people red, slots yellow, bags cyan', () => {
    expect(RED).toEqual({ r: 235, g: 30, b: 30 });
    expect(YELLOW).toEqual({ r: 255, g: 200, b: 0 });
    expect(labelColour('person 7 (95 s)')).toEqual(RED);
    expect(labelColour('Slot C2 emptied (4B)')).toEqual(YELLOW);
    expect(labelColour('suitcase')).toEqual(labelColour('backpack'));
  });
  it('gives other kinds a fixed colour of their own', () => {
    expect(labelColour('dog 3')).toEqual(labelColour('dog 9'));
    expect(labelColour('dog 3')).not.toEqual(RED);
    expect(labelColour('')).toBeDefined();
  });
});

describe('drawFlagBoxes', () => {
  const box = (x1: number, y1: number, x2: number, y2: number, label = 'person 1'): FlagBox => ({
    box: { x1, y1, x2, y2 },
    label,
  });

  it('outlines each box 2 px thick inside its edge on a small frame, leaving the inside alone', () => {
    const img = grey(320, 240);
    const out = drawFlagBoxes(img, [box(100, 120, 200, 220)]);
    expect(outlineWidth(img)).toBe(2);
    // Left edge: columns 100 and 101 drawn, 102 untouched.
    expect(px({ width: 320, rgb: out }, 100, 170)).toEqual(RED);
    expect(px({ width: 320, rgb: out }, 101, 170)).toEqual(RED);
    expect(px({ width: 320, rgb: out }, 102, 170)).toEqual({ r: GREY, g: GREY, b: GREY });
    // Right edge: x2 is exclusive, so columns 198 and 199.
    expect(px({ width: 320, rgb: out }, 199, 170)).toEqual(RED);
    expect(px({ width: 320, rgb: out }, 198, 170)).toEqual(RED);
    expect(px({ width: 320, rgb: out }, 200, 170)).toEqual({ r: GREY, g: GREY, b: GREY });
    // Bottom edge.
    expect(px({ width: 320, rgb: out }, 150, 219)).toEqual(RED);
    expect(px({ width: 320, rgb: out }, 150, 150)).toEqual({ r: GREY, g: GREY, b: GREY });
  });

  it('draws 3 px from 480 lines up, and does not touch the frame it was given', () => {
    const img = grey(640, 480);
    const before = Buffer.from(img.rgb);
    const out = drawFlagBoxes(img, [box(100, 200, 300, 400)]);
    expect(outlineWidth(img)).toBe(3);
    for (const x of [100, 101, 102]) expect(px({ width: 640, rgb: out }, x, 300)).toEqual(RED);
    expect(px({ width: 640, rgb: out }, 103, 300)).toEqual({ r: GREY, g: GREY, b: GREY });
    expect(Buffer.from(img.rgb).equals(before)).toBe(true);
  });

  it('writes the label on a tag of the box colour above the box, with dark ink on yellow', () => {
    const img = grey(320, 240);
    const out = { width: 320, rgb: drawFlagBoxes(img, [box(50, 100, 150, 200, 'slot B4')]) };
    // Tag: 7 px glyphs + 1 px padding each side = 9 rows, ending just above the box.
    const tagRows = [91, 92, 93, 94, 95, 96, 97, 98, 99];
    const colours = tagRows.flatMap((y) =>
      Array.from({ length: 40 }, (_, i) => px(out, 50 + i, y)),
    );
    expect(colours.some((c) => c.r === YELLOW.r && c.g === YELLOW.g && c.b === YELLOW.b)).toBe(
      true,
    );
    expect(colours.some((c) => c.r === 0 && c.g === 0 && c.b === 0)).toBe(true);
    // Nothing above the tag.
    expect(px(out, 55, 89)).toEqual({ r: GREY, g: GREY, b: GREY });
  });

  it('puts the tag inside the box when the box touches the top of the picture', () => {
    const img = grey(320, 240);
    const out = { width: 320, rgb: drawFlagBoxes(img, [box(10, 0, 120, 100)]) };
    const inside = Array.from({ length: 30 }, (_, i) => px(out, 14 + i, 4));
    expect(inside.some((c) => c.r === 255 && c.g === 255 && c.b === 255)).toBe(true);
  });

  it('clamps boxes to the picture and leaves out boxes with no area in it or no numbers', () => {
    const img = grey(100, 80);
    const out = drawFlagBoxes(img, [
      box(-20, -20, 50, 50),
      box(200, 10, 300, 40, 'slot far away'),
      box(Number.NaN, 1, 2, 3),
    ]);
    expect(px({ width: 100, rgb: out }, 0, 30)).toEqual(RED);
    expect(px({ width: 100, rgb: out }, 49, 40)).toEqual(RED);
    const yellow = [...Array(100 * 80).keys()].some((i) => {
      const c = px({ width: 100, rgb: out }, i % 100, Math.floor(i / 100));
      return c.r === YELLOW.r && c.g === YELLOW.g && c.b === YELLOW.b;
    });
    expect(yellow).toBe(false);
  });

  it('refuses a frame whose bytes do not match its size', () => {
    expect(() => drawFlagBoxes({ width: 10, height: 10, rgb: new Uint8Array(299) }, [])).toThrow(
      SnapshotError,
    );
    expect(() => drawFlagBoxes({ width: 0, height: 10, rgb: new Uint8Array(0) }, [])).toThrow(
      /positive whole pixels/,
    );
  });
});

const ffmpeg = locateFfmpeg();
if (!ffmpeg) reportMissing('ffmpeg', 'needed to encode flag snapshots; encoder tests skip');

/** Decodes a JPEG back to packed RGB with ffmpeg. */
function decodeJpeg(jpeg: Buffer): Uint8Array {
  const out = spawnSync(
    ffmpeg!.path,
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-i',
      'pipe:0',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ],
    { input: jpeg, maxBuffer: 64 * 1024 * 1024 },
  );
  if (out.status !== 0) throw new Error(`decode failed: ${out.stderr.toString()}`);
  return new Uint8Array(out.stdout);
}

const near = (a: Rgb, b: Rgb, tol = 40) =>
  Math.abs(a.r - b.r) <= tol && Math.abs(a.g - b.g) <= tol && Math.abs(a.b - b.b) <= tol;

describe.runIf(ffmpeg)('createFfmpegJpegEncoder (real ffmpeg)', () => {
  let dir: TempDir | undefined;
  afterEach(async () => {
    await dir?.cleanup();
    dir = undefined;
  });

  it('encodes the drawn frame so the outline survives as the label colour', async () => {
    const img = grey(320, 240);
    const drawn = drawFlagBoxes(img, [
      { box: { x1: 40, y1: 60, x2: 160, y2: 200 }, label: 'person 3' },
    ]);
    const encoder = createFfmpegJpegEncoder({ ffmpegPath: ffmpeg!.path, clock: systemClock() });
    const jpeg = await encoder.encode({ width: 320, height: 240, rgb: drawn });
    expect(jpeg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    const back = { width: 320, rgb: decodeJpeg(jpeg) };
    expect(back.rgb.length).toBe(320 * 240 * 3);
    expect(near(px(back, 40, 130), RED)).toBe(true);
    expect(near(px(back, 100, 130), { r: GREY, g: GREY, b: GREY }, 12)).toBe(true);
  });

  it('rejects with a SnapshotError when ffmpeg cannot be started', async () => {
    const encoder = createFfmpegJpegEncoder({
      ffmpegPath: '/nonexistent/ffmpeg',
      clock: systemClock(),
    });
    await expect(encoder.encode(grey(16, 16))).rejects.toThrow(SnapshotError);
  });

  it('writes DATA_DIR/flags/<id>.jpg through createFlagSnapshots', async () => {
    dir = await makeTempDir('parcelroom-snap');
    const snaps = createFlagSnapshots({
      dataDir: dir.path,
      encoder: createFfmpegJpegEncoder({ ffmpegPath: ffmpeg!.path, clock: systemClock() }),
    });
    const out = await snaps.write('flag-1', 'room-cam', { ...grey(64, 48), cameraId: 'room-cam' }, [
      { box: { x1: 5, y1: 5, x2: 30, y2: 30 }, label: 'person 1' },
    ]);
    expect(out).toMatchObject({ kind: 'written', path: 'flags/flag-1.jpg' });
    const file = join(dir.path, 'flags', 'flag-1.jpg');
    expect(existsSync(file)).toBe(true);
    expect(existsSync(`${file}.part`)).toBe(false);
    expect(readFileSync(file).subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
  });
});

describe('createFlagSnapshots without a picture to make', () => {
  /** Strict: none of these cases may reach the encoder or the disk. */
  const encoder: JpegEncoder = {
    encode: () => Promise.reject(new Error('unexpected encode')),
  };
  const files = {
    write: () => Promise.reject(new Error('unexpected write')),
    remove: () => Promise.reject(new Error('unexpected remove')),
    list: () => Promise.reject(new Error('unexpected list')),
    read: () => Promise.reject(new Error('unexpected read')),
  };
  const snaps = createFlagSnapshots({ dataDir: '/nowhere', encoder, files });

  it('says why: no frame, a frame of another camera, a frame that does not add up', async () => {
    expect(await snaps.write('f1', 'room-cam', undefined, [])).toMatchObject({
      kind: 'none',
      reason: 'no_frame',
    });
    expect(
      await snaps.write('f1', 'room-cam', { ...grey(8, 8), cameraId: 'door-cam' }, []),
    ).toMatchObject({ kind: 'none', reason: 'bad_frame', message: /door-cam/ });
    expect(
      await snaps.write('f1', 'room-cam', { width: 8, height: 8, rgb: new Uint8Array(5) }, []),
    ).toMatchObject({ kind: 'none', reason: 'bad_frame' });
  });

  it('reports a box without ffmpeg as no_ffmpeg, and an encoder failure as failed', async () => {
    const none = createFlagSnapshots({ dataDir: '/nowhere', encoder: null, files });
    expect(await none.write('f1', 'room-cam', grey(8, 8), [])).toMatchObject({
      kind: 'none',
      reason: 'no_ffmpeg',
    });
    const failing = createFlagSnapshots({
      dataDir: '/nowhere',
      encoder: { encode: () => Promise.reject(new SnapshotError('ffmpeg exited with 1: boom')) },
      files,
    });
    expect(await failing.write('f1', 'room-cam', grey(8, 8), [])).toMatchObject({
      kind: 'none',
      reason: 'failed',
      message: /boom/,
    });
  });
});
