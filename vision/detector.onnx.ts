/**
 * The object detector on the box's CPU: a YOLO-family ONNX model run by onnxruntime-node.
 *
 * One inference session per detector, reused for every frame, and one input buffer filled in place:
 * a new session costs ~100 ms and a new 2 MB tensor per frame would churn the heap at 5-10 fps per
 * camera. Because the buffer is shared, frames are run one after the other (a second `detect` call
 * waits for the first). The runtime is imported lazily, so the server starts (and shows the
 * detector as a missing part) on a box where the native binary cannot load.
 */
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Detection, Detector, Frame } from './vision.ports.ts';
import {
  allocateInput,
  letterboxInto,
  PACKAGE_ROOM_CLASSES,
  postprocess,
  YOLOV8_640,
  YOLOX_NANO,
  type YoloConfig,
  type YoloLayout,
} from './yolo.decode.ts';

type OrtModule = typeof import('onnxruntime-node');
type OrtSession = Awaited<ReturnType<OrtModule['InferenceSession']['create']>>;
type OrtTensor = InstanceType<OrtModule['Tensor']>;

/** Why the detector cannot run; `model_*` kinds name the model path in the message. */
export type DetectorErrorKind =
  | 'runtime_missing'
  | 'model_missing'
  | 'model_invalid'
  | 'model_mismatch'
  | 'bad_frame'
  | 'inference_failed'
  | 'closed';

export class DetectorError extends Error {
  override readonly name = 'DetectorError';
  constructor(
    readonly kind: DetectorErrorKind,
    message: string,
    readonly modelPath: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface OnnxDetectorOptions {
  /** Path or file: URL of the .onnx file (the server passes PARCELROOM_MODEL). */
  modelPath: string | URL;
  /** Output layout; picks the family's defaults (YOLOX-nano 416 BGR 0-255, YOLOv8 640 RGB 0-1). */
  layout?: YoloLayout;
  /** Model input size; read from the model when it declares a fixed one. */
  inputWidth?: number;
  inputHeight?: number;
  channelOrder?: YoloConfig['channelOrder'];
  scale?: number;
  placement?: YoloConfig['placement'];
  numClasses?: number;
  /** CPU threads for one inference; 2 leaves the box's other cores to recording and the door. */
  intraOpNumThreads?: number;
  /**
   * Let onnxruntime's worker threads busy-wait between jobs (default false). Spinning saves a
   * little on an idle machine but burns the cores the recorder and the door need, and on a busy
   * box it doubled the latency (measured: 62 ms spinning vs 32 ms not, 2 threads, load 8 on 2 cores).
   */
  allowSpinning?: boolean;
  /** Minimum score (objectness × class) kept. The tracker wants low ones too (ByteTrack). */
  scoreThreshold?: number;
  nmsThreshold?: number;
  /** COCO class ids to report, or 'all'; default person + backpack, handbag, suitcase. */
  classes?: readonly number[] | 'all';
  maxDetections?: number;
  /** How the runtime is loaded; tests pass a failing loader to check the missing-part path. */
  importRuntime?: () => Promise<OrtModule>;
}

export interface OnnxDetector extends Detector {
  /** The configuration the frames are prepared with (after reading the model). */
  readonly config: YoloConfig;
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

function fixedDim(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;
}

export async function createOnnxDetector(opts: OnnxDetectorOptions): Promise<OnnxDetector> {
  const modelPath =
    opts.modelPath instanceof URL ? fileURLToPath(opts.modelPath) : String(opts.modelPath);
  const fail = (kind: DetectorErrorKind, message: string, cause?: unknown): DetectorError =>
    new DetectorError(kind, message, modelPath, cause === undefined ? undefined : { cause });

  let ort: OrtModule;
  try {
    ort = await (opts.importRuntime ?? (() => import('onnxruntime-node')))();
  } catch (err) {
    throw fail(
      'runtime_missing',
      `onnxruntime-node cannot be loaded, so the detector for ${modelPath} cannot run: ${errorText(err)}`,
      err,
    );
  }

  try {
    const st = await stat(modelPath);
    if (!st.isFile()) throw fail('model_invalid', `detector model ${modelPath} is not a file`);
  } catch (err) {
    if (err instanceof DetectorError) throw err;
    throw fail('model_missing', `detector model ${modelPath} not found: ${errorText(err)}`, err);
  }

  const threads = opts.intraOpNumThreads ?? 2;
  if (!Number.isInteger(threads) || threads < 1) {
    throw fail('model_invalid', `intraOpNumThreads must be a positive integer, got ${threads}`);
  }
  let session: OrtSession;
  try {
    session = await ort.InferenceSession.create(modelPath, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      extra: { session: { intra_op: { allow_spinning: opts.allowSpinning ? '1' : '0' } } },
    });
  } catch (err) {
    throw fail(
      'model_invalid',
      `detector model ${modelPath} is not a loadable ONNX model: ${errorText(err)}`,
      err,
    );
  }

  try {
    const inputName = session.inputNames[0];
    const outputName = session.outputNames[0];
    if (inputName === undefined || outputName === undefined) {
      throw fail('model_mismatch', `detector model ${modelPath} has no input or no output`);
    }
    const meta = session.inputMetadata[0];
    const shape = meta?.isTensor ? meta.shape : [];
    const layout = opts.layout ?? 'yolox';
    const base = layout === 'yolox' ? YOLOX_NANO : YOLOV8_640;
    const modelH = fixedDim(shape[2]);
    const modelW = fixedDim(shape[3]);
    const config: YoloConfig = {
      ...base,
      inputWidth: opts.inputWidth ?? modelW ?? base.inputWidth,
      inputHeight: opts.inputHeight ?? modelH ?? base.inputHeight,
      ...(opts.channelOrder ? { channelOrder: opts.channelOrder } : {}),
      ...(opts.scale !== undefined ? { scale: opts.scale } : {}),
      ...(opts.placement ? { placement: opts.placement } : {}),
      ...(opts.numClasses !== undefined ? { numClasses: opts.numClasses } : {}),
    };
    if (
      (modelW !== undefined && modelW !== config.inputWidth) ||
      (modelH !== undefined && modelH !== config.inputHeight) ||
      (fixedDim(shape[1]) !== undefined && shape[1] !== 3)
    ) {
      throw fail(
        'model_mismatch',
        `detector model ${modelPath} takes [${shape.join(',')}], not [1,3,${config.inputHeight},${config.inputWidth}]`,
      );
    }
    return makeDetector(ort, session, inputName, outputName, config, modelPath, opts, fail);
  } catch (err) {
    await session.release().catch(() => undefined);
    throw err;
  }
}

function makeDetector(
  ort: OrtModule,
  session: OrtSession,
  inputName: string,
  outputName: string,
  config: YoloConfig,
  modelPath: string,
  opts: OnnxDetectorOptions,
  fail: (kind: DetectorErrorKind, message: string, cause?: unknown) => DetectorError,
): OnnxDetector {
  const input = allocateInput(config);
  // The tensor wraps `input` without copying, so refilling the buffer refills the tensor.
  const tensor: OrtTensor = new ort.Tensor('float32', input, [
    1,
    3,
    config.inputHeight,
    config.inputWidth,
  ]);
  const feeds: Record<string, OrtTensor> = { [inputName]: tensor };
  const classes =
    opts.classes === 'all' ? null : new Set<number>(opts.classes ?? PACKAGE_ROOM_CLASSES);
  const post = {
    scoreThreshold: opts.scoreThreshold ?? 0.3,
    nmsThreshold: opts.nmsThreshold ?? 0.45,
    classes,
    maxDetections: opts.maxDetections ?? 100,
  };
  let closed = false;
  let queue: Promise<unknown> = Promise.resolve();

  const runOne = async (frame: Frame): Promise<Detection[]> => {
    let lb;
    try {
      lb = letterboxInto(frame.rgb, frame.width, frame.height, config, input);
    } catch (err) {
      throw fail(
        'bad_frame',
        `frame from camera ${frame.cameraId} cannot be analysed: ${errorText(err)}`,
        err,
      );
    }
    let output: OrtTensor | undefined;
    try {
      const results = await session.run(feeds);
      output = results[outputName];
      if (!output || !(output.data instanceof Float32Array)) {
        throw new Error(`output ${outputName} is not a float32 tensor`);
      }
      return postprocess(output.data, output.dims, config, lb, post);
    } catch (err) {
      throw fail(
        'inference_failed',
        `detector model ${modelPath} failed on a frame from camera ${frame.cameraId}: ${errorText(err)}`,
        err,
      );
    } finally {
      output?.dispose();
    }
  };

  return {
    info: {
      model: basename(modelPath),
      inputWidth: config.inputWidth,
      inputHeight: config.inputHeight,
    },
    config,
    detect(frame) {
      // Frames asked for before close() still get their answer; later ones are refused.
      if (closed) return Promise.reject(fail('closed', `detector for ${modelPath} is closed`));
      const run = queue.then(() => runOne(frame));
      queue = run.catch(() => undefined);
      return run;
    },
    async close() {
      if (closed) return;
      closed = true;
      await queue;
      await session.release();
    },
  };
}
