/**
 * The server's cameras: for each camera of the site file, find its streams and keep one recorder
 * running on its main stream, and tell the rest of the server (status page, live view, clips)
 * what each camera is doing. Implements CameraDirectory.
 *
 * By source kind:
 * - `rtsp`: the URL is the main (and sub) stream.
 * - `file`: the file is played in real time as the camera's picture (looping unless told not to).
 * - `onvif`: the camera is asked for its streams (clock skew and digest handled by the client);
 *   while it cannot be reached the camera is `offline` with the reason, and asked again with
 *   backoff.
 * - `sim`: the box's own camera simulator (sim.camera.ts), connected over ONVIF like a real one;
 *   without GStreamer its scene file is recorded directly, and the status says so.
 *
 * A missing part never stops the server: without ffmpeg every camera is `offline` with fault
 * `missing_part` and a reason naming what to install. Start-up does not wait for cameras: they
 * connect in the background, so a dead camera cannot delay the doors.
 */
import { resolve } from 'node:path';
import type { AccessEvent } from '../../access/access.events.ts';
import type { Db } from '../../db/index.ts';
import type { Clock, TimerHandle } from '../../hardware/clock.ts';
import {
  OnvifError,
  connectOnvif,
  createFfmpegRunner,
  createSegmentRecorder,
  locateFfmpeg,
  nodeRecordingFs,
  spawnFfmpegProcess,
  type CameraFault,
  type CameraState,
  type FfmpegBinary,
  type FfmpegRunner,
  type FfmpegSpawn,
  type RecorderBackoff,
  type RtspAvailability,
  type SegmentRecorder,
  type VisionLog,
} from '../../vision/index.ts';
import type { CameraConfig, SiteConfig } from '../config/index.ts';
import type { Logger } from '../log/logger.ts';
import type { CameraDirectory, CameraStatus, CameraStreamsView } from './camera.types.ts';
import { createRecordingSink, type RecordingSink } from './recording.sink.ts';
import { startSimCamera, type SimCamera } from './sim.camera.ts';

export interface CameraRuntimeOptions {
  site: SiteConfig;
  /** DATA_DIR: recordings go to `recordings/<camera>/…`, the simulator's scene to `sim-camera/`. */
  dataDir: string;
  db: Db;
  /**
   * Real time: recorder timers, segment times, ONVIF retries. Recordings are stamped with it, so
   * it must be the clock the rest of the server files events by in production (the system one).
   */
  clock: Clock;
  log: Logger;
  /** The event journal (offline/online alarms); resolves true once durable, never rejects. */
  record: (event: AccessEvent) => Promise<boolean>;
  /** Which ffmpeg records; default `locateFfmpeg()`; null: none on this box (a missing part). */
  ffmpeg?: FfmpegBinary | null;
  spawn?: FfmpegSpawn;
  /** Whether the RTSP camera simulator can run; default `rtspServerAvailable()`. */
  rtspAvailable?: () => Promise<RtspAvailability>;
  /** Recorder restart backoff (tests shorten it). */
  recorderBackoff?: Partial<RecorderBackoff>;
  /** ONVIF connect retries: from `initialMs`, doubling to `maxMs`. Default 2 s to 60 s. */
  connectRetry?: { initialMs: number; maxMs: number };
  /** The `sim` camera's scene: cache folder and length (tests share and shorten it). */
  sim?: { cacheDir?: string; sceneDurationMs?: number };
}

export interface CameraRuntime extends CameraDirectory {
  /** Starts every camera in the background; resolves at once (cameras report as they come). */
  start(): Promise<void>;
  /** Stops recorders (their last segment is indexed), the simulator and the row queue. */
  close(): Promise<void>;
  /** The running camera simulator of the `sim` cameras, once it is up (tests take it offline). */
  simCamera(): SimCamera | null;
}

/** What the runtime keeps per camera. */
interface CameraSlot {
  readonly config: CameraConfig;
  streams: CameraStreamsView | null;
  recorder: SegmentRecorder | null;
  /** Shown as the status reason while the camera is not offline (which fallback it runs on). */
  note: string | undefined;
  device: CameraStatus['device'] | undefined;
  connectTimer: TimerHandle | undefined;
  connectAttempts: number;
  /** The last connect failure logged, so a camera that stays away is logged once. */
  lastConnectFailure: string | undefined;
}

const DEFAULT_CONNECT_RETRY = { initialMs: 2_000, maxMs: 60_000 };

export const NO_FFMPEG_REASON =
  'ffmpeg not found: install ffmpeg (apt-get install ffmpeg) or run npm install for the bundled ' +
  '@ffmpeg-installer/ffmpeg; nothing can be recorded';

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export function createCameraRuntime(opts: CameraRuntimeOptions): CameraRuntime {
  const { site, dataDir, db, clock, log } = opts;
  const rec = site.recording;
  const connectRetry = opts.connectRetry ?? DEFAULT_CONNECT_RETRY;
  const listeners = new Set<(s: CameraStatus) => void>();
  const slots = new Map<string, CameraSlot>();
  for (const config of site.cameras) {
    slots.set(config.id, {
      config,
      streams: null,
      recorder: null,
      note: undefined,
      device: undefined,
      connectTimer: undefined,
      connectAttempts: 0,
      lastConnectFailure: undefined,
    });
  }

  let started = false;
  let closed = false;
  let sim: SimCamera | null = null;
  let preparing: Promise<void> | null = null;
  let runner: FfmpegRunner | null = null;

  const statusOf = (slot: CameraSlot): CameraStatus => {
    const state = sink.stateOf(slot.config.id);
    const base: CameraStatus = {
      id: slot.config.id,
      name: slot.config.name,
      doorId: slot.config.doorId ?? null,
      source: slot.config.source.kind,
      state: state.state,
      since: state.state === 'starting' ? null : new Date(state.since).toISOString(),
      recording: state.state === 'online',
      ...(slot.device ? { device: slot.device } : {}),
    };
    if (state.state === 'offline') return { ...base, fault: state.fault, reason: state.reason };
    return slot.note ? { ...base, reason: slot.note } : base;
  };

  const notify = (cameraId: string) => {
    const slot = slots.get(cameraId);
    if (!slot) return;
    const status = statusOf(slot);
    for (const l of listeners) {
      try {
        l(status);
      } catch (e) {
        log.error('camera status listener failed', { cameraId, err: errorText(e) });
      }
    }
  };

  const sink: RecordingSink = createRecordingSink({
    db,
    siteId: site.site.id,
    clock,
    log: log.child({ component: 'recordings' }),
    record: opts.record,
    onState: (cameraId) => notify(cameraId),
  });

  const visionLog = (cameraId: string): VisionLog => {
    const l = log.child({ component: 'camera', cameraId });
    return (level, msg, fields) => l[level](msg, fields);
  };

  const offline = (slot: CameraSlot, fault: CameraFault, reason: string, since = clock.now()) => {
    const current = sink.stateOf(slot.config.id);
    const state: CameraState = {
      state: 'offline',
      since: current.state === 'offline' ? current.since : since,
      fault,
      reason,
    };
    return sink.state({ cameraId: slot.config.id, state });
  };

  const startRecorder = async (
    slot: CameraSlot,
    url: string,
    file?: { loop: boolean },
  ): Promise<void> => {
    if (closed || !runner) return;
    const recorder = createSegmentRecorder({
      cameraId: slot.config.id,
      url,
      ...(file ? { file } : {}),
      dataDir,
      runner,
      fs: nodeRecordingFs,
      sink,
      clock,
      log: visionLog(slot.config.id),
      segmentSeconds: rec.segmentSeconds,
      offlineAfterMs: rec.offlineAfterMs,
      ...(opts.recorderBackoff ? { backoff: opts.recorderBackoff } : {}),
    });
    slot.recorder = recorder;
    await recorder.start();
  };

  /** Asks an ONVIF camera for its streams, again with backoff until it answers; then records. */
  const connect = (
    slot: CameraSlot,
    creds: { host: string; port: number; username: string; password: string },
  ) => {
    // Not awaited by close(): an attempt that ends after it sees `closed` and does nothing.
    void (async () => {
      if (closed) return;
      let streams;
      try {
        streams = await connectOnvif({ ...creds, clock });
      } catch (e) {
        if (closed) return;
        const fault: CameraFault = e instanceof OnvifError ? e.fault : 'unsupported';
        const reason = `ONVIF ${creds.host}:${creds.port}: ${errorText(e)}`;
        const delay = Math.min(
          connectRetry.maxMs,
          connectRetry.initialMs * 2 ** slot.connectAttempts,
        );
        slot.connectAttempts++;
        if (slot.lastConnectFailure !== reason) {
          slot.lastConnectFailure = reason;
          log.warn('camera not reachable over ONVIF; trying again', {
            cameraId: slot.config.id,
            fault,
            reason,
            retryInMs: delay,
          });
        }
        await offline(slot, fault, reason);
        if (closed) return;
        slot.connectTimer = clock.setTimeout(() => {
          slot.connectTimer = undefined;
          connect(slot, creds);
        }, delay);
        return;
      }
      if (closed) return;
      slot.connectAttempts = 0;
      slot.lastConnectFailure = undefined;
      if (streams.device) {
        const { manufacturer, model, firmwareVersion } = streams.device;
        slot.device = { manufacturer, model, firmwareVersion };
      }
      slot.streams = {
        main: { kind: 'rtsp', url: streams.mainUrl },
        sub: { kind: 'rtsp', url: streams.subUrl },
      };
      log.info('camera connected over ONVIF', {
        cameraId: slot.config.id,
        clockSkewMs: streams.clockSkewMs,
        device: slot.device,
      });
      await startRecorder(slot, streams.mainUrl);
    })().catch((e: unknown) => {
      log.error('camera start failed', { cameraId: slot.config.id, err: errorText(e) });
    });
  };

  const startFile = async (slot: CameraSlot, path: string, loop: boolean, note?: string) => {
    slot.note = note;
    slot.streams = {
      main: { kind: 'file', path, loop },
      sub: { kind: 'file', path, loop },
    };
    await startRecorder(slot, path, { loop });
  };

  /** The simulator for every `sim` camera, started once in the background. */
  const prepareSim = async (simSlots: CameraSlot[], ffmpeg: FfmpegBinary) => {
    let camera: SimCamera;
    try {
      camera = await startSimCamera({
        dataDir,
        ffmpeg,
        clock,
        log: log.child({ component: 'sim-camera' }),
        ...(opts.rtspAvailable ? { rtspAvailable: opts.rtspAvailable } : {}),
        ...(opts.sim?.cacheDir ? { cacheDir: opts.sim.cacheDir } : {}),
        ...(opts.sim?.sceneDurationMs ? { sceneDurationMs: opts.sim.sceneDurationMs } : {}),
      });
    } catch (e) {
      const reason = `the simulated camera could not be made: ${errorText(e)}`;
      log.error('camera simulator failed', { reason });
      for (const slot of simSlots) await offline(slot, 'missing_part', reason);
      return;
    }
    if (closed) {
      await camera.close();
      return;
    }
    sim = camera;
    const feed = camera.feed;
    for (const slot of simSlots) {
      switch (feed.kind) {
        case 'onvif':
          connect(slot, feed);
          break;
        case 'file':
          // Two files: the scene at camera resolution records, the small one feeds live tiles.
          slot.note = feed.reason;
          slot.streams = {
            main: { kind: 'file', path: feed.main, loop: true },
            sub: { kind: 'file', path: feed.sub, loop: true },
          };
          await startRecorder(slot, feed.main, { loop: true });
          break;
      }
    }
  };

  return {
    list: () => [...slots.values()].map(statusOf),
    streams: (cameraId) => slots.get(cameraId)?.streams ?? null,
    forDoor: (doorId) => site.cameras.find((c) => c.doorId === doorId)?.id ?? null,
    onStatus(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    simCamera: () => sim,

    async start() {
      if (started) throw new Error('camera runtime already started');
      started = true;
      if (slots.size === 0) return;
      const ffmpeg = opts.ffmpeg === undefined ? locateFfmpeg() : opts.ffmpeg;
      if (!ffmpeg) {
        log.error('cameras cannot record', { reason: NO_FFMPEG_REASON });
        for (const slot of slots.values()) await offline(slot, 'missing_part', NO_FFMPEG_REASON);
        return;
      }
      log.info('cameras starting', {
        cameras: slots.size,
        ffmpeg: ffmpeg.path,
        ffmpegSource: ffmpeg.source,
      });
      runner = createFfmpegRunner({
        spawn: opts.spawn ?? spawnFfmpegProcess,
        clock,
        binary: ffmpeg,
        log: visionLog('-'),
      });
      const simSlots: CameraSlot[] = [];
      for (const slot of slots.values()) {
        const source = slot.config.source;
        switch (source.kind) {
          case 'rtsp':
            slot.streams = {
              main: { kind: 'rtsp', url: source.url },
              sub: { kind: 'rtsp', url: source.url },
            };
            await startRecorder(slot, source.url);
            break;
          case 'file':
            await startFile(slot, resolve(source.path), source.loop);
            break;
          case 'onvif':
            connect(slot, source);
            break;
          case 'sim':
            simSlots.push(slot);
            break;
        }
      }
      if (simSlots.length > 0) {
        preparing = prepareSim(simSlots, ffmpeg).catch((e: unknown) => {
          log.error('camera simulator failed', { err: errorText(e) });
        });
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const slot of slots.values()) {
        if (slot.connectTimer) clock.clearTimeout(slot.connectTimer);
        slot.connectTimer = undefined;
      }
      await preparing;
      await Promise.all(
        [...slots.values()].map((slot) =>
          slot.recorder?.stop().catch((e: unknown) => {
            log.error('recorder did not stop cleanly', {
              cameraId: slot.config.id,
              err: errorText(e),
            });
          }),
        ),
      );
      await sim?.close();
      await sink.close();
    },
  };
}
