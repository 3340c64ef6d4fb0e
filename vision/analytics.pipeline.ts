/**
 * One camera's analytics, frame by frame: motion gate → detector (only while something moves or
 * someone is being tracked) → tracker → rules → flags. Frigate's shape, with decisions in ms of
 * frame time and grants fed in, so a flag can say which entry it belongs to.
 *
 * Frames are taken one at a time: while the detector works on one, the frame source keeps only
 * the newest (a live camera drops, never queues), so a slow box shows as dropped frames and lag,
 * not as flags arriving minutes late. A broken rule, a failing detector frame or a bad frame is
 * counted and reported and the camera carries on; only a closed detector or a failing frame
 * source ends the pipeline, with the reason in its end state.
 */
import type { Clock } from '../hardware/clock.ts';
import { createLoiteringRule, type LoiteringOptions } from './loitering.rule.ts';
import { createMotionGate, type MotionGate, type MotionGateOptions } from './motion.gate.ts';
import {
  RuleInputError,
  validateEntry,
  type Entry,
  type FlagCandidate,
  type Rule,
  type VisitContext,
} from './rules.types.ts';
import {
  createTailgatingRule,
  TAILGATING_AFTER_GRANT_MS,
  type TailgatingOptions,
} from './tailgating.rule.ts';
import { createTracker, type Tracker, type TrackerOptions } from './tracker.ts';
import type { Detection, Detector, Frame, Track } from './vision.ports.ts';
import type { Zone, ZoneKind, ZonePoint } from './zones.ts';

export type PipelineState = 'idle' | 'running' | 'stopping' | 'stopped' | 'ended' | 'failed';

/** How a pipeline finished: asked to, its frames ran out, or a part it cannot do without failed. */
export type PipelineEnd =
  { reason: 'stopped' } | { reason: 'ended' } | { reason: 'failed'; message: string };

/** Something that went wrong with one frame, one rule or one flag; the camera carries on. */
export interface PipelineProblem {
  kind: 'frame' | 'detector' | 'rule' | 'flag_delivery';
  cameraId: string;
  /** Frame time the problem belongs to (ms). */
  at: number;
  message: string;
  /** The rule's name, for rule problems. */
  rule?: string;
}

export interface PipelineStats {
  cameraId: string;
  state: PipelineState;
  /** Frames taken from the source. */
  framesIn: number;
  /** Frames the detector ran on successfully. */
  detectorRuns: number;
  /** Frames the motion gate let pass without the detector (nothing moving, nobody tracked). */
  framesSkipped: number;
  /** Frames refused (wrong size, out of time order): nothing was learnt from them. */
  framesRejected: number;
  /** Frames the source threw away because the pipeline was behind (null: source unknown). */
  framesDroppedBySource: number | null;
  detectorErrors: number;
  ruleErrors: number;
  flags: number;
  flagDeliveryErrors: number;
  /** Frames handled per second of clock time over the last window (null until measurable). */
  fps: number | null;
  /** Detector runs per second over the same window. */
  detectFps: number | null;
  /** Mean detector time per run over the window (ms of clock time). */
  detectorMsMean: number | null;
  /** How old the last frame was when its rules were done: clock now − frame time (ms). */
  lagMs: number | null;
  lagMsMax: number;
  tracksAlive: number;
  lastFrameAt: number | null;
  /** The last problem's message, for the camera's status page. */
  lastProblem: string | null;
}

export interface AnalyticsPipelineOptions {
  cameraId: string;
  frames: AsyncIterable<Frame>;
  motionGate: MotionGate;
  detector: Detector;
  tracker: Tracker;
  rules: readonly Rule[];
  clock: Clock;
  /**
   * Each flag with the frame it was decided on (for the snapshot). Not awaited: storing a flag
   * must not stall the camera; a rejected promise is reported as a flag_delivery problem.
   */
  onFlag: (flag: FlagCandidate, frame: Frame) => void | Promise<void>;
  /** Called with fresh stats every `statsEveryMs` of clock time, and once at the end. */
  onStats?: (stats: PipelineStats) => void;
  onProblem?: (problem: PipelineProblem) => void;
  statsEveryMs?: number;
  /** Window the fps figures are measured over (ms, default 10 s). */
  fpsWindowMs?: number;
  /** The frame source's own counters, when it has them (frames it dropped). */
  sourceStats?: () => { framesDropped: number };
  /** How long stop() waits for the frame source to close (ms, default 5 s). */
  stopTimeoutMs?: number;
}

export interface AnalyticsPipeline {
  readonly cameraId: string;
  /** Starts reading frames (once); resolves when the pipeline has ended, never rejects. */
  start(): Promise<PipelineEnd>;
  /** Stops after the frame in hand, closes the frame source; resolves with the end state. */
  stop(): Promise<PipelineEnd>;
  /** A granted door entry, passed to every rule. Bad input throws a RuleInputError. */
  onEntry(entry: Entry): void;
  stats(): PipelineStats;
}

export class PipelineError extends Error {
  override readonly name = 'PipelineError';
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** A detector that was closed cannot come back: the camera's analytics are over. */
const isFatalDetectorError = (e: unknown): boolean =>
  e instanceof Error && (e as { kind?: unknown }).kind === 'closed';

export function createAnalyticsPipeline(opts: AnalyticsPipelineOptions): AnalyticsPipeline {
  const { cameraId, clock, motionGate, detector, tracker } = opts;
  if (!cameraId) throw new PipelineError('analytics pipeline needs a cameraId');
  const rules = [...opts.rules];
  const names = new Set<string>();
  for (const r of rules) {
    if (names.has(r.name)) throw new PipelineError(`rule ${r.name} is given twice`);
    names.add(r.name);
  }
  const statsEveryMs = opts.statsEveryMs ?? 10_000;
  const fpsWindowMs = opts.fpsWindowMs ?? 10_000;
  const stopTimeoutMs = opts.stopTimeoutMs ?? 5_000;
  for (const [k, v] of Object.entries({ statsEveryMs, fpsWindowMs, stopTimeoutMs })) {
    if (!Number.isFinite(v) || v <= 0) throw new PipelineError(`${k} must be above 0, got ${v}`);
  }

  let state: PipelineState = 'idle';
  let done: Promise<PipelineEnd> | null = null;
  let stopRequested = false;
  let wakeStop!: () => void;
  const stopSignal = new Promise<'stop'>((resolve) => {
    wakeStop = () => resolve('stop');
  });

  const counters = {
    framesIn: 0,
    detectorRuns: 0,
    framesSkipped: 0,
    framesRejected: 0,
    detectorErrors: 0,
    ruleErrors: 0,
    flags: 0,
    flagDeliveryErrors: 0,
  };
  /** Clock times of handled frames and detector runs (with their cost) in the fps window. */
  const handled: number[] = [];
  const detections: { at: number; ms: number }[] = [];
  let lagMs: number | null = null;
  let lagMsMax = 0;
  let tracksAlive = 0;
  let lastFrameAt: number | null = null;
  let lastProblem: string | null = null;
  let lastStatsAt: number | null = null;

  /** Stats to the listener; a listener that throws must not stop the camera. */
  const report = () => {
    try {
      opts.onStats?.(stats());
    } catch (err) {
      lastProblem = `stats listener failed: ${errorText(err)}`;
    }
  };

  const problem = (p: Omit<PipelineProblem, 'cameraId'>) => {
    lastProblem = p.message;
    try {
      opts.onProblem?.({ cameraId, ...p });
    } catch {
      // A failing problem reporter must not take the camera down with it.
    }
  };

  const rate = (times: readonly number[], now: number): number | null => {
    if (times.length < 2) return null;
    const span = now - times[0]!;
    return span > 0 ? ((times.length - 1) * 1000) / span : null;
  };

  const stats = (): PipelineStats => {
    const now = clock.now();
    const inWindow = detections.filter((d) => now - d.at <= fpsWindowMs);
    let dropped: number | null;
    try {
      dropped = opts.sourceStats ? opts.sourceStats().framesDropped : null;
    } catch {
      // A source that cannot say how it is doing is shown as unknown, not as zero drops.
      dropped = null;
    }
    return {
      cameraId,
      state,
      ...counters,
      framesDroppedBySource: dropped,
      fps: rate(handled, now),
      detectFps: rate(
        inWindow.map((d) => d.at),
        now,
      ),
      detectorMsMean: inWindow.length
        ? inWindow.reduce((s, d) => s + d.ms, 0) / inWindow.length
        : null,
      lagMs,
      lagMsMax,
      tracksAlive,
      lastFrameAt,
      lastProblem,
    };
  };

  const trim = (now: number) => {
    while (handled.length > 2 && now - handled[0]! > fpsWindowMs) handled.shift();
    while (detections.length > 0 && now - detections[0]!.at > fpsWindowMs) detections.shift();
  };

  const deliver = (flag: FlagCandidate, frame: Frame) => {
    counters.flags++;
    const fail = (err: unknown) => {
      counters.flagDeliveryErrors++;
      problem({
        kind: 'flag_delivery',
        at: flag.at,
        message: `a ${flag.kind} flag could not be delivered: ${errorText(err)}`,
      });
    };
    try {
      const r = opts.onFlag(flag, frame);
      if (r instanceof Promise) r.catch(fail);
    } catch (err) {
      fail(err);
    }
  };

  /** Returns a fatal message when the pipeline cannot go on, else null. */
  const handle = async (frame: Frame): Promise<string | null> => {
    counters.framesIn++;
    let detect: boolean;
    try {
      detect = motionGate.shouldDetect(frame, { tracksAlive: tracker.tracks().length });
    } catch (err) {
      counters.framesRejected++;
      problem({ kind: 'frame', at: frame.at, message: errorText(err) });
      return null;
    }
    let dets: Detection[] | null = [];
    if (detect) {
      const t0 = clock.now();
      try {
        dets = await detector.detect(frame);
        counters.detectorRuns++;
        detections.push({ at: clock.now(), ms: clock.now() - t0 });
      } catch (err) {
        counters.detectorErrors++;
        problem({ kind: 'detector', at: frame.at, message: errorText(err) });
        if (isFatalDetectorError(err)) return `detector closed: ${errorText(err)}`;
        // Not "nobody there": without an answer the tracks are left as they were.
        dets = null;
      }
    } else {
      counters.framesSkipped++;
    }
    let tracks: Track[];
    try {
      tracks = dets === null ? tracker.tracks() : tracker.update(dets, frame.at);
    } catch (err) {
      counters.framesRejected++;
      problem({ kind: 'frame', at: frame.at, message: errorText(err) });
      return null;
    }
    tracksAlive = tracks.length;
    lastFrameAt = frame.at;
    for (const rule of rules) {
      let flags: FlagCandidate[];
      try {
        flags = rule.update(cameraId, tracks, frame.at, frame);
      } catch (err) {
        counters.ruleErrors++;
        problem({ kind: 'rule', rule: rule.name, at: frame.at, message: errorText(err) });
        continue;
      }
      for (const f of flags) deliver(f, frame);
    }
    const now = clock.now();
    lagMs = now - frame.at;
    lagMsMax = Math.max(lagMsMax, lagMs);
    handled.push(now);
    trim(now);
    if (opts.onStats && (lastStatsAt === null || now - lastStatsAt >= statsEveryMs)) {
      lastStatsAt = now;
      report();
    }
    return null;
  };

  const closeSource = async (it: AsyncIterator<Frame>) => {
    if (!it.return) return;
    // An iterator stuck waiting for a frame may never answer; the source gets stopTimeoutMs.
    let timer: ReturnType<Clock['setTimeout']> | null = null;
    const timeout = new Promise<void>((resolve) => {
      timer = clock.setTimeout(resolve, stopTimeoutMs);
    });
    try {
      await Promise.race([it.return().then(() => undefined), timeout]);
    } catch (err) {
      problem({
        kind: 'frame',
        at: lastFrameAt ?? clock.now(),
        message: `frame source did not close cleanly: ${errorText(err)}`,
      });
    } finally {
      if (timer) clock.clearTimeout(timer);
    }
  };

  const run = async (): Promise<PipelineEnd> => {
    let it: AsyncIterator<Frame>;
    try {
      it = opts.frames[Symbol.asyncIterator]();
    } catch (err) {
      return { reason: 'failed', message: `frame source cannot be read: ${errorText(err)}` };
    }
    let sourceFinished = false;
    let end: PipelineEnd = { reason: 'stopped' };
    try {
      while (!stopRequested) {
        let r: IteratorResult<Frame> | 'stop';
        try {
          const next = it.next();
          // A next() abandoned by stop() may still reject later; nobody is waiting for it then.
          next.catch(() => undefined);
          r = await Promise.race([next, stopSignal]);
        } catch (err) {
          sourceFinished = true;
          end = { reason: 'failed', message: `frame source failed: ${errorText(err)}` };
          break;
        }
        if (r === 'stop') break;
        if (r.done) {
          sourceFinished = true;
          end = { reason: 'ended' };
          break;
        }
        const fatal = await handle(r.value);
        if (fatal) {
          end = { reason: 'failed', message: fatal };
          break;
        }
      }
    } finally {
      if (!sourceFinished) await closeSource(it);
    }
    return end;
  };

  const finalState = (end: PipelineEnd): PipelineState => {
    switch (end.reason) {
      case 'stopped':
        return 'stopped';
      case 'ended':
        return 'ended';
      case 'failed':
        return 'failed';
    }
  };

  const start = (): Promise<PipelineEnd> => {
    if (done) return done;
    if (stopRequested) {
      state = 'stopped';
      done = Promise.resolve({ reason: 'stopped' });
      return done;
    }
    state = 'running';
    done = run().then(
      (end) => {
        state = finalState(end);
        report();
        return end;
      },
      (err: unknown) => {
        // Only a bug gets here (everything expected is caught above); still an end, not a crash.
        const end: PipelineEnd = { reason: 'failed', message: errorText(err) };
        state = 'failed';
        return end;
      },
    );
    return done;
  };

  return {
    cameraId,
    start,
    stop() {
      stopRequested = true;
      if (state === 'running') state = 'stopping';
      wakeStop();
      return start();
    },
    onEntry(entry) {
      validateEntry(entry);
      for (const rule of rules) {
        try {
          rule.onEntry(entry);
        } catch (err) {
          counters.ruleErrors++;
          problem({ kind: 'rule', rule: rule.name, at: entry.at, message: errorText(err) });
        }
      }
    },
    stats,
  };
}

// ---------------------------------------------------------------------------------------------
// From the site file

/** A zone as the site file writes it (`cameras[].zones[]`). */
export interface SiteZone {
  id: string;
  kind: ZoneKind;
  /** Corners [x, y] in fractions of the frame. */
  polygon: readonly (readonly number[])[];
}

/** The part of a site-file camera the analytics need. */
export interface SiteCamera {
  id: string;
  doorId?: string | undefined;
  zones?: readonly SiteZone[] | undefined;
}

/** Analytics settings for one camera; `false` turns a rule off. */
export interface AnalyticsSettings {
  loitering?: false | Omit<LoiteringOptions, 'cameras' | 'visits'>;
  tailgating?: false | Omit<TailgatingOptions, 'cameras' | 'visits'>;
  motion?: Omit<MotionGateOptions, 'zones'>;
  tracker?: Omit<TrackerOptions, 'cameraId'>;
}

export interface CameraAnalyticsOptions {
  camera: SiteCamera;
  frames: AsyncIterable<Frame>;
  detector: Detector;
  clock: Clock;
  onFlag: AnalyticsPipelineOptions['onFlag'];
  onStats?: AnalyticsPipelineOptions['onStats'];
  onProblem?: AnalyticsPipelineOptions['onProblem'];
  sourceStats?: AnalyticsPipelineOptions['sourceStats'];
  settings?: AnalyticsSettings;
  /** The server's record of entries (grants from before the pipeline started). */
  visits?: VisitContext;
  /** Rules built elsewhere (the shelf-slot watcher), run after loitering and tailgating. */
  extraRules?: readonly Rule[];
}

export interface CameraAnalytics {
  pipeline: AnalyticsPipeline;
  rules: Rule[];
  /** Why a rule is off for this camera, for the log and the camera's status page. */
  notes: string[];
}

/** Site-file zones to the analytics' zones: points as [x, y] pairs, checked. */
export function zonesFromSite(camera: SiteCamera): Zone[] {
  return (camera.zones ?? []).map((z) => ({
    id: z.id,
    kind: z.kind,
    polygon: z.polygon.map((p, i): ZonePoint => {
      if (p.length !== 2) {
        throw new RuleInputError(
          `camera ${camera.id} zone ${z.id} corner ${i} must be [x, y], has ${p.length} numbers`,
        );
      }
      return [p[0]!, p[1]!];
    }),
  }));
}

/**
 * Builds one camera's pipeline from its site-file entry: loitering when it has a room zone,
 * tailgating when it also watches a door (doorId, door zone), plus any extra rules. A rule that
 * cannot run here is left out with a note saying why, never silently.
 */
export function createCameraAnalytics(opts: CameraAnalyticsOptions): CameraAnalytics {
  const { camera, settings = {} } = opts;
  const zones = zonesFromSite(camera);
  const has = (kind: ZoneKind) => zones.some((z) => z.kind === kind);
  const notes: string[] = [];
  const rules: Rule[] = [];
  const visits = opts.visits ? { visits: opts.visits } : {};

  const tailgatingSettings = settings.tailgating === false ? undefined : settings.tailgating;
  const tailgatingOn =
    settings.tailgating !== false && !!camera.doorId && has('door') && has('room');
  if (settings.loitering === false) {
    notes.push('loitering off in the settings');
  } else if (!has('room')) {
    notes.push(`loitering off: camera ${camera.id} has no room zone`);
  } else {
    rules.push(
      createLoiteringRule({
        // Someone walking in on another's grant is the tailgating rule's flag, not a second one.
        sharedEntryMs: tailgatingOn
          ? (tailgatingSettings?.afterGrantMs ?? TAILGATING_AFTER_GRANT_MS)
          : 0,
        ...settings.loitering,
        ...visits,
        cameras: [
          { cameraId: camera.id, zones, ...(camera.doorId ? { doorIds: [camera.doorId] } : {}) },
        ],
      }),
    );
  }
  if (settings.tailgating === false) {
    notes.push('tailgating off in the settings');
  } else if (!camera.doorId) {
    notes.push(`tailgating off: camera ${camera.id} watches no door (doorId)`);
  } else if (!has('door') || !has('room')) {
    notes.push(`tailgating off: camera ${camera.id} needs a door zone and a room zone`);
  } else {
    rules.push(
      createTailgatingRule({
        ...tailgatingSettings,
        ...visits,
        cameras: [{ cameraId: camera.id, doorId: camera.doorId, zones }],
      }),
    );
  }
  rules.push(...(opts.extraRules ?? []));

  const pipeline = createAnalyticsPipeline({
    cameraId: camera.id,
    frames: opts.frames,
    motionGate: createMotionGate({ ...settings.motion, zones }),
    detector: opts.detector,
    tracker: createTracker({ ...settings.tracker, cameraId: camera.id }),
    rules,
    clock: opts.clock,
    onFlag: opts.onFlag,
    ...(opts.onStats ? { onStats: opts.onStats } : {}),
    ...(opts.onProblem ? { onProblem: opts.onProblem } : {}),
    ...(opts.sourceStats ? { sourceStats: opts.sourceStats } : {}),
  });
  return { pipeline, rules, notes };
}
