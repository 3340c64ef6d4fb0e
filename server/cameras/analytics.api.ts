/**
 * The wire shape of the room analytics in `GET /api/health`, shared with the console, so it
 * imports nothing.
 */

/**
 * One camera's analytics as `/api/health` shows them. The server fills `stream` and `pipeline`
 * with its states (analytics.runtime.ts FrameStreamState, vision PipelineState); the console
 * reads them as text, so a state it does not know yet still shows.
 */
export interface CameraAnalyticsHealth<
  Stream extends string = string,
  Pipeline extends string = string,
> {
  cameraId: string;
  /** Where its pictures stand: not connected yet, opening, flowing, waiting to retry, over. */
  stream: Stream;
  /** Why the stream is not flowing (the camera's or ffmpeg's words), else null. */
  reason: string | null;
  pipeline: Pipeline;
  rules: string[];
  /** Rules that are off for this camera and why (no door zone, no doorId…). */
  notes: string[];
  restarts: number;
  /** Frames analysed per second over the last 10 s (null until measurable). */
  fps: number | null;
  detectFps: number | null;
  framesIn: number;
  detectorRuns: number;
  /** Frames the motion gate let through without the detector (nothing moving, nobody tracked). */
  gatedFrames: number;
  /** Frames thrown away because the detector was behind. */
  framesDropped: number;
  detectorMsMean: number | null;
  lagMs: number | null;
  flags: number;
  lastProblem: string | null;
}

/** The room analytics: running with a model, or off and why. */
export type AnalyticsHealth<Camera extends CameraAnalyticsHealth = CameraAnalyticsHealth> =
  | { state: 'off'; reason: string }
  | {
      state: 'on';
      /** The model file's name (not its path: health is public). */
      model: string;
      /** Cameras being analysed. */
      cameras: number;
      cameraStats: Camera[];
      /** Cameras of the site left out, and why. */
      skipped: { cameraId: string; reason: string }[];
    };
