/**
 * Reassembles Wiegand frames from falling-edge timestamps on D0 and D1.
 *
 * Both lines idle high; the reader pulls D0 low for a 0 and D1 low for a 1. The edge source (GPIO
 * character device) gives kernel timestamps in microseconds, so framing is decided on those
 * timestamps and not on when our process got round to reading them.
 *
 * Timing we must accept (REFERENCE.md): pulses of 20-100 µs, one bit every 0.2-20 ms; devices seen
 * at 50 µs/1 ms, 50 µs/2 ms and 160 µs/880 µs. Only falling edges matter; pulse width is not seen.
 *
 * End of frame. Wiegand has no end marker: a frame ends when the lines stay quiet. ESPHome waits a
 * fixed 100 ms, which merges anything sent closer together and adds 100 ms to every read. Tasmota
 * waits 3 bit-times, which adapts to the reader but is undefined before the second bit arrives.
 * We close a frame after silence longer than max(3 × the longest bit interval seen in this frame,
 * `endOfFrameGapUs`), with a 25 ms floor by default. The floor is above the slowest legal interval
 * (20 ms) with 25 % to spare, so the first interval of a slow reader (when its rate is not yet
 * known) never splits the frame; once a 20 ms reader has sent two bits the gap grows to 60 ms.
 * For ordinary 1-2 ms readers a frame closes 25 ms after its last bit, well inside what a person
 * at the door notices, and two reads must be 25 ms apart to stay separate, which every reader and
 * every human on a keypad respects. Using the longest interval (not the average) means jitter can
 * only make the gap longer, never split a frame.
 *
 * Glitches and faults. Successive legal bits are at least 200 µs apart, so two falling edges much
 * closer than that cannot both be bits:
 * - same line within `glitchUs` (10 µs, half the shortest legal pulse): ringing on one falling
 *   edge. Whichever edge we keep, the bit value is the same, so the extra edge is dropped and
 *   counted.
 * - the other line within `glitchUs`: both lines went low together, which a working reader never
 *   does; it means shorted or crossed wiring or common-mode noise on the cable: `line_fault`.
 * - either line from `glitchUs` up to `minIntervalUs` (150 µs: the 200 µs minimum less 25 % for
 *   reader clock error and timestamp jitter): out-of-spec timing where we cannot tell the real bit
 *   from noise: `too_fast`.
 * Faulted frames are thrown away whole, and the rest of the burst is ignored until the line has
 * been quiet for the gap: decoding the tail would risk turning half a card into a plausible
 * shorter frame, or into a keypad key.
 */
import type { Clock, TimerHandle } from '../hardware/clock.ts';

export type WiegandLine = 'D0' | 'D1';

export type EdgeErrorReason =
  'line_fault' | 'short_frame' | 'too_fast' | 'long_frame' | 'out_of_order';

export interface FrameMeta {
  /** Timestamp of the first and last accepted falling edge, µs. */
  startUs: number;
  endUs: number;
  /** Edges dropped as ringing while this frame was being received. */
  glitches: number;
  /** Shortest and longest interval between accepted edges, µs (0 for a one-edge frame). */
  minIntervalUs: number;
  maxIntervalUs: number;
}

export interface EdgeDecoderOptions {
  /**
   * When given, the decoder closes a frame by itself once the gap has passed in wall time, so the
   * edge source need not call `idle`. Without it, call `idle(nowUs)` from the edge loop's poll.
   */
  clock?: Clock;
  /** Floor for the end-of-frame silence, µs. Default 25 000. */
  endOfFrameGapUs?: number;
  /** Bit-times of silence that end a frame when that is longer than the floor. Default 3. */
  gapBitTimes?: number;
  /** Shortest accepted interval between bits, µs. Default 150. */
  minIntervalUs?: number;
  /** Same-line edges closer than this are ringing; other-line ones a line fault, µs. Default 10. */
  glitchUs?: number;
  /** Longest frame accepted before the burst is treated as noise. Default 128. */
  maxBits?: number;
  onFrame(bits: string, meta: FrameMeta): void;
  onError(reason: EdgeErrorReason, detail: string): void;
}

export interface EdgeDecoderStats {
  frames: number;
  errors: number;
  glitches: number;
}

export interface EdgeDecoder {
  /** A falling edge on `line` at kernel timestamp `tUs` (µs, monotonic). */
  edge(line: WiegandLine, tUs: number): void;
  /** Close the current frame if the lines have been quiet for longer than the gap at `nowUs`. */
  idle(nowUs: number): boolean;
  /** Close the current frame now, gap or not: the edge source stopped (shutdown, line released). */
  flush(): boolean;
  /** Current end-of-frame gap in µs (adapts to the frame in progress). */
  gapUs(): number;
  stats(): EdgeDecoderStats;
  dispose(): void;
}

interface Receiving {
  kind: 'frame';
  bits: string[];
  startUs: number;
  lastUs: number;
  lastLine: WiegandLine;
  glitches: number;
  minIntervalUs: number;
  maxIntervalUs: number;
}

interface Discarding {
  kind: 'discard';
  lastUs: number;
  maxIntervalUs: number;
}

type State = { kind: 'idle' } | Receiving | Discarding;

const MIN_FRAME_BITS = 4;

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be a positive number`);
  return v;
}

export function createEdgeDecoder(options: EdgeDecoderOptions): EdgeDecoder {
  const {
    clock,
    endOfFrameGapUs = 25_000,
    gapBitTimes = 3,
    minIntervalUs = 150,
    glitchUs = 10,
    maxBits = 128,
    onFrame,
    onError,
  } = options;
  positive('endOfFrameGapUs', endOfFrameGapUs);
  positive('gapBitTimes', gapBitTimes);
  positive('minIntervalUs', minIntervalUs);
  positive('glitchUs', glitchUs);
  positive('maxBits', maxBits);
  if (glitchUs >= minIntervalUs) throw new RangeError('glitchUs must be below minIntervalUs');
  if (endOfFrameGapUs <= minIntervalUs) {
    throw new RangeError('endOfFrameGapUs must be above minIntervalUs');
  }

  let state: State = { kind: 'idle' };
  let lastSeenUs = -Infinity;
  const totals: EdgeDecoderStats = { frames: 0, errors: 0, glitches: 0 };

  let timer: TimerHandle | undefined;
  let lastEdgeWallMs = 0;

  const currentGap = (): number =>
    state.kind === 'idle'
      ? endOfFrameGapUs
      : Math.max(endOfFrameGapUs, gapBitTimes * state.maxIntervalUs);

  const fail = (reason: EdgeErrorReason, detail: string) => {
    totals.errors++;
    onError(reason, detail);
  };

  const abort = (reason: EdgeErrorReason, detail: string, tUs: number) => {
    const maxIntervalUs = state.kind === 'idle' ? 0 : state.maxIntervalUs;
    state = { kind: 'discard', lastUs: tUs, maxIntervalUs };
    fail(reason, detail);
  };

  const close = (): boolean => {
    const s = state;
    state = { kind: 'idle' };
    if (timer && clock) clock.clearTimeout(timer);
    timer = undefined;
    if (s.kind !== 'frame') return s.kind === 'discard';
    if (s.bits.length < MIN_FRAME_BITS) {
      fail(
        'short_frame',
        `${s.bits.length} bit(s) starting at ${s.startUs} µs: noise, not a frame (minimum ${MIN_FRAME_BITS})`,
      );
      return true;
    }
    totals.frames++;
    onFrame(s.bits.join(''), {
      startUs: s.startUs,
      endUs: s.lastUs,
      glitches: s.glitches,
      minIntervalUs: s.bits.length > 1 ? s.minIntervalUs : 0,
      maxIntervalUs: s.maxIntervalUs,
    });
    return true;
  };

  // Wall-clock backstop: re-checks rather than re-arming on every edge, so a 37-bit frame costs
  // one timer, not 37.
  const gapMs = () => Math.floor(currentGap() / 1000) + 1;
  const onTimer = () => {
    timer = undefined;
    if (!clock || state.kind === 'idle') return;
    const waited = clock.now() - lastEdgeWallMs;
    const need = gapMs();
    if (waited >= need) close();
    else timer = clock.setTimeout(onTimer, need - waited);
  };
  const noteActivity = () => {
    if (!clock) return;
    lastEdgeWallMs = clock.now();
    timer ??= clock.setTimeout(onTimer, gapMs());
  };

  const edge = (line: WiegandLine, tUs: number): void => {
    if (line !== 'D0' && line !== 'D1') {
      throw new TypeError(`line must be D0 or D1, got ${JSON.stringify(line)}`);
    }
    if (!Number.isFinite(tUs)) throw new RangeError('tUs must be a finite number');

    if (tUs < lastSeenUs) {
      // Kernel timestamps are monotonic; going back means two edge sources are interleaved or
      // the source restarted. Any frame in progress can no longer be trusted.
      abort('out_of_order', `edge at ${tUs} µs arrived after one at ${lastSeenUs} µs`, tUs);
      lastSeenUs = tUs;
      noteActivity();
      return;
    }
    if (state.kind !== 'idle' && tUs - state.lastUs > currentGap()) close();
    lastSeenUs = tUs;

    const s = state;
    if (s.kind === 'discard') {
      // Still inside a faulted burst: keep extending the quiet period we are waiting for.
      s.lastUs = tUs;
      noteActivity();
      return;
    }
    if (s.kind === 'idle') {
      state = {
        kind: 'frame',
        bits: [line === 'D1' ? '1' : '0'],
        startUs: tUs,
        lastUs: tUs,
        lastLine: line,
        glitches: 0,
        minIntervalUs: Infinity,
        maxIntervalUs: 0,
      };
      noteActivity();
      return;
    }

    const dt = tUs - s.lastUs;
    if (dt < glitchUs) {
      if (line === s.lastLine) {
        s.glitches++;
        totals.glitches++;
        return;
      }
      abort(
        'line_fault',
        `D0 and D1 fell ${dt} µs apart at ${tUs} µs (both lines low together): check for shorted or crossed wires`,
        tUs,
      );
      noteActivity();
      return;
    }
    if (dt < minIntervalUs) {
      abort(
        'too_fast',
        `${line} edge ${dt} µs after the previous bit at ${tUs} µs (minimum ${minIntervalUs} µs): noise or out-of-spec reader`,
        tUs,
      );
      noteActivity();
      return;
    }
    s.bits.push(line === 'D1' ? '1' : '0');
    s.lastUs = tUs;
    s.lastLine = line;
    s.minIntervalUs = Math.min(s.minIntervalUs, dt);
    s.maxIntervalUs = Math.max(s.maxIntervalUs, dt);
    if (s.bits.length > maxBits) {
      abort('long_frame', `more than ${maxBits} bits without a gap: noise on the lines`, tUs);
    }
    noteActivity();
  };

  return {
    edge,
    idle(nowUs) {
      if (state.kind === 'idle' || nowUs - state.lastUs <= currentGap()) return false;
      return close();
    },
    flush: () => (state.kind === 'idle' ? false : close()),
    gapUs: currentGap,
    stats: () => ({ ...totals }),
    dispose() {
      if (timer && clock) clock.clearTimeout(timer);
      timer = undefined;
      state = { kind: 'idle' };
    },
  };
}
