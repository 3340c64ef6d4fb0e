/**
 * Live view of a camera in the console: HLS remuxed on demand, without re-encoding.
 *
 * Why HLS with `-c copy`. The camera already sends H.264; copying it into MPEG-TS segments costs
 * about 2% of a core per stream, where the MPEG-1 re-encode of node-rtsp-stream costs a core and
 * needs a standard frame rate. The console plays the playlist with hls.js (or the browser's own
 * HLS), over the same authenticated HTTP as the rest of the API: no extra port, no socket bound
 * to all interfaces. The price is a few seconds of delay (1 s segments, ≥ one GOP each).
 *
 * Why MPEG-TS segments and not fMP4. TS carries the stream's SPS/PPS in-band, so a camera that
 * does not advertise them in its SDP still plays; fMP4 would need them up front for its init
 * segment. hls.js repackages TS for the browser cheaply (video only, no audio: `-map 0:v:0`).
 *
 * One ffmpeg per camera and quality, started by the first playlist request, shared by everyone
 * who watches. `sub` (the default) is the camera's low-resolution stream: a Room page shows many
 * tiles at once, and a 640×360 stream is a tenth of the 1080p main one on the wire and in the
 * browser's decoder. `main` is for a single full-size view. Files go to
 * `DATA_DIR/live/<camera>/<quality>/`: `index.m3u8` and `<quality>-<sequence>.ts`.
 *
 * Nobody watching. HLS is plain polling: a player re-reads the playlist every segment (1 s). So
 * "someone watches" means "a playlist or segment request came within `idleStopMs`"; after that
 * the ffmpeg is stopped and its folder deleted. No viewer count is kept: requests carry no viewer
 * identity and extra viewers cost only file reads. What costs is each ffmpeg, so `maxStreams`
 * caps those.
 *
 * ffmpeg dies while watched (camera rebooted, network blip): it is restarted after 1 s, doubling
 * to 15 s, into a fresh folder. A request still waiting for the restarted ffmpeg counts as
 * watching. Each run numbers its segments on from the last number this stream used (or from the
 * server clock's epoch seconds, when later), so a restarted stream continues the playlist's media
 * sequence (marked as a discontinuity) and a segment name never stands for other video, which
 * lets browsers cache segments by name.
 *
 * Segment names from a request are only served when they match the strict pattern of the names
 * ffmpeg generates here (`sub-1767268800.ts`): no `/`, no `..`, no other file of the folder.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock, TimerHandle } from '../../hardware/clock.ts';
import {
  describeFfmpegExit,
  type FfmpegExit,
  type FfmpegRun,
  type FfmpegRunner,
  type VisionLog,
} from '../../vision/ffmpeg.process.ts';
import type { CameraDirectory, CameraInput, CameraStatus } from './camera.types.ts';

export const LIVE_QUALITIES = ['sub', 'main'] as const;
export type LiveQuality = (typeof LIVE_QUALITIES)[number];
/** Tiles ask for the light stream; see the file comment. */
export const DEFAULT_LIVE_QUALITY: LiveQuality = 'sub';

export const LIVE_PLAYLIST_NAME = 'index.m3u8';
/** Exactly the names `-hls_segment_filename <quality>-%d.ts` produces. */
export const LIVE_SEGMENT_PATTERN = /^(sub|main)-(\d{1,15})\.ts$/;
/** Camera ids as the site file allows them; anything else never becomes a folder name. */
const SAFE_CAMERA_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export const DEFAULT_IDLE_STOP_MS = 30_000;
export const DEFAULT_START_TIMEOUT_MS = 15_000;
export const DEFAULT_MAX_STREAMS = 16;
const POLL_MS = 100;
const RESTART_INITIAL_MS = 1_000;
const RESTART_MAX_MS = 15_000;
/** Re-reads of a playlist caught half-written (the 2018 npm ffmpeg writes it in place). */
const PARTIAL_READ_RETRIES = 3;
const PARTIAL_READ_DELAY_MS = 50;

/** Why a live request could not be answered; the route turns each into a status code. */
export type LiveFault =
  | { kind: 'unknown_camera'; message: string }
  | { kind: 'camera_offline'; message: string }
  /** A segment that is not ours, expired, or of a stream nobody started. */
  | { kind: 'not_found'; message: string }
  /** ffmpeg missing, failed, or no video within the start timeout. */
  | { kind: 'unavailable'; message: string }
  /** `maxStreams` live streams already run. */
  | { kind: 'busy'; message: string };

export type LiveAnswer<T> = { ok: true; value: T } | { ok: false; fault: LiveFault };

export type LiveStreamState = 'starting' | 'live' | 'restarting' | 'stopping';

/** One running live stream, for health and the log. */
export interface LiveStreamView {
  cameraId: string;
  quality: LiveQuality;
  state: LiveStreamState;
  /** When the current state began (server ms). */
  since: number;
  lastRequestAt: number;
  /** ffmpeg runs that ended while someone watched. */
  restarts: number;
  /** How the last ffmpeg run ended, when one did. */
  lastExit?: string;
}

export interface LiveHls {
  /**
   * The playlist text; starts the stream when nobody watches it yet and waits (at most the start
   * timeout) until ffmpeg has written the first playlist.
   */
  playlist(cameraId: string, quality: LiveQuality): Promise<LiveAnswer<string>>;
  /** A segment's bytes; `name` as listed in the playlist (it names the quality). */
  segment(cameraId: string, name: string): Promise<LiveAnswer<Uint8Array<ArrayBuffer>>>;
  streams(): LiveStreamView[];
  /** Stops every stream and deletes its files; later requests are refused. */
  close(): Promise<void>;
}

/** The file operations live view needs. */
export interface LiveFs {
  /** Leave `dir` existing and empty (a run never sees the files of an earlier one). */
  reset(dir: string): Promise<void>;
  /** Delete `dir` and everything in it; fine when it is gone already. */
  remove(dir: string): Promise<void>;
  /** The file's bytes, or null when there is no such file (not written yet, or expired). */
  read(path: string): Promise<Uint8Array<ArrayBuffer> | null>;
}

export const nodeLiveFs: LiveFs = {
  async reset(dir) {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
  },
  async remove(dir) {
    await rm(dir, { recursive: true, force: true });
  },
  async read(path) {
    try {
      return await readFile(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  },
};

export interface LiveHlsDeps {
  directory: CameraDirectory;
  /** null when no ffmpeg was found: every request then says so (a status, not a crash). */
  runner: FfmpegRunner | null;
  /** DATA_DIR; streams go under `<dataDir>/live/`. */
  dataDir: string;
  clock: Clock;
  log: VisionLog;
  fs?: LiveFs;
  /** Stop a stream nobody requested anything of for this long. Default 30 s. */
  idleStopMs?: number;
  /** Longest a playlist request waits for ffmpeg's first playlist. Default 15 s. */
  startTimeoutMs?: number;
  /** Most live ffmpeg processes at once. Default 16. */
  maxStreams?: number;
}

/** `sub-1767268800.ts` → its quality and sequence number; null for any other name. */
export function parseSegmentName(name: string): { quality: LiveQuality; sequence: number } | null {
  const m = LIVE_SEGMENT_PATTERN.exec(name);
  if (!m) return null;
  return { quality: m[1] as LiveQuality, sequence: Number(m[2]) };
}

/** What a complete playlist lists; null for a file caught half-written or not a playlist. */
export function parseLivePlaylist(
  text: string,
): { mediaSequence: number; segments: string[] } | null {
  if (!text.startsWith('#EXTM3U\n') || !text.endsWith('\n')) return null;
  const lines = text.split('\n').map((l) => l.trim());
  const seq = lines.find((l) => l.startsWith('#EXT-X-MEDIA-SEQUENCE:'));
  const mediaSequence = seq ? Number(seq.slice('#EXT-X-MEDIA-SEQUENCE:'.length)) : 0;
  if (!Number.isSafeInteger(mediaSequence) || mediaSequence < 0) return null;
  const segments: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith('#EXTINF:')) continue;
    const uri = lines[i + 1];
    if (!uri || !parseSegmentName(uri)) return null;
    segments.push(uri);
  }
  return segments.length > 0 ? { mediaSequence, segments } : null;
}

export interface LiveArgsOptions {
  /** Folder for the playlist and segments (exists, empty). */
  dir: string;
  quality: LiveQuality;
  /** Media sequence number (and file number) of the first segment. */
  startNumber: number;
  /** This run continues an earlier one of the same session: tell players the video jumps. */
  discontinuity: boolean;
}

/**
 * ffmpeg's arguments for one live run. The runner adds the RTSP socket timeout (`-timeout` or
 * `-stimeout`) before an rtsp:// input, so a camera that vanishes ends the run.
 */
export function liveHlsArgs(input: CameraInput, o: LiveArgsOptions): string[] {
  let inputArgs: string[];
  switch (input.kind) {
    case 'rtsp':
      // TCP: UDP drops packets on busy links and does not pass NAT; a lost packet is a smeared
      // frame until the next keyframe.
      inputArgs = ['-rtsp_transport', 'tcp', '-i', input.url];
      break;
    case 'file':
      // A demo or test "camera": read in real time, like a camera delivers it.
      inputArgs = ['-re', ...(input.loop ? ['-stream_loop', '-1'] : []), '-i', input.path];
      break;
  }
  const flags = ['delete_segments', 'omit_endlist', 'independent_segments'];
  if (o.discontinuity) flags.push('discont_start');
  return [
    '-nostdin',
    '-hide_banner',
    '-loglevel',
    'warning',
    ...inputArgs,
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
    flags.join('+'),
    '-hls_segment_type',
    'mpegts',
    '-start_number',
    String(o.startNumber),
    '-hls_segment_filename',
    join(o.dir, `${o.quality}-%d.ts`),
    join(o.dir, LIVE_PLAYLIST_NAME),
  ];
}

interface Waiter {
  settle(fault: LiveFault | null): void;
}

type Phase =
  /** Preparing the folder (`run` null) or waiting for ffmpeg's first playlist. */
  | { kind: 'starting'; since: number; run: FfmpegRun | null }
  | { kind: 'live'; since: number; run: FfmpegRun }
  | { kind: 'restarting'; since: number; timer: TimerHandle }
  | { kind: 'stopping'; since: number; done: Promise<void> };

interface Session {
  key: string;
  camera: CameraStatus;
  quality: LiveQuality;
  dir: string;
  phase: Phase;
  lastRequestAt: number;
  /** Next free segment number: numbers of an earlier run are never reused. */
  nextSequence: number;
  runs: number;
  restarts: number;
  /** Consecutive runs that ended before a playlist; sets the restart delay. */
  failures: number;
  lastExit?: string;
  waiters: Set<Waiter>;
  idleTimer: TimerHandle | null;
  /** The next look for ffmpeg's first playlist. */
  pollTimer: TimerHandle | null;
  /** The folder reset and ffmpeg start in flight, so a stop can wait for it. */
  preparing: Promise<void> | null;
}

const fault = <T>(kind: LiveFault['kind'], message: string): LiveAnswer<T> => ({
  ok: false,
  fault: { kind, message },
});

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export function createLiveHls(deps: LiveHlsDeps): LiveHls {
  const { directory, runner, clock, log } = deps;
  const fs = deps.fs ?? nodeLiveFs;
  const idleStopMs = deps.idleStopMs ?? DEFAULT_IDLE_STOP_MS;
  const startTimeoutMs = deps.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const maxStreams = deps.maxStreams ?? DEFAULT_MAX_STREAMS;
  for (const [name, v] of [
    ['idleStopMs', idleStopMs],
    ['startTimeoutMs', startTimeoutMs],
    ['maxStreams', maxStreams],
  ] as const) {
    if (!Number.isFinite(v) || v <= 0) throw new RangeError(`live view: ${name} must be > 0`);
  }
  const liveRoot = join(deps.dataDir, 'live');
  const sessions = new Map<string, Session>();
  /** Per stream, the first segment number not used yet, kept after a session ends. */
  const nextSequenceOf = new Map<string, number>();
  let closed = false;

  const keyOf = (cameraId: string, quality: LiveQuality) => `${cameraId}/${quality}`;
  // A request still waiting for a (re)started ffmpeg is a viewer too: a player asks again only
  // after its answer, which can take longer than idleStopMs while a camera comes back.
  const watched = (s: Session) => s.waiters.size > 0 || clock.now() - s.lastRequestAt < idleStopMs;
  const playlistPath = (s: Session) => join(s.dir, LIVE_PLAYLIST_NAME);
  const currentRun = (p: Phase): FfmpegRun | null =>
    p.kind === 'starting' || p.kind === 'live' ? p.run : null;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      clock.setTimeout(resolve, ms);
    });

  const settleWaiters = (s: Session, f: LiveFault | null) => {
    for (const w of [...s.waiters]) w.settle(f);
  };

  const findCamera = (cameraId: string): LiveAnswer<CameraStatus> => {
    const camera = SAFE_CAMERA_ID.test(cameraId)
      ? directory.list().find((c) => c.id === cameraId)
      : undefined;
    if (!camera) return fault('unknown_camera', `no camera '${cameraId}'`);
    return { ok: true, value: camera };
  };

  const offlineFault = (camera: CameraStatus): LiveFault => ({
    kind: 'camera_offline',
    message: `Camera "${camera.name}" is offline: ${camera.reason ?? 'it has no video stream right now'}`,
  });

  /** The playlist, complete; null when there is none (yet). Notes the segment numbers used. */
  const readPlaylist = async (s: Session): Promise<string | null> => {
    for (let attempt = 0; ; attempt++) {
      const bytes = await fs.read(playlistPath(s));
      if (!bytes) return null;
      const text = Buffer.from(bytes).toString('utf8');
      const listed = parseLivePlaylist(text);
      if (listed) {
        s.nextSequence = Math.max(s.nextSequence, listed.mediaSequence + listed.segments.length);
        return text;
      }
      if (attempt >= PARTIAL_READ_RETRIES) return null;
      await sleep(PARTIAL_READ_DELAY_MS);
    }
  };

  const waitReady = (s: Session): Promise<LiveFault | null> =>
    new Promise((resolve) => {
      const timer = clock.setTimeout(
        () =>
          waiter.settle({
            kind: 'unavailable',
            message:
              `no video from camera "${s.camera.name}" within ${startTimeoutMs / 1000} s` +
              (s.lastExit ? `; last attempt: ${s.lastExit}` : ''),
          }),
        startTimeoutMs,
      );
      const waiter: Waiter = {
        settle(f) {
          if (!s.waiters.delete(waiter)) return;
          clock.clearTimeout(timer);
          resolve(f);
        },
      };
      s.waiters.add(waiter);
    });

  const armIdle = (s: Session, ms: number) => {
    s.idleTimer = clock.setTimeout(() => {
      s.idleTimer = null;
      if (s.phase.kind === 'stopping') return;
      const idle = clock.now() - s.lastRequestAt;
      if (!watched(s)) {
        log('info', 'live view stopped: nobody watches', {
          camera: s.camera.id,
          quality: s.quality,
          idleMs: idle,
        });
        void stopSession(s, 'nobody watched');
      } else {
        // Still waiting viewers: look again a full idle period later.
        armIdle(s, s.waiters.size > 0 ? idleStopMs : idleStopMs - idle);
      }
    }, ms);
  };

  const stopSession = (s: Session, why: string): Promise<void> => {
    if (s.phase.kind === 'stopping') return s.phase.done;
    const previous = s.phase;
    if (previous.kind === 'restarting') clock.clearTimeout(previous.timer);
    if (s.idleTimer) clock.clearTimeout(s.idleTimer);
    if (s.pollTimer) clock.clearTimeout(s.pollTimer);
    s.idleTimer = null;
    s.pollTimer = null;
    settleWaiters(s, {
      kind: 'unavailable',
      message: `live view of camera "${s.camera.name}" stopped: ${why}`,
    });
    const preparing = s.preparing;
    const done = (async () => {
      await preparing;
      // A start still preparing the folder sees the stop and never runs ffmpeg.
      const run = currentRun(previous);
      if (run) await run.stop();
      // What it wrote since the last request: the next session of this stream numbers on.
      await readPlaylist(s).catch(() => null);
      nextSequenceOf.set(s.key, s.nextSequence);
      try {
        await fs.remove(s.dir);
      } catch (e) {
        log('warn', 'live view: could not delete the stream folder', {
          dir: s.dir,
          error: errorText(e),
        });
      }
      if (sessions.get(s.key) === s) sessions.delete(s.key);
    })();
    s.phase = { kind: 'stopping', since: clock.now(), done };
    return done;
  };

  const scheduleRestart = (s: Session) => {
    const delay = Math.min(RESTART_INITIAL_MS * 2 ** s.failures, RESTART_MAX_MS);
    s.failures++;
    s.restarts++;
    const timer = clock.setTimeout(() => {
      if (s.phase.kind !== 'restarting' || closed) return;
      if (!watched(s)) {
        void stopSession(s, 'nobody watched');
        return;
      }
      s.phase = { kind: 'starting', since: clock.now(), run: null };
      startRun(s);
    }, delay);
    s.phase = { kind: 'restarting', since: clock.now(), timer };
    log('info', 'live view: restarting ffmpeg', {
      camera: s.camera.id,
      quality: s.quality,
      delayMs: delay,
    });
  };

  const onExit = (s: Session, run: FfmpegRun, exit: FfmpegExit) => {
    if (currentRun(s.phase) !== run) return; // stopped by us, or an older run
    const wasLive = s.phase.kind === 'live';
    const keep = watched(s); // before the waiters below get their answer and leave
    s.lastExit = describeFfmpegExit(exit);
    log('warn', 'live view: ffmpeg ended', {
      camera: s.camera.id,
      quality: s.quality,
      reason: s.lastExit,
    });
    if (!wasLive) {
      settleWaiters(s, {
        kind: 'unavailable',
        message: `live view of camera "${s.camera.name}" could not start: ${s.lastExit}`,
      });
    }
    if (closed) return;
    if (keep) scheduleRestart(s);
    else void stopSession(s, 'ffmpeg ended and nobody watches');
  };

  const watchForPlaylist = (s: Session, run: FfmpegRun) => {
    s.pollTimer = clock.setTimeout(() => {
      s.pollTimer = null;
      const phase = s.phase;
      if (phase.kind !== 'starting' || phase.run !== run) return;
      readPlaylist(s).then(
        (text) => {
          if (s.phase !== phase) return;
          if (text === null) {
            watchForPlaylist(s, run);
            return;
          }
          s.phase = { kind: 'live', since: clock.now(), run };
          s.failures = 0;
          log('info', 'live view started', {
            camera: s.camera.id,
            quality: s.quality,
            run: s.runs,
          });
          settleWaiters(s, null);
        },
        (e: unknown) => {
          log('warn', 'live view: cannot read the playlist', {
            camera: s.camera.id,
            error: errorText(e),
          });
          if (s.phase === phase) watchForPlaylist(s, run);
        },
      );
    }, POLL_MS);
  };

  /** Starts ffmpeg for a session in phase `starting` with no run yet. */
  const startRun = (s: Session) => {
    const prepare = async () => {
      const streams = directory.streams(s.camera.id);
      if (!streams) {
        const camera = directory.list().find((c) => c.id === s.camera.id) ?? s.camera;
        const f = offlineFault(camera);
        settleWaiters(s, f);
        void stopSession(s, f.message);
        return;
      }
      // Continue the numbering of the run before (its playlist is still on disk).
      await readPlaylist(s).catch(() => null);
      await fs.reset(s.dir);
      if (s.phase.kind !== 'starting' || closed) return;
      const startNumber = Math.max(s.nextSequence, Math.floor(clock.now() / 1000));
      s.nextSequence = startNumber;
      const args = liveHlsArgs(streams[s.quality], {
        dir: s.dir,
        quality: s.quality,
        startNumber,
        discontinuity: s.runs > 0,
      });
      const run = runner!.run(args);
      s.runs++;
      s.phase = { kind: 'starting', since: s.phase.since, run };
      void run.exit.then((exit) => onExit(s, run, exit));
      watchForPlaylist(s, run);
    };
    s.preparing = prepare().then(
      () => {
        s.preparing = null;
      },
      (e: unknown) => {
        s.preparing = null;
        const message = `live view of camera "${s.camera.name}" could not start: ${errorText(e)}`;
        log('error', 'live view: start failed', { camera: s.camera.id, error: errorText(e) });
        settleWaiters(s, { kind: 'unavailable', message });
        void stopSession(s, message);
      },
    );
  };

  /** A new session for a camera that has streams; inserted before anything is awaited. */
  const openSession = (camera: CameraStatus, quality: LiveQuality): LiveAnswer<Session> => {
    if (!runner) {
      return fault(
        'unavailable',
        'live view needs ffmpeg, which is not installed (apt-get install ffmpeg, or npm install ' +
          'for the bundled @ffmpeg-installer/ffmpeg)',
      );
    }
    if (!directory.streams(camera.id)) return { ok: false, fault: offlineFault(camera) };
    const running = [...sessions.values()].filter((x) => x.phase.kind !== 'stopping').length;
    if (running >= maxStreams) {
      return fault(
        'busy',
        `${running} live streams are running, the most this server allows; close a live view ` +
          'and try again',
      );
    }
    const now = clock.now();
    const s: Session = {
      key: keyOf(camera.id, quality),
      camera,
      quality,
      dir: join(liveRoot, camera.id, quality),
      phase: { kind: 'starting', since: now, run: null },
      lastRequestAt: now,
      nextSequence: nextSequenceOf.get(keyOf(camera.id, quality)) ?? 0,
      runs: 0,
      restarts: 0,
      failures: 0,
      waiters: new Set(),
      idleTimer: null,
      pollTimer: null,
      preparing: null,
    };
    sessions.set(s.key, s);
    armIdle(s, idleStopMs);
    startRun(s);
    return { ok: true, value: s };
  };

  const playlist = async (cameraId: string, quality: LiveQuality): Promise<LiveAnswer<string>> => {
    if (closed) return fault('unavailable', 'the server is shutting down');
    const found = findCamera(cameraId);
    if (!found.ok) return found;
    const key = keyOf(cameraId, quality);
    let s = sessions.get(key);
    if (s?.phase.kind === 'stopping') {
      await s.phase.done;
      if (closed) return fault('unavailable', 'the server is shutting down');
      s = sessions.get(key);
    }
    if (!s) {
      const opened = openSession(found.value, quality);
      if (!opened.ok) return opened;
      s = opened.value;
    }
    s.lastRequestAt = clock.now();
    s.camera = found.value;
    if (s.phase.kind === 'live') {
      const text = await readPlaylist(s);
      if (text !== null) return { ok: true, value: text };
      return fault('unavailable', `the live playlist of camera "${s.camera.name}" is unreadable`);
    }
    const failed = await waitReady(s);
    s.lastRequestAt = clock.now();
    if (failed) return { ok: false, fault: failed };
    const text = await readPlaylist(s);
    if (text !== null) return { ok: true, value: text };
    return fault('unavailable', `live view of camera "${s.camera.name}" stopped`);
  };

  const segment = async (
    cameraId: string,
    name: string,
  ): Promise<LiveAnswer<Uint8Array<ArrayBuffer>>> => {
    const parsed = parseSegmentName(name);
    if (!parsed) return fault('not_found', 'no such live segment');
    const found = findCamera(cameraId);
    if (!found.ok) return found;
    const s = sessions.get(keyOf(cameraId, parsed.quality));
    if (!s || s.phase.kind === 'stopping') {
      return fault('not_found', `live view of camera "${found.value.name}" is not running`);
    }
    s.lastRequestAt = clock.now();
    const bytes = await fs.read(join(s.dir, name));
    if (!bytes) return fault('not_found', `live segment ${name} has expired`);
    return { ok: true, value: bytes };
  };

  return {
    playlist,
    segment,
    streams: () =>
      [...sessions.values()].map((s) => ({
        cameraId: s.camera.id,
        quality: s.quality,
        state: s.phase.kind,
        since: s.phase.since,
        lastRequestAt: s.lastRequestAt,
        restarts: s.restarts,
        ...(s.lastExit ? { lastExit: s.lastExit } : {}),
      })),
    async close() {
      closed = true;
      await Promise.all([...sessions.values()].map((s) => stopSession(s, 'the server stops')));
    },
  };
}
