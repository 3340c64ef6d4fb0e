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
export {
  createFfmpegRunner,
  describeFfmpegExit,
  maskUrlPasswords,
  spawnFfmpegProcess,
  withRtspTimeout,
  type FfmpegChild,
  type FfmpegExit,
  type FfmpegRun,
  type FfmpegRunner,
  type FfmpegRunOptions,
  type FfmpegSpawn,
  type VisionLog,
  type VisionLogLevel,
} from './ffmpeg.process.ts';
export {
  createSegmentRecorder,
  nodeRecordingFs,
  DEFAULT_RECORDER_BACKOFF,
  type CameraStateUpdate,
  type RecorderBackoff,
  type RecordingFs,
  type RecordingGap,
  type SegmentClosed,
  type SegmentRecorder,
  type SegmentRecorderOptions,
  type SegmentSink,
} from './segment.recorder.ts';
export {
  planRetention,
  overlapsWindow,
  type ProtectedWindow,
  type ProtectionKind,
  type RetentionPlan,
  type RetentionSegment,
} from './retention.planner.ts';
export {
  buildClip,
  planClip,
  ClipError,
  nodeClipFs,
  type ClipResult,
  type ClipSegment,
  type PosterResult,
  type TimeRange,
} from './clip.builder.ts';
export {
  synthesizeScene,
  synthesizeCameraScenes,
  type SceneOptions,
  type SynthesizedScene,
} from './scene.synth.ts';
export {
  startRtspServer,
  rtspServerAvailable,
  RTSP_SERVER_INSTALL_HINT,
  type RtspServer,
  type RtspAvailability,
} from './rtsp.server.ts';
export {
  createOnvifSim,
  type OnvifSim,
  type OnvifSimOptions,
  type OnvifSimEvent,
} from './onvif.sim.ts';
export {
  connectOnvif,
  subscribeOnvifEvents,
  fetchSnapshot,
  withRtspCredentials,
  OnvifError,
  type OnvifConnectOptions,
  type OnvifEvent,
  type OnvifEventSubscription,
} from './onvif.client.ts';
export {
  YOLOX_NANO,
  YOLOV8_640,
  COCO_LABELS,
  PERSON_CLASS,
  type YoloConfig,
  type YoloLayout,
} from './yolo.decode.ts';
export {
  createOnnxDetector,
  DetectorError,
  type OnnxDetector,
  type OnnxDetectorOptions,
} from './detector.onnx.ts';
export { createSimDetector, type SimDetector, type SimDetectorScript } from './detector.sim.ts';
export { createTracker } from './tracker.ts';
export {
  anchorOf,
  doorCrossings,
  pointInPolygon,
  zonesOfBox,
  zonesOfTrack,
  type DoorCrossing,
  type Zone,
  type ZoneKind,
} from './zones.ts';
export { createMotionGate } from './motion.gate.ts';
export {
  createFrameSource,
  readStillPicture,
  FrameSourceError,
  type FrameSourceOptions,
  type FrameSourceStats,
} from './frame.source.ts';
export {
  createAnalyticsPipeline,
  createCameraAnalytics,
  zonesFromSite,
  PipelineError,
  type AnalyticsPipeline,
  type AnalyticsSettings,
  type CameraAnalytics,
  type PipelineEnd,
  type PipelineProblem,
  type PipelineState,
  type PipelineStats,
  type SiteCamera,
  type SiteZone,
} from './analytics.pipeline.ts';
export {
  createEntryLog,
  RuleConfigError,
  RuleInputError,
  type Entry,
  type EntryWho,
  type FlagCandidate,
  type FlagKind,
  type FlagSeverity,
  type Rule,
  type VisitContext,
} from './rules.types.ts';
export { createLoiteringRule, type LoiteringOptions } from './loitering.rule.ts';
export { createTailgatingRule, type TailgatingOptions } from './tailgating.rule.ts';
export {
  createSlotWatch,
  watchedSlotsOf,
  SlotWatchError,
  type SlotDecision,
  type SlotWatch,
  type WatchedSlot,
} from './slot.watch.ts';
export {
  createGrabRule,
  type LikelyPickedUp,
  type SlotOwner,
  type SlotOwnership,
} from './grab.rule.ts';
