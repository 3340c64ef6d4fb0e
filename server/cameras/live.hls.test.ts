import { afterEach, describe, expect, it } from 'vitest';
import { manualClock, type ManualClock } from '../../hardware/clock.ts';
import type { FfmpegBinary } from '../../vision/ffmpeg.locate.ts';
import type {
  FfmpegExit,
  FfmpegRun,
  FfmpegRunner,
  FfmpegRunOptions,
  VisionLog,
} from '../../vision/ffmpeg.process.ts';
import type { CameraDirectory, CameraStatus, CameraStreamsView } from './camera.types.ts';
import {
  createLiveHls,
  liveHlsArgs,
  parseLivePlaylist,
  parseSegmentName,
  type LiveFs,
  type LiveHls,
  type LiveQuality,
} from './live.hls.ts';

const FF5: FfmpegBinary = {
  path: '/usr/bin/ffmpeg',
  ffprobePath: '/usr/bin/ffprobe',
  source: 'system',
  major: 5,
  rtspTimeoutFlag: '-timeout',
};
const DATA = '/data';
/** 2026-01-01T12:00:00Z, the manual clock's start, in seconds: the first segment number. */
const T0_S = 1767268800;

/** Problems a strict fake saw; each test ends by checking there were none. */
let unexpected: string[] = [];
const refuse = (what: string): never => {
  unexpected.push(what);
  throw new Error(`unexpected call: ${what}`);
};

/** One ffmpeg run that does only what the test makes it do. */
class FakeRun implements FfmpegRun {
  stops = 0;
  readonly exit: Promise<FfmpegExit>;
  private resolveExit!: (exit: FfmpegExit) => void;
  private done = false;
  constructor(
    readonly args: readonly string[],
    private readonly fs: MemoryFs,
  ) {
    this.exit = new Promise((resolve) => (this.resolveExit = resolve));
  }
  get playlistPath(): string {
    return this.args.at(-1)!;
  }
  get dir(): string {
    return this.playlistPath.slice(0, this.playlistPath.lastIndexOf('/'));
  }
  get startNumber(): number {
    return Number(this.args[this.args.indexOf('-start_number') + 1]);
  }
  /** What ffmpeg writes once its first segments are closed. */
  writePlaylist(count = 2, first = this.startNumber): string {
    const pattern = this.args[this.args.indexOf('-hls_segment_filename') + 1]!;
    const quality = /\/(sub|main)-%d\.ts$/.exec(pattern)![1]!;
    const lines = ['#EXTM3U', '#EXT-X-VERSION:6', '#EXT-X-TARGETDURATION:1'];
    lines.push(`#EXT-X-MEDIA-SEQUENCE:${first}`);
    for (let i = 0; i < count; i++) {
      const name = `${quality}-${first + i}.ts`;
      lines.push('#EXTINF:1.000000,', name);
      this.fs.write(`${this.dir}/${name}`, `video ${name}`);
    }
    const text = `${lines.join('\n')}\n`;
    this.fs.write(this.playlistPath, text);
    return text;
  }
  stderrTail() {
    return [];
  }
  running() {
    return !this.done;
  }
  stop() {
    this.stops++;
    this.end({ code: 255, signal: null, stopRequested: true, stderrTail: [] });
    return this.exit;
  }
  /** ffmpeg ends on its own (camera gone, refused). */
  die(code: number, stderrTail: string[]) {
    if (this.done) refuse('die() of a run that already ended');
    this.end({ code, signal: null, stopRequested: false, stderrTail });
  }
  private end(e: Pick<FfmpegExit, 'code' | 'signal' | 'stopRequested' | 'stderrTail'>) {
    if (this.done) return;
    this.done = true;
    this.resolveExit({ ...e, forced: false, timedOut: false });
  }
}

/** Starts only as many runs as the test announced. */
class StrictRunner implements FfmpegRunner {
  readonly binary = FF5;
  readonly runs: FakeRun[] = [];
  private allowed = 0;
  constructor(private readonly fs: MemoryFs) {}
  expectRuns(n: number) {
    this.allowed += n;
  }
  run(args: readonly string[], options?: FfmpegRunOptions): FfmpegRun {
    if (options !== undefined) refuse('run() with options');
    if (this.runs.length >= this.allowed) refuse(`ffmpeg start #${this.runs.length + 1}`);
    const run = new FakeRun(args, this.fs);
    this.runs.push(run);
    return run;
  }
  last(): FakeRun {
    const r = this.runs.at(-1);
    if (!r) throw new Error('no ffmpeg was started');
    return r;
  }
}

/** Files in memory; any path outside DATA_DIR/live is refused. */
class MemoryFs implements LiveFs {
  readonly files = new Map<string, Uint8Array<ArrayBuffer>>();
  readonly dirs = new Set<string>();
  readonly calls: string[] = [];
  private check(path: string) {
    if (!path.startsWith(`${DATA}/live/`) || path.includes('..'))
      refuse(`fs outside live: ${path}`);
  }
  write(path: string, text: string) {
    this.check(path);
    const dir = path.slice(0, path.lastIndexOf('/'));
    if (!this.dirs.has(dir)) refuse(`write into missing folder ${dir}`);
    this.files.set(path, new Uint8Array(Buffer.from(text)));
  }
  text(path: string): string | undefined {
    const b = this.files.get(path);
    return b ? Buffer.from(b).toString('utf8') : undefined;
  }
  private drop(dir: string) {
    for (const p of [...this.files.keys()]) if (p.startsWith(`${dir}/`)) this.files.delete(p);
    this.dirs.delete(dir);
  }
  reset(dir: string) {
    this.check(dir);
    this.calls.push(`reset ${dir}`);
    this.drop(dir);
    this.dirs.add(dir);
    return Promise.resolve();
  }
  remove(dir: string) {
    this.check(dir);
    this.calls.push(`remove ${dir}`);
    this.drop(dir);
    return Promise.resolve();
  }
  read(path: string) {
    this.check(path);
    this.calls.push(`read ${path}`);
    return Promise.resolve(this.files.get(path) ?? null);
  }
}

function status(id: string, name: string, extra: Partial<CameraStatus> = {}): CameraStatus {
  return {
    id,
    name,
    doorId: null,
    source: 'rtsp',
    state: 'online',
    since: null,
    recording: true,
    ...extra,
  };
}

const FRONT_STREAMS: CameraStreamsView = {
  main: { kind: 'rtsp', url: 'rtsp://viewer:pw@10.0.0.5:554/main' },
  sub: { kind: 'rtsp', url: 'rtsp://viewer:pw@10.0.0.5:554/sub' },
};

/** The directory the camera runtime provides, reduced to what live view may ask. */
function strictDirectory() {
  const cameras = new Map<string, { status: CameraStatus; streams: CameraStreamsView | null }>();
  cameras.set('front', { status: status('front', 'Front door'), streams: FRONT_STREAMS });
  cameras.set('shelf', {
    status: status('shelf', 'Shelves', {
      state: 'offline',
      fault: 'offline',
      reason: 'no answer from 10.0.0.9:554 for 30 s',
    }),
    streams: null,
  });
  const directory: CameraDirectory = {
    list: () => [...cameras.values()].map((c) => c.status),
    streams: (id) => cameras.get(id)?.streams ?? null,
    forDoor: (doorId) => refuse(`forDoor(${doorId})`),
    onStatus: () => refuse('onStatus()'),
  };
  return {
    directory,
    goOffline(id: string, reason: string) {
      const c = cameras.get(id)!;
      c.status = { ...c.status, state: 'offline', fault: 'offline', reason };
      c.streams = null;
    },
  };
}

interface Rig {
  clock: ManualClock;
  fs: MemoryFs;
  runner: StrictRunner;
  live: LiveHls;
  logs: { level: string; msg: string; fields?: Record<string, unknown> }[];
  dir: ReturnType<typeof strictDirectory>;
}

function rig(opts: { maxStreams?: number; runner?: null; idleStopMs?: number } = {}): Rig {
  const clock = manualClock();
  const fs = new MemoryFs();
  const runner = new StrictRunner(fs);
  const dir = strictDirectory();
  const logs: Rig['logs'] = [];
  const log: VisionLog = (level, msg, fields) =>
    logs.push({ level, msg, ...(fields ? { fields } : {}) });
  const live = createLiveHls({
    directory: dir.directory,
    runner: opts.runner === null ? null : runner,
    dataDir: DATA,
    clock,
    log,
    fs,
    idleStopMs: opts.idleStopMs ?? 30_000,
    startTimeoutMs: 15_000,
    ...(opts.maxStreams ? { maxStreams: opts.maxStreams } : {}),
  });
  return { clock, fs, runner, live, logs, dir };
}

/** Lets the promise chains (fake fs, exits) run; time stays where it is. */
async function flush() {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Tracks a pending promise without awaiting it. */
function track<T>(p: Promise<T>): { settled: () => boolean; value: () => T } {
  let done = false;
  let value: T;
  void p.then((v) => {
    done = true;
    value = v;
  });
  return { settled: () => done, value: () => value };
}

/** Starts a stream and brings it live; returns its run and the playlist served. */
async function goLive(r: Rig, quality: LiveQuality = 'sub') {
  r.runner.expectRuns(1);
  const answer = track(r.live.playlist('front', quality));
  await flush();
  const run = r.runner.last();
  const text = run.writePlaylist();
  r.clock.advance(100);
  await flush();
  expect(answer.settled()).toBe(true);
  expect(answer.value()).toEqual({ ok: true, value: text });
  return { run, text };
}

afterEach(() => {
  expect(unexpected).toEqual([]);
  unexpected = [];
});

describe('liveHlsArgs', () => {
  it('remuxes an RTSP stream over TCP into 1 s MPEG-TS segments, video only, no re-encode', () => {
    expect(
      liveHlsArgs(FRONT_STREAMS.sub, {
        dir: '/data/live/front/sub',
        quality: 'sub',
        startNumber: 42,
        discontinuity: false,
      }),
    ).toEqual([
      '-nostdin',
      '-hide_banner',
      '-loglevel',
      'warning',
      '-rtsp_transport',
      'tcp',
      '-i',
      'rtsp://viewer:pw@10.0.0.5:554/sub',
      '-map',
      '0:v:0',
      '-c',
      'copy',
      '-f',
      'hls',
      '-hls_time',
      '1',
      '-hls_list_size',
      '6',
      '-hls_flags',
      'delete_segments+omit_endlist+independent_segments',
      '-hls_segment_type',
      'mpegts',
      '-start_number',
      '42',
      '-hls_segment_filename',
      '/data/live/front/sub/sub-%d.ts',
      '/data/live/front/sub/index.m3u8',
    ]);
  });

  it('reads a file in real time, looping unless told not to, and marks a restart', () => {
    const o = { dir: '/d', quality: 'main' as const, startNumber: 7, discontinuity: true };
    const looped = liveHlsArgs({ kind: 'file', path: '/v/demo.mp4', loop: true }, o);
    expect(looped.slice(4, 9)).toEqual(['-re', '-stream_loop', '-1', '-i', '/v/demo.mp4']);
    const once = liveHlsArgs({ kind: 'file', path: '/v/demo.mp4', loop: false }, o);
    expect(once.slice(4, 7)).toEqual(['-re', '-i', '/v/demo.mp4']);
    expect(once).not.toContain('-stream_loop');
    expect(once[once.indexOf('-hls_flags') + 1]).toBe(
      'delete_segments+omit_endlist+independent_segments+discont_start',
    );
  });
});

describe('segment names and playlists', () => {
  it('accepts only the names ffmpeg generates here', () => {
    expect(parseSegmentName('sub-1767268800.ts')).toEqual({ quality: 'sub', sequence: T0_S });
    expect(parseSegmentName('main-0.ts')).toEqual({ quality: 'main', sequence: 0 });
    for (const bad of [
      '../sub-1.ts',
      'sub-1.ts/..',
      '..%2Fsub-1.ts',
      'sub-1.ts.tmp',
      'index.m3u8',
      'sub-.ts',
      'sub-1.mp4',
      'other-1.ts',
      'sub-1.ts\n',
      '/etc/passwd',
      'sub--1.ts',
      'sub-1234567890123456.ts',
    ]) {
      expect(parseSegmentName(bad), bad).toBeNull();
    }
  });

  it('takes a playlist only when complete', () => {
    const full =
      '#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:10\n#EXTINF:1.0,\nsub-10.ts\n#EXTINF:1.0,\nsub-11.ts\n';
    expect(parseLivePlaylist(full)).toEqual({
      mediaSequence: 10,
      segments: ['sub-10.ts', 'sub-11.ts'],
    });
    // caught while ffmpeg writes it in place (the 2018 npm build does)
    expect(parseLivePlaylist(full.slice(0, full.length - 4))).toBeNull();
    expect(parseLivePlaylist(full.slice(0, full.indexOf('sub-11.ts')))).toBeNull();
    expect(parseLivePlaylist('#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n')).toBeNull();
    expect(parseLivePlaylist('#EXTM3U\n#EXTINF:1.0,\n../../etc/passwd\n')).toBeNull();
    expect(parseLivePlaylist('<html>\n')).toBeNull();
  });
});

describe('createLiveHls', () => {
  it('starts one ffmpeg for a camera and quality, shared by every viewer', async () => {
    const r = rig();
    r.runner.expectRuns(1);
    const first = track(r.live.playlist('front', 'sub'));
    const second = track(r.live.playlist('front', 'sub'));
    await flush();
    expect(r.runner.runs).toHaveLength(1);
    const run = r.runner.last();
    expect(run.args).toContain('rtsp://viewer:pw@10.0.0.5:554/sub');
    expect(run.startNumber).toBe(T0_S);
    expect(run.dir).toBe('/data/live/front/sub');
    expect(r.fs.calls).toContain('reset /data/live/front/sub');
    expect(r.live.streams()).toMatchObject([
      { cameraId: 'front', quality: 'sub', state: 'starting' },
    ]);

    // No playlist yet: the requests wait.
    r.clock.advance(500);
    await flush();
    expect(first.settled()).toBe(false);
    const text = run.writePlaylist();
    r.clock.advance(100);
    await flush();
    expect(first.value()).toEqual({ ok: true, value: text });
    expect(second.value()).toEqual({ ok: true, value: text });
    expect(r.live.streams()).toMatchObject([{ state: 'live', restarts: 0 }]);

    // A later viewer reads the same playlist; a segment comes from the same folder.
    expect(await r.live.playlist('front', 'sub')).toEqual({ ok: true, value: text });
    const seg = await r.live.segment('front', `sub-${T0_S}.ts`);
    expect(seg.ok && Buffer.from(seg.value).toString()).toBe(`video sub-${T0_S}.ts`);
    expect(r.runner.runs).toHaveLength(1);
    await r.live.close();
  });

  it('runs main and sub as separate streams', async () => {
    const r = rig();
    await goLive(r, 'sub');
    const { run } = await goLive(r, 'main');
    expect(run.args).toContain('rtsp://viewer:pw@10.0.0.5:554/main');
    expect(run.dir).toBe('/data/live/front/main');
    expect(r.live.streams().map((s) => s.quality)).toEqual(['sub', 'main']);
    await r.live.close();
  });

  it('refuses unknown and unsafe camera ids, and says why an offline camera has no video', async () => {
    const r = rig();
    expect(await r.live.playlist('garage', 'sub')).toEqual({
      ok: false,
      fault: { kind: 'unknown_camera', message: "no camera 'garage'" },
    });
    expect((await r.live.playlist('../front', 'sub')).ok).toBe(false);
    expect(await r.live.playlist('shelf', 'sub')).toEqual({
      ok: false,
      fault: {
        kind: 'camera_offline',
        message: 'Camera "Shelves" is offline: no answer from 10.0.0.9:554 for 30 s',
      },
    });
    expect(await r.live.segment('garage', 'sub-1.ts')).toMatchObject({
      ok: false,
      fault: { kind: 'unknown_camera' },
    });
    expect(r.runner.runs).toHaveLength(0);
    expect(r.fs.calls).toEqual([]);
  });

  it('serves only segment names ffmpeg generated: no path traversal, no other files', async () => {
    const r = rig();
    await goLive(r);
    r.fs.calls.length = 0;
    for (const name of [
      '../../../etc/passwd',
      'sub-1/../../main/main-1.ts',
      'sub-../../../../../etc/shadow.ts',
      '..',
      'index.m3u8',
      'sub-1.ts/../../main/index.m3u8',
      `sub-${T0_S}.ts.tmp`,
      `/data/live/front/sub/sub-${T0_S}.ts`,
    ]) {
      expect(await r.live.segment('front', name), name).toEqual({
        ok: false,
        fault: { kind: 'not_found', message: 'no such live segment' },
      });
    }
    expect(r.fs.calls).toEqual([]);
    // A well-formed name of a stream nobody started reads nothing either.
    expect(await r.live.segment('front', 'main-5.ts')).toEqual({
      ok: false,
      fault: { kind: 'not_found', message: 'live view of camera "Front door" is not running' },
    });
    expect(r.fs.calls).toEqual([]);
    // An expired one is a plain 404.
    expect(await r.live.segment('front', 'sub-5.ts')).toEqual({
      ok: false,
      fault: { kind: 'not_found', message: 'live segment sub-5.ts has expired' },
    });
    expect(r.fs.calls).toEqual(['read /data/live/front/sub/sub-5.ts']);
    await r.live.close();
  });

  it('stops ffmpeg and deletes the folder once nobody asked for anything for idleStopMs', async () => {
    const r = rig();
    const { run } = await goLive(r);
    // A player that only fetches segments still counts as watching.
    r.clock.advance(20_000);
    expect((await r.live.segment('front', `sub-${T0_S}.ts`)).ok).toBe(true);
    r.clock.advance(20_000);
    await flush();
    expect(run.stops).toBe(0);
    expect(r.live.streams()).toHaveLength(1);
    // ffmpeg ran ahead of the clock's seconds (short GOPs) before anyone looked again
    run.writePlaylist(6, T0_S + 100);
    r.clock.advance(10_000);
    await flush();
    expect(run.stops).toBe(1);
    expect(r.fs.calls.at(-1)).toBe('remove /data/live/front/sub');
    expect(r.fs.dirs.has('/data/live/front/sub')).toBe(false);
    expect(r.live.streams()).toEqual([]);
    expect(r.logs).toContainEqual(
      expect.objectContaining({ level: 'info', msg: 'live view stopped: nobody watches' }),
    );
    expect(await r.live.segment('front', `sub-${T0_S + 1}.ts`)).toMatchObject({
      ok: false,
      fault: { kind: 'not_found' },
    });
    // The next viewer starts it again, numbering on after the last segment: a browser that kept
    // a segment by its name never gets it for other video.
    const again = await goLive(r);
    expect(again.run.startNumber).toBe(T0_S + 106);
    await r.live.close();
  });

  it('restarts ffmpeg that ended while someone watches, continuing the sequence', async () => {
    const r = rig();
    const { run } = await goLive(r);
    run.writePlaylist(6, T0_S + 10); // it ran on: segments up to T0_S + 15
    r.clock.advance(3_000);
    await r.live.playlist('front', 'sub');
    r.runner.expectRuns(1);
    run.die(1, ['[tcp @ 0x55d1] Connection reset by peer']);
    await flush();
    expect(r.live.streams()).toMatchObject([{ state: 'restarting', restarts: 1 }]);
    expect(r.logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        msg: 'live view: ffmpeg ended',
        fields: expect.objectContaining({
          reason: 'ffmpeg exited with code 1: Connection reset by peer',
        }) as unknown,
      }),
    );
    // A viewer asking meanwhile waits for the new run instead of getting the dead playlist.
    const waiting = track(r.live.playlist('front', 'sub'));
    r.clock.advance(999);
    await flush();
    expect(r.runner.runs).toHaveLength(1);
    r.clock.advance(1);
    await flush();
    expect(r.runner.runs).toHaveLength(2);
    const second = r.runner.last();
    expect(second.startNumber).toBe(T0_S + 16);
    expect(second.args[second.args.indexOf('-hls_flags') + 1]).toContain('discont_start');
    // the new run starts in an empty folder
    expect(r.fs.text(`/data/live/front/sub/sub-${T0_S + 15}.ts`)).toBeUndefined();
    expect(waiting.settled()).toBe(false);
    const text = second.writePlaylist();
    r.clock.advance(100);
    await flush();
    expect(waiting.value()).toEqual({ ok: true, value: text });
    expect(run.stops).toBe(0);
    await r.live.close();
    expect(second.stops).toBe(1);
  });

  it('keeps a stream whose viewer still waits for the restarted ffmpeg', async () => {
    const r = rig({ idleStopMs: 5_000 });
    const { run } = await goLive(r);
    r.clock.advance(1_000);
    r.runner.expectRuns(1);
    run.die(1, ['Connection reset by peer']);
    await flush();
    // The player asks at 1.1 s and gets no answer until the camera is back at 12.2 s.
    const waiting = track(r.live.playlist('front', 'sub'));
    r.clock.advance(1_000);
    await flush();
    const second = r.runner.last();
    expect(second).not.toBe(run);
    r.clock.advance(10_000); // 11 s since the request began: twice idleStopMs
    await flush();
    expect(second.stops).toBe(0);
    expect(r.live.streams()).toMatchObject([{ state: 'starting' }]);
    const text = second.writePlaylist();
    r.clock.advance(100);
    await flush();
    expect(waiting.value()).toEqual({ ok: true, value: text });
    // Answered at 12.2 s: idle from then on, stopped 5 s later.
    r.clock.advance(4_800);
    await flush();
    expect(second.stops).toBe(0);
    r.clock.advance(200);
    await flush();
    expect(second.stops).toBe(1);
    expect(r.live.streams()).toEqual([]);
  });

  it('answers at once with ffmpeg’s reason when it fails to start, and backs off', async () => {
    const r = rig();
    r.runner.expectRuns(1);
    const answer = track(r.live.playlist('front', 'sub'));
    await flush();
    r.runner.last().die(1, ['rtsp://viewer:***@10.0.0.5:554/sub: 401 Unauthorized']);
    await flush();
    expect(answer.value()).toEqual({
      ok: false,
      fault: {
        kind: 'unavailable',
        message:
          'live view of camera "Front door" could not start: ffmpeg exited with code 1: ' +
          'rtsp://viewer:***@10.0.0.5:554/sub: 401 Unauthorized',
      },
    });
    // The player asks again; each failure waits longer before the next try: 1 s, 2 s, 4 s.
    const starts: number[] = [];
    for (const delay of [1_000, 2_000, 4_000]) {
      void r.live.playlist('front', 'sub');
      r.runner.expectRuns(1);
      r.clock.advance(delay - 1);
      await flush();
      const before = r.runner.runs.length;
      r.clock.advance(1);
      await flush();
      expect(r.runner.runs.length).toBe(before + 1);
      starts.push(r.clock.now());
      r.runner.last().die(1, ['Connection refused']);
      await flush();
    }
    expect(r.live.streams()).toMatchObject([{ state: 'restarting', restarts: 4 }]);
    // Nobody asks any more: it is not started again and its folder goes.
    r.clock.advance(60_000);
    await flush();
    expect(r.runner.runs).toHaveLength(4);
    expect(r.live.streams()).toEqual([]);
    expect(r.fs.dirs.size).toBe(0);
  });

  it('gives up waiting after the start timeout but keeps ffmpeg for the next request', async () => {
    const r = rig();
    r.runner.expectRuns(1);
    const answer = track(r.live.playlist('front', 'sub'));
    await flush();
    r.clock.advance(15_000);
    await flush();
    expect(answer.value()).toEqual({
      ok: false,
      fault: { kind: 'unavailable', message: 'no video from camera "Front door" within 15 s' },
    });
    expect(r.runner.last().stops).toBe(0);
    const later = track(r.live.playlist('front', 'sub'));
    const text = r.runner.last().writePlaylist();
    r.clock.advance(100);
    await flush();
    expect(later.value()).toEqual({ ok: true, value: text });
    await r.live.close();
  });

  it('ends the stream when the camera went offline before a restart', async () => {
    const r = rig();
    const { run } = await goLive(r);
    r.dir.goOffline('front', 'camera unreachable since 12:00:03');
    run.die(1, ['Connection timed out']);
    await flush();
    const answer = track(r.live.playlist('front', 'sub'));
    r.clock.advance(1_000);
    await flush();
    expect(r.runner.runs).toHaveLength(1);
    expect(answer.value()).toEqual({
      ok: false,
      fault: {
        kind: 'camera_offline',
        message: 'Camera "Front door" is offline: camera unreachable since 12:00:03',
      },
    });
    expect(r.live.streams()).toEqual([]);
    expect(r.fs.dirs.size).toBe(0);
    // and the next request says so without starting anything
    expect(await r.live.playlist('front', 'sub')).toMatchObject({
      ok: false,
      fault: { kind: 'camera_offline' },
    });
  });

  it('caps the number of live ffmpeg processes', async () => {
    const r = rig({ maxStreams: 1 });
    await goLive(r, 'sub');
    expect(await r.live.playlist('front', 'main')).toEqual({
      ok: false,
      fault: {
        kind: 'busy',
        message:
          '1 live streams are running, the most this server allows; close a live view and try again',
      },
    });
    await r.live.close();
  });

  it('stops everything on close and refuses requests afterwards', async () => {
    const r = rig();
    const sub = await goLive(r, 'sub');
    r.runner.expectRuns(1);
    const pending = track(r.live.playlist('front', 'main'));
    await flush();
    await r.live.close();
    expect(sub.run.stops).toBe(1);
    expect(r.runner.last().stops).toBe(1);
    expect(pending.value()).toMatchObject({ ok: false, fault: { kind: 'unavailable' } });
    expect(r.fs.dirs.size).toBe(0);
    expect(await r.live.playlist('front', 'sub')).toEqual({
      ok: false,
      fault: { kind: 'unavailable', message: 'the server is shutting down' },
    });
    expect(r.clock.pendingTimers()).toBe(0);
  });

  it('says ffmpeg is missing instead of crashing', async () => {
    const r = rig({ runner: null });
    const answer = await r.live.playlist('front', 'sub');
    expect(answer).toMatchObject({ ok: false, fault: { kind: 'unavailable' } });
    if (!answer.ok) expect(answer.fault.message).toMatch(/needs ffmpeg, which is not installed/);
  });

  it('refuses nonsensical settings', () => {
    const r = rig();
    expect(() =>
      createLiveHls({
        directory: r.dir.directory,
        runner: r.runner,
        dataDir: DATA,
        clock: r.clock,
        log: () => undefined,
        idleStopMs: 0,
      }),
    ).toThrow(/idleStopMs must be > 0/);
  });
});
