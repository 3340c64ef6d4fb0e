import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock, systemClock, type ManualClock } from '../hardware/clock.ts';
import {
  reportMissing,
  requireModel,
  testFixture,
  TEST_MODEL_PATH,
} from '../test/harness/requirements.ts';
import { makeTempDir, type TempDir } from '../test/harness/temp-dir.ts';
import { createOnnxDetector } from './detector.onnx.ts';
import { locateFfmpeg, type FfmpegBinary } from './ffmpeg.locate.ts';
import {
  createFrameSource,
  frameSourceArgs,
  FrameSourceError,
  parsePpm,
  readStillPicture,
  type FrameChild,
  type FrameSourceOptions,
  type FrameSpawn,
} from './frame.source.ts';
import { createTracker } from './tracker.ts';
import type { Frame, Track } from './vision.ports.ts';

// ---------------------------------------------------------------------------------------------
// A strict fake of ffmpeg's process: spawns must be announced, signals are recorded.

type Listener = (...args: never[]) => void;

class FakeChild implements FrameChild {
  readonly pid = 4242;
  readonly signals: NodeJS.Signals[] = [];
  readonly flow: ('pause' | 'resume')[] = [];
  /** What the process does on a signal; default: ignore it (a stuck ffmpeg). */
  onSignal: (signal: NodeJS.Signals) => void = () => {};
  private readonly data: ((chunk: Buffer) => void)[] = [];
  private readonly err: ((chunk: Buffer | string) => void)[] = [];
  private readonly onceListeners = new Map<string, Listener[]>();
  readonly stdout = {
    on: (_event: 'data', l: (chunk: Buffer) => void) => this.data.push(l),
    pause: () => this.flow.push('pause'),
    resume: () => this.flow.push('resume'),
  };
  readonly stderr = {
    on: (_event: 'data', l: (chunk: Buffer | string) => void) => this.err.push(l),
  };
  kill(signal?: NodeJS.Signals): boolean {
    this.signals.push(signal ?? 'SIGTERM');
    this.onSignal(signal ?? 'SIGTERM');
    return true;
  }
  once(event: string, listener: Listener): unknown {
    this.onceListeners.set(event, [...(this.onceListeners.get(event) ?? []), listener]);
    return this;
  }
  write(bytes: Uint8Array) {
    for (const l of this.data) l(Buffer.from(bytes));
  }
  say(text: string) {
    for (const l of this.err) l(Buffer.from(text));
  }
  private fire(event: string, ...args: unknown[]) {
    const ls = this.onceListeners.get(event) ?? [];
    this.onceListeners.delete(event);
    for (const l of ls) (l as (...a: unknown[]) => void)(...args);
  }
  exit(code: number | null, signal: NodeJS.Signals | null = null) {
    this.fire('close', code, signal);
  }
  fail(err: Error) {
    this.fire('error', err);
  }
}

function strictSpawn(children: FakeChild[]) {
  const calls: { command: string; args: readonly string[] }[] = [];
  const spawn: FrameSpawn = (command, args) => {
    calls.push({ command, args });
    const c = children.shift();
    if (!c) throw new Error(`unexpected spawn: ${command} ${args.join(' ')}`);
    return c;
  };
  return { spawn, calls };
}

const FAKE_FFMPEG: FfmpegBinary = {
  path: '/usr/bin/ffmpeg',
  ffprobePath: null,
  source: 'system',
  major: 5,
  rtspTimeoutFlag: '-timeout',
};

/** A 4×2 source (24 bytes a frame) fed by a fake ffmpeg on a manual clock. */
function fakeSource(over: Partial<FrameSourceOptions> = {}) {
  const child = new FakeChild();
  const clock = manualClock(0);
  const { spawn, calls } = strictSpawn([child]);
  const source = createFrameSource({
    cameraId: 'cam',
    file: '/videos/room.mp4',
    ffmpeg: FAKE_FFMPEG,
    width: 4,
    height: 2,
    clock,
    spawn,
    ...over,
  } as FrameSourceOptions);
  return { child, clock, source, calls };
}

const bytes = (n: number, from = 0) => Uint8Array.from({ length: n }, (_, i) => (from + i) % 256);

async function collect(it: AsyncIterable<Frame>): Promise<Frame[]> {
  const out: Frame[] = [];
  for await (const f of it) out.push(f);
  return out;
}

describe('frameSourceArgs', () => {
  const base = {
    cameraId: 'c',
    ffmpeg: FAKE_FFMPEG,
    width: 416,
    height: 234,
    clock: manualClock(0),
  };

  it('scales to fit, pads, and writes raw RGB at the set fps', () => {
    const args = frameSourceArgs({ ...base, file: '/v/a.mp4' });
    expect(args.slice(args.indexOf('-vf'))).toEqual([
      '-vf',
      'fps=5,scale=416:234:force_original_aspect_ratio=decrease,pad=416:234:(ow-iw)/2:(oh-ih)/2',
      '-pix_fmt',
      'rgb24',
      '-f',
      'rawvideo',
      'pipe:1',
    ]);
    // A file plays at its own pace by default, like a camera.
    expect(args.slice(args.indexOf('-re'), args.indexOf('-i') + 2)).toEqual([
      '-re',
      '-i',
      '/v/a.mp4',
    ]);
  });

  it('loops a file camera and decodes flat out when asked', () => {
    const args = frameSourceArgs({
      ...base,
      file: '/v/a.mp4',
      loop: true,
      realtime: false,
      fps: 10,
    });
    expect(args).not.toContain('-re');
    expect(args.join(' ')).toContain('-stream_loop -1 -i /v/a.mp4');
    expect(args.join(' ')).toContain('fps=10,');
  });

  it('reads RTSP over TCP with the socket timeout flag of this ffmpeg', () => {
    const url = 'rtsp://cam.local:554/sub';
    expect(frameSourceArgs({ ...base, url }).join(' ')).toContain(
      `-rtsp_transport tcp -timeout 5000000 -i ${url}`,
    );
    const old = { ...FAKE_FFMPEG, major: 4, rtspTimeoutFlag: '-stimeout' as const };
    expect(frameSourceArgs({ ...base, ffmpeg: old, url, rtspTimeoutMs: 3000 }).join(' ')).toContain(
      '-stimeout 3000000',
    );
    expect(frameSourceArgs({ ...base, url: 'http://cam/mjpeg' })).not.toContain('-rtsp_transport');
  });

  it('refuses bad sizes, rates and inputs with a clear error', () => {
    expect(() => frameSourceArgs({ ...base, width: 0, file: 'a' })).toThrow(/positive size/);
    expect(() => frameSourceArgs({ ...base, fps: 0, file: 'a' })).toThrow(/fps/);
    expect(() => createFrameSource({ ...base, file: '' })).toThrow(/file path is empty/);
    expect(() =>
      createFrameSource({ ...base, url: 'rtsp://x', file: 'a' } as unknown as FrameSourceOptions),
    ).toThrow(FrameSourceError);
  });
});

describe('createFrameSource with a fake ffmpeg', () => {
  it('cuts frames by byte count across any chunk boundaries, timed when each completes', async () => {
    const { child, clock, source, calls } = fakeSource({ maxQueuedFrames: 10 });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.command).toBe('/usr/bin/ffmpeg');
    const stream = bytes(24 * 3 + 5);
    let offset = 0;
    for (const [size, advance] of [
      [7, 10],
      [13, 10], // frame 1 still 4 bytes short
      [30, 10], // completes frames 1 and 2 in one chunk (t=30), 2 bytes of frame 3
      [1, 10],
      [1, 10],
      [20, 10], // frame 3 done at t=60
      [5, 10], // 5 bytes of a 4th frame that never completes
    ] as const) {
      clock.advance(advance);
      child.write(stream.subarray(offset, offset + size));
      offset += size;
    }
    child.exit(0);
    const frames = await collect(source);
    expect(frames.map((f) => f.at)).toEqual([30, 30, 60]);
    frames.forEach((f, i) => {
      expect(f).toMatchObject({ cameraId: 'cam', width: 4, height: 2 });
      expect(Array.from(f.rgb)).toEqual(Array.from(stream.subarray(i * 24, i * 24 + 24)));
    });
    expect(await source.ended).toEqual({ reason: 'ended' });
    expect(source.stats()).toMatchObject({ framesDecoded: 3, framesDropped: 0, partialBytes: 5 });
  });

  it('keeps only the newest frames for a consumer that is behind (live camera)', async () => {
    const { child, source } = fakeSource();
    child.write(bytes(24 * 5));
    child.exit(0);
    const frames = await collect(source);
    expect(frames.map((f) => f.rgb[0])).toEqual([72, 96]); // frames 4 and 5
    expect(source.stats()).toMatchObject({ framesDecoded: 5, framesDropped: 3 });
  });

  it('pauses ffmpeg instead under backpressure, and resumes as frames are taken', async () => {
    const { child, source } = fakeSource({ overflow: 'backpressure', maxQueuedFrames: 1 });
    child.write(bytes(24 * 3));
    expect(child.flow).toEqual(['pause']);
    const it = source[Symbol.asyncIterator]();
    expect((await it.next()).value?.rgb[0]).toBe(0);
    expect((await it.next()).value?.rgb[0]).toBe(24);
    expect(child.flow).toEqual(['pause']); // still one frame waiting
    expect((await it.next()).value?.rgb[0]).toBe(48);
    expect(child.flow).toEqual(['pause', 'resume']);
    child.exit(0);
    expect((await it.next()).done).toBe(true);
    expect(source.stats().framesDropped).toBe(0);
  });

  it('measures the delivered rate after the start-up burst', () => {
    const { child, clock, source } = fakeSource({ fps: 5, maxQueuedFrames: 100 });
    child.write(bytes(24 * 4)); // four buffered frames at once
    expect(source.stats().deliveredFps).toBeNull();
    for (let i = 0; i < 10; i++) {
      clock.advance(250); // the camera only manages 4 fps
      child.write(bytes(24));
    }
    expect(source.stats()).toMatchObject({ burstFrames: 4, deliveredFps: 4, lastFrameAt: 2500 });
  });

  it('stops with SIGTERM, then SIGKILL when ffmpeg does not go', async () => {
    const { child, clock, source } = fakeSource({ stopTimeoutMs: 2000 });
    const it = source[Symbol.asyncIterator]();
    const pending = it.next();
    const stopped = source.stop();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(child.signals).toEqual(['SIGTERM']);
    clock.advance(1999);
    expect(child.signals).toEqual(['SIGTERM']);
    clock.advance(1);
    expect(child.signals).toEqual(['SIGTERM', 'SIGKILL']);
    child.exit(null, 'SIGKILL');
    expect(await stopped).toEqual({ reason: 'stopped' });
    expect(await source.stop()).toEqual({ reason: 'stopped' });
    expect(child.signals).toHaveLength(2);
  });

  it('needs no SIGKILL when ffmpeg exits on SIGTERM, and leaves no timer behind', async () => {
    const { child, clock, source } = fakeSource();
    child.onSignal = (s) => {
      if (s === 'SIGTERM') child.exit(255);
    };
    expect(await source.stop()).toEqual({ reason: 'stopped' });
    expect(child.signals).toEqual(['SIGTERM']);
    expect((clock as ManualClock).pendingTimers()).toBe(0);
  });

  it('stops ffmpeg when the reader leaves the loop', async () => {
    const { child, source } = fakeSource({ maxQueuedFrames: 5 });
    child.onSignal = () => child.exit(255);
    child.write(bytes(24 * 3));
    for await (const f of source) {
      expect(f.rgb[0]).toBe(0);
      break;
    }
    expect(child.signals).toEqual(['SIGTERM']);
    expect(await source.ended).toEqual({ reason: 'stopped' });
  });

  it('reports ffmpeg failing, with its own words', async () => {
    const { child, source } = fakeSource();
    child.say('rtsp://cam/sub: Server returned 401 Unauthorized\n');
    child.exit(1);
    expect(await collect(source)).toEqual([]);
    const end = await source.ended;
    expect(end).toMatchObject({ reason: 'failed', code: 1 });
    expect(end.reason === 'failed' && end.message).toMatch(/401 Unauthorized/);
  });

  it('reports an ffmpeg that cannot be started', async () => {
    const { child, source } = fakeSource();
    child.fail(Object.assign(new Error('spawn /usr/bin/ffmpeg ENOENT'), { code: 'ENOENT' }));
    expect(await source.ended).toMatchObject({ reason: 'failed', message: /ENOENT/ });
    const throwing = createFrameSource({
      cameraId: 'c',
      file: 'a.mp4',
      ffmpeg: FAKE_FFMPEG,
      width: 4,
      height: 2,
      clock: manualClock(0),
      spawn: () => {
        throw new Error('EAGAIN');
      },
    });
    expect(await throwing.ended).toMatchObject({ reason: 'failed', message: /EAGAIN/ });
    expect(await collect(throwing)).toEqual([]);
  });

  it('has one reader only', () => {
    const { source } = fakeSource();
    source[Symbol.asyncIterator]();
    expect(() => source[Symbol.asyncIterator]()).toThrow(/one reader/);
  });
});

describe('parsePpm', () => {
  it('reads the size from the header and the pixels after it', () => {
    const ppm = Buffer.concat([
      Buffer.from('P6\n# made by a test\n2 1\n255\n'),
      Buffer.from([1, 2, 3, 4, 5, 6]),
    ]);
    expect(parsePpm(ppm)).toEqual({ width: 2, height: 1, rgb: new Uint8Array([1, 2, 3, 4, 5, 6]) });
  });
  it('refuses other formats and short data', () => {
    expect(() => parsePpm(Buffer.from('P5\n2 1\n255\n12'))).toThrow(/binary PPM/);
    expect(() => parsePpm(Buffer.from('P6\n2 1\n255\n12345'))).toThrow(/cut short/);
  });
});

// ---------------------------------------------------------------------------------------------
// Real ffmpeg

const ffmpeg = locateFfmpeg();
if (!ffmpeg) reportMissing('ffmpeg', 'no system or npm ffmpeg; real frame source tests skip');
const MODEL = TEST_MODEL_PATH;
const PERSON_PNG = testFixture('person.png');
const haveModel = requireModel('the crossing test skips');

function makeVideo(args: string[]) {
  const out = spawnSync(ffmpeg!.path, ['-hide_banner', '-loglevel', 'error', '-y', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (out.status !== 0) throw new Error(`ffmpeg could not make the test video: ${out.stderr}`);
}

describe.runIf(ffmpeg)('createFrameSource with the real ffmpeg', () => {
  let dir: TempDir;
  let testsrc: string;
  beforeAll(async () => {
    dir = await makeTempDir('frame-source');
    testsrc = join(dir.path, 'testsrc.mp4');
    // 2 s of a 16:9 test card at 25 fps (mpeg4: every ffmpeg build can write it).
    makeVideo([
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=640x360:rate=25:duration=2',
      '-c:v',
      'mpeg4',
      '-q:v',
      '4',
      testsrc,
    ]);
  }, 60_000);
  afterAll(async () => {
    await dir?.cleanup();
  });

  it('delivers 5 fps of exact-size frames, letterboxed into a 4:3 size', async () => {
    const source = createFrameSource({
      cameraId: 'file-cam',
      file: testsrc,
      realtime: false,
      ffmpeg: ffmpeg!,
      width: 320,
      height: 240,
      clock: systemClock(),
      overflow: 'backpressure',
    });
    const frames = await collect(source);
    expect(await source.ended).toEqual({ reason: 'ended' });
    expect(frames.length).toBeGreaterThanOrEqual(9);
    expect(frames.length).toBeLessThanOrEqual(11);
    for (const f of frames) {
      expect(f.rgb.length).toBe(320 * 240 * 3);
      // 640×360 scaled to 320×180 and centred: 30 black rows above and below.
      const row = (y: number) => f.rgb.subarray(y * 320 * 3, (y + 1) * 320 * 3);
      expect(Math.max(...row(0))).toBeLessThan(20);
      expect(Math.max(...row(239))).toBeLessThan(20);
      expect(Math.max(...row(120))).toBeGreaterThan(100);
    }
    // Time moves on between frames (the clock at each frame's last byte).
    expect(frames[frames.length - 1]!.at).toBeGreaterThanOrEqual(frames[0]!.at);
    expect(source.stats().partialBytes).toBe(0);
  });

  it('stops a looping real-time file camera cleanly', async () => {
    const source = createFrameSource({
      cameraId: 'loop-cam',
      file: testsrc,
      loop: true,
      ffmpeg: ffmpeg!,
      width: 160,
      height: 90,
      clock: systemClock(),
    });
    let n = 0;
    for await (const _ of source) {
      if (++n === 2) break; // leaving the loop stops ffmpeg
    }
    expect(await source.ended).toEqual({ reason: 'stopped' });
  });

  it('reports a file that does not exist as a failure naming it', async () => {
    const missing = join(dir.path, 'missing.mp4');
    const source = createFrameSource({
      cameraId: 'c',
      file: missing,
      ffmpeg: ffmpeg!,
      width: 160,
      height: 90,
      clock: systemClock(),
    });
    const end = await source.ended;
    expect(end.reason).toBe('failed');
    expect(end.reason === 'failed' && end.message).toContain('missing.mp4');
  });

  it('reads a still picture to RGB without ffprobe', async () => {
    const still = await readStillPicture({ ffmpeg: ffmpeg!, path: PERSON_PNG });
    expect([still.width, still.height]).toEqual([900, 916]);
    // A black-and-white portrait on a grey background: the top-left corner is mid grey.
    const [r, g, b] = still.rgb;
    expect(Math.abs(r! - g!) + Math.abs(g! - b!)).toBeLessThan(6);
    expect(r).toBeGreaterThan(60);
    expect(r).toBeLessThan(200);
    await expect(
      readStillPicture({ ffmpeg: ffmpeg!, path: join(dir.path, 'none.png') }),
    ).rejects.toThrow(/none\.png/);
  });

  it.runIf(haveModel)(
    'follows a person walking across the picture with ONE track id (real detector and tracker)',
    async () => {
      const video = join(dir.path, 'walk.mp4');
      // 4 s: the portrait, 200 px wide, slides from the left edge to the right across a plain wall.
      // prettier-ignore
      makeVideo([
        '-f', 'lavfi', '-i', 'color=c=0x8a9099:size=640x360:rate=25:duration=4',
        '-loop', '1', '-i', PERSON_PNG,
        '-filter_complex', "[1:v]scale=200:-1[p];[0:v][p]overlay=x='10+t*105':y=150:shortest=1",
        '-c:v', 'mpeg4', '-q:v', '3', video,
      ]);
      const detector = await createOnnxDetector({ modelPath: MODEL });
      const tracker = createTracker({ cameraId: 'walk-cam', minConfirmMs: 400, maxLostMs: 1500 });
      const source = createFrameSource({
        cameraId: 'walk-cam',
        file: video,
        realtime: true, // frame times from the clock as a live camera would give them
        ffmpeg: ffmpeg!,
        width: 416,
        height: 234,
        fps: 5,
        clock: systemClock(),
        overflow: 'backpressure',
      });
      const ids = new Set<number>();
      let frames = 0;
      let withPerson = 0;
      let last: Track | undefined;
      try {
        for await (const frame of source) {
          frames++;
          const dets = await detector.detect(frame);
          if (dets.some((d) => d.classId === 0 && d.score > 0.5)) withPerson++;
          for (const t of tracker.update(dets, frame.at)) {
            if (t.classId !== 0) continue;
            ids.add(t.id);
            last = t;
          }
        }
      } finally {
        await source.stop();
        await detector.close();
      }
      expect(await source.ended).toEqual({ reason: 'ended' });
      expect(frames).toBeGreaterThanOrEqual(18);
      expect(withPerson / frames).toBeGreaterThan(0.8);
      expect([...ids]).toHaveLength(1);
      expect(last!.state).toBe('confirmed');
      // Walked left to right: 105 px/s in the 640 px video is ~68 px/s in the 416 px frame.
      expect(last!.velocity.vx).toBeGreaterThan(20);
      expect((last!.box.x1 + last!.box.x2) / 2).toBeGreaterThan(416 / 2);
    },
    30_000,
  );
});
