/**
 * The synthetic package-room scene, rendered by the real ffmpeg binaries (Debian's and the npm
 * static build) and checked with ffprobe the way the recorder will see camera video.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportMissing } from '../test/harness/requirements.ts';
import { makeTempDir, type TempDir } from '../test/harness/temp-dir.ts';
import { locateFfmpeg, type FfmpegBinary } from './ffmpeg.locate.ts';
import {
  resolveSceneOptions,
  sceneFfmpegArgs,
  synthesizeScene,
  type SynthesizedScene,
} from './scene.synth.ts';

const PERSON = join(import.meta.dirname, '../../shared/fixtures/person.png');
const DEJAVU = '/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf';

function requireFfmpeg(source: 'system' | 'npm'): FfmpegBinary | null {
  const found = locateFfmpeg(source);
  if (found && (source === 'npm' || found.ffprobePath)) return found;
  reportMissing(
    source === 'system' ? 'ffmpeg/ffprobe' : 'npm ffmpeg',
    source === 'system'
      ? 'no ffmpeg and ffprobe on $PATH (apt-get install -y ffmpeg); synthetic scene tests are skipped.'
      : 'the @ffmpeg-installer/ffmpeg binary did not run; its scene test is skipped.',
  );
  return null;
}

const system = requireFfmpeg('system');
const npm = requireFfmpeg('npm');

function run(
  bin: string,
  args: string[],
): Promise<{ code: number | null; out: Buffer; err: string }> {
  return new Promise((done) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('close', (code) => done({ code, out: Buffer.concat(out), err }));
  });
}

interface Probe {
  streams: {
    codec_name: string;
    profile: string;
    width: number;
    height: number;
    has_b_frames: number;
    pix_fmt: string;
    nb_frames: string;
  }[];
  packets: { pts_time: string; flags: string }[];
  format: { duration: string };
}

async function probe(file: string): Promise<Probe> {
  const res = await run(system!.ffprobePath!, [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-show_streams',
    '-show_format',
    '-show_packets',
    '-show_entries',
    'packet=pts_time,flags',
    '-of',
    'json',
    file,
  ]);
  if (res.code !== 0) throw new Error(`ffprobe failed on ${file}: ${res.err}`);
  return JSON.parse(res.out.toString('utf8')) as Probe;
}

const keyframeTimes = (p: Probe) =>
  p.packets.filter((k) => k.flags.startsWith('K')).map((k) => Number(k.pts_time));

/** One frame at `atSec`, scaled to 64×36 grey, as raw bytes (row-major). */
async function greyFrame(file: string, atSec: number): Promise<Uint8Array> {
  const res = await run(system!.path, [
    '-v',
    'error',
    '-ss',
    String(atSec),
    '-i',
    file,
    '-frames:v',
    '1',
    '-vf',
    'scale=64:36,format=gray',
    '-f',
    'rawvideo',
    '-',
  ]);
  if (res.code !== 0 || res.out.length !== 64 * 36)
    throw new Error(`frame grab failed: ${res.err}`);
  return new Uint8Array(res.out);
}

/** Mean column of the pixels that differ clearly between two frames; null when none do. */
function diffCentroidX(a: Uint8Array, b: Uint8Array): number | null {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    if (Math.abs(a[i]! - b[i]!) > 25) {
      sum += i % 64;
      n++;
    }
  }
  return n >= 20 ? sum / n : null;
}

async function expectCameraLike(scene: SynthesizedScene): Promise<Probe> {
  const p = await probe(scene.path);
  const v = p.streams[0]!;
  expect(v.codec_name).toBe('h264');
  expect(v.profile).toBe('Main');
  expect([v.width, v.height]).toEqual([scene.width, scene.height]);
  expect(v.has_b_frames).toBe(0);
  expect(v.pix_fmt).toBe('yuv420p');
  expect(Number(v.nb_frames)).toBe((scene.fps * scene.durationMs) / 1000);
  expect(Number(p.format.duration)).toBeCloseTo(scene.durationMs / 1000, 1);
  // a keyframe every second, exactly
  expect(keyframeTimes(p)).toEqual(
    Array.from({ length: Math.ceil(scene.durationMs / 1000) }, (_, i) => i),
  );
  // +faststart: the index (moov) comes before the media data (mdat)
  const bytes = await readFile(scene.path);
  const moov = bytes.indexOf('moov');
  const mdat = bytes.indexOf('mdat');
  expect(moov).toBeGreaterThan(0);
  expect(moov).toBeLessThan(mdat);
  return p;
}

describe('scene options', () => {
  it('defaults to a 1280x720, 15 fps, 20 s main stream', () => {
    const s = resolveSceneOptions({});
    expect([s.width, s.height, s.fps, s.durationMs]).toEqual([1280, 720, 15, 20_000]);
    expect(s.walker).toBeNull();
    expect(s.timestamp).toBe(true);
  });

  it('rejects what ffmpeg would choke on, naming the option', () => {
    expect(() => resolveSceneOptions({ width: 641 })).toThrow(/width must be an even/);
    expect(() => resolveSceneOptions({ height: 0 })).toThrow(/height/);
    expect(() => resolveSceneOptions({ fps: 12.5 })).toThrow(/fps/);
    expect(() => resolveSceneOptions({ durationMs: -1 })).toThrow(/durationMs/);
    expect(() => resolveSceneOptions({ label: "it's" })).toThrow(/label/);
    expect(() => resolveSceneOptions({ fontFile: '/a:b.ttf' })).toThrow(/fontFile/);
    expect(() =>
      resolveSceneOptions({
        durationMs: 5000,
        walker: { imagePath: PERSON, enterAtMs: 3000, leaveAtMs: 2000 },
      }),
    ).toThrow(/walker must enter before it leaves/);
    expect(() =>
      resolveSceneOptions({ walker: { imagePath: PERSON, heightFraction: 1.5 } }),
    ).toThrow(/heightFraction/);
  });

  it('encodes like a camera: no B-frames, fixed one-second GOP, faststart', () => {
    const args = sceneFfmpegArgs(resolveSceneOptions({ fps: 12 }), '/tmp/x.mp4', false);
    const after = (flag: string) => args[args.indexOf(flag) + 1];
    expect(after('-bf')).toBe('0');
    expect(after('-g')).toBe('12');
    expect(after('-keyint_min')).toBe('12');
    expect(after('-sc_threshold')).toBe('0');
    expect(after('-pix_fmt')).toBe('yuv420p');
    expect(after('-movflags')).toBe('+faststart');
    expect(after('-filter_complex')).not.toContain('drawtext');
    const withText = sceneFfmpegArgs(resolveSceneOptions({}), '/tmp/x.mp4', true);
    expect(withText[withText.indexOf('-filter_complex') + 1]).toContain('drawtext');
  });
});

describe.skipIf(!system)('synthesised scenes rendered by ffmpeg', () => {
  let dir: TempDir;
  beforeAll(async () => {
    dir = await makeTempDir('parcelroom-scene');
  });
  afterAll(async () => {
    await dir?.cleanup();
  });

  it('renders a camera-like sub stream with the system ffmpeg, then serves it from the cache', async () => {
    const opts = {
      cacheDir: dir.path,
      ffmpeg: system,
      width: 640,
      height: 360,
      fps: 10,
      durationMs: 2000,
    };
    const first = await synthesizeScene(opts);
    expect(first.cached).toBe(false);
    expect(first.ffmpegSource).toBe('system');
    if (existsSync(DEJAVU)) expect(first.timestampOverlay).toBe(true);
    await expectCameraLike(first);

    const before = await stat(first.path);
    const again = await synthesizeScene(opts);
    expect(again).toEqual({ ...first, cached: true });
    expect((await stat(again.path)).mtimeMs).toBe(before.mtimeMs);

    const other = await synthesizeScene({ ...opts, durationMs: 1000 });
    expect(other.cached).toBe(false);
    expect(other.path).not.toBe(first.path);
  }, 30_000);

  it.skipIf(!npm)(
    'renders with the npm static ffmpeg too',
    async () => {
      const scene = await synthesizeScene({
        cacheDir: dir.path,
        ffmpeg: npm,
        width: 640,
        height: 360,
        fps: 10,
        durationMs: 2000,
      });
      expect(scene.ffmpegSource).toBe('npm');
      await expectCameraLike(scene);
    },
    30_000,
  );

  it('leaves the time overlay out, and still renders, on a box without fonts', async () => {
    // No usable font: the given file does not exist and fontconfig knows no fonts at all, as on
    // a slim box where the static npm ffmpeg finds nothing. ffmpeg inherits this process's env.
    const emptyConf = join(dir.path, 'fonts-empty.conf');
    await writeFile(emptyConf, '<?xml version="1.0"?>\n<fontconfig></fontconfig>\n');
    const saved = process.env.FONTCONFIG_FILE;
    process.env.FONTCONFIG_FILE = emptyConf;
    try {
      const scene = await synthesizeScene({
        cacheDir: dir.path,
        ffmpeg: system,
        width: 320,
        height: 180,
        fps: 5,
        durationMs: 1000,
        fontFile: join(dir.path, 'no-such-font.ttf'),
      });
      expect(scene.timestampOverlay).toBe(false);
      await expectCameraLike(scene);
    } finally {
      if (saved === undefined) delete process.env.FONTCONFIG_FILE;
      else process.env.FONTCONFIG_FILE = saved;
    }
  }, 30_000);

  it('walks the person across the room from left to right between enter and leave', async () => {
    const common = {
      cacheDir: dir.path,
      ffmpeg: system,
      width: 640,
      height: 360,
      fps: 10,
      durationMs: 3000,
    };
    const empty = await synthesizeScene(common);
    const walked = await synthesizeScene({
      ...common,
      walker: { imagePath: PERSON, heightFraction: 0.5, enterAtMs: 1000, leaveAtMs: 3000 },
    });
    // Same options apart from the walker, so any clear difference is the person.
    const diffAt = async (sec: number) =>
      diffCentroidX(await greyFrame(empty.path, sec), await greyFrame(walked.path, sec));
    expect(await diffAt(0.5)).toBeNull(); // not entered yet
    const early = await diffAt(1.7);
    const late = await diffAt(2.5);
    expect(early).not.toBeNull();
    expect(late).not.toBeNull();
    expect(late!).toBeGreaterThan(early! + 5);
  }, 40_000);

  it('fails clearly for a missing or broken walker image, no ffmpeg, or a failed render', async () => {
    await expect(
      synthesizeScene({
        cacheDir: dir.path,
        ffmpeg: system,
        walker: { imagePath: join(dir.path, 'nobody.png') },
      }),
    ).rejects.toThrow(/walker image not found/);
    await expect(synthesizeScene({ cacheDir: dir.path, ffmpeg: null })).rejects.toThrow(
      /no ffmpeg found/,
    );

    // An image ffmpeg cannot decode: a clear error instead of ffmpeg retrying it forever.
    const junk = join(dir.path, 'junk.png');
    await writeFile(junk, 'not a picture');
    const opts = { cacheDir: dir.path, ffmpeg: system, width: 320, height: 180, durationMs: 500 };
    await expect(synthesizeScene({ ...opts, walker: { imagePath: junk } })).rejects.toThrow(
      /walker image cannot be decoded/,
    );
    // An encoder that dies half way (writes part of its output, exits 1): its exit code and last
    // words are reported, and the half file is neither cached nor left behind.
    const dying = join(dir.path, 'dying-ffmpeg.sh');
    await writeFile(
      dying,
      '#!/bin/sh\nfor a; do out="$a"; done\necho half > "$out"\necho "disk full" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    const before = await readdir(dir.path);
    await expect(synthesizeScene({ ...opts, ffmpeg: { ...system!, path: dying } })).rejects.toThrow(
      /ffmpeg \(system, .*dying-ffmpeg.sh\) failed with exit code 1: disk full/,
    );
    expect(await readdir(dir.path)).toEqual(before);
  }, 30_000);
});
