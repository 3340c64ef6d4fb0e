/**
 * Decoded frames for the analytics: one ffmpeg process per camera turns the detect stream (RTSP
 * sub-stream, or a file played as a camera) into packed RGB at a set rate and size, read from its
 * stdout as raw video.
 *
 * Raw video has no framing, so frames are cut by byte count (width × height × 3) whatever the pipe's
 * chunk sizes are. A frame's time is the clock's when its last byte arrives: the server's time, the
 * one door events use. Live cameras must not build a backlog, so by default only the newest two
 * frames wait for the consumer (older ones are dropped and counted); files decoded for tests and
 * benchmarks can ask for backpressure instead, pausing ffmpeg until frames are taken.
 */
import { spawn as nodeSpawn } from 'node:child_process';
import type { Clock, TimerHandle } from '../hardware/clock.ts';
import type { FfmpegBinary } from './ffmpeg.locate.ts';
import type { Frame } from './vision.ports.ts';

/** The part of a child process the frame source uses (node's ChildProcess fits). */
export interface FrameChild {
  readonly pid?: number | undefined;
  readonly stdout: {
    on(event: 'data', listener: (chunk: Buffer) => void): unknown;
    pause(): unknown;
    resume(): unknown;
  } | null;
  readonly stderr: {
    on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  } | null;
  kill(signal?: NodeJS.Signals): boolean;
  once(event: 'error', listener: (err: Error) => void): unknown;
  once(
    event: 'close',
    listener: (code: number | null, signal: NodeJS.Signals | null) => void,
  ): unknown;
}

export type FrameSpawn = (command: string, args: readonly string[]) => FrameChild;

export const nodeFrameSpawn: FrameSpawn = (command, args) =>
  nodeSpawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });

/** Where the picture comes from: a stream URL (RTSP, HTTP) or a video file. */
export type FrameSourceInput =
  | { url: string; file?: undefined }
  | {
      file: string;
      url?: undefined;
      /** Play the file again when it ends (a file camera in the site file loops by default). */
      loop?: boolean;
      /** Read at the file's own pace, like a live camera (default); false decodes flat out. */
      realtime?: boolean;
    };

export type FrameSourceOptions = FrameSourceInput & {
  cameraId: string;
  ffmpeg: FfmpegBinary;
  /** Frames per second delivered (default 5; more than 10 buys nothing for people walking). */
  fps?: number;
  /** Size of the delivered frames; the picture is scaled to fit and padded (black), never cropped. */
  width: number;
  height: number;
  clock: Clock;
  spawn?: FrameSpawn;
  /** Frames kept for a slow consumer (default 2). */
  maxQueuedFrames?: number;
  /** 'drop-oldest' (live cameras, default) or 'backpressure' (pause ffmpeg; files, tests). */
  overflow?: 'drop-oldest' | 'backpressure';
  /** After SIGTERM, how long ffmpeg gets before SIGKILL (ms, default 2000). */
  stopTimeoutMs?: number;
  /** Window over which the delivered frame rate is measured (ms, default 10 s). */
  fpsWindowMs?: number;
  /** RTSP socket timeout (ms, default 5000): a dead camera is noticed instead of hanging. */
  rtspTimeoutMs?: number;
};

/** How a frame source ended: asked to, the file ran out, or ffmpeg failed (with its words). */
export type FrameSourceEnd =
  | { reason: 'stopped' }
  | { reason: 'ended' }
  | { reason: 'failed'; message: string; code: number | null; signal: string | null };

export interface FrameSourceStats {
  /** Whole frames cut from ffmpeg's output (taken, waiting, or dropped). */
  framesDecoded: number;
  /** Frames thrown away because the consumer was behind (drop-oldest only). */
  framesDropped: number;
  /** Frames that arrived back to back when ffmpeg started (buffered picture), not counted in fps. */
  burstFrames: number;
  /** Frames per second ffmpeg delivered over the last window after the start burst; null until known. */
  deliveredFps: number | null;
  lastFrameAt: number | null;
  /** Bytes of an unfinished frame when ffmpeg stopped (a cut-off frame is never delivered). */
  partialBytes: number;
}

export interface FrameSource extends AsyncIterable<Frame> {
  /** The ffmpeg command line (for logs and the camera's status page). */
  readonly args: readonly string[];
  readonly frameBytes: number;
  stats(): FrameSourceStats;
  /** SIGTERM, then SIGKILL after stopTimeoutMs; resolves once ffmpeg has exited. */
  stop(): Promise<FrameSourceEnd>;
  /** Resolves (never rejects) when ffmpeg has exited, for whatever reason. */
  readonly ended: Promise<FrameSourceEnd>;
}

export class FrameSourceError extends Error {
  override readonly name = 'FrameSourceError';
}

const positiveInt = (v: number) => Number.isInteger(v) && v > 0;

/** The ffmpeg arguments for a source (exported so the tests and logs show exactly what runs). */
export function frameSourceArgs(opts: FrameSourceOptions): string[] {
  const fps = opts.fps ?? 5;
  const { width: W, height: H } = opts;
  if (!positiveInt(W) || !positiveInt(H)) {
    throw new FrameSourceError(`frame size ${W}×${H} is not a positive size`);
  }
  if (!(Number.isFinite(fps) && fps > 0 && fps <= 60)) {
    throw new FrameSourceError(`fps ${fps} must be above 0 and at most 60`);
  }
  const input: string[] = [];
  let source: string;
  if (opts.url !== undefined) {
    if (!opts.url) throw new FrameSourceError('frame source url is empty');
    source = opts.url;
    if (/^rtsps?:\/\//i.test(source)) {
      const timeoutUs = Math.round((opts.rtspTimeoutMs ?? 5000) * 1000);
      input.push('-rtsp_transport', 'tcp', opts.ffmpeg.rtspTimeoutFlag, String(timeoutUs));
    }
  } else {
    if (!opts.file) throw new FrameSourceError('frame source file path is empty');
    source = opts.file;
    if (opts.realtime ?? true) input.push('-re');
    if (opts.loop) input.push('-stream_loop', '-1');
  }
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    ...input,
    '-i',
    source,
    '-an',
    '-sn',
    '-dn',
    '-vf',
    `fps=${fps},scale=${W}:${H}:force_original_aspect_ratio=decrease,pad=${W}:${H}:(ow-iw)/2:(oh-ih)/2`,
    '-pix_fmt',
    'rgb24',
    '-f',
    'rawvideo',
    'pipe:1',
  ];
}

export function createFrameSource(opts: FrameSourceOptions): FrameSource {
  if ((opts.url === undefined) === (opts.file === undefined)) {
    throw new FrameSourceError('a frame source needs exactly one of url or file');
  }
  const args = frameSourceArgs(opts);
  const fps = opts.fps ?? 5;
  const { clock } = opts;
  const frameBytes = opts.width * opts.height * 3;
  const maxQueued = Math.max(1, opts.maxQueuedFrames ?? 2);
  const overflow = opts.overflow ?? 'drop-oldest';
  const stopTimeoutMs = opts.stopTimeoutMs ?? 2000;
  const fpsWindowMs = opts.fpsWindowMs ?? 10_000;
  // Frames closer together than a quarter period are a burst (ffmpeg emptying a buffer).
  const burstGapMs = 1000 / fps / 4;

  const queue: Frame[] = [];
  let waiter: ((r: IteratorResult<Frame>) => void) | null = null;
  let current = new Uint8Array(frameBytes);
  let filled = 0;
  let decoded = 0;
  let dropped = 0;
  let burstFrames = 0;
  let inBurst = true;
  let previousAt: number | null = null;
  const windowTimes: number[] = [];
  let stopping = false;
  let paused = false;
  let finished: FrameSourceEnd | null = null;
  let killTimer: TimerHandle | null = null;
  let stderrTail = '';
  let iterating = false;
  let child: FrameChild | null = null;

  let resolveEnded!: (e: FrameSourceEnd) => void;
  const ended = new Promise<FrameSourceEnd>((r) => (resolveEnded = r));

  const wake = (r: IteratorResult<Frame>) => {
    const w = waiter;
    waiter = null;
    w?.(r);
  };

  const finish = (end: FrameSourceEnd) => {
    if (finished) return;
    finished = stopping ? { reason: 'stopped' } : end;
    if (killTimer) clock.clearTimeout(killTimer);
    killTimer = null;
    // A stop discards what waits; a file that ran out still hands over its last frames.
    if (stopping) queue.length = 0;
    if (queue.length === 0) wake({ done: true, value: undefined });
    resolveEnded(finished);
  };

  const noteTiming = (at: number) => {
    if (inBurst && previousAt !== null && at - previousAt >= burstGapMs) inBurst = false;
    previousAt = at;
    if (inBurst) {
      burstFrames++;
      return;
    }
    windowTimes.push(at);
    while (windowTimes.length > 2 && at - windowTimes[0]! > fpsWindowMs) windowTimes.shift();
  };

  const push = (frame: Frame) => {
    decoded++;
    if (waiter) {
      wake({ done: false, value: frame });
      return;
    }
    queue.push(frame);
    if (queue.length <= maxQueued) return;
    switch (overflow) {
      case 'drop-oldest':
        // A live camera: the newest picture matters, an old one would only add delay.
        queue.shift();
        dropped++;
        return;
      case 'backpressure':
        if (!paused) {
          paused = true;
          child?.stdout?.pause();
        }
        return;
    }
  };

  const onData = (chunk: Buffer) => {
    if (finished || stopping) return;
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(frameBytes - filled, chunk.length - offset);
      current.set(chunk.subarray(offset, offset + n), filled);
      filled += n;
      offset += n;
      if (filled === frameBytes) {
        const at = clock.now();
        noteTiming(at);
        const rgb = current;
        // A fresh buffer: the consumer may keep the frame (snapshots, clips) as long as it likes.
        current = new Uint8Array(frameBytes);
        filled = 0;
        push({ cameraId: opts.cameraId, at, width: opts.width, height: opts.height, rgb });
      }
    }
  };

  const take = (): IteratorResult<Frame> | null => {
    const f = queue.shift();
    if (f) {
      if (paused && queue.length < maxQueued && !stopping) {
        paused = false;
        child?.stdout?.resume();
      }
      return { done: false, value: f };
    }
    return finished ? { done: true, value: undefined } : null;
  };

  const stop = (): Promise<FrameSourceEnd> => {
    if (finished || stopping || !child) return ended;
    stopping = true;
    queue.length = 0;
    wake({ done: true, value: undefined });
    const c = child;
    // The timer first: a process that exits at once on SIGTERM clears it in finish().
    killTimer = clock.setTimeout(() => {
      killTimer = null;
      if (!finished) c.kill('SIGKILL');
    }, stopTimeoutMs);
    c.kill('SIGTERM');
    // A paused pipe would keep ffmpeg blocked on a write while it should be exiting.
    if (paused) c.stdout?.resume();
    return ended;
  };

  try {
    child = (opts.spawn ?? nodeFrameSpawn)(opts.ffmpeg.path, args);
  } catch (err) {
    finish({
      reason: 'failed',
      message: `ffmpeg could not start: ${err instanceof Error ? err.message : String(err)}`,
      code: null,
      signal: null,
    });
  }
  if (child) {
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (c: Buffer | string) => {
      stderrTail = (stderrTail + c.toString()).slice(-2000);
    });
    child.once('error', (err: Error) => {
      finish({ reason: 'failed', message: `ffmpeg: ${err.message}`, code: null, signal: null });
    });
    child.once('close', (code, signal) => {
      if (code === 0) {
        finish({ reason: 'ended' });
        return;
      }
      const said = stderrTail.trim().split('\n').slice(-3).join(' | ');
      finish({
        reason: 'failed',
        message: `ffmpeg exited with ${code !== null ? `code ${code}` : `signal ${signal}`}${said ? `: ${said}` : ''}`,
        code,
        signal,
      });
    });
  }

  return {
    args,
    frameBytes,
    ended,
    stop,
    stats() {
      const n = windowTimes.length;
      const span = n >= 2 ? windowTimes[n - 1]! - windowTimes[0]! : 0;
      return {
        framesDecoded: decoded,
        framesDropped: dropped,
        burstFrames,
        deliveredFps: span > 0 ? ((n - 1) * 1000) / span : null,
        lastFrameAt: previousAt,
        partialBytes: finished ? filled : 0,
      };
    },
    [Symbol.asyncIterator](): AsyncIterator<Frame> {
      if (iterating) {
        throw new FrameSourceError('a frame source has one reader and is already being read');
      }
      iterating = true;
      return {
        next() {
          if (stopping) return Promise.resolve({ done: true, value: undefined });
          const r = take();
          if (r) return Promise.resolve(r);
          return new Promise((resolve) => (waiter = resolve));
        },
        // Leaving a for-await loop early stops ffmpeg: nobody else reads this source.
        async return() {
          await stop();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// One still picture

export interface StillPicture {
  width: number;
  height: number;
  /** Packed RGB, row-major. */
  rgb: Uint8Array;
}

/** Reads a binary PPM (P6, maxval 255), which ffmpeg writes with the size in its header. */
export function parsePpm(data: Uint8Array): StillPicture {
  const fields: string[] = [];
  let i = 0;
  const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
  while (fields.length < 4 && i < data.length) {
    while (i < data.length && isSpace(data[i]!)) i++;
    if (data[i] === 0x23) {
      while (i < data.length && data[i] !== 0x0a) i++; // a comment line
      continue;
    }
    const start = i;
    while (i < data.length && !isSpace(data[i]!)) i++;
    fields.push(Buffer.from(data.subarray(start, i)).toString('latin1'));
  }
  i++; // the single whitespace byte before the pixels
  const [magic, w, h, max] = fields;
  const width = Number(w);
  const height = Number(h);
  if (magic !== 'P6' || !positiveInt(width) || !positiveInt(height) || max !== '255') {
    throw new FrameSourceError(`not an 8-bit binary PPM picture (header ${fields.join(' ')})`);
  }
  const bytes = width * height * 3;
  if (data.length - i < bytes) {
    throw new FrameSourceError(
      `PPM picture ${width}×${height} is cut short: ${data.length - i} of ${bytes} bytes`,
    );
  }
  // A plain copy: a Buffer slice would keep the whole pipe output alive and is not a Uint8Array
  // to every consumer's eyes.
  const rgb = new Uint8Array(bytes);
  rgb.set(data.subarray(i, i + bytes));
  return { width, height, rgb };
}

/**
 * Decodes one picture (PNG, JPEG, or the first frame of a video) to packed RGB with ffmpeg. PPM
 * carries the size, so no ffprobe is needed (the npm fallback ffmpeg ships without one).
 */
export function readStillPicture(opts: {
  ffmpeg: FfmpegBinary;
  path: string;
  spawn?: FrameSpawn;
}): Promise<StillPicture> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let stderr = '';
    let child: FrameChild;
    try {
      child = (opts.spawn ?? nodeFrameSpawn)(opts.ffmpeg.path, [
        '-hide_banner',
        '-nostdin',
        '-loglevel',
        'error',
        '-i',
        opts.path,
        '-frames:v',
        '1',
        '-f',
        'image2pipe',
        '-c:v',
        'ppm',
        '-pix_fmt',
        'rgb24',
        'pipe:1',
      ]);
    } catch (err) {
      reject(new FrameSourceError(`ffmpeg could not start to read ${opts.path}`, { cause: err }));
      return;
    }
    child.stdout?.on('data', (c: Buffer) => chunks.push(c));
    child.stderr?.on('data', (c: Buffer | string) => {
      stderr = (stderr + c.toString()).slice(-2000);
    });
    child.once('error', (err) =>
      reject(new FrameSourceError(`ffmpeg failed to read ${opts.path}: ${err.message}`)),
    );
    child.once('close', (code, signal) => {
      if (code !== 0) {
        reject(
          new FrameSourceError(
            `ffmpeg could not decode ${opts.path} (${code !== null ? `code ${code}` : `signal ${signal}`}): ${stderr.trim()}`,
          ),
        );
        return;
      }
      try {
        resolve(parsePpm(Buffer.concat(chunks)));
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
}
