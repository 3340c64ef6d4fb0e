/**
 * A scripted Detector for tests and the demo camera: it answers each frame with the detections the
 * script gives, either call by call or by the frame's time. Strict: a frame the script does not
 * cover is an error (a test that runs the pipeline more often than it meant to fails loudly rather
 * than seeing empty frames), and so is a frame after close().
 */
import type { Detection, Detector, Frame } from './vision.ports.ts';

/** What the detector does for one frame: answer, or fail like a broken model would. */
export type SimDetectorReply =
  { kind: 'detections'; detections: readonly Detection[] } | { kind: 'fail'; message: string };

/** From `fromMs` (inclusive) to `toMs` (exclusive) of frame time, answer `reply`. */
export interface SimDetectorSpan {
  fromMs: number;
  toMs: number;
  reply: SimDetectorReply;
}

export type SimDetectorScript =
  /** The n-th detect() call gets the n-th reply; one call more is an error. */
  | { kind: 'calls'; replies: readonly SimDetectorReply[] }
  /** A frame gets the reply of the span its time falls in; a frame in no span is an error. */
  | { kind: 'timeline'; spans: readonly SimDetectorSpan[] };

export interface SimDetectorOptions {
  script: SimDetectorScript;
  info?: Detector['info'];
}

export interface SimDetector extends Detector {
  /** Frames seen so far, in call order. */
  readonly frames: readonly Frame[];
  /** Replies of a 'calls' script not yet used (0 for a timeline). */
  remaining(): number;
}

export class SimDetectorError extends Error {
  override readonly name = 'SimDetectorError';
}

export function createSimDetector(opts: SimDetectorOptions): SimDetector {
  const { script } = opts;
  if (script.kind === 'timeline') {
    for (const s of script.spans) {
      if (!(s.toMs > s.fromMs)) {
        throw new SimDetectorError(`timeline span ${s.fromMs}..${s.toMs} ms is empty`);
      }
    }
  }
  const frames: Frame[] = [];
  let calls = 0;
  let closed = false;

  const replyFor = (frame: Frame): SimDetectorReply => {
    switch (script.kind) {
      case 'calls': {
        const r = script.replies[calls];
        if (!r) {
          throw new SimDetectorError(
            `sim detector called ${calls + 1} times but scripted for ${script.replies.length}`,
          );
        }
        return r;
      }
      case 'timeline': {
        const span = script.spans.find((s) => frame.at >= s.fromMs && frame.at < s.toMs);
        if (!span) {
          throw new SimDetectorError(
            `sim detector has no reply scripted for a frame at ${frame.at} ms`,
          );
        }
        return span.reply;
      }
    }
  };

  return {
    info: opts.info ?? { model: 'sim', inputWidth: 416, inputHeight: 416 },
    frames,
    remaining: () => (script.kind === 'calls' ? Math.max(0, script.replies.length - calls) : 0),
    detect(frame) {
      try {
        if (closed) throw new SimDetectorError('sim detector is closed');
        frames.push(frame);
        const reply = replyFor(frame);
        calls++;
        switch (reply.kind) {
          case 'detections':
            // Copies, so a caller that edits its detections cannot change the script.
            return Promise.resolve(reply.detections.map((d) => ({ ...d, box: { ...d.box } })));
          case 'fail':
            throw new SimDetectorError(reply.message);
        }
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    },
    close() {
      closed = true;
      return Promise.resolve();
    },
  };
}
