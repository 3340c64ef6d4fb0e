import type { CameraFault, CameraState } from '../../vision/index.ts';

/**
 * What the rest of the server knows about the cameras: their live state, where their streams
 * are, and where their recordings are indexed. Implemented by the camera runtime
 * (camera.runtime.ts); the clip, live-view and retention code depend only on this.
 */
export interface CameraStatus {
  id: string;
  name: string;
  doorId: string | null;
  /** The site file's source kind. */
  source: 'onvif' | 'rtsp' | 'file' | 'sim';
  state: CameraState['state'];
  since: string | null;
  fault?: CameraFault;
  /** In words staff can act on: why it is offline, or which fallback it runs on. */
  reason?: string;
  /** Whether segments are being written now. */
  recording: boolean;
  /** Camera device info when ONVIF told us. */
  device?: { manufacturer: string; model: string; firmwareVersion: string };
}

export interface CameraStreamsView {
  /** Input for ffmpeg: an rtsp:// URL (credentials included) or a local file path. */
  main: CameraInput;
  sub: CameraInput;
}

export type CameraInput =
  | { kind: 'rtsp'; url: string }
  /** A local file played in real time, looping unless `loop` is false. */
  | { kind: 'file'; path: string; loop: boolean };

export interface CameraDirectory {
  list(): CameraStatus[];
  /** Current inputs of a camera; null while it is not connected (or unknown id). */
  streams(cameraId: string): CameraStreamsView | null;
  /** Camera watching a door (the first one listed in the site file for that door). */
  forDoor(doorId: string): string | null;
  onStatus(listener: (s: CameraStatus) => void): () => void;
}
