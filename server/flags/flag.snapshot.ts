/**
 * The picture a reviewer sees first: the analysed frame the rule decided on, with the people and
 * slots it is about boxed and labelled ("person 7 (95 s)", "slot B4 emptied (4B)"), saved as a
 * JPEG under `DATA_DIR/flags/<flag id>.jpg`.
 *
 * Drawing is plain pixel work on the packed RGB frame (no image library): outlines 2 px thick on
 * small frames and 3 px from 480 lines up, drawn inside the box so the box edge itself is
 * coloured, and a label tag above the box (inside it when the box touches the top) in a small
 * bitmap font. The colour follows the label's first word, the kind of thing boxed: people red,
 * slots yellow, bags cyan, anything else a fixed colour picked from the word, so a grab snapshot
 * tells the taker from the slots at a glance.
 *
 * Encoding is ffmpeg's MJPEG encoder fed the raw frame on stdin (`-f rawvideo -pix_fmt rgb24`),
 * the JPEG read back from stdout: no image dependency, the same ffmpeg the recorder uses. Full
 * chroma (yuvj444p) keeps 2 px coloured outlines from bleeding into the picture.
 */
import { spawn as nodeSpawn } from 'node:child_process';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Clock } from '../../hardware/clock.ts';
import type { FlagBox } from '../../vision/rules.types.ts';

/** Packed RGB, row-major, 3 bytes a pixel: what the analytics decode (vision Frame fits). */
export interface RgbImage {
  width: number;
  height: number;
  rgb: Uint8Array;
}

export interface Rgb {
  r: number;
  g: number;
  b: number;
}

/** Thrown for a picture that cannot be drawn or encoded; the flag itself is kept regardless. */
export class SnapshotError extends Error {
  override readonly name = 'SnapshotError';
}

// -- colours ----------------------------------------------------------------------------------

/** The kinds of thing the rules box, by the first word of the label. */
const KIND_COLOURS: Readonly<Record<string, Rgb>> = {
  person: { r: 235, g: 30, b: 30 },
  slot: { r: 255, g: 200, b: 0 },
  backpack: { r: 0, g: 210, b: 230 },
  handbag: { r: 0, g: 210, b: 230 },
  suitcase: { r: 0, g: 210, b: 230 },
  bag: { r: 0, g: 210, b: 230 },
};

/** Saturated, mutually distinct colours for labels of any other kind. */
const OTHER_COLOURS: readonly Rgb[] = [
  { r: 40, g: 220, b: 60 },
  { r: 255, g: 120, b: 0 },
  { r: 220, g: 40, b: 220 },
  { r: 60, g: 120, b: 255 },
  { r: 255, g: 255, b: 255 },
];

/** The colour a label's box is drawn in (exported so tests and the console can match it). */
export function labelColour(label: string): Rgb {
  const word = (/^[A-Za-z]+/.exec(label.trim())?.[0] ?? '').toLowerCase();
  const known = KIND_COLOURS[word];
  if (known) return known;
  // FNV-1a of the word: the same kind gets the same colour in every snapshot.
  let h = 0x811c9dc5;
  for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 0x01000193) >>> 0;
  return OTHER_COLOURS[h % OTHER_COLOURS.length]!;
}

// -- bitmap font ------------------------------------------------------------------------------

const GLYPH_W = 5;
const GLYPH_H = 7;

/** 5×7 glyphs, one string a row, `#` lit. Labels are shown in capitals. */
const GLYPHS: Readonly<Record<string, string>> = {
  A: '.###.|#...#|#...#|#####|#...#|#...#|#...#',
  B: '####.|#...#|#...#|####.|#...#|#...#|####.',
  C: '.###.|#...#|#....|#....|#....|#...#|.###.',
  D: '####.|#...#|#...#|#...#|#...#|#...#|####.',
  E: '#####|#....|#....|####.|#....|#....|#####',
  F: '#####|#....|#....|####.|#....|#....|#....',
  G: '.###.|#...#|#....|#.###|#...#|#...#|.####',
  H: '#...#|#...#|#...#|#####|#...#|#...#|#...#',
  I: '.###.|..#..|..#..|..#..|..#..|..#..|.###.',
  J: '..###|...#.|...#.|...#.|...#.|#..#.|.##..',
  K: '#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#',
  L: '#....|#....|#....|#....|#....|#....|#####',
  M: '#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#',
  N: '#...#|#...#|##..#|#.#.#|#..##|#...#|#...#',
  O: '.###.|#...#|#...#|#...#|#...#|#...#|.###.',
  P: '####.|#...#|#...#|####.|#....|#....|#....',
  Q: '.###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#',
  R: '####.|#...#|#...#|####.|#.#..|#..#.|#...#',
  S: '.####|#....|#....|.###.|....#|....#|####.',
  T: '#####|..#..|..#..|..#..|..#..|..#..|..#..',
  U: '#...#|#...#|#...#|#...#|#...#|#...#|.###.',
  V: '#...#|#...#|#...#|#...#|#...#|.#.#.|..#..',
  W: '#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.',
  X: '#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#',
  Y: '#...#|#...#|.#.#.|..#..|..#..|..#..|..#..',
  Z: '#####|....#|...#.|..#..|.#...|#....|#####',
  '0': '.###.|#...#|#..##|#.#.#|##..#|#...#|.###.',
  '1': '..#..|.##..|..#..|..#..|..#..|..#..|.###.',
  '2': '.###.|#...#|....#|...#.|..#..|.#...|#####',
  '3': '####.|....#|....#|.###.|....#|....#|####.',
  '4': '...#.|..##.|.#.#.|#..#.|#####|...#.|...#.',
  '5': '#####|#....|####.|....#|....#|#...#|.###.',
  '6': '..##.|.#...|#....|####.|#...#|#...#|.###.',
  '7': '#####|....#|...#.|..#..|.#...|.#...|.#...',
  '8': '.###.|#...#|#...#|.###.|#...#|#...#|.###.',
  '9': '.###.|#...#|#...#|.####|....#|...#.|.##..',
  ' ': '.....|.....|.....|.....|.....|.....|.....',
  '(': '...#.|..#..|.#...|.#...|.#...|..#..|...#.',
  ')': '.#...|..#..|...#.|...#.|...#.|..#..|.#...',
  '-': '.....|.....|.....|.###.|.....|.....|.....',
  '.': '.....|.....|.....|.....|.....|.##..|.##..',
  ',': '.....|.....|.....|.....|.##..|..#..|.#...',
  ':': '.....|.##..|.##..|.....|.##..|.##..|.....',
  '/': '....#|....#|...#.|..#..|.#...|#....|#....',
  '%': '##..#|##..#|...#.|..#..|.#...|#..##|#..##',
  '#': '.#.#.|.#.#.|#####|.#.#.|#####|.#.#.|.#.#.',
  '+': '.....|..#..|..#..|#####|..#..|..#..|.....',
  "'": '..#..|..#..|.#...|.....|.....|.....|.....',
  _: '.....|.....|.....|.....|.....|.....|#####',
  '?': '.###.|#...#|....#|...#.|..#..|.....|..#..',
};

/** Each glyph as lit (x, y) cells, parsed once. */
const GLYPH_CELLS: ReadonlyMap<string, readonly { x: number; y: number }[]> = new Map(
  Object.entries(GLYPHS).map(([ch, rows]) => [
    ch,
    rows.split('|').flatMap((row, y) => [...row].flatMap((c, x) => (c === '#' ? [{ x, y }] : []))),
  ]),
);

const glyphOf = (ch: string) =>
  GLYPH_CELLS.get(ch.toUpperCase()) ?? GLYPH_CELLS.get('?') ?? ([] as const);

// -- drawing ----------------------------------------------------------------------------------

/** Outline thickness for a frame: 2 px on sub-streams below 480 lines, 3 px from there up. */
export function outlineWidth(image: { width: number; height: number }): number {
  return Math.min(image.width, image.height) >= 480 ? 3 : 2;
}

function checkImage(image: RgbImage): void {
  const { width, height, rgb } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new SnapshotError(`frame size must be positive whole pixels, got ${width}x${height}`);
  }
  if (!(rgb instanceof Uint8Array) || rgb.length !== width * height * 3) {
    throw new SnapshotError(
      `frame of ${width}x${height} needs ${width * height * 3} RGB bytes, got ${rgb?.length ?? 0}`,
    );
  }
}

/** A rectangle of whole pixels, inclusive, clamped to the picture. */
interface PixelRect {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

function fillRect(out: Uint8Array, width: number, height: number, r: PixelRect, c: Rgb): void {
  const x1 = Math.max(0, r.x1);
  const y1 = Math.max(0, r.y1);
  const x2 = Math.min(width - 1, r.x2);
  const y2 = Math.min(height - 1, r.y2);
  for (let y = y1; y <= y2; y++) {
    let i = (y * width + x1) * 3;
    for (let x = x1; x <= x2; x++, i += 3) {
      out[i] = c.r;
      out[i + 1] = c.g;
      out[i + 2] = c.b;
    }
  }
}

/** Where a label's tag goes: above the box when there is room, else just inside its top. */
function tagRect(
  box: PixelRect,
  text: string,
  scale: number,
  image: { width: number; height: number },
): PixelRect {
  const pad = scale;
  const w = text.length * (GLYPH_W + 1) * scale + 2 * pad - scale;
  const h = GLYPH_H * scale + 2 * pad;
  const y1 = box.y1 - h >= 0 ? box.y1 - h : box.y1;
  const x1 = Math.max(0, Math.min(box.x1, image.width - w));
  return { x1, y1, x2: x1 + w - 1, y2: y1 + h - 1 };
}

/**
 * A copy of the picture with each box outlined in its label's colour and its label written on a
 * tag. The input is not changed (the pipeline may still be using the frame). Boxes are clamped to
 * the picture; one with no area inside it is left out. Throws a SnapshotError for a frame whose
 * bytes do not match its size.
 */
export function drawFlagBoxes(image: RgbImage, boxes: readonly FlagBox[]): Uint8Array {
  checkImage(image);
  const { width, height } = image;
  const out = new Uint8Array(image.rgb);
  const t = outlineWidth(image);
  const scale = height >= 480 ? 2 : 1;
  // Outlines first, then every tag, so a neighbour's outline never cuts through a label.
  const drawn: { rect: PixelRect; label: string; colour: Rgb }[] = [];
  for (const b of boxes) {
    const { x1, y1, x2, y2 } = b.box;
    if (![x1, y1, x2, y2].every(Number.isFinite)) continue;
    const rect: PixelRect = {
      x1: Math.max(0, Math.round(Math.min(x1, x2))),
      y1: Math.max(0, Math.round(Math.min(y1, y2))),
      x2: Math.min(width - 1, Math.round(Math.max(x1, x2)) - 1),
      y2: Math.min(height - 1, Math.round(Math.max(y1, y2)) - 1),
    };
    if (rect.x2 < rect.x1 || rect.y2 < rect.y1) continue;
    const colour = labelColour(b.label);
    const edge = (r: PixelRect) => fillRect(out, width, height, r, colour);
    edge({ x1: rect.x1, y1: rect.y1, x2: rect.x2, y2: rect.y1 + t - 1 });
    edge({ x1: rect.x1, y1: rect.y2 - t + 1, x2: rect.x2, y2: rect.y2 });
    edge({ x1: rect.x1, y1: rect.y1, x2: rect.x1 + t - 1, y2: rect.y2 });
    edge({ x1: rect.x2 - t + 1, y1: rect.y1, x2: rect.x2, y2: rect.y2 });
    drawn.push({ rect, label: b.label, colour });
  }
  for (const d of drawn) {
    // A tag wider than the picture would say nothing readable; cut the text to fit.
    const maxChars = Math.max(1, Math.floor((width - 2 * scale) / ((GLYPH_W + 1) * scale)));
    const text = d.label.trim().slice(0, maxChars);
    if (text === '') continue;
    const tag = tagRect(d.rect, text, scale, image);
    fillRect(out, width, height, tag, d.colour);
    // Dark text on light colours, light on dark (ITU-R BT.601 luma).
    const luma = 0.299 * d.colour.r + 0.587 * d.colour.g + 0.114 * d.colour.b;
    const ink: Rgb = luma > 140 ? { r: 0, g: 0, b: 0 } : { r: 255, g: 255, b: 255 };
    let x = tag.x1 + scale;
    const y = tag.y1 + scale;
    for (const ch of text) {
      for (const cell of glyphOf(ch)) {
        const px = x + cell.x * scale;
        const py = y + cell.y * scale;
        fillRect(
          out,
          width,
          height,
          { x1: px, y1: py, x2: px + scale - 1, y2: py + scale - 1 },
          ink,
        );
      }
      x += (GLYPH_W + 1) * scale;
    }
  }
  return out;
}

// -- encoding ---------------------------------------------------------------------------------

/** Turns a picture into JPEG bytes. */
export interface JpegEncoder {
  encode(image: RgbImage): Promise<Buffer>;
}

/** The part of a child process the encoder uses; node's ChildProcess fits. */
export interface EncoderChild {
  readonly stdin: NodeJS.WritableStream & { on(event: 'error', fn: (e: Error) => void): unknown };
  readonly stdout: NodeJS.ReadableStream;
  readonly stderr: NodeJS.ReadableStream;
  kill(signal?: NodeJS.Signals): boolean;
  once(event: 'error', listener: (err: Error) => void): unknown;
  once(event: 'close', listener: (code: number | null) => void): unknown;
}

export type EncoderSpawn = (command: string, args: readonly string[]) => EncoderChild;

const spawnWithStdin: EncoderSpawn = (command, args) =>
  nodeSpawn(command, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });

export interface FfmpegJpegEncoderOptions {
  /** The ffmpeg binary (`locateFfmpeg()?.path`). */
  ffmpegPath: string;
  /** Times the encode out: an ffmpeg that hangs must not hold a flag's snapshot forever. */
  clock: Clock;
  /** Default 10 s; one frame takes well under a second. */
  timeoutMs?: number;
  /** MJPEG quantiser, 2 (best) .. 31; default 3. */
  quality?: number;
  spawn?: EncoderSpawn;
}

/** ffmpeg encoding one raw RGB frame from stdin to a JPEG on stdout. */
export function createFfmpegJpegEncoder(opts: FfmpegJpegEncoderOptions): JpegEncoder {
  const spawn = opts.spawn ?? spawnWithStdin;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const quality = Math.min(31, Math.max(2, Math.round(opts.quality ?? 3)));
  return {
    encode(image) {
      checkImage(image);
      const args = [
        '-hide_banner',
        '-loglevel',
        'error',
        '-f',
        'rawvideo',
        '-pix_fmt',
        'rgb24',
        '-s',
        `${image.width}x${image.height}`,
        '-i',
        'pipe:0',
        '-frames:v',
        '1',
        '-pix_fmt',
        'yuvj444p',
        '-q:v',
        String(quality),
        '-f',
        'mjpeg',
        'pipe:1',
      ];
      return new Promise<Buffer>((resolve, reject) => {
        let child: EncoderChild;
        try {
          child = spawn(opts.ffmpegPath, args);
        } catch (e) {
          reject(new SnapshotError(`ffmpeg could not start: ${(e as Error).message}`));
          return;
        }
        const out: Buffer[] = [];
        let err = '';
        let settled = false;
        const finish = (e: Error | null, jpeg?: Buffer) => {
          if (settled) return;
          settled = true;
          opts.clock.clearTimeout(timer);
          if (e) reject(e);
          else resolve(jpeg!);
        };
        const timer = opts.clock.setTimeout(() => {
          child.kill('SIGKILL');
          finish(new SnapshotError(`ffmpeg did not encode the snapshot within ${timeoutMs} ms`));
        }, timeoutMs);
        child.stdout.on('data', (c: Buffer) => out.push(c));
        child.stderr.on('data', (c: Buffer) => {
          if (err.length < 4_000) err += c.toString('utf8');
        });
        // ffmpeg that exits early closes its stdin: EPIPE here, the exit code tells why.
        child.stdin.on('error', () => {});
        child.once('error', (e) =>
          finish(new SnapshotError(`ffmpeg could not start (${opts.ffmpegPath}): ${e.message}`)),
        );
        child.once('close', (code) => {
          const jpeg = Buffer.concat(out);
          // A JPEG starts with SOI (FF D8); anything else is not a picture.
          if (code === 0 && jpeg.length > 2 && jpeg[0] === 0xff && jpeg[1] === 0xd8) {
            finish(null, jpeg);
          } else {
            const why = err.trim().split('\n').slice(-3).join(' / ') || 'no output';
            finish(new SnapshotError(`ffmpeg exited with ${String(code)}: ${why}`));
          }
        });
        child.stdin.end(Buffer.from(image.rgb.buffer, image.rgb.byteOffset, image.rgb.length));
      });
    },
  };
}

// -- files ------------------------------------------------------------------------------------

/** The file writes of snapshots and of flags waiting for the database. */
export interface FlagFiles {
  /** Writes under a temporary name and renames, so a reader never sees half a file. */
  write(path: string, bytes: Uint8Array | string): Promise<void>;
  remove(path: string): Promise<void>;
  /** Names in a folder; none when it does not exist. */
  list(dir: string): Promise<string[]>;
  read(path: string): Promise<string>;
}

export const nodeFlagFiles: FlagFiles = {
  async write(path, bytes) {
    await mkdir(dirname(path), { recursive: true });
    const part = `${path}.part`;
    await writeFile(part, bytes);
    await rename(part, path);
  },
  async remove(path) {
    await rm(path, { force: true });
  },
  async list(dir) {
    try {
      return await readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  },
  read: (path) => readFile(path, 'utf8'),
};

/** How a flag's snapshot came out: a file under DATA_DIR, or why there is none. */
export type SnapshotOutcome =
  | { kind: 'written'; /** Relative to DATA_DIR, `/`-separated. */ path: string; bytes: number }
  | { kind: 'none'; reason: 'no_frame' | 'bad_frame' | 'no_ffmpeg' | 'failed'; message: string };

/** Draws and stores flag snapshots under `DATA_DIR/flags/`. */
export interface FlagSnapshots {
  /** Never throws: a snapshot that cannot be made is an outcome, the flag goes on without it. */
  write(
    flagId: string,
    cameraId: string,
    frame: (RgbImage & { cameraId?: string }) | undefined,
    boxes: readonly FlagBox[],
  ): Promise<SnapshotOutcome>;
}

export const SNAPSHOT_DIR = 'flags';

export function createFlagSnapshots(deps: {
  dataDir: string;
  /** null: no ffmpeg on this box; flags are kept without a picture, and the reason says so. */
  encoder: JpegEncoder | null;
  files?: FlagFiles;
}): FlagSnapshots {
  const files = deps.files ?? nodeFlagFiles;
  return {
    async write(flagId, cameraId, frame, boxes) {
      if (!frame) {
        return { kind: 'none', reason: 'no_frame', message: 'the rule gave no frame to draw on' };
      }
      if (frame.cameraId !== undefined && frame.cameraId !== cameraId) {
        // The wrong camera's picture under a flag would point the reviewer at the wrong room.
        return {
          kind: 'none',
          reason: 'bad_frame',
          message: `the frame is from camera '${frame.cameraId}', the flag from '${cameraId}'`,
        };
      }
      let drawn: Uint8Array;
      try {
        drawn = drawFlagBoxes(frame, boxes);
      } catch (e) {
        return { kind: 'none', reason: 'bad_frame', message: (e as Error).message };
      }
      if (!deps.encoder) {
        return { kind: 'none', reason: 'no_ffmpeg', message: 'ffmpeg is not installed' };
      }
      try {
        const jpeg = await deps.encoder.encode({
          width: frame.width,
          height: frame.height,
          rgb: drawn,
        });
        const rel = `${SNAPSHOT_DIR}/${flagId}.jpg`;
        await files.write(join(deps.dataDir, SNAPSHOT_DIR, `${flagId}.jpg`), jpeg);
        return { kind: 'written', path: rel, bytes: jpeg.length };
      } catch (e) {
        return { kind: 'none', reason: 'failed', message: (e as Error).message };
      }
    },
  };
}
