/**
 * Recording and clips against real video: a synthetic H.264 file (lavfi testsrc2, no B-frames,
 * a keyframe each second) is served over real RTSP, recorded by the segment recorder with the
 * real ffmpeg into 2 s segments, checked with ffprobe, interrupted and resumed, and cut into a
 * clip across segment boundaries. The camera is the RTSP stand-in in test/harness/rtsp.camera.ts.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../hardware/clock.ts';
import { ClipError, buildClip } from '../../vision/clip.builder.ts';
import { locateFfmpeg, type FfmpegBinary } from '../../vision/ffmpeg.locate.ts';
import {
  createFfmpegRunner,
  spawnFfmpegProcess,
  type FfmpegSpawn,
} from '../../vision/ffmpeg.process.ts';
import {
  createSegmentRecorder,
  nodeRecordingFs,
  type RecordingGap,
  type SegmentClosed,
  type SegmentRecorder,
  type SegmentSink,
} from '../../vision/segment.recorder.ts';
import type { CameraState } from '../../vision/vision.ports.ts';
import { getFreePort } from '../harness/free-port.ts';
import { reportMissing } from '../harness/requirements.ts';
import { startTestCamera, waitFor, type TestCamera } from '../harness/rtsp.camera.ts';
import { makeTempDir, type TempDir } from '../harness/temp-dir.ts';

function requireSystemFfmpeg(): (FfmpegBinary & { ffprobePath: string }) | null {
  const ff = locateFfmpeg('system');
  const encoders = ff
    ? spawnSync(ff.path, ['-hide_banner', '-encoders'], { encoding: 'utf8' }).stdout
    : '';
  if (ff && ff.ffprobePath && /libx264/.test(encoders))
    return { ...ff, ffprobePath: ff.ffprobePath };
  reportMissing(
    'ffmpeg',
    'no system ffmpeg with libx264 and ffprobe (apt-get install ffmpeg); the recording tests are skipped.',
  );
  return null;
}

const ffmpeg = requireSystemFfmpeg();
const npmFfmpeg = ffmpeg ? locateFfmpeg('npm') : null;
if (ffmpeg && !npmFfmpeg) {
  reportMissing(
    'ffmpeg (npm)',
    '@ffmpeg-installer/ffmpeg is not installed; its recording test is skipped.',
  );
}

// -- helpers ----------------------------------------------------------------------------------

/**
 * Within `tolerance` seconds: an indexed span may differ from the file by the anchor's later
 * refinement (a few ms) and the last frame's duration (40 ms here).
 */
function expectNear(actual: number, expected: number, tolerance: number): void {
  expect(Math.abs(actual - expected), `${actual} vs ${expected}`).toBeLessThanOrEqual(tolerance);
}

interface Probe {
  format: { format_name: string; duration: string };
  streams: { codec_name: string; width: number; height: number }[];
}

function ffprobe(path: string): Probe {
  const out = spawnSync(
    ffmpeg!.ffprobePath,
    [
      '-v',
      'error',
      '-show_entries',
      'format=format_name,duration:stream=codec_name,width,height',
      '-of',
      'json',
      path,
    ],
    { encoding: 'utf8' },
  );
  expect(out.status, `ffprobe ${path}: ${out.stderr}`).toBe(0);
  return JSON.parse(out.stdout) as Probe;
}

/** A sink that remembers everything, in order. */
function recordingSink() {
  const segments: SegmentClosed[] = [];
  const gaps: RecordingGap[] = [];
  const states: CameraState[] = [];
  const sink: SegmentSink = {
    segmentClosed: (s) => void segments.push(s),
    gap: (g) => void gaps.push(g),
    state: (u) => void states.push(u.state),
  };
  return { sink, segments, gaps, states };
}

describe.skipIf(!ffmpeg)('recording real RTSP video into segments and clips', () => {
  let dir: TempDir;
  let source: string;
  let port: number;
  let camera: TestCamera | undefined;
  const recorders: SegmentRecorder[] = [];
  const logs: string[] = [];
  const clock = systemClock();
  const main = recordingSink();
  let recorder: SegmentRecorder;
  let recorderStartedAt = 0;
  /** Segments of the first ffmpeg run, before the camera is cut. */
  let firstRun: SegmentClosed[] = [];
  let ff4: SegmentRecorder | undefined;
  const ff4Sink = recordingSink();
  const ff4Args: (readonly string[])[] = [];

  const runner = (binary: FfmpegBinary, seen?: (readonly string[])[]) => {
    const spawnIt: FfmpegSpawn = (command, args) => {
      seen?.push(args);
      return spawnFfmpegProcess(command, args);
    };
    return createFfmpegRunner({
      spawn: spawnIt,
      clock,
      binary,
      rtspTimeoutMs: 3_000,
      killAfterMs: 4_000,
    });
  };

  beforeAll(async () => {
    dir = await makeTempDir('parcelroom-recording');
    source = join(dir.path, 'source.mp4');
    const made = spawnSync(
      ffmpeg!.path,
      [
        ...[
          '-hide_banner',
          '-v',
          'error',
          '-f',
          'lavfi',
          '-i',
          'testsrc2=size=640x360:rate=25',
          '-t',
          '10',
        ],
        ...[
          '-c:v',
          'libx264',
          '-preset',
          'ultrafast',
          '-crf',
          '30',
          '-bf',
          '0',
          '-g',
          '25',
          '-keyint_min',
          '25',
        ],
        ...['-sc_threshold', '0', '-pix_fmt', 'yuv420p', '-y', source],
      ],
      { encoding: 'utf8' },
    );
    expect(made.status, made.stderr).toBe(0);
    port = await getFreePort();
    camera = await startTestCamera(ffmpeg!.path, source, port, dir.path);
  });

  afterAll(async () => {
    for (const r of recorders) await r.stop();
    await camera?.stop();
    await dir?.cleanup();
  });

  it('records contiguous, playable 2 s segments whose times add up', async () => {
    // The ffmpeg 4 recorder of the next test watches the same camera meanwhile (saves its wait).
    if (npmFfmpeg) {
      ff4 = createSegmentRecorder({
        cameraId: 'door-cam-ff4',
        url: camera!.url,
        dataDir: dir.path,
        runner: runner(npmFfmpeg, ff4Args),
        fs: nodeRecordingFs,
        sink: ff4Sink.sink,
        clock,
        segmentSeconds: 2,
        offlineAfterMs: 5_000,
      });
      recorders.push(ff4);
      await ff4.start();
    }
    recorderStartedAt = Date.now();
    recorder = createSegmentRecorder({
      cameraId: 'door-cam',
      url: camera!.url,
      dataDir: dir.path,
      runner: runner(ffmpeg!),
      fs: nodeRecordingFs,
      sink: main.sink,
      clock,
      log: (level, msg) => logs.push(`${level}: ${msg}`),
      segmentSeconds: 2,
      offlineAfterMs: 5_000,
      backoff: { initialMs: 250, maxMs: 1_000 },
    });
    recorders.push(recorder);
    await recorder.start();
    await waitFor(
      `four segments (log: ${logs.join(' | ')})`,
      () => main.segments.length >= 4,
      20_000,
    );
    firstRun = main.segments.slice(0, 4);

    expect(recorder.state()).toEqual({ state: 'online', since: firstRun[0]!.startAt });
    expect(main.states[0]).toEqual({ state: 'starting' });
    // Causality, not speed: video cannot predate the recorder or postdate the report.
    expect(firstRun[0]!.startAt).toBeGreaterThanOrEqual(recorderStartedAt);
    expect(firstRun[3]!.endAt).toBeLessThanOrEqual(Date.now());
    let total = 0;
    for (const [i, s] of firstRun.entries()) {
      if (i > 0) expect(s.startAt).toBe(firstRun[i - 1]!.endAt);
      expect(s.path).toMatch(
        /^recordings\/door-cam\/\d{4}-\d\d-\d\d\/\d\d\/\d\d-\d\d-\d\d\.\d{3}_[a-z0-9]+-1-\d{6}\.mp4$/,
      );
      const probe = ffprobe(join(dir.path, s.path));
      expect(probe.format.format_name).toContain('mp4');
      expect(probe.streams).toEqual([{ codec_name: 'h264', width: 640, height: 360 }]);
      // The indexed span is the file's own length (keyframes each second, so 2 s exactly).
      expectNear(Number(probe.format.duration), (s.endAt - s.startAt) / 1000, 0.1);
      expect(s.bytes).toBeGreaterThan(0);
      total += s.endAt - s.startAt;
    }
    expect(total).toBe(firstRun[3]!.endAt - firstRun[0]!.startAt);
    expect(main.gaps).toEqual([]);
  });

  it.skipIf(!npmFfmpeg)('records the same with the npm ffmpeg 4 build (-stimeout)', async () => {
    const r4 = ff4!;
    await waitFor('three segments from ffmpeg 4', () => ff4Sink.segments.length >= 3, 15_000);
    await r4.stop();
    const seen = ff4Args;
    expect(seen[0]).toEqual(expect.arrayContaining(['-stimeout', '3000000']));
    expect(seen[0]).not.toContain('-timeout');
    const segs = ff4Sink.segments.slice(0, 3);
    for (const [i, s] of segs.entries()) {
      if (i > 0) expect(s.startAt).toBe(segs[i - 1]!.endAt);
      const probe = ffprobe(join(dir.path, s.path));
      expect(probe.streams[0]).toEqual({ codec_name: 'h264', width: 640, height: 360 });
      expectNear(Number(probe.format.duration), (s.endAt - s.startAt) / 1000, 0.1);
    }
  });

  it('reports the camera offline when the stream dies, then the gap when it resumes', async () => {
    await camera!.stop();
    camera = undefined;
    await waitFor(
      `offline (log: ${logs.join(' | ')})`,
      () => recorder.state().state === 'offline',
      15_000,
    );
    const before = [...main.segments];
    const lastEnd = Math.max(...before.map((s) => s.endAt));
    const offline = recorder.state();
    expect(offline).toMatchObject({ state: 'offline', fault: 'offline', since: lastEnd });
    expect(offline.state === 'offline' && offline.reason).toMatch(/refused|ended the stream/i);
    expect(main.gaps).toEqual([]);

    camera = await startTestCamera(ffmpeg!.path, source, port, dir.path);
    await waitFor(
      `recording to resume (log: ${logs.join(' | ')})`,
      () => main.segments.length > before.length,
      20_000,
    );
    const resumed = main.segments[before.length]!;
    expect(main.gaps).toHaveLength(1);
    expect(main.gaps[0]).toMatchObject({
      cameraId: 'door-cam',
      startAt: lastEnd,
      endAt: resumed.startAt,
    });
    // We waited for the offline report (5 s of silence) before the camera came back.
    expect(main.gaps[0]!.endAt - main.gaps[0]!.startAt).toBeGreaterThan(2_000);
    expect(recorder.state()).toEqual({ state: 'online', since: resumed.startAt });
    expect(main.states.map((s) => s.state)).toEqual(['starting', 'online', 'offline', 'online']);
    expect(ffprobe(join(dir.path, resumed.path)).streams[0]!.codec_name).toBe('h264');
  });

  it('builds a clip across two segment boundaries, from the keyframe before the window', async () => {
    const runnerNow = runner(ffmpeg!);
    const segments = main.segments.map((s) => ({ ...s, path: join(dir.path, s.path) }));
    const [s0, , s2] = firstRun;
    const window = { startAt: s0!.startAt + 1_300, endAt: s2!.startAt + 700 };
    const outPath = join(dir.path, 'clip.mp4');
    const posterPath = join(dir.path, 'clip.jpg');
    const clip = await buildClip({
      segments,
      window,
      eventAt: s0!.endAt + 500,
      outPath,
      posterPath,
      ffmpeg: runnerNow,
    });
    expect(clip.missing).toEqual([]);
    expect(clip.segmentCount).toBe(3);
    // Keyframes every second from the segment start: the clip starts at +1 s, before +1.3 s.
    expect(clip.startAt).toBe(s0!.startAt + 1_000);
    expect(clip.endAt).toBe(window.endAt);
    const probe = ffprobe(outPath);
    const duration = Number(probe.format.duration);
    const windowS = (window.endAt - window.startAt) / 1000;
    expect(duration).toBeGreaterThanOrEqual(windowS - 0.1);
    expect(duration).toBeLessThanOrEqual(windowS + 1.0 + 0.1); // at most one GOP more
    expectNear(duration, (clip.endAt - clip.startAt) / 1000, 0.1);
    // +faststart: the index comes before the media, so a browser can seek at once.
    const head = readFileSync(outPath);
    expect(head.indexOf('moov')).toBeGreaterThan(0);
    expect(head.indexOf('moov')).toBeLessThan(head.indexOf('mdat'));
    expect(clip.poster).toEqual({ ok: true, path: posterPath, at: s0!.endAt + 500 });
    const poster = ffprobe(posterPath);
    expect(poster.streams[0]).toMatchObject({ codec_name: 'mjpeg', width: 640, height: 360 });
    expect(readFileSync(posterPath).subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
  });

  it('reports the hole in a clip across the outage, and refuses a window inside it', async () => {
    const gap = main.gaps[0]!;
    const segments = main.segments.map((s) => ({ ...s, path: join(dir.path, s.path) }));
    const clip = await buildClip({
      segments,
      window: { startAt: gap.startAt - 1_000, endAt: gap.endAt + 1_000 },
      outPath: join(dir.path, 'across.mp4'),
      posterPath: join(dir.path, 'across.jpg'),
      ffmpeg: runner(ffmpeg!),
    });
    expect(clip.missing).toEqual([{ startAt: gap.startAt, endAt: gap.endAt }]);
    const duration = Number(ffprobe(join(dir.path, 'across.mp4')).format.duration);
    expect(duration).toBeGreaterThan(1.5);
    expect(duration).toBeLessThan(3.2); // the hole takes no time in the clip
    await expect(
      buildClip({
        segments,
        window: { startAt: gap.startAt + 100, endAt: gap.endAt - 100 },
        outPath: join(dir.path, 'none.mp4'),
        posterPath: join(dir.path, 'none.jpg'),
        ffmpeg: runner(ffmpeg!),
      }),
    ).rejects.toBeInstanceOf(ClipError);
  });
});
