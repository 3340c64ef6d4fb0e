/**
 * The demo room's camera, made by the box itself: a synthetic package-room scene (rendered once
 * into DATA_DIR/sim-camera and reused), served as a real IP camera would serve it when this box
 * can: GStreamer's RTSP server for the main and sub stream, and our ONVIF device announcing them.
 * The camera runtime then connects to it with the same ONVIF client and records it with the same
 * recorder as a camera on the LAN, so the demo runs the path a building runs.
 *
 * Without the Debian GStreamer packages (a fresh `npm install` on another distribution), the scene
 * file itself is the camera: the recorder plays it through ffmpeg in real time, and the feed's
 * `reason` says so in words the console shows. One simulator serves every `sim` camera of a site:
 * each recorder gets its own RTSP session of the same scene.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Clock } from '../../hardware/clock.ts';
import {
  RTSP_SERVER_INSTALL_HINT,
  createOnvifSim,
  rtspServerAvailable,
  startRtspServer,
  synthesizeCameraScenes,
  type FfmpegBinary,
  type OnvifSim,
  type RtspAvailability,
  type RtspServer,
} from '../../vision/index.ts';
import type { Logger } from '../log/logger.ts';

/** Folder under DATA_DIR where the rendered scenes are cached. */
export const SIM_CAMERA_DIR = 'sim-camera';

export interface SimCameraOptions {
  dataDir: string;
  /** Renders the scene (and, in the fallback, plays it). */
  ffmpeg: FfmpegBinary;
  clock: Clock;
  log: Logger;
  /** Whether GStreamer's RTSP server can run here; default `rtspServerAvailable()`. */
  rtspAvailable?: () => Promise<RtspAvailability>;
  /** Where rendered scenes are cached; default `DATA_DIR/sim-camera`. */
  cacheDir?: string;
  /** Length of the looped scene; default 20 000 ms. */
  sceneDurationMs?: number;
}

/** How the runtime reaches the simulated camera. */
export type SimCameraFeed =
  /** A camera on the network: connect over ONVIF like any other. */
  | { kind: 'onvif'; host: string; port: number; username: string; password: string }
  /** No RTSP simulator here: record the scene files directly; `reason` is shown to staff. */
  | { kind: 'file'; main: string; sub: string; reason: string };

export interface SimCamera {
  readonly feed: SimCameraFeed;
  /** Take the camera's video off the network (its RTSP server stops; ONVIF keeps answering). */
  outage(): Promise<void>;
  /** Bring the video back on the same address. */
  restore(): Promise<void>;
  /** Stop serving; idempotent. */
  close(): Promise<void>;
}

/** The user of the simulator's ONVIF device; its password is made fresh at every start. */
export const SIM_CAMERA_USER = 'parcelroom';

/**
 * Renders (or finds) the scene and starts the simulator. Rejects when the scene cannot be made
 * (ffmpeg without libx264, disk full); a missing GStreamer is not an error but the file feed.
 */
export async function startSimCamera(opts: SimCameraOptions): Promise<SimCamera> {
  const { log, clock } = opts;
  const cacheDir = opts.cacheDir ?? join(opts.dataDir, SIM_CAMERA_DIR);
  const scenes = await synthesizeCameraScenes({
    cacheDir,
    ffmpeg: opts.ffmpeg,
    durationMs: opts.sceneDurationMs ?? 20_000,
    label: 'PACKAGE ROOM',
  });
  log.info('simulated camera scene ready', {
    main: scenes.main.path,
    cached: scenes.main.cached && scenes.sub.cached,
  });

  const availability = await (opts.rtspAvailable ?? rtspServerAvailable)();
  const fileFeed = (why: string): SimCamera => {
    const reason = `RTSP simulator unavailable (install ${RTSP_SERVER_INSTALL_HINT}): demo camera plays a file`;
    log.warn('camera simulator without RTSP: the demo camera plays its scene file', {
      why,
      hint: RTSP_SERVER_INSTALL_HINT,
    });
    const noNetwork = () =>
      Promise.reject(new Error('the simulated camera plays a file; it has no network to lose'));
    return {
      feed: { kind: 'file', main: scenes.main.path, sub: scenes.sub.path, reason },
      outage: noNetwork,
      restore: noNetwork,
      close: () => Promise.resolve(),
    };
  };
  if (!availability.ok) return fileFeed(availability.reason);

  let rtsp: RtspServer;
  try {
    rtsp = await startRtspServer({
      files: { main: scenes.main.path, sub: scenes.sub.path },
      clock,
    });
  } catch (e) {
    return fileFeed(e instanceof Error ? e.message : String(e));
  }
  let onvif: OnvifSim;
  const password = randomBytes(12).toString('base64url');
  try {
    onvif = await createOnvifSim({
      username: SIM_CAMERA_USER,
      password,
      clock,
      device: { model: 'Package room simulator', serialNumber: 'SIM-ROOM-1' },
      profiles: [
        {
          token: 'main',
          name: 'Main stream',
          width: scenes.main.width,
          height: scenes.main.height,
          fps: scenes.main.fps,
          encoding: 'H264',
          bitrateKbps: 2048,
          streamUrl: rtsp.url('main'),
        },
        {
          token: 'sub',
          name: 'Sub stream',
          width: scenes.sub.width,
          height: scenes.sub.height,
          fps: scenes.sub.fps,
          encoding: 'H264',
          bitrateKbps: 512,
          streamUrl: rtsp.url('sub'),
        },
      ],
    });
  } catch (e) {
    await rtsp.stop();
    throw e;
  }
  log.info('camera simulator serving', {
    onvif: onvif.deviceServiceUrl,
    rtsp: [rtsp.url('main'), rtsp.url('sub')],
  });

  let closing: Promise<void> | undefined;
  return {
    feed: {
      kind: 'onvif',
      host: onvif.host,
      port: onvif.port,
      username: SIM_CAMERA_USER,
      password,
    },
    outage: () => rtsp.stop(),
    restore: () => rtsp.restart(),
    close: () =>
      (closing ??= (async () => {
        await Promise.all([rtsp.stop(), onvif.close()]);
      })()),
  };
}
