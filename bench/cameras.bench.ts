/**
 * What recording and clips cost on this box, measured on real parts: the synthetic package-room
 * scene with sensor noise added, so it compresses like a real camera's picture (2–4 Mbit/s),
 * served as a camera over RTSP by Debian's GStreamer RTSP server (vision/rtsp.server.ts) and
 * recorded by the real recorder (one ffmpeg, `-c copy`, into 4 s segments).
 *
 *   npx tsx bench/cameras.bench.ts          alone (about 2 minutes; --quick: about 1)
 *   runCamerasBench(log)                    from bench/run.ts
 *
 * 1. CPU per recorded camera at 1080p and 720p: user + system time of the recorder's ffmpeg
 *    (from /proc/<pid>/stat) over ~20 s of steady recording, after its first segment closed.
 * 2. Seconds from an event's window end to its clip being playable, through the real clip
 *    service and a real (embedded) database the recorder indexes into, with the default window
 *    (5 s before, 30 s after): events spread over one segment's length, so every phase between
 *    the window end and the next segment boundary is seen. Two clients: one asking every 100 ms
 *    (when the server can first answer), and the console's player, which asks before the window
 *    ends and then follows the server's Retry-After.
 * 3. Clip assembly for a 35 s window over 4 s segments (buildClip: keyframe scan, concat without
 *    re-encoding, JPEG poster), timed per ffmpeg step.
 *
 * Needs the system ffmpeg with libx264 and the GStreamer RTSP server (see vision/rtsp.server.ts);
 * without them the rows are skipped and say why. Nothing is asserted: the reader judges.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openDatabase, type Database } from '../db/index.ts';
import { systemClock } from '../hardware/clock.ts';
import type { CameraDirectory, CameraStatus } from '../server/cameras/camera.types.ts';
import {
  clipWindowAt,
  createClipService,
  type ClipRequest,
  type ClipService,
} from '../server/cameras/clip.service.ts';
import { createRecordingSink } from '../server/cameras/recording.sink.ts';
import { demoSite, parseSite, type SiteConfig } from '../server/config/index.ts';
import { createLogger } from '../server/log/logger.ts';
import { syncSite } from '../server/site.sync.ts';
import { makeTempDir, type TempDir } from '../test/harness/temp-dir.ts';
import { buildClip, type ClipSegment } from '../vision/clip.builder.ts';
import { locateFfmpeg, type FfmpegBinary } from '../vision/ffmpeg.locate.ts';
import {
  createFfmpegRunner,
  type FfmpegChild,
  spawnFfmpegProcess,
  type FfmpegRunner,
  type FfmpegSpawn,
} from '../vision/ffmpeg.process.ts';
import { rtspServerAvailable, startRtspServer, type RtspServer } from '../vision/rtsp.server.ts';
import { synthesizeScene } from '../vision/scene.synth.ts';
import {
  createSegmentRecorder,
  nodeRecordingFs,
  type SegmentClosed,
  type SegmentRecorder,
  type SegmentSink,
} from '../vision/segment.recorder.ts';
import { formatTable, round, sleep, summarize, type Cell, type Summary } from './stats.ts';

/** One camera stream as a camera of that class sends it. */
interface StreamProfile {
  name: '1080p' | '720p';
  width: number;
  height: number;
  fps: number;
  /** Target of the encoder; the noise makes it use all of it, as a camera's sensor does. */
  kbps: number;
}

/** Common main-stream settings of 2–4 MP door cameras: 25 fps, a keyframe a second. */
const PROFILES: readonly StreamProfile[] = [
  { name: '1080p', width: 1920, height: 1080, fps: 25, kbps: 4_000 },
  { name: '720p', width: 1280, height: 720, fps: 25, kbps: 2_000 },
];

const SEGMENT_SECONDS = 4;
const ASSEMBLY_WINDOW_MS = 35_000;
const CAMERA_ID = 'room-cam';

export interface RecordingCpu {
  stream: string;
  fps: number;
  /** Bitrate of the file the camera loops (what its encoder made of the noisy scene). */
  sourceMbps: number;
  /** What the recorder wrote, per second of recording. */
  recordedMbps: number;
  seconds: number;
  segments: number;
  /** Recorder ffmpeg, % of one core (100 = one core busy). */
  ffmpegCpuPercent: number;
  ffmpegRssMb: number | null;
  /** The server's side of it (segment list parsing, renames, indexing), % of one core. */
  nodeCpuPercent: number;
}

export interface ClipLatency {
  segmentSeconds: number;
  window: string;
  events: number;
  /** s from the window end until the segment holding it was closed and reported. */
  segmentCloseS: Summary;
  /** s from that report until the clip was served (indexing, keyframe scan, concat, poster). */
  afterCloseS: Summary;
  /** s from the window end until the clip was served, asking every 100 ms. */
  firstPossibleS: Summary;
  /** s from the window end until the console's player, following Retry-After, had it. */
  consoleS: Summary;
}

export interface ClipAssembly {
  windowSeconds: number;
  segments: number;
  runs: number;
  totalMs: Summary;
  keyframeScanMs: number;
  concatMs: number;
  posterMs: number;
  clipMb: number;
  clipSeconds: number;
}

export interface CamerasBenchResult {
  recording: RecordingCpu[];
  clipLatency: ClipLatency | null;
  clipAssembly: ClipAssembly | null;
  skipped: string[];
}

const nowMs = () => performance.now();

/** User + system CPU seconds of a running process, from /proc (Linux); null once it is gone. */
function cpuSeconds(pid: number, tick: number): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / tick; // utime, stime
  } catch {
    return null;
  }
}

function rssMb(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? round(Number(m[1]) / 1024, 1) : null;
  } catch {
    return null;
  }
}

/** Clock ticks per second, the unit of /proc/<pid>/stat times. */
function clockTicks(): number {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  return Number(out.stdout?.trim()) || 100;
}

/** A spawn that remembers the pid of the last ffmpeg it started (the recorder's). */
function trackingSpawn(): { spawn: FfmpegSpawn; lastPid: () => number | undefined } {
  let pid: number | undefined;
  return {
    spawn: (command, args): FfmpegChild => {
      const child = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      pid = child.pid;
      return child;
    },
    lastPid: () => pid,
  };
}

/** Runs ffmpeg with `args` to the end; rejects with its last log lines. */
function ffmpegOnce(ffmpeg: FfmpegBinary, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpeg.path, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4_000)));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`ffmpeg exited ${code}: ${err.trim()}`)),
    );
  });
}

/**
 * The package-room scene at a camera's size, then once more with temporal noise on top,
 * encoded as a camera does (H.264 Main, no B-frames, a keyframe a second, capped bitrate).
 * A clean synthetic picture compresses to almost nothing; sensor noise is what fills a real
 * camera's bitrate.
 */
async function cameraStream(
  ffmpeg: FfmpegBinary,
  dir: string,
  p: StreamProfile,
): Promise<{ path: string; mbps: number }> {
  const clean = await synthesizeScene({
    cacheDir: dir,
    ffmpeg,
    width: p.width,
    height: p.height,
    fps: p.fps,
    durationMs: 10_000,
    label: `BENCH ${p.name}`,
  });
  const out = join(dir, `camera-${p.name}.mp4`);
  await ffmpegOnce(ffmpeg, [
    ...['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', '-i', clean.path],
    ...['-vf', 'noise=alls=10:allf=t,format=yuv420p', '-an'],
    ...['-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'main', '-bf', '0'],
    ...['-g', String(p.fps), '-keyint_min', String(p.fps), '-sc_threshold', '0'],
    ...['-b:v', `${p.kbps}k`, '-maxrate', `${Math.round(p.kbps * 1.25)}k`],
    ...['-bufsize', `${p.kbps * 2}k`, '-movflags', '+faststart', out],
  ]);
  const bytes = (await stat(out)).size;
  return { path: out, mbps: round((bytes * 8) / (clean.durationMs / 1000) / 1e6, 2) };
}

/** A closed segment and when the recorder reported it (server ms). */
interface ReportedSegment extends SegmentClosed {
  reportedAt: number;
}

/** A sink that keeps what the recorder reports and wakes whoever waits for a segment. */
function collectingSink(
  now: () => number,
  forward?: SegmentSink,
): SegmentSink & {
  segments: ReportedSegment[];
  nextSegment(): Promise<SegmentClosed>;
} {
  const segments: ReportedSegment[] = [];
  let waiters: ((s: SegmentClosed) => void)[] = [];
  return {
    segments,
    nextSegment: () => new Promise((r) => waiters.push(r)),
    async segmentClosed(s) {
      segments.push({ ...s, reportedAt: now() });
      const w = waiters;
      waiters = [];
      for (const r of w) r(s);
      await forward?.segmentClosed(s);
    },
    async gap(g) {
      await forward?.gap(g);
    },
    async state(u) {
      await forward?.state(u);
    },
  };
}

/** Waits for a segment, failing with the recorder's state when none comes. */
async function segmentWithin(
  sink: ReturnType<typeof collectingSink>,
  recorder: SegmentRecorder,
  ms: number,
): Promise<SegmentClosed> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `no segment recorded within ${ms} ms (camera ${JSON.stringify(recorder.state())})`,
          ),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([sink.nextSegment(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const quietLog = () => undefined;

async function benchRecordingCpu(
  ffmpeg: FfmpegBinary,
  camera: RtspServer,
  profile: StreamProfile,
  sourceMbps: number,
  dataDir: string,
  seconds: number,
): Promise<RecordingCpu> {
  const tracking = trackingSpawn();
  const clock = systemClock();
  const runner = createFfmpegRunner({ spawn: tracking.spawn, clock, binary: ffmpeg });
  const sink = collectingSink(clock.now);
  const recorder = createSegmentRecorder({
    cameraId: `bench-${profile.name}`,
    url: camera.url(profile.name),
    dataDir,
    runner,
    fs: nodeRecordingFs,
    sink,
    clock,
    log: quietLog,
    segmentSeconds: SEGMENT_SECONDS,
  });
  const tick = clockTicks();
  await recorder.start();
  try {
    // From the first closed segment on: the RTSP handshake and the probe burst are start-up.
    await segmentWithin(sink, recorder, 30_000);
    const pid = tracking.lastPid();
    if (pid === undefined) throw new Error('the recorder started no ffmpeg');
    const cpu0 = cpuSeconds(pid, tick);
    const node0 = process.cpuUsage();
    const t0 = nowMs();
    const before = sink.segments.length;
    await sleep(seconds * 1000);
    const cpu1 = cpuSeconds(pid, tick);
    const node = process.cpuUsage(node0);
    const wall = (nowMs() - t0) / 1000;
    const rss = rssMb(pid);
    if (cpu0 === null || cpu1 === null) throw new Error('the recorder ffmpeg ended mid-run');
    if (tracking.lastPid() !== pid) throw new Error('the recorder restarted ffmpeg mid-run');
    const recorded = sink.segments.slice(before);
    const bytes = recorded.reduce((s, x) => s + x.bytes, 0);
    const span = recorded.reduce((s, x) => s + (x.endAt - x.startAt), 0) / 1000;
    return {
      stream: `${profile.name} (${profile.width}×${profile.height})`,
      fps: profile.fps,
      sourceMbps,
      recordedMbps: span > 0 ? round((bytes * 8) / span / 1e6, 2) : NaN,
      seconds: round(wall, 1),
      segments: recorded.length,
      ffmpegCpuPercent: round(((cpu1 - cpu0) / wall) * 100, 2),
      ffmpegRssMb: rss,
      nodeCpuPercent: round(((node.user + node.system) / 1e6 / wall) * 100, 2),
    };
  } finally {
    await recorder.stop();
  }
}

/** What the clip service needs of the site: the demo room, its camera on our RTSP stream. */
function benchSite(url: string): SiteConfig {
  const raw = demoSite() as Record<string, unknown> & { cameras: Record<string, unknown>[] };
  return parseSite(
    {
      ...raw,
      cameras: [{ ...raw.cameras[0], id: CAMERA_ID, source: { kind: 'rtsp', url } }],
      recording: { segmentSeconds: SEGMENT_SECONDS },
    },
    'cameras benchmark',
  );
}

/** The clip steps, told apart by their arguments, each timed. */
function timingRunner(inner: FfmpegRunner): {
  runner: FfmpegRunner;
  steps: Record<'keyframes' | 'concat' | 'poster', number[]>;
} {
  const steps = { keyframes: [] as number[], concat: [] as number[], poster: [] as number[] };
  const stepOf = (args: readonly string[]) =>
    args.includes('framecrc') ? 'keyframes' : args.includes('concat') ? 'concat' : 'poster';
  return {
    steps,
    runner: {
      binary: inner.binary,
      run(args, options) {
        const t = nowMs();
        const run = inner.run(args, options);
        void run.exit.then(() => steps[stepOf(args)].push(nowMs() - t));
        return run;
      },
    },
  };
}

/**
 * Latency and assembly share one recording: the 1080p camera recorded into 4 s segments, indexed
 * in an embedded database by the server's own recording sink, clips made by the clip service.
 */
async function benchClips(
  ffmpeg: FfmpegBinary,
  camera: RtspServer,
  dir: TempDir,
  opts: { events: number; assemblyRuns: number },
): Promise<{ latency: ClipLatency; assembly: ClipAssembly }> {
  const dataDir = join(dir.path, 'clips-data');
  const site = benchSite(camera.url('1080p'));
  const clock = systemClock();
  const log = createLogger({ level: 'error', write: (line) => process.stderr.write(`${line}\n`) });
  const database: Database = await openDatabase({ dataDir });
  let recorder: SegmentRecorder | undefined;
  let service: ClipService | undefined;
  const recordingSink = createRecordingSink({
    db: database.db,
    siteId: site.site.id,
    clock,
    log,
    record: () => Promise.resolve(true), // offline/online alarms: not part of this measurement
  });
  try {
    await syncSite(database.db, site, new Date(clock.now()));
    const runner = createFfmpegRunner({
      spawn: spawnFfmpegProcess,
      clock,
      binary: ffmpeg,
      log: quietLog,
    });
    const sink = collectingSink(clock.now, recordingSink);
    const rec = createSegmentRecorder({
      cameraId: CAMERA_ID,
      url: camera.url('1080p'),
      dataDir,
      runner,
      fs: nodeRecordingFs,
      sink,
      clock,
      log: quietLog,
      segmentSeconds: SEGMENT_SECONDS,
      offlineAfterMs: site.recording.offlineAfterMs,
    });
    recorder = rec;
    const status = (): CameraStatus => {
      const s = rec.state();
      return {
        id: CAMERA_ID,
        name: 'Package room',
        doorId: 'front',
        source: 'rtsp',
        state: s.state,
        since: s.state === 'starting' ? null : new Date(s.since).toISOString(),
        recording: s.state === 'online',
      };
    };
    const directory: CameraDirectory = {
      list: () => [status()],
      streams: () => null,
      forDoor: (doorId) => (doorId === 'front' ? CAMERA_ID : null),
      onStatus: () => () => undefined,
    };
    service = createClipService({
      db: database.db,
      siteId: site.site.id,
      site,
      dataDir,
      clock,
      runner,
      directory,
      log,
    });
    const clips = service;

    await rec.start();
    await segmentWithin(sink, rec, 30_000);

    // --- 2. window end → playable ----------------------------------------------------------
    const door = site.doors[0]!;
    const segmentMs = SEGMENT_SECONDS * 1000;
    const firstAt = clock.now() + 1_000;
    // One entry at a time, as at a door: a segment and a bit apart, so no two windows end in
    // the same segment (their clips would be built at once), and each window end falls at
    // another point of its segment (the wait for the segment to close is spread over 0..4 s).
    const spacingMs = segmentMs + segmentMs / opts.events;
    const requests: ClipRequest[] = Array.from({ length: opts.events }, (_, i) => {
      const at = Math.round(firstAt + i * spacingMs);
      return {
        owner: { kind: 'event', id: `bench-event-${i}` },
        cameraId: CAMERA_ID,
        window: clipWindowAt(door, at),
        eventAt: at,
      };
    });

    /** Asks every `everyMs` from `from` on until the clip is there; s after the window end. */
    const pollEvery = async (req: ClipRequest, everyMs: number): Promise<number> => {
      await sleep(Math.max(0, req.window.endAt - clock.now()));
      for (;;) {
        const o = await clips.clipFor(req);
        if (o.kind === 'ready') return (clock.now() - req.window.endAt) / 1000;
        if (o.kind !== 'not_yet') throw new Error(`clip ${req.owner.id}: ${JSON.stringify(o)}`);
        await sleep(everyMs);
      }
    };
    /** The console's player: opened a second before the window end, then as Retry-After says. */
    const followRetryAfter = async (req: ClipRequest): Promise<number> => {
      await sleep(Math.max(0, req.window.endAt - 1_000 - clock.now()));
      for (;;) {
        const o = await clips.clipFor(req);
        if (o.kind === 'ready') return (clock.now() - req.window.endAt) / 1000;
        if (o.kind !== 'not_yet') throw new Error(`clip ${req.owner.id}: ${JSON.stringify(o)}`);
        // The console waits whole seconds (Retry-After is in s, rounded up).
        await sleep(Math.max(1, Math.ceil(o.retryAfterMs / 1000)) * 1000);
      }
    };
    // Each event has one client, turn about, so neither finds a clip the other had built.
    const byPolling = requests.filter((_, i) => i % 2 === 0);
    const byConsole = requests.filter((_, i) => i % 2 === 1);
    const [fast, viaConsole] = await Promise.all([
      Promise.all(byPolling.map((r) => pollEvery(r, 100))),
      Promise.all(byConsole.map((r) => followRetryAfter(r))),
    ]);
    /** When the segment holding the window end was reported closed, after the window end. */
    const closeWait = (req: ClipRequest): number => {
      const covering = sink.segments.find((x) => x.endAt >= req.window.endAt);
      if (!covering) throw new Error(`no segment covers the end of ${req.owner.id}`);
      return (covering.reportedAt - req.window.endAt) / 1000;
    };
    const waits = byPolling.map(closeWait);
    const latency: ClipLatency = {
      segmentSeconds: SEGMENT_SECONDS,
      window: `${door.clipBeforeMs / 1000} s before, ${door.clipAfterMs / 1000} s after`,
      events: requests.length,
      segmentCloseS: summarize(waits),
      afterCloseS: summarize(fast.map((f, i) => f - waits[i]!)),
      firstPossibleS: summarize(fast),
      consoleS: summarize(viaConsole),
    };

    // --- 3. a 35 s window over 4 s segments -------------------------------------------------
    const segments: ClipSegment[] = sink.segments.map((s) => ({
      path: join(dataDir, s.path),
      startAt: s.startAt,
      endAt: s.endAt,
    }));
    // Mid-segment at both ends, as an event's window is.
    const from = segments[0]!.startAt + 1_500;
    const window = { startAt: from, endAt: from + ASSEMBLY_WINDOW_MS };
    while ((sink.segments.at(-1)?.endAt ?? 0) < window.endAt) {
      await segmentWithin(sink, rec, 30_000);
      const s = sink.segments.at(-1)!;
      segments.push({ path: join(dataDir, s.path), startAt: s.startAt, endAt: s.endAt });
    }
    await rec.stop();
    recorder = undefined;
    const assemblyTimer = timingRunner(runner);
    const totals: number[] = [];
    let last: Awaited<ReturnType<typeof buildClip>> | undefined;
    for (let i = 0; i < opts.assemblyRuns; i++) {
      const outPath = join(dataDir, `assembly-${i}.mp4`);
      const t = nowMs();
      last = await buildClip({
        segments,
        window,
        eventAt: window.startAt + 5_000,
        outPath,
        posterPath: join(dataDir, `assembly-${i}.jpg`),
        ffmpeg: assemblyTimer.runner,
      });
      totals.push(nowMs() - t);
      if (i < opts.assemblyRuns - 1) await rm(outPath, { force: true });
    }
    const p50 = (xs: number[]) => summarize(xs).p50;
    const assembly: ClipAssembly = {
      windowSeconds: ASSEMBLY_WINDOW_MS / 1000,
      segments: last!.segmentCount,
      runs: totals.length,
      totalMs: summarize(totals),
      keyframeScanMs: round(p50(assemblyTimer.steps.keyframes), 1),
      concatMs: round(p50(assemblyTimer.steps.concat), 1),
      posterMs: round(p50(assemblyTimer.steps.poster), 1),
      clipMb: round((await stat(last!.outPath)).size / 1e6, 2),
      clipSeconds: round((last!.endAt - last!.startAt) / 1000, 2),
    };
    return { latency, assembly };
  } finally {
    await recorder?.stop();
    await service?.close();
    await recordingSink.close();
    await database.close();
  }
}

/** The system ffmpeg with libx264, which renders the scenes; null with the reason otherwise. */
async function findFfmpeg(): Promise<{ ffmpeg: FfmpegBinary } | { reason: string }> {
  const ffmpeg = locateFfmpeg('system');
  if (!ffmpeg) return { reason: 'no system ffmpeg (apt-get install ffmpeg)' };
  const encoders = await new Promise<string>((resolve) => {
    const child = spawn(ffmpeg.path, ['-hide_banner', '-encoders'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('error', () => resolve(''));
    child.once('close', () => resolve(out));
  });
  if (!/libx264/.test(encoders)) return { reason: `${ffmpeg.path} has no libx264 encoder` };
  return { ffmpeg };
}

export async function runCamerasBench(
  log: (line: string) => void,
  opts: { quick?: boolean } = {},
): Promise<CamerasBenchResult> {
  const quick = opts.quick ?? false;
  const skipped: string[] = [];
  const result: CamerasBenchResult = {
    recording: [],
    clipLatency: null,
    clipAssembly: null,
    skipped,
  };
  const found = await findFfmpeg();
  const rtsp = await rtspServerAvailable();
  if (!('ffmpeg' in found)) skipped.push(`camera rows skipped: ${found.reason}`);
  if (!rtsp.ok) skipped.push(`camera rows skipped: ${rtsp.reason}`);

  if ('ffmpeg' in found && rtsp.ok) {
    const { ffmpeg } = found;
    const dir = await makeTempDir('parcelroom-cameras-bench');
    let camera: RtspServer | undefined;
    try {
      const files: Record<string, string> = {};
      const sourceMbps: Record<string, number> = {};
      for (const p of PROFILES) {
        const s = await cameraStream(ffmpeg, dir.path, p);
        files[p.name] = s.path;
        sourceMbps[p.name] = s.mbps;
      }
      camera = await startRtspServer({ files });
      for (const p of PROFILES) {
        result.recording.push(
          await benchRecordingCpu(
            ffmpeg,
            camera,
            p,
            sourceMbps[p.name]!,
            join(dir.path, 'cpu'),
            quick ? 8 : 20,
          ),
        );
      }
      const clips = await benchClips(ffmpeg, camera, dir, {
        events: quick ? 4 : 8,
        assemblyRuns: quick ? 2 : 5,
      });
      result.clipLatency = clips.latency;
      result.clipAssembly = clips.assembly;
    } finally {
      await camera?.stop();
      await dir.cleanup();
    }
  }

  const out: string[] = [];
  out.push(
    `Camera benchmarks — node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? '?'}, ` +
      `ffmpeg ${'ffmpeg' in found ? `${found.ffmpeg.major}.x (${found.ffmpeg.source})` : 'missing'}, ` +
      `RTSP ${rtsp.ok ? `GStreamer ${rtsp.gstreamer}` : 'missing'}`,
  );
  if (result.recording.length) {
    out.push(
      '',
      formatTable(
        `8. Recording, per camera: RTSP over TCP → ffmpeg -c copy → ${SEGMENT_SECONDS} s fragmented-MP4 segments`,
        [
          'stream',
          'fps',
          'source Mbit/s',
          'recorded Mbit/s',
          'seconds',
          'segments',
          'ffmpeg CPU %',
          'ffmpeg RSS MB',
          'node CPU %',
        ],
        result.recording.map((r): Cell[] => [
          r.stream,
          r.fps,
          r.sourceMbps,
          r.recordedMbps,
          r.seconds,
          r.segments,
          r.ffmpegCpuPercent,
          r.ffmpegRssMb,
          r.nodeCpuPercent,
        ]),
      ),
      '   CPU % of one core (100 = one core busy), utime + stime of the recorder ffmpeg from /proc;\n' +
        '   node = this process meanwhile (segment list, renames). Scene: package room + sensor noise,\n' +
        '   H.264 Main, no B-frames, keyframe every second, served by the GStreamer RTSP server.',
    );
  }
  const l = result.clipLatency;
  if (l) {
    out.push(
      '',
      formatTable(
        `9. Window end → clip playable (${l.segmentSeconds} s segments, window ${l.window}, ${l.events} entries, one at a time)`,
        ['measured', 'n', 'p50 s', 'p90 s', 'max s', 'mean s'],
        (
          [
            ['asking every 100 ms', l.firstPossibleS],
            ['  of which: segment with the window end closes', l.segmentCloseS],
            ['  of which: indexed, clip built', l.afterCloseS],
            ['console player (opened before the end, Retry-After)', l.consoleS],
          ] as const
        ).map(([what, x]): Cell[] => [what, x.n, x.p50, x.p90, x.max, x.mean]),
      ),
      '   The clip is built once the segment holding the window end has closed (up to one segment\n' +
        '   plus a keyframe later) and been indexed; "playable" = the clip service answers with the\n' +
        '   file (keyframe scan + concat + poster done).',
    );
  }
  const a = result.clipAssembly;
  if (a) {
    out.push(
      '',
      formatTable(
        `10. Clip assembly: ${a.windowSeconds} s window over ${a.segments} × ${SEGMENT_SECONDS} s 1080p segments (buildClip, ${a.runs} runs)`,
        ['measured', 'value'],
        [
          ['total p50 ms', a.totalMs.p50],
          ['total max ms', a.totalMs.max],
          ['keyframe scan p50 ms', a.keyframeScanMs],
          ['concat -c copy +faststart p50 ms', a.concatMs],
          ['JPEG poster p50 ms', a.posterMs],
          ['clip MB', a.clipMb],
          ['clip s (from the keyframe before the window)', a.clipSeconds],
        ],
      ),
    );
  }
  for (const s of skipped) out.push('', s);
  for (const line of out.join('\n').split('\n')) log(line);
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await runCamerasBench((line) => process.stdout.write(`${line}\n`), {
    quick: process.argv.includes('--quick'),
  });
  process.stdout.write(`CAMERAS_BENCH_RESULTS ${JSON.stringify(r)}\n`);
}
