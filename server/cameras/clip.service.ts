/**
 * Clips tied to entries: the recorded video around an access event, a parcel check-in or a
 * vision flag, as one MP4 the console can play and seek, with a JPEG poster of the moment.
 *
 * Window. Each door says how much video an entry keeps: `clipBeforeMs` before the event and
 * `clipAfterMs` after it (site file; 5 s and 30 s by default). Parcel events have no door of
 * their own: they take the door of the entry that brought the carrier or resident in
 * (`details.entryEventId`), else the first door.
 *
 * Camera. The one asked for (`?camera=`, only a camera of this site), else the camera that made
 * the event, else the camera watching its door, else the site's only camera.
 *
 * When. A clip is built once and kept: recordings never change, so neither does a clip cut from
 * them. It is therefore built only when its window is final, either because the recording has
 * passed the window end (a segment or a gap row ends at or after it), or because the recording
 * gave up (the camera is not recording now, or nothing has closed long after the window end).
 * Until then the answer is `not_yet` with a time to ask again. A clip that was built short
 * because the recording gave up is rebuilt if segments of its window turn up later (a recorder
 * that indexes the files it left behind when it restarts).
 *
 * Files. `DATA_DIR/clips/<camera>/<event id>.mp4` and `.jpg` (flags: `flag-<flag id>`), names
 * made only from validated ids, written by the clip builder under a `.part` name and renamed,
 * so a request never sees half a file. Requests for one clip share one build. The `clips` row
 * says where each clip stands (pending, ready, missing and why) for the event list.
 */
import { mkdir, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { and, asc, desc, eq, gt, gte, lt } from 'drizzle-orm';
import { accessEvents, clips, newId, recordings, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import {
  buildClip,
  ClipError,
  planClip,
  type ClipSegment,
  type FfmpegRunner,
  type TimeRange,
} from '../../vision/index.ts';
import type { SiteConfig } from '../config/index.ts';
import type { Logger } from '../log/logger.ts';
import type { CameraDirectory, CameraStatus } from './camera.types.ts';

/** Ids that may appear in a file name or URL: no dots, no separators, nothing to traverse. */
export const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Event types that show something happening at the door or the shelves, worth a clip link. */
export const VIDEO_EVENT_TYPES: ReadonlySet<string> = new Set([
  'access',
  'door_opened',
  'forced_open',
  'held_open',
  'rex',
  'package_checked_in',
  'package_picked_up',
  'wrong_pickup',
  // The camera saw a shelf slot emptied: the evidence is the video itself.
  'parcel_seen_taken',
]);

/** Parcel events happen at the shelves, not a door: their door is the entry's. */
const PARCEL_EVENT_TYPES: ReadonlySet<string> = new Set([
  'package_checked_in',
  'package_picked_up',
  'package_returned',
  'wrong_pickup',
  'parcel_seen_taken',
]);

export const DEFAULT_CLIP_BEFORE_MS = 5_000;
export const DEFAULT_CLIP_AFTER_MS = 30_000;

/** Whose clip it is: names the file and the `clips` row. */
export type ClipOwner = { kind: 'event'; id: string } | { kind: 'flag'; id: string };

export interface ClipRequest {
  owner: ClipOwner;
  cameraId: string;
  window: TimeRange;
  /** The moment itself (server ms), shown by the poster. */
  eventAt: number;
}

/** Why an event has no video, for staff. */
export type NoVideoCode =
  /** The camera was down (a gap in the recording, or it is not recording now). */
  | 'camera_offline'
  /** Recorded, but retention has deleted it since. */
  | 'retention'
  /** Indexed, but the files are gone from DATA_DIR. */
  | 'files_missing'
  /** Nothing was recorded and nobody said why (recording not running for this camera). */
  | 'not_recorded';

export type ClipOutcome =
  | {
      kind: 'ready';
      cameraId: string;
      window: TimeRange;
      /** Absolute paths of the clip and its poster (null: the poster could not be made). */
      path: string;
      posterPath: string | null;
      posterProblem?: string;
      /** What the clip spans on the server clock: from the keyframe at or before the window. */
      startAt: number;
      endAt: number;
      /** Parts of the window with no video (the clip plays through them). */
      missing: TimeRange[];
      /** Served from an earlier build. */
      fromCache: boolean;
    }
  | { kind: 'not_yet'; cameraId: string; window: TimeRange; retryAfterMs: number; reason: string }
  | { kind: 'no_video'; cameraId: string; window: TimeRange; code: NoVideoCode; reason: string }
  | { kind: 'no_camera'; reason: string }
  | { kind: 'not_found'; reason: string }
  /**
   * No such event in the database while acknowledged events still wait in the journal (a
   * database outage, or the moment before a batch is written): it may be one of them.
   */
  | { kind: 'not_stored'; retryAfterMs: number; reason: string }
  /** `?camera=` named a camera this site does not have. */
  | { kind: 'unknown_camera'; cameraId: string; reason: string }
  /** ffmpeg could not build it; nothing was cached, a later request tries again. */
  | { kind: 'failed'; cameraId: string; reason: string };

/** What the window needs to know about an event (a stored row or a live event). */
export interface ClipEventInfo {
  type: string;
  at: Date | number;
  doorId?: string | null;
  details?: unknown;
}

export interface ClipWindowFor {
  window: TimeRange;
  /** The door whose settings made the window (null: the site has no door settings to use). */
  doorId: string | null;
}

export interface ClipService {
  /** The window an event's clip covers, per its door. */
  windowFor(event: ClipEventInfo): Promise<ClipWindowFor>;
  /** The clip of a stored access event, from its camera or the one asked for. */
  clipForEvent(eventId: string, cameraId?: string): Promise<ClipOutcome>;
  /** Any clip: flags and later features give their own window and camera. */
  clipFor(request: ClipRequest): Promise<ClipOutcome>;
  /** Waits for builds in flight (shutdown). */
  close(): Promise<void>;
}

/** The file checks the service makes; the clip builder writes the files themselves. */
export interface ClipFiles {
  /** Size in bytes, or null when there is no such file. */
  size(path: string): Promise<number | null>;
  /** Create a folder and its parents; fine when it exists. */
  mkdir(dir: string): Promise<void>;
}

export const nodeClipFiles: ClipFiles = {
  async size(path) {
    try {
      const s = await stat(path);
      return s.isFile() ? s.size : null;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  },
  async mkdir(dir) {
    await mkdir(dir, { recursive: true });
  },
};

export interface ClipServiceDeps {
  db: Db;
  siteId: string;
  site: Pick<SiteConfig, 'doors' | 'cameras' | 'recording'>;
  dataDir: string;
  /** Domain time: is the window over yet? */
  clock: Clock;
  runner: FfmpegRunner;
  directory: CameraDirectory;
  log: Logger;
  files?: ClipFiles;
  /** Each ffmpeg step of a build is stopped after this long; default 60 s. */
  buildTimeoutMs?: number;
  /** Acknowledged events not yet in the database (the journal's backlog); default none. */
  unstoredEvents?: () => number;
}

// -- pure rules -------------------------------------------------------------------------------

/** The clip window of a moment at a door; an unknown door takes the defaults. */
export function clipWindowAt(
  door: { clipBeforeMs: number; clipAfterMs: number } | undefined,
  at: number,
): TimeRange {
  return {
    startAt: at - (door?.clipBeforeMs ?? DEFAULT_CLIP_BEFORE_MS),
    endAt: at + (door?.clipAfterMs ?? DEFAULT_CLIP_AFTER_MS),
  };
}

/**
 * The camera for an event from the site file alone: the event's own camera, else the first
 * camera watching one of `doorIds` (in that order), else the site's only camera.
 */
export function pickSiteCamera(
  cameras: readonly { id: string; doorId?: string | undefined }[],
  want: { cameraId?: string | null; doorIds: readonly string[] },
): string | null {
  if (want.cameraId && cameras.some((c) => c.id === want.cameraId)) return want.cameraId;
  for (const doorId of want.doorIds) {
    const cam = cameras.find((c) => c.doorId === doorId);
    if (cam) return cam.id;
  }
  return cameras.length === 1 ? cameras[0]!.id : null;
}

export interface ClipLinks {
  clipUrl: string;
  snapshotUrl: string;
  /** The camera the link will play by default. */
  cameraId: string;
}

/** Which events get a clip link in the event list, and with which camera. */
export type ClipLinker = (e: {
  id: string;
  type: string;
  doorId?: string | null;
  cameraId?: string | null;
}) => ClipLinks | null;

/**
 * Links for the event list, decided from the site file without a database round trip: the
 * same camera choice as the service, except that a parcel event may take any door's camera
 * (its entry door is known only to the database; the service tries that door first).
 */
export function createClipLinker(site: Pick<SiteConfig, 'doors' | 'cameras'>): ClipLinker {
  const allDoors = site.doors.map((d) => d.id);
  return (e) => {
    if (!VIDEO_EVENT_TYPES.has(e.type) || !SAFE_ID.test(e.id)) return null;
    const doorIds = e.doorId ? [e.doorId] : PARCEL_EVENT_TYPES.has(e.type) ? allDoors : [];
    const cameraId = pickSiteCamera(site.cameras, { cameraId: e.cameraId ?? null, doorIds });
    if (!cameraId) return null;
    const base = `/api/events/${encodeURIComponent(e.id)}/clip`;
    return { clipUrl: base, snapshotUrl: `${base}/poster`, cameraId };
  };
}

/** A `recordings` row as the rules below need it (server ms). */
export interface RecordingSpan {
  kind: 'segment' | 'gap';
  startAt: number;
  endAt: number;
  deleted: boolean;
}

export type Readiness =
  | { kind: 'final'; /** The recording gave up before the window end. */ gaveUp: boolean }
  | { kind: 'wait'; retryAfterMs: number; reason: string };

/**
 * Whether the recording of a window is final, so a clip built now stays right.
 * `latestEndAt`: the end of the camera's newest recordings row (segment or gap), if any.
 */
export function clipReadiness(p: {
  window: TimeRange;
  now: number;
  latestEndAt: number | null;
  /** The camera is recording now (its directory status). */
  recording: boolean;
  segmentMs: number;
  /** Past the window end by this long with nothing closed after it: stop waiting. */
  giveUpAfterMs: number;
}): Readiness {
  const { window, now } = p;
  if (window.endAt > now) {
    return {
      kind: 'wait',
      // The segment holding the window end closes up to a segment later, half a segment on
      // average: ask then, and the short wait below covers the rest.
      retryAfterMs: window.endAt - now + Math.round(p.segmentMs / 2),
      reason: `the clip window ends at ${iso(window.endAt)}, still to come`,
    };
  }
  if (p.latestEndAt !== null && p.latestEndAt >= window.endAt)
    return { kind: 'final', gaveUp: false };
  // A camera that is not recording will add nothing; but give a segment that is being closed
  // and indexed right now a moment, so a clip is not cut short by a race.
  const settled = now - window.endAt >= Math.min(p.segmentMs, p.giveUpAfterMs);
  if ((!p.recording && settled) || now - window.endAt >= p.giveUpAfterMs)
    return { kind: 'final', gaveUp: true };
  return {
    kind: 'wait',
    retryAfterMs: Math.max(1_000, Math.round(p.segmentMs / 2)),
    reason: 'the recording that covers the end of the window is still being written',
  };
}

/** Why a window has no usable video, from the rows that touch it and the camera's status. */
export function noVideoReason(p: {
  window: TimeRange;
  rows: readonly RecordingSpan[];
  /** Live segments whose files are gone from disk. */
  filesMissing: number;
  camera: { name: string; status?: CameraStatus | undefined };
}): { code: NoVideoCode; reason: string } {
  const { window, rows, camera } = p;
  const touching = rows.filter((r) => r.startAt < window.endAt && r.endAt > window.startAt);
  const deleted = touching.filter((r) => r.kind === 'segment' && r.deleted);
  if (deleted.length > 0) {
    return {
      code: 'retention',
      reason: `the video of ${camera.name} for this time was deleted by retention`,
    };
  }
  if (p.filesMissing > 0) {
    return {
      code: 'files_missing',
      reason: `the recorded files of ${camera.name} for this time are missing from the data folder`,
    };
  }
  const gap = touching.find((r) => r.kind === 'gap');
  if (gap) {
    return {
      code: 'camera_offline',
      reason: `${camera.name} was offline from ${iso(gap.startAt)} to ${iso(gap.endAt)}`,
    };
  }
  const s = camera.status;
  if (s && !s.recording && (s.since === null || Date.parse(s.since) <= window.endAt)) {
    return {
      code: 'camera_offline',
      reason: `${camera.name} is not recording${s.reason ? `: ${s.reason}` : ` (${s.state})`}`,
    };
  }
  return {
    code: 'not_recorded',
    reason: `nothing was recorded by ${camera.name} between ${iso(window.startAt)} and ${iso(window.endAt)}`,
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

// -- the service ------------------------------------------------------------------------------

/** Rows this far before a window may still reach into it; no segment is anywhere near as long. */
const SEGMENT_LOOKBACK_MS = 15 * 60_000;

const toMs = (d: Date | number) => (typeof d === 'number' ? d : d.getTime());

export function createClipService(deps: ClipServiceDeps): ClipService {
  const { db, siteId, site, dataDir, clock, runner, directory, log } = deps;
  const files = deps.files ?? nodeClipFiles;
  const dataRoot = resolve(dataDir);
  const cameraNames = new Map(site.cameras.map((c) => [c.id, c.name]));
  const segmentMs = site.recording.segmentSeconds * 1000;
  // The recorder calls a camera offline after `offlineAfterMs` without a closed segment; past
  // that plus a segment or two, the window end will not be covered any more.
  const giveUpAfterMs = site.recording.offlineAfterMs + 2 * segmentMs + 5_000;
  const inFlight = new Map<string, Promise<ClipOutcome>>();

  const ownerKey = (o: ClipOwner) => (o.kind === 'event' ? o.id : `flag-${o.id}`);

  const statusOf = (cameraId: string): CameraStatus | undefined =>
    directory.list().find((s) => s.id === cameraId);

  const windowFor: ClipService['windowFor'] = async (event) => {
    const at = toMs(event.at);
    let doorId = event.doorId ?? null;
    if (!doorId && PARCEL_EVENT_TYPES.has(event.type)) {
      doorId = (await entryDoorOf(event.details)) ?? site.doors[0]?.id ?? null;
    }
    const door = site.doors.find((d) => d.id === doorId);
    return { window: clipWindowAt(door, at), doorId };
  };

  async function entryDoorOf(details: unknown): Promise<string | null> {
    const entryId =
      details && typeof details === 'object'
        ? (details as Record<string, unknown>).entryEventId
        : undefined;
    if (typeof entryId !== 'string' || !SAFE_ID.test(entryId)) return null;
    const [entry] = await db
      .select({ doorId: accessEvents.doorId })
      .from(accessEvents)
      .where(and(eq(accessEvents.siteId, siteId), eq(accessEvents.id, entryId)));
    return entry?.doorId ?? null;
  }

  /** A camera id from the directory, accepted only when it is one of this site's cameras. */
  const siteCamera = (id: string | null | undefined): string | null =>
    id && SAFE_ID.test(id) && cameraNames.has(id) ? id : null;

  const clipForEvent: ClipService['clipForEvent'] = async (eventId, wanted) => {
    if (!SAFE_ID.test(eventId)) return { kind: 'not_found', reason: 'no such event' };
    if (wanted !== undefined && !siteCamera(wanted)) {
      return {
        kind: 'unknown_camera',
        cameraId: wanted,
        reason: `this site has no camera '${wanted}'`,
      };
    }
    const [event] = await db
      .select()
      .from(accessEvents)
      .where(and(eq(accessEvents.siteId, siteId), eq(accessEvents.id, eventId)));
    if (!event) {
      const waiting = deps.unstoredEvents?.() ?? 0;
      if (waiting > 0) {
        return {
          kind: 'not_stored',
          retryAfterMs: 2_000,
          reason: `no event '${eventId}' in the database yet; ${waiting} acknowledged event(s) are still on their way to it`,
        };
      }
      return { kind: 'not_found', reason: `no event '${eventId}'` };
    }
    const { window, doorId } = await windowFor(event);

    let cameraId: string | null = wanted ?? siteCamera(event.cameraId);
    if (!cameraId) {
      const doorIds = doorId ? [doorId] : [];
      if (PARCEL_EVENT_TYPES.has(event.type) && !event.doorId)
        doorIds.push(...site.doors.map((d) => d.id));
      for (const d of doorIds) {
        cameraId = siteCamera(directory.forDoor(d));
        if (cameraId) break;
      }
      cameraId ??= pickSiteCamera(site.cameras, { doorIds });
    }
    if (!cameraId) {
      return {
        kind: 'no_camera',
        reason: doorId ? `no camera watches door '${doorId}'` : 'no camera is linked to this event',
      };
    }
    return clipFor({
      owner: { kind: 'event', id: event.id },
      cameraId,
      window,
      eventAt: event.at.getTime(),
    });
  };

  const clipFor: ClipService['clipFor'] = (request) => {
    const { owner, cameraId, window } = request;
    if (!SAFE_ID.test(owner.id)) return Promise.resolve({ kind: 'not_found', reason: 'bad id' });
    if (!siteCamera(cameraId)) {
      return Promise.resolve({
        kind: 'unknown_camera',
        cameraId,
        reason: `this site has no camera '${cameraId}'`,
      });
    }
    if (!Number.isFinite(window.startAt) || !(window.endAt > window.startAt)) {
      return Promise.resolve({
        kind: 'failed',
        cameraId,
        reason: `a clip window needs start < end, got ${window.startAt}..${window.endAt}`,
      });
    }
    // One build per clip: the player's first requests arrive together (GET, then Range GETs).
    const key = `${cameraId}/${ownerKey(owner)}`;
    const running = inFlight.get(key);
    if (running) return running;
    const job = produce(request).finally(() => inFlight.delete(key));
    inFlight.set(key, job);
    return job;
  };

  type ClipRow = typeof clips.$inferSelect;

  async function findRow(owner: ClipOwner, cameraId: string): Promise<ClipRow | undefined> {
    const [row] = await db
      .select()
      .from(clips)
      .where(
        and(
          eq(clips.siteId, siteId),
          eq(clips.cameraId, cameraId),
          owner.kind === 'event' ? eq(clips.eventId, owner.id) : eq(clips.flagId, owner.id),
        ),
      )
      .orderBy(asc(clips.createdAt))
      .limit(1);
    return row;
  }

  async function saveRow(
    existing: ClipRow | undefined,
    req: ClipRequest,
    fields: Pick<ClipRow, 'status' | 'missingReason' | 'path' | 'posterPath'> & {
      span?: TimeRange;
    },
  ): Promise<void> {
    const span = fields.span ?? req.window;
    const values = {
      status: fields.status,
      missingReason: fields.missingReason,
      path: fields.path,
      posterPath: fields.posterPath,
      startAt: new Date(span.startAt),
      endAt: new Date(span.endAt),
    };
    if (existing) {
      const same =
        existing.status === values.status &&
        existing.missingReason === values.missingReason &&
        existing.path === values.path &&
        existing.startAt.getTime() === span.startAt &&
        existing.endAt.getTime() === span.endAt;
      // A player polling an event without video must not write a row per request.
      if (!same) await db.update(clips).set(values).where(eq(clips.id, existing.id));
      return;
    }
    await db.insert(clips).values({
      id: newId(clock.now()),
      siteId,
      cameraId: req.cameraId,
      eventId: req.owner.kind === 'event' ? req.owner.id : null,
      flagId: req.owner.kind === 'flag' ? req.owner.id : null,
      ...values,
    });
  }

  /** Rows that may touch the window, bounded so a camera's months of segments are not scanned. */
  async function rowsAround(cameraId: string, window: TimeRange) {
    const cols = {
      kind: recordings.kind,
      path: recordings.path,
      startAt: recordings.startAt,
      endAt: recordings.endAt,
      deletedAt: recordings.deletedAt,
    };
    const mine = and(eq(recordings.siteId, siteId), eq(recordings.cameraId, cameraId));
    const near = await db
      .select(cols)
      .from(recordings)
      .where(
        and(
          mine,
          gte(recordings.startAt, new Date(window.startAt - SEGMENT_LOOKBACK_MS)),
          lt(recordings.startAt, new Date(window.endAt)),
          gt(recordings.endAt, new Date(window.startAt)),
        ),
      )
      .orderBy(asc(recordings.startAt));
    // A long gap (a camera down for days) starts long before the window: the newest row that
    // starts before the window is the one that could be it.
    const [before] = await db
      .select(cols)
      .from(recordings)
      .where(and(mine, lt(recordings.startAt, new Date(window.startAt - SEGMENT_LOOKBACK_MS))))
      .orderBy(desc(recordings.startAt))
      .limit(1);
    if (before && before.endAt.getTime() > window.startAt) near.unshift(before);
    const [latest] = await db
      .select({ endAt: recordings.endAt })
      .from(recordings)
      .where(mine)
      .orderBy(desc(recordings.startAt))
      .limit(1);
    return { rows: near, latestEndAt: latest ? latest.endAt.getTime() : null };
  }

  /** DATA_DIR joined with an indexed path, or null when it would leave DATA_DIR. */
  const inDataDir = (rel: string): string | null => {
    const abs = resolve(dataRoot, rel);
    return abs.startsWith(dataRoot + sep) ? abs : null;
  };

  async function produce(req: ClipRequest): Promise<ClipOutcome> {
    const { cameraId, window, owner } = req;
    const cameraName = cameraNames.get(cameraId) ?? cameraId;
    const dir = join(dataRoot, 'clips', cameraId);
    const clipPath = join(dir, `${ownerKey(owner)}.mp4`);
    const posterPath = join(dir, `${ownerKey(owner)}.jpg`);
    const status = statusOf(cameraId);
    const [row, around] = await Promise.all([
      findRow(owner, cameraId),
      rowsAround(cameraId, window),
    ]);
    const spans: RecordingSpan[] = around.rows.map((r) => ({
      kind: r.kind,
      startAt: r.startAt.getTime(),
      endAt: r.endAt.getTime(),
      deleted: r.deletedAt !== null,
    }));

    const readiness = clipReadiness({
      window,
      now: clock.now(),
      latestEndAt: around.latestEndAt,
      recording: status?.recording ?? false,
      segmentMs,
      giveUpAfterMs,
    });
    const everRecorded = spans.filter((s) => s.kind === 'segment');
    const live = around.rows.filter((r) => r.kind === 'segment' && r.deletedAt === null);
    const liveEnd = Math.max(
      -Infinity,
      ...live.map((r) => Math.min(r.endAt.getTime(), window.endAt)),
    );

    // Built before: serve it, unless it was cut short and the missing tail has turned up since
    // (decided once the window is final again: a camera that just came back may still close it).
    if (row?.status === 'ready' && (await files.size(clipPath))) {
      if (readiness.kind === 'wait' || liveEnd <= row.endAt.getTime() + 1) {
        const hasPoster = row.posterPath !== null && (await files.size(posterPath)) !== null;
        return {
          kind: 'ready',
          cameraId,
          window,
          path: clipPath,
          posterPath: hasPoster ? posterPath : null,
          ...(hasPoster ? {} : { posterProblem: 'no poster could be made for this clip' }),
          startAt: row.startAt.getTime(),
          endAt: row.endAt.getTime(),
          missing: missingOf(everRecorded, window),
          fromCache: true,
        };
      }
      log.info('clip rebuilt: more of its window was recorded', { cameraId, owner });
    }
    if (readiness.kind === 'wait') {
      if (!row) await saveRow(row, req, { ...PENDING });
      return { kind: 'not_yet', cameraId, window, ...omitKind(readiness) };
    }

    const segments: ClipSegment[] = [];
    let filesMissing = 0;
    for (const r of live) {
      const abs = inDataDir(r.path);
      if (abs && (await files.size(abs))) {
        segments.push({ path: abs, startAt: r.startAt.getTime(), endAt: r.endAt.getTime() });
      } else {
        filesMissing++;
        log.warn('indexed recording is missing', { cameraId, path: r.path });
      }
    }
    if (segments.length === 0) {
      const why = noVideoReason({
        window,
        rows: spans,
        filesMissing,
        camera: { name: cameraName, status },
      });
      await saveRow(row, req, {
        status: 'missing',
        missingReason: why.reason,
        path: null,
        posterPath: null,
      });
      return { kind: 'no_video', cameraId, window, ...why };
    }

    try {
      await files.mkdir(dir);
      const built = await buildClip({
        segments,
        window,
        eventAt: req.eventAt,
        outPath: clipPath,
        posterPath,
        ffmpeg: runner,
        ...(deps.buildTimeoutMs ? { timeoutMs: deps.buildTimeoutMs } : {}),
      });
      await saveRow(row, req, {
        status: 'ready',
        missingReason: null,
        path: relative(dataRoot, clipPath).split(sep).join('/'),
        posterPath: built.poster.ok ? relative(dataRoot, posterPath).split(sep).join('/') : null,
        span: { startAt: built.startAt, endAt: built.endAt },
      });
      if (!built.poster.ok)
        log.warn('clip poster failed', { cameraId, reason: built.poster.reason });
      return {
        kind: 'ready',
        cameraId,
        window,
        path: clipPath,
        posterPath: built.poster.ok ? posterPath : null,
        ...(built.poster.ok ? {} : { posterProblem: built.poster.reason }),
        startAt: built.startAt,
        endAt: built.endAt,
        // Deleted and vanished segments count as missing too, unlike the builder's own list.
        missing: missingOf(
          segments.map((s) => ({ ...s, kind: 'segment', deleted: false })),
          window,
        ),
        fromCache: false,
      };
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      if (e instanceof ClipError && e.code === 'not_covered') {
        return { kind: 'no_video', cameraId, window, code: 'not_recorded', reason };
      }
      log.error('clip build failed', { cameraId, owner, err: e });
      return { kind: 'failed', cameraId, reason };
    }
  }

  return {
    windowFor,
    clipForEvent,
    clipFor,
    async close() {
      await Promise.allSettled([...inFlight.values()]);
    },
  };
}

const PENDING = { status: 'pending', missingReason: null, path: null, posterPath: null } as const;

function omitKind<T extends { kind: unknown }>(v: T): Omit<T, 'kind'> {
  const { kind: _kind, ...rest } = v;
  return rest;
}

function missingOf(segments: readonly RecordingSpan[], window: TimeRange): TimeRange[] {
  try {
    return planClip(
      segments.map((s) => ({ path: '', startAt: s.startAt, endAt: s.endAt })),
      window,
    ).missing;
  } catch {
    return [{ ...window }];
  }
}
