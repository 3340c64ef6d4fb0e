/**
 * The analytics of a running box: for every camera that has something to watch (room or door
 * zones, or shelf slots it sees), its sub-stream decoded at `analytics.fps` → motion gate → the
 * ONE shared detector → tracker → loitering, tailgating and (with slots) multi-package grab →
 * flags. Grants from the doors and parcel check-ins and pickups are fed in as they happen, so a
 * flag can say "the person who came in on 4B's card took 5C's parcel".
 *
 * A camera that goes away (RTSP drops, ffmpeg dies, the ONVIF camera is not connected yet) does
 * not end its analytics: its frame stream is opened again with backoff, and the pipeline with its
 * rules, tracks and shelf references carries on when pictures come back. Only a file camera that
 * does not loop ends for good (replaying it would raise its flags a second time), as it does for
 * the recorder.
 *
 * Without a model, without ffmpeg, or with the analytics turned off in the site file, nothing runs
 * and `health()` says why in words an operator can act on; the rest of the server does not care.
 */
import type { AccessEvent } from '../../access/access.events.ts';
import { and, eq } from 'drizzle-orm';
import { packages, residents, type Db } from '../../db/index.ts';
import type { Clock, TimerHandle } from '../../hardware/clock.ts';
import {
  createCameraAnalytics,
  type AnalyticsPipeline,
  type AnalyticsSettings,
  type PipelineEnd,
  type PipelineProblem,
  type PipelineState,
} from '../../vision/analytics.pipeline.ts';
import type { FfmpegBinary } from '../../vision/ffmpeg.locate.ts';
import {
  createFrameSource,
  type FrameSourceEnd,
  type FrameSpawn,
} from '../../vision/frame.source.ts';
import {
  createGrabRule,
  type LikelyPickedUp,
  type SlotOwner,
  type SlotOwnership,
} from '../../vision/grab.rule.ts';
import type { Entry, FlagCandidate, Rule } from '../../vision/rules.types.ts';
import {
  createSlotWatch,
  watchedSlotsOf,
  type SlotDecision,
  type SlotStatus,
  type SlotWatch,
  type WatchedSlot,
} from '../../vision/slot.watch.ts';
import type { Detector, Frame } from '../../vision/vision.ports.ts';
import type { AnalyticsConfig, CameraConfig, SiteConfig } from '../config/site.schema.ts';
import type { Logger } from '../log/logger.ts';
import type {
  AnalyticsHealth as WireAnalyticsHealth,
  CameraAnalyticsHealth as WireCameraAnalyticsHealth,
} from './analytics.api.ts';
import type { CameraDirectory, CameraInput } from './camera.types.ts';

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

// ---------------------------------------------------------------------------------------------
// What the operator asked for, and what health shows

/** From the process settings: a model to run, or why there is none. */
export type AnalyticsRequest = { state: 'off'; reason: string } | { state: 'on'; model: string };

/** The reason shown when PARCELROOM_MODEL is not set. */
export const NO_MODEL_REASON =
  'no detector model configured: set PARCELROOM_MODEL to a YOLOX-nano .onnx file ' +
  '(Megvii YOLOX releases, Apache-2.0)';

/** PARCELROOM_MODEL → what the server should try. */
export function analyticsRequest(model: string | undefined): AnalyticsRequest {
  return model ? { state: 'on', model } : { state: 'off', reason: NO_MODEL_REASON };
}

/** One camera's analytics as `/api/health` shows them (the wire shape, its states narrowed). */
export type CameraAnalyticsHealth = WireCameraAnalyticsHealth<FrameStreamState, PipelineState>;
export type AnalyticsHealth = WireAnalyticsHealth<CameraAnalyticsHealth>;

// ---------------------------------------------------------------------------------------------
// Site settings → rule settings

/** The site's analytics section as one camera's rule settings (seconds and minutes → ms). */
export function analyticsSettingsFor(
  config: AnalyticsConfig,
  camera: Pick<CameraConfig, 'zones'>,
): AnalyticsSettings {
  const rooms = new Set(camera.zones.filter((z) => z.kind === 'room').map((z) => z.id));
  // Per-zone thresholds name zones of any camera; each camera's rule takes only its own.
  const zoneThresholdMs: Record<string, number> = {};
  for (const [zoneId, s] of Object.entries(config.loiteringZoneSeconds)) {
    if (rooms.has(zoneId)) zoneThresholdMs[zoneId] = Math.round(s * 1000);
  }
  return {
    loitering: {
      thresholdMs: Math.round(config.loiteringSeconds * 1000),
      visitMs: Math.round(config.visitMinutes * 60_000),
      ...(Object.keys(zoneThresholdMs).length > 0 ? { zoneThresholdMs } : {}),
    },
    tailgating: {
      beforeGrantMs: Math.round(config.tailgatingBeforeGrantSeconds * 1000),
      afterGrantMs: Math.round(config.tailgatingAfterGrantSeconds * 1000),
    },
  };
}

/** A granted door entry from the access log, as the rules take it; null for anything else. */
export function entryFromAccessEvent(e: AccessEvent, cameraIds?: readonly string[]): Entry | null {
  if (e.type !== 'access' || e.decision !== 'granted' || !e.doorId) return null;
  const who = e.residentId
    ? ('resident' as const)
    : e.carrierCodeId
      ? ('carrier' as const)
      : e.staffId
        ? ('staff' as const)
        : null;
  if (!who) return null;
  return {
    eventId: e.id,
    at: e.at,
    doorId: e.doorId,
    who,
    ...(e.residentId ? { residentId: e.residentId } : {}),
    ...(e.credentialId ? { credentialId: e.credentialId } : {}),
    ...(e.carrierCodeId ? { carrierCodeId: e.carrierCodeId } : {}),
    ...(cameraIds && cameraIds.length > 0 ? { cameraIds } : {}),
  };
}

/** The shelf slot a parcel event is about, when it is a slot. */
function slotOfParcelEvent(e: AccessEvent): string | null {
  const location = e.details?.location as { kind?: unknown; id?: unknown } | undefined;
  return location && location.kind === 'shelf' && typeof location.id === 'string'
    ? location.id
    : null;
}

// ---------------------------------------------------------------------------------------------
// Who owns what is on the shelves

/** The parcels on the shelves and the residents' units, as the database has them. */
export interface OwnershipSnapshot {
  parcels: { packageId: string; locationId: string; residentId: string | null; unitId: string }[];
  residents: { residentId: string; unitId: string }[];
}

/** Reads an OwnershipSnapshot (the database in production). */
export type OwnershipLoader = () => Promise<OwnershipSnapshot>;

/** The grab rule's synchronous ownership port, kept in memory and re-read when parcels change. */
export interface OwnershipCache extends SlotOwnership {
  /**
   * Reads the database again. Calls never overlap; a burst of them costs at most one more read.
   * Resolves true once read, false when the read failed (the old answers stay, the log says why).
   */
  refresh(): Promise<boolean>;
  /** Whether a read has succeeded yet. */
  loaded(): boolean;
}

export function dbOwnershipLoader(db: Db, siteId: string): OwnershipLoader {
  return async () => {
    const parcels = await db
      .select({
        packageId: packages.id,
        locationId: packages.locationId,
        residentId: packages.residentId,
        unitId: packages.unitId,
      })
      .from(packages)
      .where(and(eq(packages.siteId, siteId), eq(packages.status, 'checked_in')));
    const people = await db
      .select({ residentId: residents.id, unitId: residents.unitId })
      .from(residents)
      .where(and(eq(residents.siteId, siteId), eq(residents.status, 'active')));
    return { parcels, residents: people };
  };
}

export function createOwnershipCache(deps: { load: OwnershipLoader; log: Logger }): OwnershipCache {
  let bySlot = new Map<string, SlotOwner[]>();
  let unitOf = new Map<string, string>();
  let ok = false;
  let running: Promise<boolean> | null = null;
  let again = false;

  const readOnce = async (): Promise<boolean> => {
    try {
      const snap = await deps.load();
      const slots = new Map<string, SlotOwner[]>();
      for (const p of snap.parcels) {
        const owner: SlotOwner = {
          packageId: p.packageId,
          unitId: p.unitId,
          ...(p.residentId ? { residentId: p.residentId } : {}),
        };
        const list = slots.get(p.locationId);
        if (list) list.push(owner);
        else slots.set(p.locationId, [owner]);
      }
      bySlot = slots;
      unitOf = new Map(snap.residents.map((r) => [r.residentId, r.unitId]));
      ok = true;
      return true;
    } catch (err) {
      // The answers from the last read stay: a brief outage must not make every slot ownerless.
      deps.log.warn('could not read whose parcels are on the shelves', { err: errorText(err) });
      return false;
    }
  };

  const refresh = (): Promise<boolean> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let result: boolean;
      do {
        again = false;
        result = await readOnce();
      } while (again);
      running = null;
      return result;
    })();
    return running;
  };

  return {
    owners: (slotId) => bySlot.get(slotId) ?? [],
    unitOfResident: (residentId) => unitOf.get(residentId),
    refresh,
    loaded: () => ok,
  };
}

// ---------------------------------------------------------------------------------------------
// A camera's pictures, opened again whenever they stop

/** One open analysis stream (a frame source): frames until it ends, and how it ended. */
export interface FrameStream extends AsyncIterable<Frame> {
  stop(): Promise<unknown>;
  readonly ended: Promise<FrameSourceEnd>;
  stats(): { framesDropped: number };
}

export interface FrameStreamRequest {
  cameraId: string;
  input: CameraInput;
  fps: number;
  width: number;
  height: number;
}

/** Opens a camera's analysis stream; throws when it cannot even start. */
export type FrameOpener = (req: FrameStreamRequest) => FrameStream;

/** The real opener: one ffmpeg per camera decoding its sub-stream to RGB frames. */
export function ffmpegFrameOpener(deps: {
  ffmpeg: FfmpegBinary;
  clock: Clock;
  spawn?: FrameSpawn;
}): FrameOpener {
  return (req) =>
    createFrameSource({
      cameraId: req.cameraId,
      ...(req.input.kind === 'rtsp'
        ? { url: req.input.url }
        : { file: req.input.path, loop: req.input.loop }),
      ffmpeg: deps.ffmpeg,
      fps: req.fps,
      width: req.width,
      height: req.height,
      clock: deps.clock,
      ...(deps.spawn ? { spawn: deps.spawn } : {}),
    });
}

export type FrameStreamState =
  /** The camera has no streams yet (ONVIF not connected): asked again shortly. */
  | 'waiting'
  | 'connecting'
  | 'streaming'
  /** The stream ended or failed; opened again after a wait. */
  | 'backoff'
  /** A file camera that does not loop has shown everything. */
  | 'ended'
  | 'stopped';

export interface RestartingFrames extends AsyncIterable<Frame> {
  status(): { state: FrameStreamState; reason: string | null; restarts: number };
  /** Frames dropped by every stream opened so far. */
  framesDropped(): number;
  /** Ends the frames: the open stream is stopped, a wait is cut short. */
  stop(): Promise<void>;
}

export interface RestartingFramesOptions {
  cameraId: string;
  /** The camera's analysis input now; null while it is not connected. */
  input: () => CameraInput | null;
  open: FrameOpener;
  fps: number;
  width: number;
  height: number;
  clock: Clock;
  log: Logger;
  /** Wait before the next try: from minMs, doubling to maxMs; reset once a stream has run. */
  backoff: { minMs: number; maxMs: number };
  /** A stream that gave pictures for this long resets the backoff (ms, default 10 s). */
  healthyAfterMs?: number;
}

/**
 * One endless frame sequence over many streams: each time the camera's stream ends or fails, it
 * is opened again after a backoff, so the pipeline reading it (and its rules' memory) lives on.
 */
export function createRestartingFrames(o: RestartingFramesOptions): RestartingFrames {
  const { clock, log } = o;
  const healthyAfterMs = o.healthyAfterMs ?? 10_000;
  let state: FrameStreamState = 'waiting';
  let reason: string | null = null;
  let restarts = 0;
  let droppedBefore = 0;
  let current: FrameStream | null = null;
  let stopped = false;
  let iterating = false;
  let lastLogged: string | null = null;
  let wake: (() => void) | null = null;
  let timer: TimerHandle | null = null;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = () => {
        if (timer) clock.clearTimeout(timer);
        timer = null;
        wake = null;
        resolve();
      };
      timer = clock.setTimeout(() => wake?.(), ms);
    });

  /** Logged when it changes, so a camera that stays away is one line, not one per retry. */
  const note = (next: FrameStreamState, why: string | null) => {
    state = next;
    reason = why;
    const line = `${next}:${why ?? ''}`;
    if (why && line !== lastLogged) {
      lastLogged = line;
      // Waiting for a camera to connect is how every start begins; a failing stream is not.
      const level = next === 'backoff' ? 'warn' : 'info';
      log[level]('camera analysis stream not flowing', { cameraId: o.cameraId, state: next, why });
    }
  };

  async function* run(): AsyncGenerator<Frame> {
    let delay = o.backoff.minMs;
    while (!stopped) {
      let input: CameraInput | null;
      try {
        input = o.input();
      } catch (err) {
        input = null;
        log.error('camera streams could not be read', { cameraId: o.cameraId, err });
      }
      if (!input) {
        note('waiting', 'the camera is not connected yet');
        await sleep(o.backoff.minMs);
        continue;
      }
      let stream: FrameStream;
      try {
        state = 'connecting';
        stream = o.open({
          cameraId: o.cameraId,
          input,
          fps: o.fps,
          width: o.width,
          height: o.height,
        });
      } catch (err) {
        note('backoff', `the analysis stream could not be opened: ${errorText(err)}`);
        restarts++;
        await sleep(delay);
        delay = Math.min(o.backoff.maxMs, delay * 2);
        continue;
      }
      current = stream;
      let firstAt: number | null = null;
      try {
        for await (const frame of stream) {
          if (firstAt === null) {
            firstAt = clock.now();
            state = 'streaming';
            reason = null;
            log.info('camera analysis stream flowing', {
              cameraId: o.cameraId,
              restarts,
              ...(input.kind === 'rtsp' ? {} : { file: input.path }),
            });
            lastLogged = null;
          }
          yield frame;
        }
      } finally {
        // Leaving early (the pipeline stopped) stops ffmpeg; a stream that ended is a no-op.
        current = null;
        droppedBefore += stream.stats().framesDropped;
      }
      const end = await stream.ended;
      if (stopped) break;
      if (firstAt !== null && clock.now() - firstAt >= healthyAfterMs) delay = o.backoff.minMs;
      if (end.reason === 'ended' && input.kind === 'file' && !input.loop) {
        // The recorder does not replay it either: the camera went offline for good.
        note('ended', 'the file camera has shown all its video (it does not loop)');
        return;
      }
      note(
        'backoff',
        end.reason === 'failed' ? end.message : 'the stream ended (the camera went offline)',
      );
      restarts++;
      await sleep(delay);
      delay = Math.min(o.backoff.maxMs, delay * 2);
    }
    state = 'stopped';
    reason = null;
  }

  return {
    status: () => ({ state, reason, restarts }),
    framesDropped: () => droppedBefore + (current?.stats().framesDropped ?? 0),
    async stop() {
      stopped = true;
      wake?.();
      await current?.stop();
      if (state !== 'ended') state = 'stopped';
    },
    [Symbol.asyncIterator]() {
      if (iterating) throw new Error(`camera ${o.cameraId}: its frames have one reader`);
      iterating = true;
      return run();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The runtime

export interface AnalyticsRuntimeOptions {
  site: Pick<SiteConfig, 'cameras' | 'storage' | 'analytics'>;
  /** Where each camera's sub-stream is (set once the camera connected). */
  directory: Pick<CameraDirectory, 'streams' | 'forDoor'>;
  /** Loads the one detector every camera shares; a rejection turns the analytics off. */
  detectorFactory: () => Promise<Detector>;
  /** Real time: frame times, stream restarts. The doors' grants must be on the same clock. */
  clock: Clock;
  log: Logger;
  /** Each flag with the frame it was decided on (the flag store's `raise`). */
  onFlag: (candidate: FlagCandidate, frame: Frame) => void | Promise<unknown>;
  /** Whose parcels sit in which slot (the grab rule asks per frame, so from memory). */
  parcels: OwnershipCache;
  /** A slot emptied by its rightful owner: evidence for the chain of custody. */
  onLikelyPickedUp?: (report: LikelyPickedUp) => void | Promise<unknown>;
  /** ffmpeg for the frame sources; null: none on this box (analytics off, and why). */
  ffmpeg: FfmpegBinary | null;
  spawn?: FrameSpawn;
  /** Opens a camera's stream; default ffmpeg (`ffmpeg`, `spawn`). */
  openFrames?: FrameOpener;
}

export interface AnalyticsRuntime {
  /** Loads the detector and starts every camera's analytics; never rejects (off + reason). */
  start(): Promise<AnalyticsHealth>;
  health(): AnalyticsHealth;
  /** Every event the journal stores: grants become entries, parcel events update the slots. */
  onAccessEvent(event: AccessEvent): void;
  /** What the camera makes of a shelf slot now; null when no running camera watches it. */
  slotStatus(slotId: string): SlotStatus | null;
  /** Stops every camera's analytics and releases the detector. */
  close(): Promise<void>;
}

interface CameraRun {
  cameraId: string;
  pipeline: AnalyticsPipeline;
  frames: RestartingFrames;
  rules: string[];
  notes: string[];
  watch: SlotWatch | null;
  done: Promise<PipelineEnd>;
}

/** What a camera of the site can be analysed for, or why it cannot. */
function plan(
  camera: CameraConfig,
  slots: readonly WatchedSlot[],
): { ok: true; slots: WatchedSlot[] } | { ok: false; reason: string } {
  const mine = slots.filter((s) => s.cameraId === camera.id);
  const watches = camera.zones.some((z) => z.kind === 'room' || z.kind === 'door');
  if (!watches && mine.length === 0) {
    return { ok: false, reason: 'no room or door zone and no shelf slot drawn on its picture' };
  }
  return { ok: true, slots: mine };
}

export function createAnalyticsRuntime(opts: AnalyticsRuntimeOptions): AnalyticsRuntime {
  const { site, clock, log } = opts;
  const config = site.analytics;
  const runs: CameraRun[] = [];
  const skipped: { cameraId: string; reason: string }[] = [];
  const watchOfSlot = new Map<string, SlotWatch>();
  let detector: Detector | null = null;
  let health: AnalyticsHealth = { state: 'off', reason: 'the analytics have not started yet' };
  let started: Promise<AnalyticsHealth> | null = null;
  let closed = false;
  const problemsSeen = new Set<string>();

  const off = (reason: string): AnalyticsHealth => {
    health = { state: 'off', reason };
    log.warn('analytics off', { reason });
    return health;
  };

  /** One line per distinct problem per camera, so a failing frame does not flood the log. */
  const onProblem = (p: PipelineProblem) => {
    const key = `${p.cameraId}:${p.kind}:${p.message}`;
    if (problemsSeen.has(key)) return;
    if (problemsSeen.size > 500) problemsSeen.clear();
    problemsSeen.add(key);
    log.warn('analytics problem', { ...p });
  };

  const unexplained = (d: SlotDecision) => {
    log.warn('a shelf slot changed with nobody in the room to explain it; staff should look', {
      cameraId: d.cameraId,
      slotId: d.slotId,
      slot: d.label,
      kind: d.kind,
      basis: d.basis,
      score: Math.round(d.score.score * 1000) / 1000,
    });
  };

  const likelyPickedUp = (r: LikelyPickedUp) => {
    log.info('slot emptied by its owner: parcels likely picked up', {
      cameraId: r.cameraId,
      slotId: r.slotId,
      packages: r.packages.map((p) => p.packageId),
      entryEventId: r.entryEventId,
    });
    if (!opts.onLikelyPickedUp) return;
    try {
      const p = opts.onLikelyPickedUp(r);
      if (p instanceof Promise) {
        p.catch((err: unknown) =>
          log.error('likely pickup not recorded', { slotId: r.slotId, err: errorText(err) }),
        );
      }
    } catch (err) {
      log.error('likely pickup not recorded', { slotId: r.slotId, err: errorText(err) });
    }
  };

  /** References for the slots at start: what the parcels table says each one holds. */
  const askInitialReferences = (watch: SlotWatch) => {
    for (const s of watch.slots) {
      watch.requestReference(s.id, opts.parcels.owners(s.id).length > 0 ? 'occupied' : 'empty');
    }
  };

  const startCamera = (
    camera: CameraConfig,
    slots: WatchedSlot[],
    shared: Detector,
    open: FrameOpener,
  ) => {
    const width = config.frameWidth;
    const height = config.frameHeight;
    const frames = createRestartingFrames({
      cameraId: camera.id,
      input: () => opts.directory.streams(camera.id)?.sub ?? null,
      open,
      fps: config.fps,
      width,
      height,
      clock,
      log,
      backoff: { minMs: config.restartMinMs, maxMs: config.restartMaxMs },
    });
    let watch: SlotWatch | null = null;
    const extraRules: Rule[] = [];
    if (slots.length > 0) {
      watch = createSlotWatch({ slots });
      extraRules.push(
        createGrabRule({
          watch,
          ownership: opts.parcels,
          events: { likelyPickedUp, unexplainedChange: unexplained },
          cameraIds: [camera.id],
          ...(camera.doorId ? { doorIds: [camera.doorId] } : {}),
        }),
      );
    }
    const built = createCameraAnalytics({
      camera,
      frames,
      detector: shared,
      clock,
      onFlag: (candidate, frame) => {
        log.info('analytics flag', {
          kind: candidate.kind,
          cameraId: candidate.cameraId,
          severity: candidate.severity,
          reason: candidate.evidence.reason ?? null,
        });
        const delivered = opts.onFlag(candidate, frame);
        // Awaited by nobody: the pipeline counts a rejection as a delivery problem.
        return delivered instanceof Promise ? delivered.then(() => undefined) : undefined;
      },
      onProblem,
      sourceStats: () => ({ framesDropped: frames.framesDropped() }),
      settings: analyticsSettingsFor(config, camera),
      extraRules,
    });
    for (const s of slots) if (watch) watchOfSlot.set(s.id, watch);
    if (watch && opts.parcels.loaded()) askInitialReferences(watch);
    const run: CameraRun = {
      cameraId: camera.id,
      pipeline: built.pipeline,
      frames,
      rules: built.rules.map((r) => r.name),
      notes: built.notes,
      watch,
      done: built.pipeline.start().then((end) => {
        if (!closed) {
          const fields = { cameraId: camera.id, end: end.reason, ...end };
          if (end.reason === 'failed') log.error('camera analytics stopped', fields);
          else log.info('camera analytics ended', fields);
        }
        return end;
      }),
    };
    runs.push(run);
    for (const n of built.notes) log.info('analytics rule off', { cameraId: camera.id, note: n });
  };

  const doStart = async (): Promise<AnalyticsHealth> => {
    if (!config.enabled) return off('turned off in the site file (analytics.enabled: false)');
    const open =
      opts.openFrames ??
      (opts.ffmpeg
        ? ffmpegFrameOpener({
            ffmpeg: opts.ffmpeg,
            clock,
            ...(opts.spawn ? { spawn: opts.spawn } : {}),
          })
        : null);
    if (!open) {
      return off('ffmpeg not found: install ffmpeg (apt-get install ffmpeg) to decode the cameras');
    }
    let slots: WatchedSlot[];
    try {
      slots = watchedSlotsOf(site.storage);
    } catch (err) {
      return off(`the shelf slots cannot be watched: ${errorText(err)}`);
    }
    const eligible: { camera: CameraConfig; slots: WatchedSlot[] }[] = [];
    for (const camera of site.cameras) {
      const p = plan(camera, slots);
      if (p.ok) eligible.push({ camera, slots: p.slots });
      else skipped.push({ cameraId: camera.id, reason: p.reason });
    }
    if (eligible.length === 0) {
      return off(
        'no camera has anything to watch: draw room/door zones (cameras[].zones) or shelf slots (storage slots with cameraId and polygon)',
      );
    }
    let shared: Detector;
    try {
      shared = await opts.detectorFactory();
    } catch (err) {
      return off(`the detector model cannot be used: ${errorText(err)}`);
    }
    if (closed) {
      await shared.close().catch(() => undefined);
      return off('the server is stopping');
    }
    detector = shared;
    if (eligible.some((e) => e.slots.length > 0)) await opts.parcels.refresh();
    for (const { camera, slots: camSlots } of eligible) {
      try {
        startCamera(camera, camSlots, shared, open);
      } catch (err) {
        // Bad zones or slots of one camera (too thin to measure…) leave the others running.
        skipped.push({ cameraId: camera.id, reason: errorText(err) });
        log.error('camera analytics cannot start', { cameraId: camera.id, err: errorText(err) });
      }
    }
    if (runs.length === 0) {
      detector = null;
      await shared.close().catch(() => undefined);
      return off(
        `no camera could be analysed: ${skipped.map((s) => `${s.cameraId}: ${s.reason}`).join('; ')}`,
      );
    }
    health = {
      state: 'on',
      model: shared.info.model,
      cameras: runs.length,
      cameraStats: [],
      skipped,
    };
    log.info('analytics on', {
      model: shared.info.model,
      cameras: runs.map((r) => r.cameraId),
      fps: config.fps,
      frame: `${config.frameWidth}x${config.frameHeight}`,
      skipped,
    });
    return currentHealth();
  };

  const cameraHealth = (r: CameraRun): CameraAnalyticsHealth => {
    const s = r.pipeline.stats();
    const f = r.frames.status();
    return {
      cameraId: r.cameraId,
      stream: f.state,
      reason: f.reason,
      pipeline: s.state,
      rules: r.rules,
      notes: r.notes,
      restarts: f.restarts,
      fps: s.fps === null ? null : Math.round(s.fps * 10) / 10,
      detectFps: s.detectFps === null ? null : Math.round(s.detectFps * 10) / 10,
      framesIn: s.framesIn,
      detectorRuns: s.detectorRuns,
      gatedFrames: s.framesSkipped,
      framesDropped: s.framesDroppedBySource ?? 0,
      detectorMsMean: s.detectorMsMean === null ? null : Math.round(s.detectorMsMean),
      lagMs: s.lagMs,
      flags: s.flags,
      lastProblem: s.lastProblem,
    };
  };

  const currentHealth = (): AnalyticsHealth => {
    switch (health.state) {
      case 'off':
        return health;
      case 'on':
        return { ...health, cameraStats: runs.map(cameraHealth) };
    }
  };

  const onParcelEvent = (e: AccessEvent) => {
    const slotId = slotOfParcelEvent(e);
    const watch = slotId ? watchOfSlot.get(slotId) : undefined;
    void opts.parcels.refresh().then((ok) => {
      if (!watch || !slotId || closed) return;
      if (e.type === 'package_checked_in') {
        // The new parcel is the slot's look from now on; taken once nobody stands in front.
        watch.requestReference(slotId, 'occupied');
        return;
      }
      if (!ok) return;
      // Taken out at the desk: with nothing left the slot is not watched; otherwise what is
      // left is the new look.
      if (opts.parcels.owners(slotId).length === 0) watch.markEmpty(slotId);
      else watch.requestReference(slotId, 'occupied');
    });
  };

  return {
    start() {
      started ??= doStart().catch((err: unknown) =>
        off(`analytics failed to start: ${errorText(err)}`),
      );
      return started;
    },
    health: currentHealth,
    slotStatus: (slotId) => watchOfSlot.get(slotId)?.status(slotId) ?? null,
    onAccessEvent(e) {
      if (health.state !== 'on' || closed) return;
      switch (e.type) {
        case 'access': {
          const entry = entryFromAccessEvent(
            e,
            e.doorId ? [opts.directory.forDoor(e.doorId)].filter((c): c is string => !!c) : [],
          );
          if (!entry) return;
          for (const r of runs) {
            try {
              r.pipeline.onEntry(entry);
            } catch (err) {
              log.warn('entry not usable by the analytics', { eventId: e.id, err: errorText(err) });
            }
          }
          // A resident the cache does not know yet (just added): learn their unit for the grab rule.
          if (entry.residentId && opts.parcels.unitOfResident(entry.residentId) === undefined) {
            void opts.parcels.refresh();
          }
          return;
        }
        case 'package_checked_in':
        case 'package_picked_up':
        case 'package_returned':
          onParcelEvent(e);
          return;
        default:
          return;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await started;
      await Promise.all(
        runs.map(async (r) => {
          await Promise.all([r.frames.stop(), r.pipeline.stop()]);
          await r.done;
        }),
      );
      const d = detector;
      detector = null;
      await d
        ?.close()
        .catch((err: unknown) =>
          log.warn('detector did not close cleanly', { err: errorText(err) }),
        );
    },
  };
}
