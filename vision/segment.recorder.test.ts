import { describe, expect, it } from 'vitest';
import { manualClock, type ManualClock } from '../hardware/clock.ts';
import type { FfmpegBinary } from './ffmpeg.locate.ts';
import type {
  FfmpegExit,
  FfmpegRun,
  FfmpegRunOptions,
  FfmpegRunner,
  VisionLog,
} from './ffmpeg.process.ts';
import {
  classifyRecorderExit,
  createSegmentRecorder,
  recorderArgs,
  type CameraStateUpdate,
  type RecordingFs,
  type RecordingGap,
  type SegmentClosed,
  type SegmentRecorderOptions,
  type SegmentSink,
} from './segment.recorder.ts';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const DATA = '/data';
const CAM = 'cam-1';
const INCOMING = `${DATA}/recordings/${CAM}/.incoming`;

const FF5: FfmpegBinary = {
  path: '/usr/bin/ffmpeg',
  ffprobePath: '/usr/bin/ffprobe',
  source: 'system',
  major: 5,
  rtspTimeoutFlag: '-timeout',
};

const exitWith = (p: Partial<FfmpegExit> = {}): FfmpegExit => ({
  code: 0,
  signal: null,
  stopRequested: false,
  forced: false,
  timedOut: false,
  stderrTail: [],
  ...p,
});

/** One ffmpeg run that does only what the test makes it do. */
class FakeRun implements FfmpegRun {
  readonly exit: Promise<FfmpegExit>;
  stopCalls = 0;
  /** What ffmpeg does on SIGTERM; by default nothing (the test ends it). */
  onStop: (() => void) | undefined;
  private resolve!: (e: FfmpegExit) => void;
  private ended = false;
  constructor(
    readonly args: readonly string[],
    private readonly options: FfmpegRunOptions,
  ) {
    this.exit = new Promise((r) => (this.resolve = r));
  }
  get tag(): string {
    const out = this.args.at(-1)!;
    return out.slice(out.lastIndexOf('/') + 1).replace('-%06d.mp4', '');
  }
  stdout(line: string) {
    if (this.ended) throw new Error('ffmpeg already ended');
    this.options.onStdoutLine!(line);
  }
  stderr(line: string) {
    if (this.ended) throw new Error('ffmpeg already ended');
    this.options.onStderrLine!(line);
  }
  end(p: Partial<FfmpegExit> = {}) {
    if (this.ended) throw new Error('ffmpeg already ended');
    this.ended = true;
    this.resolve(exitWith({ stopRequested: this.stopCalls > 0, ...p }));
  }
  stderrTail = () => [];
  running = () => !this.ended;
  stop() {
    this.stopCalls++;
    if (this.stopCalls === 1) this.onStop?.();
    return this.exit;
  }
}

/** In-memory files; renames onto an existing file or into a missing folder fail as on disk. */
class FakeFs implements RecordingFs {
  readonly files = new Map<string, number>();
  readonly dirs = new Set<string>();
  failRename: Error | undefined;
  private dirOf = (p: string) => p.slice(0, p.lastIndexOf('/'));
  async mkdir(dir: string) {
    for (let d = dir; d.length > 1; d = this.dirOf(d)) this.dirs.add(d);
  }
  async rename(from: string, to: string) {
    if (this.failRename) throw this.failRename;
    const size = this.files.get(from);
    if (size === undefined) throw new Error(`ENOENT: ${from}`);
    if (!this.dirs.has(this.dirOf(to))) throw new Error(`ENOENT: no folder for ${to}`);
    if (this.files.has(to)) throw new Error(`refusing to overwrite ${to}`);
    this.files.delete(from);
    this.files.set(to, size);
  }
  async size(path: string) {
    return this.files.get(path) ?? null;
  }
  async list(dir: string) {
    return [...this.files.keys()]
      .filter((p) => this.dirOf(p) === dir)
      .map((p) => p.slice(dir.length + 1));
  }
}

type SinkEvent =
  | { type: 'segment'; segment: SegmentClosed }
  | { type: 'gap'; gap: RecordingGap }
  | { type: 'state'; update: CameraStateUpdate };

const settle = () => new Promise<void>((r) => setImmediate(r));

interface Harness {
  clock: ManualClock;
  runs: FakeRun[];
  fs: FakeFs;
  events: SinkEvent[];
  logs: { level: string; msg: string }[];
  recorder: ReturnType<typeof createSegmentRecorder>;
  /** ffmpeg writes a segment of `run` and lists it as closed, at the current clock time. */
  segment(
    run: FakeRun,
    n: number,
    listedStart: number,
    end: number,
    opts?: { realStart?: number; bytes?: number },
  ): void;
  errors(): string[];
  /** Moves the clock and lets the recorder's async work (mkdir before a restart) run. */
  advance(ms: number): Promise<void>;
  set(at: number): Promise<void>;
}

function harness(
  over: Partial<SegmentRecorderOptions> = {},
  sinkOver: Partial<SegmentSink> = {},
): Harness {
  const clock = manualClock(T0);
  const runs: FakeRun[] = [];
  const fs = new FakeFs();
  const events: SinkEvent[] = [];
  const logs: { level: string; msg: string }[] = [];
  const runner: FfmpegRunner = {
    binary: FF5,
    run(args, options = {}) {
      const r = new FakeRun(args, options);
      runs.push(r);
      return r;
    },
  };
  const sink: SegmentSink = {
    segmentClosed: (segment) => void events.push({ type: 'segment', segment }),
    gap: (gap) => void events.push({ type: 'gap', gap }),
    state: (update) => void events.push({ type: 'state', update }),
    ...sinkOver,
  };
  const log: VisionLog = (level, msg) => logs.push({ level, msg });
  const recorder = createSegmentRecorder({
    cameraId: CAM,
    url: 'rtsp://admin:pw@cam.local/main',
    dataDir: DATA,
    runner,
    fs,
    sink,
    clock,
    log,
    segmentSeconds: 2,
    ...over,
  });
  return {
    clock,
    runs,
    fs,
    events,
    logs,
    recorder,
    segment(run, n, listedStart, end, opts = {}) {
      const name = `${run.tag}-${String(n).padStart(6, '0')}.mp4`;
      fs.files.set(`${INCOMING}/${name}`, opts.bytes ?? 1000 + n);
      run.stderr(
        `[segment @ 0x55] segment:'${INCOMING}/${name}' starts with packet stream:0 pts:1 pts_time:${opts.realStart ?? listedStart} frame:0`,
      );
      run.stdout(`${name},${listedStart.toFixed(6)},${end.toFixed(6)}`);
    },
    errors: () => logs.filter((l) => l.level === 'error').map((l) => l.msg),
    async advance(ms) {
      clock.advance(ms);
      await settle();
    },
    async set(at) {
      clock.set(at);
      await settle();
    },
  };
}

const segments = (events: SinkEvent[]) =>
  events.flatMap((e) => (e.type === 'segment' ? [e.segment] : []));
const states = (events: SinkEvent[]) =>
  events.flatMap((e) => (e.type === 'state' ? [e.update.state] : []));
const gaps = (events: SinkEvent[]) => events.flatMap((e) => (e.type === 'gap' ? [e.gap] : []));

/**
 * Brings `run` to recording: progress shows offset 0 arrived at `arrival` (a report after the
 * probe burst, then one right after its packet), and two segments close, the first listed from
 * 0 but really starting at 0.44 s.
 */
async function recordTwo(h: Harness, run: FakeRun, arrival: number) {
  await h.set(arrival + 2_080);
  run.stdout('out_time_us=2000000');
  await h.set(arrival + 2_300);
  run.stdout('out_time_us=2300000');
  await h.set(arrival + 2_450);
  h.segment(run, 0, 0, 2.44, { realStart: 0.44 });
  await h.set(arrival + 2_600);
  run.stdout('out_time_us=2600000');
  await h.set(arrival + 4_460);
  h.segment(run, 1, 2.44, 4.44);
  await settle();
}

describe('recorderArgs', () => {
  it('copies the main stream into fragmented MP4 segments, list and progress on stdout', () => {
    expect(
      recorderArgs({
        url: 'rtsp://cam/main',
        segmentSeconds: 10,
        incomingDir: '/d/recordings/c/.incoming',
        runTag: 'abc-1',
      }),
    ).toEqual([
      '-hide_banner',
      '-nostdin',
      '-nostats',
      '-loglevel',
      'verbose',
      '-rtsp_transport',
      'tcp',
      '-i',
      'rtsp://cam/main',
      '-map',
      '0:v',
      '-c',
      'copy',
      '-f',
      'segment',
      '-segment_time',
      '10',
      '-reset_timestamps',
      '1',
      '-segment_format',
      'mp4',
      '-segment_format_options',
      'movflags=+frag_keyframe+empty_moov+default_base_moof',
      '-segment_list',
      'pipe:1',
      '-segment_list_type',
      'csv',
      '-progress',
      'pipe:1',
      '/d/recordings/c/.incoming/abc-1-%06d.mp4',
    ]);
  });

  it('asks for RTSP over TCP only for RTSP', () => {
    expect(
      recorderArgs({ url: '/videos/a.mp4', segmentSeconds: 2, incomingDir: '/i', runTag: 't' }),
    ).not.toContain('-rtsp_transport');
  });

  it('reads a file camera in real time, looping only when asked, right before its -i', () => {
    const base = { url: '/videos/a.mp4', segmentSeconds: 2, incomingDir: '/i', runTag: 't' };
    const looped = recorderArgs({ ...base, file: { loop: true } });
    const at = looped.indexOf('-i');
    expect(looped.slice(at - 3, at + 2)).toEqual([
      '-re',
      '-stream_loop',
      '-1',
      '-i',
      '/videos/a.mp4',
    ]);
    const once = recorderArgs({ ...base, file: { loop: false } });
    expect(once.slice(once.indexOf('-i') - 1, once.indexOf('-i') + 2)).toEqual([
      '-re',
      '-i',
      '/videos/a.mp4',
    ]);
    expect(once).not.toContain('-stream_loop');
    // The rest of the command is the one a camera gets.
    expect(looped.filter((a) => !['-re', '-stream_loop', '-1'].includes(a))).toEqual(
      recorderArgs(base),
    );
  });
});

describe('classifyRecorderExit', () => {
  it('tells a wrong password, an unsupported stream and a missing ffmpeg from a camera that is away', () => {
    expect(
      classifyRecorderExit(
        exitWith({ code: 1, stderrTail: ['method DESCRIBE failed: 401 Unauthorized'] }),
      ),
    ).toBe('auth_failed');
    expect(
      classifyRecorderExit(
        exitWith({ code: 1, stderrTail: ['Could not find codec parameters for stream 0'] }),
      ),
    ).toBe('unsupported');
    expect(
      classifyRecorderExit(exitWith({ code: null, startError: { code: 'ENOENT', message: 'x' } })),
    ).toBe('missing_part');
    expect(
      classifyRecorderExit(exitWith({ code: 1, stderrTail: ['rtsp://cam: Connection refused'] })),
    ).toBe('offline');
  });
});

describe('createSegmentRecorder', () => {
  it('refuses a camera id that cannot name a folder and timings that would flap', () => {
    expect(() => harness({ cameraId: '../etc' })).toThrow(/cannot name a recordings folder/);
    expect(() => harness({ offlineAfterMs: 2_000 })).toThrow(/must be longer than a segment/);
    expect(() => harness({ segmentSeconds: 0 })).toThrow(/positive/);
    expect(() => harness({ backoff: { initialMs: 0 } })).toThrow(/backoff/);
  });

  it('starts one ffmpeg with the recorder arguments in the camera folder', async () => {
    const h = harness();
    await h.recorder.start();
    expect(h.runs).toHaveLength(1);
    expect(h.runs[0]!.args).toEqual(
      recorderArgs({
        url: 'rtsp://admin:pw@cam.local/main',
        segmentSeconds: 2,
        incomingDir: INCOMING,
        runTag: `${T0.toString(36)}-1`,
      }),
    );
    expect(h.fs.dirs.has(INCOMING)).toBe(true);
    await settle();
    expect(states(h.events)).toEqual([{ state: 'starting' }]);
    expect(h.recorder.state()).toEqual({ state: 'starting' });
    await expect(h.recorder.start()).rejects.toThrow(/already started/);
  });

  it('plays a file camera in real time through its ffmpeg', async () => {
    const h = harness({ url: '/videos/demo.mp4', file: { loop: true } });
    await h.recorder.start();
    expect(h.runs[0]!.args).toEqual(
      recorderArgs({
        url: '/videos/demo.mp4',
        file: { loop: true },
        segmentSeconds: 2,
        incomingDir: INCOMING,
        runTag: `${T0.toString(36)}-1`,
      }),
    );
    expect(h.runs[0]!.args).toContain('-re');
  });

  it('takes a file camera that does not loop offline when its file ends, without replaying it', async () => {
    const h = harness({ url: '/videos/once.mp4', file: { loop: false } });
    await h.recorder.start();
    const run = h.runs[0]!;
    await recordTwo(h, run, T0 + 300);
    const lastEnd = segments(h.events)[1]!.endAt;
    run.end({ code: 0 });
    await settle();
    expect(h.recorder.state()).toEqual({
      state: 'offline',
      since: lastEnd,
      fault: 'offline',
      reason: 'the video file ended',
    });
    await h.advance(120_000);
    expect(h.runs).toHaveLength(1);
    // A looping one that ends anyway (a broken file) is restarted like a camera.
    const looped = harness({ url: '/videos/loop.mp4', file: { loop: true } });
    await looped.recorder.start();
    looped.runs[0]!.end({ code: 0 });
    await settle();
    await looped.advance(1_000);
    expect(looped.runs).toHaveLength(2);
  });

  it('times segments from the list and the log, anchored to the arrival of offset 0, and files them', async () => {
    const h = harness();
    await h.recorder.start();
    const run = h.runs[0]!;
    const arrival = T0 + 300;
    await recordTwo(h, run, arrival);

    const [s0, s1] = segments(h.events);
    // Listed from 0, but the log says the first kept packet was at 0.44 s.
    expect(s0).toEqual({
      cameraId: CAM,
      path: `recordings/${CAM}/2026-01-01/12/12-00-00.740_${run.tag}-000000.mp4`,
      startAt: arrival + 440,
      endAt: arrival + 2_440,
      bytes: 1000,
    });
    expect(s1).toMatchObject({ startAt: s0!.endAt, endAt: arrival + 4_440, bytes: 1001 });
    expect(h.fs.files.get(`${DATA}/${s0!.path}`)).toBe(1000);
    expect(h.fs.files.get(`${DATA}/${s1!.path}`)).toBe(1001);
    expect(await h.fs.list(INCOMING)).toEqual([]);
    expect(h.events.map((e) => e.type)).toEqual(['state', 'segment', 'state', 'segment']);
    expect(h.recorder.state()).toEqual({ state: 'online', since: arrival + 440 });
    expect(gaps(h.events)).toEqual([]);
    expect(h.errors()).toEqual([]);
  });

  it('falls back to the listed start when the log line is missing', async () => {
    const h = harness();
    await h.recorder.start();
    const run = h.runs[0]!;
    await h.set(T0 + 2_000);
    run.stdout('out_time_us=1500000');
    await h.set(T0 + 3_000);
    const name = `${run.tag}-000000.mp4`;
    h.fs.files.set(`${INCOMING}/${name}`, 5);
    run.stdout(`${name},0.000000,2.500000`);
    await settle();
    expect(segments(h.events)[0]).toMatchObject({ startAt: T0 + 500, endAt: T0 + 3_000 });
  });

  it('restarts a dropped ffmpeg with backoff doubling from 1 s to 30 s', async () => {
    const h = harness({ offlineAfterMs: 10 * 60_000 });
    await h.recorder.start();
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      const run = h.runs[i]!;
      run.end({ code: 1, stderrTail: ['rtsp://cam.local/main: Connection refused'] });
      await settle();
      const endedAt = h.clock.now();
      for (let n = 0; h.runs.length === i + 1; n++) {
        if (n > 1_000) throw new Error('no restart');
        await h.advance(100);
      }
      delays.push(h.clock.now() - endedAt);
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });

  it('resets the backoff after a run that recorded for a healthy minute, not after a short one', async () => {
    const h = harness();
    await h.recorder.start();
    for (let i = 0; i < 3; i++) {
      h.runs[i]!.end({ code: 1 });
      await settle();
      await h.advance(30_000);
    }
    expect(h.runs).toHaveLength(4);
    // Run 4 records for 61 s, then the camera drops: back to 1 s.
    const run = h.runs[3]!;
    const arrival = h.clock.now() + 200;
    await recordTwo(h, run, arrival);
    for (let t = 6; t <= 60; t += 2) {
      await h.set(arrival + t * 1000 + 10);
      h.segment(run, t / 2 - 1, t - 2 + 0.44, t + 0.44);
    }
    await h.set(arrival + 61_000);
    run.end({ code: 0 });
    await settle();
    await h.advance(999);
    expect(h.runs).toHaveLength(4);
    await h.advance(1);
    expect(h.runs).toHaveLength(5);
    // Run 5 lasts 10 s with video, then drops: the count goes on (2 s next).
    const r5 = h.runs[4]!;
    await recordTwo(h, r5, h.clock.now() + 100);
    r5.end({ code: 0 });
    await settle();
    await h.advance(1_999);
    expect(h.runs).toHaveLength(5);
    await h.advance(1);
    expect(h.runs).toHaveLength(6);
    expect(h.errors()).toEqual([]);
  });

  it('reports offline after the silence, then the gap when video comes back', async () => {
    const h = harness({ offlineAfterMs: 30_000 });
    await h.recorder.start();
    const run = h.runs[0]!;
    await recordTwo(h, run, T0 + 300);
    const lastEnd = segments(h.events)[1]!.endAt;
    const lastClosedAt = h.clock.now();

    // The camera closes the stream, then refuses connections.
    await h.advance(100);
    run.end({ code: 0 });
    await settle();
    while (h.clock.now() < lastClosedAt + 29_999) {
      await h.set(Math.min(lastClosedAt + 29_999, h.clock.now() + 500));
      const r = h.runs.at(-1)!;
      if (r.running() && h.runs.length > 1) {
        r.end({
          code: 1,
          stderrTail: ['[tcp @ 0x1] Connection to tcp://cam.local:554 failed: Connection refused'],
        });
        await settle();
      }
    }
    expect(h.recorder.state().state).toBe('online');
    await h.set(lastClosedAt + 30_000);
    await settle();
    const offline = h.recorder.state();
    expect(offline).toEqual({
      state: 'offline',
      since: lastEnd,
      fault: 'offline',
      reason:
        'ffmpeg exited with code 1: Connection to tcp://cam.local:554 failed: Connection refused',
    });

    // The camera is back: the next run records.
    for (let n = 0; !h.runs.at(-1)!.running(); n++) {
      if (n > 1_000) throw new Error('no restart');
      await h.advance(500);
    }
    const back = h.runs.at(-1)!;
    const arrival = h.clock.now() + 250;
    await recordTwo(h, back, arrival);
    const after = segments(h.events).slice(2);
    expect(after[0]!.startAt).toBe(arrival + 440);
    expect(gaps(h.events)).toEqual([
      {
        cameraId: CAM,
        startAt: lastEnd,
        endAt: arrival + 440,
        reason:
          'ffmpeg exited with code 1: Connection to tcp://cam.local:554 failed: Connection refused',
      },
    ]);
    const tail = h.events.slice(-4).map((e) => e.type);
    expect(tail).toEqual(['gap', 'segment', 'state', 'segment']);
    expect(h.recorder.state()).toEqual({ state: 'online', since: arrival + 440 });
    expect(h.errors()).toEqual([]);
  });

  it('goes offline at once for a wrong password, without waiting for the silence', async () => {
    const h = harness();
    await h.recorder.start();
    await h.advance(300);
    h.runs[0]!.end({
      code: 1,
      stderrTail: ['[rtsp @ 0x1] method DESCRIBE failed: 401 Unauthorized'],
    });
    await settle();
    expect(h.recorder.state()).toEqual({
      state: 'offline',
      since: T0,
      fault: 'auth_failed',
      reason: 'ffmpeg exited with code 1: method DESCRIBE failed: 401 Unauthorized',
    });
    // Retried all the same (the password may be fixed on the camera side), without a second report.
    await h.advance(1_000);
    expect(h.runs).toHaveLength(2);
    h.runs[1]!.end({
      code: 1,
      stderrTail: ['[rtsp @ 0x2] method DESCRIBE failed: 401 Unauthorized'],
    });
    await settle();
    expect(states(h.events).filter((s) => s.state === 'offline')).toHaveLength(1);
  });

  it('reports a missing ffmpeg as a missing part', async () => {
    const h = harness();
    await h.recorder.start();
    h.runs[0]!.end({ code: null, startError: { code: 'ENOENT', message: 'spawn ffmpeg ENOENT' } });
    await settle();
    expect(h.recorder.state()).toMatchObject({ state: 'offline', fault: 'missing_part' });
  });

  it('stops and restarts an ffmpeg that hangs without producing segments', async () => {
    const h = harness({ offlineAfterMs: 10_000 });
    await h.recorder.start();
    const run = h.runs[0]!;
    await recordTwo(h, run, T0 + 300);
    const closedAt = h.clock.now();
    await h.set(closedAt + 9_999);
    expect(run.stopCalls).toBe(0);
    await h.set(closedAt + 10_000);
    await settle();
    expect(run.stopCalls).toBe(1);
    expect(h.recorder.state()).toMatchObject({
      state: 'offline',
      fault: 'offline',
      reason: 'no video for 10 s',
    });
    // It takes its time to die; nothing is stopped twice meanwhile.
    await h.advance(5_000);
    expect(run.stopCalls).toBe(1);
    run.end({ code: 255 });
    await settle();
    await h.advance(1_000);
    expect(h.runs).toHaveLength(2);
    expect(h.recorder.state()).toMatchObject({ reason: 'no video for 10 s' });
    // The new run gets its own full allowance before it is judged stalled.
    await h.advance(9_999);
    expect(h.runs[1]!.stopCalls).toBe(0);
    await h.advance(1);
    expect(h.runs[1]!.stopCalls).toBe(1);
  });

  it('on stop, lets ffmpeg close its last segment and reports it before resolving', async () => {
    const h = harness();
    await h.recorder.start();
    const run = h.runs[0]!;
    await recordTwo(h, run, T0 + 300);
    run.onStop = () => {
      h.clock.advance(600);
      h.segment(run, 2, 4.44, 5.0);
      run.end({ code: 255 });
    };
    await h.recorder.stop();
    expect(run.stopCalls).toBe(1);
    expect(segments(h.events)).toHaveLength(3);
    expect(segments(h.events)[2]).toMatchObject({
      startAt: T0 + 300 + 4_440,
      endAt: T0 + 300 + 5_000,
    });
    // Nothing restarts after a stop.
    await h.advance(120_000);
    expect(h.runs).toHaveLength(1);
    expect(h.clock.pendingTimers()).toBe(0);
    await h.recorder.stop();
  });

  it('reports the hole up to the stop when stopped while the camera is offline', async () => {
    const h = harness({ offlineAfterMs: 5_000 });
    await h.recorder.start();
    h.runs[0]!.end({ code: 1, stderrTail: ['x: Connection refused'] });
    await settle();
    await h.advance(5_000);
    expect(h.recorder.state().state).toBe('offline');
    await h.advance(2_000);
    const run = h.runs.at(-1)!;
    run.onStop = () => run.end({ code: 255 });
    await h.recorder.stop();
    expect(gaps(h.events)).toEqual([
      {
        cameraId: CAM,
        startAt: T0,
        endAt: T0 + 7_000,
        reason: 'ffmpeg exited with code 1: x: Connection refused',
      },
    ]);
  });

  it('indexes the unclosed last segment of a killed ffmpeg up to its last progress report', async () => {
    const h = harness();
    await h.recorder.start();
    const run = h.runs[0]!;
    await recordTwo(h, run, T0 + 300);
    const name = `${run.tag}-000002.mp4`;
    h.fs.files.set(`${INCOMING}/${name}`, 777);
    run.stderr(
      `[segment @ 0x5] segment:'${INCOMING}/${name}' starts with packet stream:0 pts:1 pts_time:4.44 frame:100`,
    );
    await h.advance(1_000);
    run.stdout('out_time_us=5200000');
    // A file it never started writing cannot be timed and stays where it is.
    h.fs.files.set(`${INCOMING}/${run.tag}-000003.mp4`, 10);
    run.end({ code: null, signal: 'SIGKILL', forced: true });
    await settle();
    const salvaged = segments(h.events)[2]!;
    expect(salvaged).toMatchObject({
      startAt: T0 + 300 + 4_440,
      endAt: T0 + 300 + 5_200,
      bytes: 777,
    });
    expect(h.fs.files.has(`${DATA}/${salvaged.path}`)).toBe(true);
    expect(await h.fs.list(INCOMING)).toEqual([`${run.tag}-000003.mp4`]);
    expect(h.logs.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/000002.mp4 was not closed by ffmpeg; indexed/),
        expect.stringMatching(/000003.mp4 was not closed by ffmpeg and cannot be timed/),
      ]),
    );
  });

  it('keeps recording when the sink fails, and delivers one call at a time in order', async () => {
    let release!: () => void;
    const order: string[] = [];
    let busy = false;
    const h = harness(
      {},
      {
        async segmentClosed(s) {
          if (busy) throw new Error('overlapping sink calls');
          busy = true;
          order.push(s.path.slice(-10));
          if (order.length === 1) await new Promise<void>((r) => (release = r));
          busy = false;
          if (order.length === 2) throw new Error('database is down');
        },
      },
    );
    await h.recorder.start();
    await recordTwo(h, h.runs[0]!, T0 + 300);
    expect(order).toHaveLength(1);
    release();
    await settle();
    expect(order).toEqual(['000000.mp4', '000001.mp4']);
    expect(h.errors()).toEqual(['segment sink segmentClosed failed: database is down']);
    expect(h.recorder.state().state).toBe('online');
  });

  it('indexes a segment where it lies when it cannot be moved', async () => {
    const h = harness();
    h.fs.failRename = new Error('EXDEV: cross-device link');
    await h.recorder.start();
    await recordTwo(h, h.runs[0]!, T0 + 300);
    expect(segments(h.events)[0]!.path).toBe(
      `recordings/${CAM}/.incoming/${h.runs[0]!.tag}-000000.mp4`,
    );
    expect(h.errors()[0]).toMatch(/could not file segment .*EXDEV/);
  });

  it('warns about unindexed files an earlier server left behind, and leaves them', async () => {
    const h = harness();
    h.fs.files.set(`${INCOMING}/old-1-000004.mp4`, 99);
    await h.recorder.start();
    expect(h.logs).toContainEqual({
      level: 'warn',
      msg: `1 unindexed segment file(s) from an earlier run left in ${INCOMING}`,
    });
    expect(h.fs.files.get(`${INCOMING}/old-1-000004.mp4`)).toBe(99);
  });
});
