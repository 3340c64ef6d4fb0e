/**
 * The camera side's costs on this box: the detector (YOLOX-nano, onnxruntime-node on the CPU), the
 * tracker, the motion gate and the ffmpeg frame source.
 *
 *   npx tsx bench/vision.bench.ts          alone
 *   runVisionBench(log)                    from bench/run.ts
 *
 * Needs ffmpeg and the model (PARCELROOM_MODEL, default ../shared/models/yolox_nano.onnx); a part
 * that is missing skips its rows and says so. Nothing is asserted: the reader judges.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { systemClock } from '../hardware/clock.ts';
import { makeTempDir } from '../test/harness/temp-dir.ts';
import { createOnnxDetector } from '../vision/detector.onnx.ts';
import { locateFfmpeg, type FfmpegBinary } from '../vision/ffmpeg.locate.ts';
import {
  createFrameSource,
  nodeFrameSpawn,
  readStillPicture,
  type FrameSpawn,
} from '../vision/frame.source.ts';
import { createMotionGate } from '../vision/motion.gate.ts';
import { createTracker } from '../vision/tracker.ts';
import type { Detection, Frame } from '../vision/vision.ports.ts';
import { allocateInput, letterboxInto, YOLOX_NANO } from '../vision/yolo.decode.ts';
import type { Zone } from '../vision/zones.ts';
import { formatTable, round, summarize, type Cell, type Summary } from './stats.ts';
import { TEST_MODEL_PATH, testFixture } from '../test/harness/requirements.ts';

export interface VisionBenchResult {
  detector: {
    threads: number;
    spinning: boolean;
    runs: number;
    ms: Summary;
    maxFps: number;
    letterboxMs: number;
  }[];
  trackerUs: Summary | null;
  motionGateUs: { frame: string; us: Summary }[];
  frameSource: {
    decodeFps: number;
    decodeCpuPercent: number;
    realtimeFps: number | null;
    realtimeCpuPercent: number;
    codec: string;
  } | null;
  skipped: string[];
}

const MODEL = TEST_MODEL_PATH;
const PERSON_PNG = testFixture('person.png');

const nowMs = () => performance.now();

async function benchDetector(
  ffmpeg: FfmpegBinary,
  threads: number,
  runs: number,
  allowSpinning = false,
): Promise<VisionBenchResult['detector'][number]> {
  const still = await readStillPicture({ ffmpeg, path: PERSON_PNG });
  const frame: Frame = { cameraId: 'bench', at: 0, ...still };
  const detector = await createOnnxDetector({
    modelPath: MODEL,
    intraOpNumThreads: threads,
    allowSpinning,
  });
  try {
    for (let i = 0; i < 3; i++) await detector.detect(frame); // warm-up: first runs allocate
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = nowMs();
      await detector.detect(frame);
      samples.push(nowMs() - t);
    }
    const ms = summarize(samples);
    // The letterbox (resize 900×916 → 416 and BGR planes) is part of every detect; shown apart.
    const input = allocateInput(YOLOX_NANO);
    const lb: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = nowMs();
      letterboxInto(frame.rgb, frame.width, frame.height, YOLOX_NANO, input);
      lb.push(nowMs() - t);
    }
    return {
      threads,
      spinning: allowSpinning,
      runs,
      ms,
      maxFps: round(1000 / ms.mean, 1),
      letterboxMs: summarize(lb).p50,
    };
  } finally {
    await detector.close();
  }
}

/** Ten people walking about, each detected every frame with a little jitter: one update's cost. */
function benchTracker(updates: number): Summary {
  const tracker = createTracker({ cameraId: 'bench' });
  let seed = 7;
  const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 4;
  const detsAt = (at: number): Detection[] =>
    Array.from({ length: 10 }, (_, k) => {
      const x = 40 + k * 36 + Math.sin(at / 1000 + k) * 30 + rand();
      const y = 60 + (k % 3) * 40 + rand();
      return {
        box: { x1: x, y1: y, x2: x + 30, y2: y + 80 },
        classId: 0,
        label: 'person',
        score: 0.8,
      };
    });
  const samples: number[] = [];
  for (let i = 0; i < updates; i++) {
    const at = i * 200;
    const dets = detsAt(at);
    const t = nowMs();
    tracker.update(dets, at);
    samples.push((nowMs() - t) * 1000);
  }
  return summarize(samples.slice(10));
}

function benchMotion(width: number, height: number, frames: number): Summary {
  const zones: Zone[] = [
    {
      id: 'room',
      kind: 'room',
      polygon: [
        [0, 0],
        [1, 0],
        [1, 1],
        [0, 1],
      ],
    },
    {
      id: 'door',
      kind: 'door',
      polygon: [
        [0, 0.5],
        [0.2, 0.5],
        [0.2, 1],
        [0, 1],
      ],
    },
  ];
  const gate = createMotionGate({ zones });
  const rgb = new Uint8Array(width * height * 3).map((_, i) => (i * 31) % 251);
  const samples: number[] = [];
  for (let i = 0; i < frames; i++) {
    // A block moving across so both the still and the moving paths are exercised.
    const bx = (i * 13) % (width - 40);
    for (let y = 0; y < 40; y++)
      rgb.fill(i % 255, ((y + 10) * width + bx) * 3, ((y + 10) * width + bx + 40) * 3);
    const frame: Frame = { cameraId: 'bench', at: i * 200, width, height, rgb };
    const t = nowMs();
    gate.shouldDetect(frame, { tracksAlive: 0 });
    samples.push((nowMs() - t) * 1000);
  }
  return summarize(samples.slice(5));
}

/** CPU seconds (user + system) a running process has used, from /proc (Linux). */
function cpuSeconds(pid: number, tick: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / tick; // utime, stime
  } catch {
    return null;
  }
}

/** Runs a frame source to its end and reports frames/s and ffmpeg's CPU use. */
async function runSource(
  ffmpeg: FfmpegBinary,
  file: string,
  realtime: boolean,
  tick: number,
): Promise<{ fps: number; cpuPercent: number; deliveredFps: number | null }> {
  let pid: number | undefined;
  const spawn: FrameSpawn = (cmd, args) => {
    const child = nodeFrameSpawn(cmd, args);
    pid = child.pid;
    return child;
  };
  const source = createFrameSource({
    cameraId: 'bench',
    file,
    realtime,
    ffmpeg,
    width: 416,
    height: 234,
    fps: 5,
    clock: systemClock(),
    spawn,
    overflow: 'backpressure',
  });
  let cpu = 0;
  const poll = setInterval(() => {
    const c = pid === undefined ? null : cpuSeconds(pid, tick);
    if (c !== null) cpu = c;
  }, 100);
  const t0 = nowMs();
  let frames = 0;
  let deliveredFps: number | null = null;
  try {
    for await (const _ of source) {
      frames++;
      // The last reading before ffmpeg exits; after the file ends /proc has nothing to say.
      const c = pid === undefined ? null : cpuSeconds(pid, tick);
      if (c !== null) cpu = c;
      deliveredFps = source.stats().deliveredFps;
    }
  } finally {
    clearInterval(poll);
  }
  const end = await source.ended;
  if (end.reason !== 'ended') throw new Error(`frame source ${end.reason}: ${JSON.stringify(end)}`);
  const seconds = (nowMs() - t0) / 1000;
  return { fps: frames / seconds, cpuPercent: (cpu / seconds) * 100, deliveredFps };
}

async function benchFrameSource(ffmpeg: FfmpegBinary): Promise<VisionBenchResult['frameSource']> {
  const dir = await makeTempDir('vision-bench');
  try {
    const file = join(dir.path, 'room-720p.mp4');
    // 10 s of 720p at 25 fps, H.264 like a camera's stream (mpeg4 when this ffmpeg has no x264).
    let codec = 'h264';
    const src = ['-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=25:duration=10'];
    const make = (c: string[]) =>
      spawnSync(
        ffmpeg.path,
        ['-hide_banner', '-loglevel', 'error', '-y', ...src, ...c, '-pix_fmt', 'yuv420p', file],
        { encoding: 'utf8', timeout: 120_000 },
      );
    let made = make(['-c:v', 'libx264', '-preset', 'veryfast', '-g', '50']);
    if (made.status !== 0) {
      codec = 'mpeg4';
      made = make(['-c:v', 'mpeg4', '-q:v', '4']);
    }
    if (made.status !== 0) throw new Error(`could not make the 720p test file: ${made.stderr}`);
    const tickOut = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const tick = Number(tickOut.stdout.trim()) || 100;
    const flat = await runSource(ffmpeg, file, false, tick);
    const live = await runSource(ffmpeg, file, true, tick);
    return {
      codec,
      decodeFps: round(flat.fps, 1),
      decodeCpuPercent: round(flat.cpuPercent, 0),
      realtimeFps: live.deliveredFps === null ? null : round(live.deliveredFps, 2),
      realtimeCpuPercent: round(live.cpuPercent, 1),
    };
  } finally {
    await dir.cleanup();
  }
}

export async function runVisionBench(log: (line: string) => void): Promise<VisionBenchResult> {
  const skipped: string[] = [];
  const result: VisionBenchResult = {
    detector: [],
    trackerUs: null,
    motionGateUs: [],
    frameSource: null,
    skipped,
  };
  const ffmpeg = locateFfmpeg();
  if (!ffmpeg) skipped.push('ffmpeg not found: detector and frame source rows skipped');
  const haveModel = existsSync(MODEL);
  if (!haveModel)
    skipped.push(`model ${MODEL} not found (PARCELROOM_MODEL): detector rows skipped`);

  if (ffmpeg && haveModel) {
    result.detector.push(await benchDetector(ffmpeg, 2, 50));
    result.detector.push(await benchDetector(ffmpeg, 1, 20));
    result.detector.push(await benchDetector(ffmpeg, 2, 20, true));
  }
  result.trackerUs = benchTracker(2000);
  result.motionGateUs.push({ frame: '416×234', us: benchMotion(416, 234, 300) });
  result.motionGateUs.push({ frame: '1280×720', us: benchMotion(1280, 720, 100) });
  if (ffmpeg) result.frameSource = await benchFrameSource(ffmpeg);

  const out: string[] = [];
  out.push(
    `Vision benchmarks — node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? '?'}, ffmpeg ${ffmpeg ? `${ffmpeg.major}.x (${ffmpeg.source})` : 'missing'}`,
  );
  if (result.detector.length) {
    const rows: Cell[][] = result.detector.map((d) => [
      d.threads,
      d.spinning ? 'on' : 'off',
      d.runs,
      d.ms.p50,
      d.ms.p90,
      d.ms.p99,
      d.ms.max,
      d.maxFps,
      d.letterboxMs,
    ]);
    out.push(
      '',
      formatTable(
        '5. Detector: YOLOX-nano 416×416 on person.png (900×916), onnxruntime-node CPU, one frame at a time',
        [
          'threads',
          'spinning',
          'runs',
          'p50 ms',
          'p90 ms',
          'p99 ms',
          'max ms',
          'max fps',
          'letterbox ms',
        ],
        rows,
      ),
      '   max fps = 1000 / mean latency, all cameras together; letterbox = resize + BGR planes (in p50).\n' +
        '   spinning = onnxruntime workers busy-wait between jobs (off by default: the box is shared).',
    );
  }
  const t = result.trackerUs;
  const m = result.motionGateUs;
  out.push(
    '',
    formatTable(
      '6. Tracker and motion gate, per frame',
      ['measured', 'n', 'p50 µs', 'p90 µs', 'p99 µs', 'max µs'],
      [
        ['tracker update, 10 tracks', t.n, t.p50, t.p90, t.p99, t.max],
        ...m.map((g): Cell[] => [
          `motion gate, ${g.frame} frame`,
          g.us.n,
          g.us.p50,
          g.us.p90,
          g.us.p99,
          g.us.max,
        ]),
      ],
    ),
  );
  const f = result.frameSource;
  if (f) {
    out.push(
      '',
      formatTable(
        `7. Frame source: 10 s 720p 25 fps ${f.codec} file → ffmpeg → 416×234 RGB at 5 fps`,
        ['mode', 'frames/s', 'ffmpeg CPU %'],
        [
          ['flat out (decode speed)', f.decodeFps, f.decodeCpuPercent],
          ['real time (a live camera)', f.realtimeFps, f.realtimeCpuPercent],
        ],
      ),
      '   CPU % of one core (100 = one core busy); every source frame is decoded, 1 in 5 is scaled.',
    );
  }
  for (const s of skipped) out.push('', s);
  for (const line of out.join('\n').split('\n')) log(line);
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await runVisionBench((line) => process.stdout.write(`${line}\n`));
  process.stdout.write(`VISION_BENCH_RESULTS ${JSON.stringify(r)}\n`);
}
