/**
 * Synthetic camera footage of a package room, rendered with ffmpeg, for the camera simulator and
 * for tests that need real H.264 video: shelves with parcels, a bank of lockers, a small moving
 * test pattern (so every frame differs even without fonts), an optional time overlay, and
 * optionally a photo of a person walking across the room so the detector sees a real person move.
 *
 * The encoding is what the recorder expects from an IP camera: H.264 Main without B-frames, a
 * keyframe every second (segments and clips cut on keyframes), yuv420p, moov atom up front.
 * Renders are cached by a hash of the options, so a test suite pays for each scene once.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { locateFfmpeg, type FfmpegBinary } from './ffmpeg.locate.ts';

/** Bump when the picture or the encoding changes, so old cached renders are not reused. */
const RECIPE_VERSION = 1;

/** Frame sizes of a typical camera's two streams. */
export const SCENE_SIZES = {
  main: { width: 1280, height: 720 },
  sub: { width: 640, height: 360 },
} as const;

/** A person photo moved across the room from just off the left edge to just off the right. */
export interface SceneWalker {
  /** Image file (PNG/JPEG), e.g. the `person.png` fixture; pasted as a rectangle, unmasked. */
  imagePath: string;
  /** Image height as a fraction of the frame height. Default 0.6. */
  heightFraction?: number;
  /** When the walker starts entering at the left edge, ms from the start. Default 0. */
  enterAtMs?: number;
  /** When the walker has fully left past the right edge. Default: the end of the scene. */
  leaveAtMs?: number;
}

export interface SceneOptions {
  /** Where renders are cached (created if missing). */
  cacheDir: string;
  /** Which ffmpeg renders; default `locateFfmpeg()`. */
  ffmpeg?: FfmpegBinary | null;
  /** Even numbers (yuv420p); default 1280×720, see {@link SCENE_SIZES}. */
  width?: number;
  height?: number;
  /** Whole frames per second, 1–60; default 15. */
  fps?: number;
  /** Scene length; default 20 000 ms. */
  durationMs?: number;
  walker?: SceneWalker;
  /** Overlay the label and elapsed time, when ffmpeg can draw text. Default true. */
  timestamp?: boolean;
  /** Font for the overlay; default the first DejaVu font found, else whatever fontconfig picks. */
  fontFile?: string;
  /** Text before the time; letters, digits, space, `.`, `_` and `-` only. Default "PACKAGE ROOM". */
  label?: string;
}

export interface SynthesizedScene {
  path: string;
  width: number;
  height: number;
  fps: number;
  durationMs: number;
  /** True when the file came from the cache rather than a fresh render. */
  cached: boolean;
  /** Whether the time overlay is in the picture (false when ffmpeg could not draw text). */
  timestampOverlay: boolean;
  ffmpegSource: FfmpegBinary['source'];
}

const FONT_CANDIDATES = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/dejavu/DejaVuSansMono.ttf',
  '/usr/share/fonts/TTF/DejaVuSansMono.ttf',
];

const LABEL_PATTERN = /^[A-Za-z0-9 ._-]{0,40}$/;
const RENDER_TIMEOUT_MS = 120_000;
const PROBE_TIMEOUT_MS = 20_000;

/** The options after defaults and validation; everything the render depends on. */
export interface ResolvedScene {
  width: number;
  height: number;
  fps: number;
  durationMs: number;
  walker: {
    imagePath: string;
    heightFraction: number;
    enterAtMs: number;
    leaveAtMs: number;
  } | null;
  timestamp: boolean;
  fontFile: string | null;
  label: string;
}

function fail(message: string): never {
  throw new Error(`synthetic scene: ${message}`);
}

function isInt(n: number, min: number, max: number): boolean {
  return Number.isInteger(n) && n >= min && n <= max;
}

/** Applies defaults and rejects what ffmpeg would choke on, with a message saying which option. */
export function resolveSceneOptions(
  opts: Omit<SceneOptions, 'cacheDir' | 'ffmpeg'>,
): ResolvedScene {
  const width = opts.width ?? SCENE_SIZES.main.width;
  const height = opts.height ?? SCENE_SIZES.main.height;
  const fps = opts.fps ?? 15;
  const durationMs = opts.durationMs ?? 20_000;
  if (!isInt(width, 64, 3840) || width % 2 !== 0)
    fail(`width must be an even whole number from 64 to 3840, got ${width}`);
  if (!isInt(height, 64, 2160) || height % 2 !== 0)
    fail(`height must be an even whole number from 64 to 2160, got ${height}`);
  if (!isInt(fps, 1, 60)) fail(`fps must be a whole number from 1 to 60, got ${fps}`);
  if (!isInt(durationMs, 100, 3_600_000))
    fail(`durationMs must be a whole number from 100 to 3600000, got ${durationMs}`);
  const label = opts.label ?? 'PACKAGE ROOM';
  if (!LABEL_PATTERN.test(label))
    fail(`label may only hold letters, digits, space, '.', '_' and '-' (max 40), got ${label}`);

  let walker: ResolvedScene['walker'] = null;
  if (opts.walker) {
    const w = opts.walker;
    const heightFraction = w.heightFraction ?? 0.6;
    const enterAtMs = w.enterAtMs ?? 0;
    const leaveAtMs = w.leaveAtMs ?? durationMs;
    if (!(heightFraction > 0 && heightFraction <= 1))
      fail(`walker.heightFraction must be in (0, 1], got ${heightFraction}`);
    if (
      !isInt(enterAtMs, 0, durationMs) ||
      !isInt(leaveAtMs, 0, durationMs) ||
      leaveAtMs <= enterAtMs
    )
      fail(
        `walker must enter before it leaves, both within 0..${durationMs} ms ` +
          `(got enterAtMs ${enterAtMs}, leaveAtMs ${leaveAtMs})`,
      );
    walker = { imagePath: resolve(w.imagePath), heightFraction, enterAtMs, leaveAtMs };
  }
  const fontFile =
    opts.fontFile !== undefined
      ? resolve(opts.fontFile)
      : (FONT_CANDIDATES.find(existsSync) ?? null);
  // The font path sits inside the filter graph, where these characters are syntax.
  if (fontFile !== null && /[':\\,;[\]]/.test(fontFile))
    fail(`fontFile path may not contain ' : \\ , ; [ or ], got ${fontFile}`);
  return {
    width,
    height,
    fps,
    durationMs,
    walker,
    timestamp: opts.timestamp ?? true,
    fontFile,
    label,
  };
}

/** The room, drawn in fractions of the frame so main and sub streams show the same scene. */
const ROOM: readonly { x: number; y: number; w: number; h: number; color: string }[] = [
  // floor and skirting
  { x: 0, y: 0.72, w: 1, h: 0.28, color: '0x6B6259' },
  { x: 0, y: 0.71, w: 1, h: 0.012, color: '0x4A423B' },
  // shelving unit: two uprights, three planks
  { x: 0.05, y: 0.16, w: 0.012, h: 0.56, color: '0x3A2E25' },
  { x: 0.37, y: 0.16, w: 0.012, h: 0.56, color: '0x3A2E25' },
  { x: 0.05, y: 0.28, w: 0.332, h: 0.018, color: '0x4F3F31' },
  { x: 0.05, y: 0.44, w: 0.332, h: 0.018, color: '0x4F3F31' },
  { x: 0.05, y: 0.6, w: 0.332, h: 0.018, color: '0x4F3F31' },
  // parcels on the planks
  { x: 0.075, y: 0.2, w: 0.08, h: 0.08, color: '0xA0703F' },
  { x: 0.17, y: 0.22, w: 0.06, h: 0.06, color: '0x8B5E34' },
  { x: 0.25, y: 0.19, w: 0.1, h: 0.09, color: '0xB58550' },
  { x: 0.08, y: 0.37, w: 0.11, h: 0.07, color: '0x96683A' },
  { x: 0.21, y: 0.35, w: 0.07, h: 0.09, color: '0xC29A66' },
  { x: 0.3, y: 0.39, w: 0.06, h: 0.05, color: '0x8B5E34' },
  { x: 0.1, y: 0.52, w: 0.09, h: 0.08, color: '0xB58550' },
  { x: 0.24, y: 0.55, w: 0.12, h: 0.05, color: '0xA0703F' },
  // shipping labels
  { x: 0.09, y: 0.22, w: 0.03, h: 0.02, color: '0xF2F2F2' },
  { x: 0.27, y: 0.21, w: 0.035, h: 0.025, color: '0xF2F2F2' },
  { x: 0.12, y: 0.54, w: 0.03, h: 0.02, color: '0xF2F2F2' },
  // locker bank
  { x: 0.6, y: 0.16, w: 0.34, h: 0.56, color: '0x8E969C' },
];

function lockerDoors(): string[] {
  const lines: string[] = [];
  for (let col = 0; col < 4; col++) {
    for (let row = 0; row < 3; row++) {
      const x = 0.61 + col * 0.0825;
      const y = 0.17 + row * 0.18;
      lines.push(box(x, y, 0.075, 0.17, '0x5C6369', 'ih*0.004'));
      lines.push(box(x + 0.06, y + 0.075, 0.006, 0.02, '0x2B2F33', 'fill'));
    }
  }
  return lines;
}

function box(x: number, y: number, w: number, h: number, color: string, t = 'fill'): string {
  return `drawbox=x=iw*${x}:y=ih*${y}:w=iw*${w}:h=ih*${h}:color=${color}:t=${t}`;
}

const even = (n: number) => Math.max(2, 2 * Math.round(n / 2));
const seconds = (ms: number) => (ms / 1000).toFixed(3);

/**
 * The ffmpeg arguments for a render to `outPath` (an `.mp4` written as mp4 whatever its name).
 * `drawText` says whether the time overlay goes in (decided by probing the binary).
 */
export function sceneFfmpegArgs(
  scene: ResolvedScene,
  outPath: string,
  drawText: boolean,
): string[] {
  const { width, height, fps } = scene;
  const dur = seconds(scene.durationMs);
  const patW = even(width / 8);
  const patH = even(height / 8);
  const inputs = [
    ['-f', 'lavfi', '-i', `color=c=0xB8AD9A:s=${width}x${height}:r=${fps}:d=${dur}`],
    ['-f', 'lavfi', '-i', `testsrc2=s=${patW}x${patH}:r=${fps}:d=${dur}`],
  ];
  const graph = [
    `[0:v]${[...ROOM.map((r) => box(r.x, r.y, r.w, r.h, r.color)), ...lockerDoors()].join(',')}[room]`,
    // A wall screen with a moving pattern: the picture changes every frame, as a live camera's does.
    `[room][1:v]overlay=x=W*0.44:y=H*0.04[v1]`,
  ];
  let last = 'v1';
  if (scene.walker) {
    const w = scene.walker;
    inputs.push(['-loop', '1', '-framerate', String(fps), '-t', dur, '-i', w.imagePath]);
    const t0 = seconds(w.enterAtMs);
    const span = seconds(w.leaveAtMs - w.enterAtMs);
    graph.push(`[2:v]scale=-2:${even(height * w.heightFraction)},format=yuv420p[walker]`);
    // x as a function of the frame time t: from fully off the left edge to fully off the right.
    graph.push(
      `[${last}][walker]overlay=x='-w+(W+w)*(t-${t0})/${span}':y='H*0.97-h'` +
        `:enable='between(t,${t0},${seconds(w.leaveAtMs)})'[v2]`,
    );
    last = 'v2';
  }
  if (drawText) {
    const font = scene.fontFile ? `fontfile='${scene.fontFile}':` : '';
    const size = Math.max(10, Math.round(height / 30));
    graph.push(
      `[${last}]drawtext=${font}text='${scene.label} %{pts\\:hms}':x=w*0.02:y=h*0.02` +
        `:fontsize=${size}:fontcolor=white:box=1:boxcolor=black@0.5:boxborderw=4[v3]`,
    );
    last = 'v3';
  }
  graph.push(`[${last}]format=yuv420p[out]`);
  return [
    '-nostdin',
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    ...inputs.flat(),
    '-filter_complex',
    graph.join(';'),
    '-map',
    '[out]',
    '-an',
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-profile:v',
    'main',
    // Cameras send no B-frames: packets arrive in display order and a recorder can cut anywhere.
    '-bf',
    '0',
    // One keyframe per second, never an extra one on a "scene change", like a camera's fixed GOP.
    '-g',
    String(fps),
    '-keyint_min',
    String(fps),
    '-sc_threshold',
    '0',
    '-pix_fmt',
    'yuv420p',
    '-r',
    String(fps),
    '-t',
    dur,
    '-movflags',
    '+faststart',
    '-f',
    'mp4',
    outPath,
  ];
}

interface RunResult {
  code: number | null;
  stderr: string;
}

function run(bin: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: timeoutMs });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      // keep the tail only: a failing filter graph can print a lot
      stderr = (stderr + d).slice(-8_000);
    });
    child.once('error', (err) => resolvePromise({ code: null, stderr: `${stderr}${err.message}` }));
    child.once('close', (code) => resolvePromise({ code, stderr }));
  });
}

/**
 * Whether this ffmpeg can draw the time overlay: drawtext needs libfreetype and a font, and the
 * static npm build may find no fonts on a slim box. One tiny render answers it; failure just
 * means no overlay.
 */
export async function canDrawText(ffmpeg: FfmpegBinary, fontFile: string | null): Promise<boolean> {
  const font = fontFile ? `fontfile='${fontFile}':` : '';
  const out = await run(
    ffmpeg.path,
    [
      '-nostdin',
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      'color=c=black:s=64x64:d=0.1',
      '-vf',
      `drawtext=${font}text='T %{pts\\:hms}':fontcolor=white`,
      '-f',
      'null',
      '-',
    ],
    PROBE_TIMEOUT_MS,
  );
  return out.code === 0;
}

/**
 * A looped image that does not decode makes ffmpeg retry it forever instead of failing, so the
 * walker image is decoded once up front.
 */
async function checkImage(ffmpeg: FfmpegBinary, imagePath: string): Promise<void> {
  const out = await run(
    ffmpeg.path,
    [
      '-nostdin',
      '-hide_banner',
      '-loglevel',
      'error',
      '-i',
      imagePath,
      '-frames:v',
      '1',
      '-f',
      'null',
      '-',
    ],
    PROBE_TIMEOUT_MS,
  );
  if (out.code !== 0)
    fail(
      `walker image cannot be decoded: ${imagePath}: ` +
        out.stderr.trim().split('\n').slice(-2).join(' | '),
    );
}

async function cacheKey(scene: ResolvedScene, ffmpeg: FfmpegBinary): Promise<string> {
  let walkerImage: { size: number; mtimeMs: number } | null = null;
  if (scene.walker) {
    const st = await stat(scene.walker.imagePath).catch(() => null);
    if (!st?.isFile()) fail(`walker image not found: ${scene.walker.imagePath}`);
    walkerImage = { size: st.size, mtimeMs: st.mtimeMs };
  }
  const material = JSON.stringify({
    v: RECIPE_VERSION,
    scene,
    walkerImage,
    ffmpeg: { path: ffmpeg.path, source: ffmpeg.source, major: ffmpeg.major },
  });
  return createHash('sha256').update(material).digest('hex').slice(0, 16);
}

interface CacheMeta {
  timestampOverlay: boolean;
}

async function readCached(mp4: string, metaPath: string): Promise<CacheMeta | null> {
  try {
    const [st, raw] = await Promise.all([stat(mp4), readFile(metaPath, 'utf8')]);
    const meta = JSON.parse(raw) as Partial<CacheMeta>;
    if (!st.isFile() || st.size === 0 || typeof meta.timestampOverlay !== 'boolean') return null;
    return { timestampOverlay: meta.timestampOverlay };
  } catch {
    return null;
  }
}

/**
 * Renders (or finds in `cacheDir`) a synthetic package-room scene as an MP4.
 * Throws a clear error for bad options, a missing ffmpeg or walker image, or a failed render;
 * a half-written file never lands under the cached name.
 */
export async function synthesizeScene(opts: SceneOptions): Promise<SynthesizedScene> {
  const scene = resolveSceneOptions(opts);
  const ffmpeg = opts.ffmpeg === undefined ? locateFfmpeg() : opts.ffmpeg;
  if (!ffmpeg)
    fail('no ffmpeg found (install Debian ffmpeg or the @ffmpeg-installer/ffmpeg package)');
  const key = await cacheKey(scene, ffmpeg);
  await mkdir(opts.cacheDir, { recursive: true });
  const base = join(opts.cacheDir, `scene-${scene.width}x${scene.height}-${scene.fps}fps-${key}`);
  const mp4 = `${base}.mp4`;
  const metaPath = `${base}.json`;
  const result = (cached: boolean, timestampOverlay: boolean): SynthesizedScene => ({
    path: mp4,
    width: scene.width,
    height: scene.height,
    fps: scene.fps,
    durationMs: scene.durationMs,
    cached,
    timestampOverlay,
    ffmpegSource: ffmpeg.source,
  });

  const hit = await readCached(mp4, metaPath);
  if (hit) return result(true, hit.timestampOverlay);

  if (scene.walker) await checkImage(ffmpeg, scene.walker.imagePath);
  const drawText = scene.timestamp && (await canDrawText(ffmpeg, scene.fontFile));
  // Render under a private name, then rename: concurrent callers and crashes never see half a file.
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  const tmp = `${base}.${suffix}`;
  // x264 at veryfast renders far faster than real time; the limit only stops a wedged ffmpeg.
  const timeoutMs = Math.max(RENDER_TIMEOUT_MS, scene.durationMs * 20);
  const out = await run(ffmpeg.path, sceneFfmpegArgs(scene, tmp, drawText), timeoutMs);
  if (out.code !== 0) {
    await rm(tmp, { force: true });
    fail(
      `ffmpeg (${ffmpeg.source}, ${ffmpeg.path}) failed with exit code ${out.code}: ` +
        out.stderr.trim().split('\n').slice(-5).join(' | '),
    );
  }
  await writeFile(`${metaPath}.${suffix}`, JSON.stringify({ timestampOverlay: drawText }));
  await rename(tmp, mp4);
  await rename(`${metaPath}.${suffix}`, metaPath);
  return result(false, drawText);
}

/** The same scene as a camera's two streams: 1280×720 main and 640×360 sub. */
export async function synthesizeCameraScenes(
  opts: Omit<SceneOptions, 'width' | 'height'>,
): Promise<{ main: SynthesizedScene; sub: SynthesizedScene }> {
  // One after the other: two x264 encodes at once would only fight over the same cores.
  const main = await synthesizeScene({ ...opts, ...SCENE_SIZES.main });
  const sub = await synthesizeScene({ ...opts, ...SCENE_SIZES.sub });
  return { main, sub };
}
