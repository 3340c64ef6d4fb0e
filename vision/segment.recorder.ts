/**
 * Continuous recording of one camera's main stream: one ffmpeg that copies the stream, without
 * re-encoding, into short MP4 segments; each closed segment is filed by its server time and
 * handed to the SegmentSink (the server indexes it in the database).
 *
 * ffmpeg arguments (see `recorderArgs`): RTSP over TCP (UDP loses packets on busy links and
 * breaks behind NAT), the runner's socket timeout, video only (`-map 0:v`; camera audio is often
 * G.711, which MP4 cannot hold), `-c copy`, the segment muxer cutting at the first keyframe after
 * each `segmentSeconds`, `-reset_timestamps 1` so every file plays from 0 on its own, and
 * fragmented MP4 (`frag_keyframe+empty_moov+default_base_moof`): a segment cut short by SIGKILL,
 * a crash or a power cut still plays up to its last keyframe, where a plain MP4 without its
 * trailer is unreadable. Clips are remuxed with +faststart for browsers (clip.builder.ts).
 *
 * Files. ffmpeg writes `recordings/<camera>/.incoming/<run>-<n>.mp4` (a flat name, no
 * `-strftime`); when the segment list says a segment is closed, it is renamed into
 * `recordings/<camera>/<YYYY-MM-DD>/<HH>/` by its start on the server clock (UTC). Why not let
 * ffmpeg write the dated folders with `-strftime 1`: the folders must exist before ffmpeg opens
 * the file (a missing one at midnight stops the recording), the name would carry ffmpeg's local
 * time at file open, late by the probe burst, and the dated tree would hold half-written files.
 * Renaming on close gives folders that agree with the indexed times, needs no pre-created
 * folders and no time zone, and anything in the dated tree is complete. Both are on the same
 * file system, so the rename is atomic.
 *
 * Times. Segment start and end come from the segment list and ffmpeg's log, mapped to server
 * time through the anchor estimated from `-progress` reports (segment.list.ts explains both).
 * Within one ffmpeg run, segments are contiguous: a segment whose listed start is the previous
 * listed end starts exactly where the previous one ended.
 *
 * Faults. When ffmpeg ends (camera gone, stream ended, refused), it is restarted after 1 s,
 * doubling to 30 s; the count resets after a run that recorded for a healthy minute. The camera
 * is reported `offline` once no segment has closed for `offlineAfterMs` (a restart that brings
 * video back within that time does not flap the state), at once for a fault that waiting will
 * not cure (wrong password, unsupported stream, ffmpeg missing). A running ffmpeg that produced
 * no segment for `offlineAfterMs` is stopped and restarted. When video comes back after a hole,
 * the hole is reported as a gap from the last segment's end to the new segment's start.
 *
 * File cameras (`file`): a local video is read in real time (`-re`), looped with `-stream_loop -1`
 * when asked; one that does not loop goes `offline` when it ends and is not replayed.
 */
import { join } from 'node:path';
import { mkdir, readdir, rename, stat } from 'node:fs/promises';
import type { Clock, TimerHandle } from '../hardware/clock.ts';
import type { CameraFault, CameraState } from './vision.ports.ts';
import {
  describeFfmpegExit,
  maskUrlPasswords,
  type FfmpegExit,
  type FfmpegRun,
  type FfmpegRunner,
  type VisionLog,
} from './ffmpeg.process.ts';
import {
  createWallAnchor,
  parseRecorderStdoutLine,
  parseSegmentStartLine,
  segmentFilePath,
  type WallAnchor,
} from './segment.list.ts';

/** A segment complete on disk. `path` is relative to DATA_DIR, with `/` separators. */
export interface SegmentClosed {
  cameraId: string;
  path: string;
  /** Server ms. */
  startAt: number;
  endAt: number;
  bytes: number;
}

/** A span with no recording (camera offline, stream ended, ffmpeg restarting). */
export interface RecordingGap {
  cameraId: string;
  startAt: number;
  endAt: number;
  /** Why, in words staff can act on (the ffmpeg log line that told). */
  reason: string;
}

export interface CameraStateUpdate {
  cameraId: string;
  state: CameraState;
}

/**
 * Where the recorder reports to; the server indexes segments and gaps and raises the `offline`
 * alarm. Calls arrive in order, one at a time (the next waits for a returned promise); a call
 * that throws or rejects is logged and does not stop the recording.
 */
export interface SegmentSink {
  segmentClosed(segment: SegmentClosed): void | Promise<void>;
  gap(gap: RecordingGap): void | Promise<void>;
  state(update: CameraStateUpdate): void | Promise<void>;
}

/** The file operations the recorder needs. */
export interface RecordingFs {
  /** Create a folder and its parents; fine when it exists. */
  mkdir(dir: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Size in bytes, or null when there is no such file. */
  size(path: string): Promise<number | null>;
  /** File names in a folder; empty when the folder does not exist. */
  list(dir: string): Promise<string[]>;
}

export const nodeRecordingFs: RecordingFs = {
  async mkdir(dir) {
    await mkdir(dir, { recursive: true });
  },
  rename: (from, to) => rename(from, to),
  async size(path) {
    try {
      return (await stat(path)).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  },
  async list(dir) {
    try {
      return await readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  },
};

export interface RecorderBackoff {
  initialMs: number;
  maxMs: number;
  /** A run that recorded at least this long resets the backoff. */
  healthyMs: number;
}

export const DEFAULT_RECORDER_BACKOFF: Readonly<RecorderBackoff> = Object.freeze({
  initialMs: 1_000,
  maxMs: 30_000,
  healthyMs: 60_000,
});

/** A local video file recorded as if a camera sent it (demo room, tests, a file camera). */
export interface RecordedFileInput {
  /** From the start again when it ends; false: its end is a camera that went away. */
  loop: boolean;
}

export interface SegmentRecorderOptions {
  cameraId: string;
  /** The camera's main stream (rtsp://…), or the path of a video file with `file`. */
  url: string;
  /**
   * `url` is a local file: read it at its own frame rate (`-re`), as a camera delivers video,
   * instead of as fast as the disk allows (a 20 s file would be "recorded" in a blink, with
   * segment times that say nothing about when anything happened).
   */
  file?: RecordedFileInput;
  /** DATA_DIR: recordings go under `<dataDir>/recordings/<cameraId>/`. */
  dataDir: string;
  runner: FfmpegRunner;
  fs: RecordingFs;
  sink: SegmentSink;
  clock: Clock;
  log?: VisionLog;
  /** Target segment length; a segment ends at the first keyframe after it. Default 10. */
  segmentSeconds?: number;
  /** No closed segment for this long: camera `offline`, ffmpeg restarted. Default 30 s. */
  offlineAfterMs?: number;
  backoff?: Partial<RecorderBackoff>;
  /** A hole between segments shorter than this is timing noise, not a gap. Default 250 ms. */
  gapToleranceMs?: number;
}

export interface SegmentRecorder {
  readonly cameraId: string;
  state(): CameraState;
  /** Starts recording; resolves once the first ffmpeg has been launched (or failed to be). */
  start(): Promise<void>;
  /** Stops ffmpeg (its last segment is closed and reported) and waits for the sink. */
  stop(): Promise<void>;
}

const CAMERA_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
export const INCOMING_DIR = '.incoming';

/** The exact ffmpeg arguments of one recording run (the runner adds the RTSP timeout). */
export function recorderArgs(p: {
  url: string;
  /** `url` is a local file played in real time, see {@link SegmentRecorderOptions.file}. */
  file?: RecordedFileInput;
  segmentSeconds: number;
  /** Absolute folder for the files being written. */
  incomingDir: string;
  /** Unique per run, so names never collide across restarts. */
  runTag: string;
}): string[] {
  return [
    '-hide_banner',
    '-nostdin',
    '-nostats',
    // verbose: the segment muxer's "starts with packet" line gives each segment's real start.
    '-loglevel',
    'verbose',
    ...(/^rtsps?:\/\//i.test(p.url) ? ['-rtsp_transport', 'tcp'] : []),
    // A looped file keeps its timestamps rising across the loop, so segments stay contiguous.
    ...(p.file ? ['-re', ...(p.file.loop ? ['-stream_loop', '-1'] : [])] : []),
    '-i',
    p.url,
    '-map',
    '0:v',
    '-c',
    'copy',
    '-f',
    'segment',
    '-segment_time',
    String(p.segmentSeconds),
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
    join(p.incomingDir, `${p.runTag}-%06d.mp4`),
  ];
}

/** Which CameraFault an ended run points to. Only `offline` may cure itself by waiting. */
export function classifyRecorderExit(exit: FfmpegExit): CameraFault {
  if (exit.startError) return 'missing_part';
  const text = exit.stderrTail.join('\n');
  if (/\b401\b|unauthori[sz]ed|authori[sz]ation failed/i.test(text)) return 'auth_failed';
  if (
    /could not find codec parameters|invalid data found when processing input|unsupported codec|codec not currently supported|could not find tag for codec|not supported by the muxer/i.test(
      text,
    )
  ) {
    return 'unsupported';
  }
  return 'offline';
}

function exitReason(exit: FfmpegExit): string {
  if (!exit.startError && exit.code === 0 && !exit.stopRequested) {
    return 'the camera ended the stream';
  }
  return describeFfmpegExit(exit);
}

/** What the output callbacks of one ffmpeg run update. */
interface RunCtx {
  readonly tag: string;
  readonly startedAt: number;
  readonly anchor: WallAnchor;
  /** Last `-progress` output time, ms. */
  lastOutMs: number | undefined;
  /** Real start of each segment (s), from the verbose log, by file name. */
  readonly starts: Map<string, number>;
  /** Names the segment list reported. */
  readonly listed: Set<string>;
  /** Listed end (s) and server end of the previous segment of this run, for contiguity. */
  prevEndSec: number | undefined;
  prevEndAt: number | undefined;
  segments: number;
  /** We asked it to stop (recorder stopping, or no video for too long). */
  stopping: boolean;
}

interface Run extends RunCtx {
  readonly handle: FfmpegRun;
  /** Resolves once the exit has been handled (salvage queued, restart scheduled). */
  readonly handled: Promise<void>;
}

export function createSegmentRecorder(opts: SegmentRecorderOptions): SegmentRecorder {
  const { cameraId, url, dataDir, runner, fs, sink, clock } = opts;
  if (!CAMERA_ID.test(cameraId)) {
    throw new Error(
      `camera id ${JSON.stringify(cameraId)} cannot name a recordings folder: letters, digits, _ and -, at most 64`,
    );
  }
  const segmentSeconds = opts.segmentSeconds ?? 10;
  const offlineAfterMs = opts.offlineAfterMs ?? 30_000;
  const gapToleranceMs = opts.gapToleranceMs ?? 250;
  const backoff: RecorderBackoff = { ...DEFAULT_RECORDER_BACKOFF, ...opts.backoff };
  if (!(segmentSeconds > 0) || !Number.isFinite(segmentSeconds)) {
    throw new RangeError(`segmentSeconds must be a positive number, got ${segmentSeconds}`);
  }
  if (!(offlineAfterMs > segmentSeconds * 1000)) {
    throw new RangeError(
      `offlineAfterMs (${offlineAfterMs}) must be longer than a segment (${segmentSeconds * 1000} ms), or every camera would look offline between two segments`,
    );
  }
  if (!(backoff.initialMs > 0) || !(backoff.maxMs >= backoff.initialMs)) {
    throw new RangeError(`backoff needs 0 < initialMs <= maxMs, got ${JSON.stringify(backoff)}`);
  }
  const rawLog = opts.log;
  const log: VisionLog = (level, msg, fields) => {
    const all = { cameraId, ...fields };
    if (rawLog) rawLog(level, msg, all);
    else if (level !== 'info') {
      process.stderr.write(`${level}: ${msg} ${JSON.stringify(all)}\n`);
    }
  };
  const cameraDir = join(dataDir, 'recordings', cameraId);
  const incomingDir = join(cameraDir, INCOMING_DIR);
  const maskedUrl = maskUrlPasswords(url);

  let state: CameraState = { state: 'starting' };
  let started = false;
  let stopping = false;
  let startedAt = 0;
  let current: Run | undefined;
  let runNumber = 0;
  let attempts = 0;
  let restartTimer: TimerHandle | undefined;
  let watchdog: TimerHandle | undefined;
  /** Server time the last segment closed (not its mapped end): drives the watchdog. */
  let lastSegmentClosedAt: number | undefined;
  /** Mapped end of the newest segment reported; gaps start here. */
  let lastEndAt: number | undefined;
  let lastFailure: { reason: string; fault: CameraFault } | undefined;

  // Everything the sink hears and every file move goes through one queue, in order.
  let chain: Promise<void> = Promise.resolve();
  const enqueue = (what: string, task: () => Promise<void>) => {
    chain = chain.then(task).catch((e: unknown) => {
      log('error', `recorder ${what} failed: ${e instanceof Error ? e.message : String(e)}`);
    });
  };
  const deliver = async (what: string, call: () => void | Promise<void>) => {
    try {
      await call();
    } catch (e) {
      log('error', `segment sink ${what} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  const setState = (next: CameraState) => {
    state = next;
    enqueue('state', () => deliver('state', () => sink.state({ cameraId, state: next })));
  };

  const goOffline = (fault: CameraFault, reason: string) => {
    if (state.state === 'offline' && state.fault === fault && state.reason === reason) return;
    const since = state.state === 'offline' ? state.since : (lastEndAt ?? startedAt);
    log('warn', `camera ${cameraId} offline: ${reason}`, { fault });
    setState({ state: 'offline', since, fault, reason });
  };

  // -- watchdog ------------------------------------------------------------------------------

  const videoRef = () => lastSegmentClosedAt ?? startedAt;
  const stallRef = (run: Run) => Math.max(run.startedAt, lastSegmentClosedAt ?? -Infinity);

  const reschedule = () => {
    if (watchdog) clock.clearTimeout(watchdog);
    watchdog = undefined;
    if (stopping) return;
    const deadlines: number[] = [];
    if (state.state !== 'offline') deadlines.push(videoRef() + offlineAfterMs);
    if (current && !current.stopping) deadlines.push(stallRef(current) + offlineAfterMs);
    if (deadlines.length === 0) return;
    watchdog = clock.setTimeout(check, Math.max(0, Math.min(...deadlines) - clock.now()));
  };

  function check() {
    watchdog = undefined;
    if (stopping) return;
    const now = clock.now();
    const silentS = Math.round((now - videoRef()) / 1000);
    if (state.state !== 'offline' && now - videoRef() >= offlineAfterMs) {
      goOffline(
        lastFailure?.fault ?? 'offline',
        lastFailure?.reason ?? `no video for ${silentS} s`,
      );
    }
    const run = current;
    if (run && !run.stopping && now - stallRef(run) >= offlineAfterMs) {
      log(
        'warn',
        `ffmpeg for camera ${cameraId} produced no segment for ${silentS} s; restarting it`,
      );
      lastFailure ??= { reason: `no video for ${silentS} s`, fault: 'offline' };
      run.stopping = true;
      void run.handle.stop();
    }
    reschedule();
  }

  // -- segments ------------------------------------------------------------------------------

  /** Files a closed segment of `run` and reports it; false when there was nothing to file. */
  const fileSegment = async (
    run: RunCtx,
    name: string,
    startSec: number,
    endSec: number,
  ): Promise<boolean> => {
    const endAt = run.anchor.at(endSec)!;
    const contiguous =
      run.prevEndSec !== undefined &&
      run.prevEndAt !== undefined &&
      Math.abs(startSec - run.prevEndSec) < 1e-6;
    const startAt = contiguous ? run.prevEndAt! : run.anchor.at(startSec)!;
    const end = Math.max(startAt, endAt);

    const from = join(incomingDir, name);
    const bytes = await fs.size(from);
    if (bytes === null) {
      log('error', `segment ${name} is listed but not on disk; not indexed`, { path: from });
      return false;
    }
    const target = segmentFilePath(cameraId, startAt, name);
    let relPath = target.relPath;
    try {
      await fs.mkdir(join(dataDir, target.dir));
      await fs.rename(from, join(dataDir, target.relPath));
    } catch (e) {
      // Index it where it is rather than lose it: retention still sees and deletes it.
      relPath = `recordings/${cameraId}/${INCOMING_DIR}/${name}`;
      log('error', `could not file segment ${name}: ${e instanceof Error ? e.message : String(e)}`);
    }

    if (
      lastEndAt !== undefined ? startAt - lastEndAt > gapToleranceMs : state.state === 'offline'
    ) {
      const gapStart = lastEndAt ?? startedAt;
      if (startAt > gapStart) {
        const gap: RecordingGap = {
          cameraId,
          startAt: gapStart,
          endAt: startAt,
          reason: lastFailure?.reason ?? 'no video',
        };
        await deliver('gap', () => sink.gap(gap));
      }
    }
    lastEndAt = Math.max(lastEndAt ?? -Infinity, end);
    run.prevEndAt = end;
    run.prevEndSec = endSec;
    run.segments++;
    const segment: SegmentClosed = { cameraId, path: relPath, startAt, endAt: end, bytes };
    await deliver('segmentClosed', () => sink.segmentClosed(segment));
    if (state.state !== 'online') {
      lastFailure = undefined;
      log('info', `camera ${cameraId} recording`, { since: startAt });
      setState({ state: 'online', since: startAt });
    }
    return true;
  };

  const onListed = (run: RunCtx, name: string, listedStartSec: number, endSec: number) => {
    const now = clock.now();
    run.listed.add(name);
    // The packet that closed this segment had arrived by now: one more bound for the anchor.
    run.anchor.observe(now, endSec * 1000);
    lastSegmentClosedAt = now;
    reschedule();
    const startSec = run.starts.get(name) ?? listedStartSec;
    enqueue('segment', async () => {
      await fileSegment(run, name, startSec, endSec);
    });
  };

  /**
   * After a SIGKILL or crash, the last segment has no list entry. Fragmented MP4 plays up to its
   * last complete fragment, so index it from its logged start to the last progress report (an
   * end that may overshoot the playable part by up to one GOP).
   */
  const salvage = async (run: RunCtx) => {
    const names = (await fs.list(incomingDir))
      .filter((n) => n.startsWith(`${run.tag}-`) && !run.listed.has(n))
      .sort();
    for (const name of names) {
      const startSec = run.starts.get(name);
      const endAt = run.lastOutMs === undefined ? undefined : run.anchor.at(run.lastOutMs / 1000);
      const startAt = startSec === undefined ? undefined : run.anchor.at(startSec);
      if (
        startSec === undefined ||
        endAt === undefined ||
        startAt === undefined ||
        endAt <= startAt
      ) {
        log(
          'warn',
          `segment ${name} was not closed by ffmpeg and cannot be timed; left in ${INCOMING_DIR}`,
          {
            path: join(incomingDir, name),
          },
        );
        continue;
      }
      log(
        'warn',
        `segment ${name} was not closed by ffmpeg; indexed up to the last progress report`,
      );
      await fileSegment(run, name, startSec, run.lastOutMs! / 1000);
    }
  };

  // -- runs ----------------------------------------------------------------------------------

  const scheduleRestart = () => {
    if (stopping) return;
    const delay = Math.min(backoff.maxMs, backoff.initialMs * 2 ** attempts);
    attempts++;
    log('info', `restarting ffmpeg for camera ${cameraId} in ${delay} ms`, { attempt: attempts });
    restartTimer = clock.setTimeout(() => {
      restartTimer = undefined;
      void launch();
    }, delay);
  };

  const onExit = (run: Run, exit: FfmpegExit) => {
    if (current === run) current = undefined;
    enqueue('salvage', () => salvage(run));
    if (stopping) return;
    if (run.segments > 0 && clock.now() - run.startedAt >= backoff.healthyMs) attempts = 0;
    // A file camera that does not loop has shown all it has: offline, and no restart replays it.
    if (opts.file && !opts.file.loop && exit.code === 0 && !exit.startError && !run.stopping) {
      const ended = 'the video file ended';
      lastFailure = { reason: ended, fault: 'offline' };
      log('info', `camera ${cameraId}: ${ended}; not restarted, as it does not loop`);
      goOffline('offline', ended);
      reschedule();
      return;
    }
    // A run we stopped for silence keeps that as its reason, not "exited with code 0".
    const { reason, fault } =
      run.stopping && lastFailure
        ? lastFailure
        : { reason: exitReason(exit), fault: classifyRecorderExit(exit) };
    lastFailure = { reason, fault };
    log('warn', `ffmpeg for camera ${cameraId} ended: ${reason}`, {
      code: exit.code,
      signal: exit.signal,
      url: maskedUrl,
    });
    // Waiting does not cure a wrong password, an unsupported stream or a missing ffmpeg.
    if (fault !== 'offline') goOffline(fault, reason);
    scheduleRestart();
    reschedule();
  };

  const launch = async () => {
    if (stopping) return;
    try {
      await fs.mkdir(incomingDir);
    } catch (e) {
      const reason = `cannot create ${incomingDir}: ${e instanceof Error ? e.message : String(e)}`;
      lastFailure = { reason, fault: 'missing_part' };
      goOffline('missing_part', reason);
      scheduleRestart();
      return;
    }
    if (stopping) return;
    runNumber++;
    const tag = `${clock.now().toString(36)}-${runNumber}`;
    const args = recorderArgs({
      url,
      ...(opts.file ? { file: opts.file } : {}),
      segmentSeconds,
      incomingDir,
      runTag: tag,
    });
    const ctx: RunCtx = {
      tag,
      startedAt: clock.now(),
      anchor: createWallAnchor(),
      lastOutMs: undefined,
      starts: new Map(),
      listed: new Set(),
      prevEndSec: undefined,
      prevEndAt: undefined,
      segments: 0,
      stopping: false,
    };
    const handle = runner.run(args, {
      onStdoutLine: (line) => {
        const parsed = parseRecorderStdoutLine(line);
        switch (parsed.kind) {
          case 'progress':
            ctx.lastOutMs = parsed.outTimeMs;
            ctx.anchor.observe(clock.now(), parsed.outTimeMs);
            return;
          case 'segment':
            onListed(ctx, parsed.entry.file, parsed.entry.startSec, parsed.entry.endSec);
            return;
          case 'progress_end':
          case 'other':
            return;
        }
      },
      onStderrLine: (line) => {
        const start = parseSegmentStartLine(line);
        if (start) ctx.starts.set(start.file, start.ptsSec);
      },
    });
    const run: Run = Object.assign(ctx, {
      handle,
      handled: handle.exit.then((exit) => onExit(run, exit)),
    });
    current = run;
    log('info', `recording camera ${cameraId}`, { url: maskedUrl, run: tag });
    reschedule();
  };

  return {
    cameraId,
    state: () => state,
    async start() {
      if (started) throw new Error(`recorder for camera ${cameraId} was already started`);
      started = true;
      startedAt = clock.now();
      setState({ state: 'starting' });
      const leftovers = await fs.list(incomingDir).catch(() => [] as string[]);
      if (leftovers.length > 0) {
        // From a server that died mid-segment: no list entry, no anchor, so no trustworthy time.
        log(
          'warn',
          `${leftovers.length} unindexed segment file(s) from an earlier run left in ${incomingDir}`,
          {
            files: leftovers.slice(0, 10),
          },
        );
      }
      await launch();
    },
    async stop() {
      if (stopping) {
        await chain;
        return;
      }
      stopping = true;
      if (restartTimer) clock.clearTimeout(restartTimer);
      if (watchdog) clock.clearTimeout(watchdog);
      restartTimer = undefined;
      watchdog = undefined;
      const run = current;
      if (run) {
        run.stopping = true;
        await run.handle.stop();
        await run.handled;
      }
      await chain;
      if (started && state.state === 'offline') {
        // The hole runs until now: nothing will close it later.
        const gapStart = lastEndAt ?? startedAt;
        const now = clock.now();
        if (now > gapStart) {
          const gap: RecordingGap = {
            cameraId,
            startAt: gapStart,
            endAt: now,
            reason: state.reason,
          };
          await deliver('gap', () => sink.gap(gap));
        }
      }
    },
  };
}
