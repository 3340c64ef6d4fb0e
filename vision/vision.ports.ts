/**
 * The ports of the camera side: every side effect the recorder, the clip path and the analytics
 * need is behind one of these small interfaces, passed in to a factory (never a module singleton),
 * each with a real driver and a simulator. Time comes from the injected Clock in ms.
 */

/** Why a camera is not giving pictures; part of its status, shown to staff as-is. */
export type CameraFault = 'offline' | 'auth_failed' | 'unsupported' | 'missing_part';

export type CameraState =
  | { state: 'starting' }
  | { state: 'online'; since: number }
  | { state: 'offline'; since: number; fault: CameraFault; reason: string };

/** What a camera source resolves to once connected (ONVIF asks the camera; others are direct). */
export interface CameraStreams {
  /** Full-quality stream, recorded without re-encoding. */
  mainUrl: string;
  /** Low-resolution stream for the detector; the main stream when the camera has none. */
  subUrl: string;
  /** A still picture URL, when the camera offers one. */
  snapshotUrl?: string;
  /** Camera clock minus server clock, ms (ONVIF cameras drift; timestamps are corrected by it). */
  clockSkewMs: number;
  /** Maker/model/firmware as the camera reports them. */
  device?: { manufacturer: string; model: string; firmwareVersion: string; serialNumber: string };
}

/** A box around something the detector saw, in pixels of the analysed frame. */
export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/** One thing found in one frame. */
export interface Detection {
  box: Box;
  /** COCO class id (0 = person). */
  classId: number;
  label: string;
  score: number;
}

/** One frame decoded for analysis: packed RGB, row-major. */
export interface Frame {
  cameraId: string;
  /** Server time (ms) the frame was taken, skew-corrected. */
  at: number;
  width: number;
  height: number;
  rgb: Uint8Array;
}

export interface Detector {
  /** Model name and input size, for health and logs. */
  readonly info: { model: string; inputWidth: number; inputHeight: number };
  detect(frame: Frame): Promise<Detection[]>;
  close(): Promise<void>;
}

/** A person (or object) followed across frames with a stable id. */
export interface Track {
  id: number;
  cameraId: string;
  classId: number;
  label: string;
  box: Box;
  score: number;
  /** ms timestamps from the clock, never frame counts. */
  firstSeenAt: number;
  lastSeenAt: number;
  /** Box velocity in px per second (motion model). */
  velocity: { vx: number; vy: number };
  state: 'tentative' | 'confirmed' | 'lost';
}
