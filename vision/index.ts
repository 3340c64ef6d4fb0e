// The camera side's public surface: cameras, recording, clips, detector, tracker, rules.
export type {
  Box,
  CameraFault,
  CameraState,
  CameraStreams,
  Detection,
  Detector,
  Frame,
  Track,
} from './vision.ports.ts';
export { locateFfmpeg, type FfmpegBinary } from './ffmpeg.locate.ts';
