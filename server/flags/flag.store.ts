/**
 * Vision flags on the server: what the analytics rules raise (loitering, a multi-package grab,
 * tailgating) becomes a `vision_flags` row with its snapshot, its clip window and the rule's
 * evidence, a message on the console's live feed and a signed webhook; staff then confirm,
 * dismiss (a false positive) or escalate it, and managers see where the false positives come from.
 *
 * A flag is a possible theft in progress, so losing one to a database hiccup is not acceptable:
 * a flag the database refuses is written beside its snapshot as `DATA_DIR/flags/<id>.pending.json`,
 * kept in a bounded queue in memory and retried with backoff until the database takes it (the
 * outage is logged once when it starts and once when it ends). Files left by a run that stopped
 * mid-outage are picked up by `start()`. The live feed and the webhook are told at once either
 * way: staff should hear of the flag while the database is still coming back.
 *
 * Times are server ms from the injected clocks: `clock` for the domain (when a review happened),
 * `retryClock` for pacing retries and timing out the snapshot encoder.
 */
import { join, resolve, sep } from 'node:path';
import { and, asc, desc, eq, gte, inArray, lt, or, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import { accessEvents, newId, visionFlags, type Db } from '../../db/index.ts';
import type { Clock, TimerHandle } from '../../hardware/clock.ts';
import { locateFfmpeg, type FfmpegBinary } from '../../vision/ffmpeg.locate.ts';
import type {
  ClipWindow,
  FlagCandidate,
  FlagKind,
  FlagSeverity,
  JsonObject,
} from '../../vision/rules.types.ts';
import type { Frame } from '../../vision/vision.ports.ts';
import { SAFE_ID, type ClipOutcome, type ClipService } from '../cameras/clip.service.ts';
import type { SiteConfig } from '../config/index.ts';
import { decodeCursor, encodeCursor } from '../http/cursor.ts';
import type { Logger } from '../log/logger.ts';
import {
  createFfmpegJpegEncoder,
  createFlagSnapshots,
  nodeFlagFiles,
  SNAPSHOT_DIR,
  type FlagFiles,
  type FlagSnapshots,
  type SnapshotOutcome,
} from './flag.snapshot.ts';

/** What the analytics rules raise from the video. */
export const VISION_FLAG_KINDS = ['loitering', 'multi_package_grab', 'tailgating'] as const;
/**
 * Every kind in the review queue: the rules' kinds, and flags raised from the door's records
 * rather than the video (`carrier_drop`: a carrier's code opened the door and nothing was checked
 * in). The column is text, so a new kind needs no migration.
 */
export const FLAG_KINDS = [...VISION_FLAG_KINDS, 'carrier_drop'] as const;
export type StoredFlagKind = (typeof FLAG_KINDS)[number];
export const FLAG_SEVERITIES = ['low', 'medium', 'high'] as const;
export const FLAG_STATUSES = ['new', 'confirmed', 'dismissed', 'escalated'] as const;
export const REVIEW_STATUSES = ['confirmed', 'dismissed', 'escalated'] as const;

export type FlagStatus = (typeof FLAG_STATUSES)[number];
/** What a reviewer may decide: a flag never goes back to `new`. */
export type ReviewStatus = (typeof REVIEW_STATUSES)[number];

/** A stored flag (times in server ms). */
export interface FlagRecord {
  id: string;
  kind: StoredFlagKind;
  severity: FlagSeverity;
  /** Null: a flag from the records at a door no camera watches (no clip). */
  cameraId: string | null;
  /** The door of the entry the flag belongs to, else the door the camera watches. */
  doorId: string | null;
  at: number;
  entryEventId: string | null;
  credentialId: string | null;
  clipWindow: ClipWindow;
  /** Relative to DATA_DIR; null when no snapshot could be made (the log says why). */
  snapshotPath: string | null;
  /** The rule's evidence plus `trackIds`, `boxes` and `frameSize` (for drawing over the clip). */
  evidence: JsonObject;
  status: FlagStatus;
  /** A staff id, or `token:<id>` for an integration's API token. */
  reviewedBy: string | null;
  reviewedAt: number | null;
  reviewNote: string | null;
}

export type FlagChange = 'raised' | 'reviewed';

/** Told about every new flag and every review (live feed, webhook). Must not throw. */
export type FlagListener = (flag: FlagRecord, change: FlagChange) => void;

/** Writes one flag row; a repeat of an id must be harmless (a retry after a lost answer). */
export type FlagWrite = (flag: FlagRecord) => Promise<void>;

export interface RaiseResult {
  flag: FlagRecord;
  /** `queued`: the database refused it; it waits on disk and is retried. */
  stored: 'stored' | 'queued';
  snapshot: SnapshotOutcome;
}

export interface FlagQuery {
  kind?: StoredFlagKind;
  status?: FlagStatus;
  cameraId?: string;
  /** 1..500, default 50. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

export interface FlagPage {
  items: FlagRecord[];
  nextCursor?: string;
}

export type ReviewOutcome =
  | { kind: 'reviewed'; flag: FlagRecord; previous: FlagStatus }
  | { kind: 'not_found' }
  /** Raised during a database outage and not stored yet: the review can be retried shortly. */
  | { kind: 'not_stored' };

export type SnapshotFile =
  | { kind: 'ready'; /** Absolute path of the JPEG. */ path: string }
  | { kind: 'not_found' }
  | { kind: 'none'; reason: string };

export interface FalsePositiveCount {
  total: number;
  /** Confirmed, dismissed or escalated. */
  reviewed: number;
  /** Dismissed as false positives. */
  dismissed: number;
}

/** For managers: where the analytics cry wolf, to tune zones and thresholds. */
export interface FalsePositiveStats {
  /** Per camera and zone (`evidence.zoneId`, else `room`), most dismissals first. */
  byZone: (FalsePositiveCount & { cameraId: string; zoneId: string })[];
  byKind: (FalsePositiveCount & { kind: StoredFlagKind })[];
}

export interface FlagStoreStats {
  /** Flags waiting for the database (memory and disk). */
  queued: number;
  outageSince: number | null;
}

export interface FlagStore {
  /** Picks up flags a previous run queued on disk during an outage and stores them. */
  start(): Promise<void>;
  /**
   * Stores a rule's flag with a snapshot drawn on `frame` and tells the listener. Throws a
   * FlagInputError (nothing stored) when the candidate is malformed; a database outage or a
   * snapshot that cannot be made never throws.
   */
  raise(candidate: FlagCandidate, frame?: Frame): Promise<RaiseResult>;
  /**
   * Stores a flag decided from the records, not the video (no frame, no snapshot), kept, queued
   * and told exactly like a rule's flag. Throws a FlagInputError when it is malformed.
   */
  raiseRecordFlag(candidate: RecordFlagCandidate): Promise<RaiseResult>;
  /** Newest first. */
  list(query?: FlagQuery): Promise<FlagPage>;
  get(id: string): Promise<FlagRecord | null>;
  /** A later decision replaces an earlier one (e.g. escalated after confirmed). */
  review(
    id: string,
    decision: { status: ReviewStatus; note?: string | undefined },
    reviewer: string,
  ): Promise<ReviewOutcome>;
  falsePositives(opts?: { since?: number }): Promise<FalsePositiveStats>;
  /** The flag's clip (built on first request once its window is recorded). */
  clip(id: string): Promise<ClipOutcome>;
  snapshot(id: string): Promise<SnapshotFile>;
  stats(): FlagStoreStats;
  /** Stops retrying (queued flags stay on disk for the next start) and waits for raises. */
  close(): Promise<void>;
}

export interface FlagStoreDeps {
  db: Db;
  site: Pick<SiteConfig, 'site' | 'cameras'>;
  dataDir: string;
  /** Domain time: review times. */
  clock: Clock;
  /** Retry pacing and encoder time-outs; default `clock`. */
  retryClock?: Clock;
  log: Logger;
  /** How a flag row is written; default an insert into vision_flags. */
  record?: FlagWrite;
  clips: Pick<ClipService, 'clipFor'>;
  onFlag: FlagListener;
  /** Snapshot drawing and storage; default ffmpeg (`ffmpeg`, else `locateFfmpeg()`). */
  snapshots?: FlagSnapshots;
  ffmpeg?: FfmpegBinary | null;
  files?: FlagFiles;
  /** Flags held in memory during an outage; more wait on disk only. Default 1000. */
  maxQueued?: number;
  /** Retry backoff, doubling from minMs to maxMs; default 1 s .. 60 s. */
  retry?: { minMs: number; maxMs: number };
}

/** A flag from the records (a carrier drop): the door's camera, if it has one, gives the clip. */
export interface RecordFlagCandidate {
  kind: Exclude<StoredFlagKind, FlagKind>;
  severity: FlagSeverity;
  /** The camera watching the door; null when none does (the flag has no clip). */
  cameraId: string | null;
  doorId: string;
  at: number;
  clipWindow: ClipWindow;
  entryEventId?: string;
  evidence: JsonObject;
}

/** A candidate the store cannot take: the message names the field. */
export class FlagInputError extends Error {
  override readonly name = 'FlagInputError';
}

const PENDING_SUFFIX = '.pending.json';

// -- candidate checks -------------------------------------------------------------------------

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const optionalId = (v: unknown) => v === undefined || (typeof v === 'string' && SAFE_ID.test(v));

function checkCandidate(c: FlagCandidate, cameras: ReadonlySet<string>): void {
  const bad = (msg: string) => new FlagInputError(`flag candidate: ${msg}`);
  if (!c || typeof c !== 'object') throw bad('not an object');
  if (!(VISION_FLAG_KINDS as readonly string[]).includes(c.kind))
    throw bad(`kind must be one of ${VISION_FLAG_KINDS.join(', ')}, got ${String(c.kind)}`);
  if (!(FLAG_SEVERITIES as readonly string[]).includes(c.severity))
    throw bad(`severity must be low, medium or high, got ${String(c.severity)}`);
  if (typeof c.cameraId !== 'string' || !cameras.has(c.cameraId))
    throw bad(`cameraId '${String(c.cameraId)}' is not a camera of this site`);
  if (!finite(c.at)) throw bad(`at must be a time in ms, got ${String(c.at)}`);
  const w = c.clipWindow;
  if (!w || !finite(w.startAt) || !finite(w.endAt) || !(w.endAt > w.startAt))
    throw bad('clipWindow needs finite startAt < endAt (ms)');
  if (!optionalId(c.entryEventId)) throw bad('entryEventId must be an id');
  if (!optionalId(c.credentialId)) throw bad('credentialId must be an id');
  if (!Array.isArray(c.trackIds) || !c.trackIds.every((t) => Number.isInteger(t)))
    throw bad('trackIds must be whole numbers');
  if (!Array.isArray(c.boxes)) throw bad('boxes must be a list');
  c.boxes.forEach((b, i) => {
    const box = b?.box;
    if (!box || ![box.x1, box.y1, box.x2, box.y2].every(finite))
      throw bad(`boxes[${i}].box needs finite x1, y1, x2, y2`);
    if (typeof b.label !== 'string') throw bad(`boxes[${i}].label must be text`);
    if (b.trackId !== undefined && !Number.isInteger(b.trackId))
      throw bad(`boxes[${i}].trackId must be a whole number`);
  });
  if (!c.evidence || typeof c.evidence !== 'object' || Array.isArray(c.evidence))
    throw bad('evidence must be a JSON object');
  try {
    JSON.stringify(c.evidence);
  } catch (e) {
    throw bad(`evidence is not plain JSON: ${(e as Error).message}`);
  }
}

function checkRecordCandidate(c: RecordFlagCandidate, cameras: ReadonlySet<string>): void {
  const bad = (msg: string) => new FlagInputError(`flag candidate: ${msg}`);
  if (!c || typeof c !== 'object') throw bad('not an object');
  if (!FLAG_KINDS.includes(c.kind) || (VISION_FLAG_KINDS as readonly string[]).includes(c.kind))
    throw bad(`kind must be a flag from the records (carrier_drop), got ${String(c.kind)}`);
  if (!(FLAG_SEVERITIES as readonly string[]).includes(c.severity))
    throw bad(`severity must be low, medium or high, got ${String(c.severity)}`);
  if (c.cameraId !== null && (typeof c.cameraId !== 'string' || !cameras.has(c.cameraId)))
    throw bad(`cameraId '${String(c.cameraId)}' is not a camera of this site`);
  if (typeof c.doorId !== 'string' || !SAFE_ID.test(c.doorId)) throw bad('doorId must be an id');
  if (!finite(c.at)) throw bad(`at must be a time in ms, got ${String(c.at)}`);
  const w = c.clipWindow;
  if (!w || !finite(w.startAt) || !finite(w.endAt) || !(w.endAt > w.startAt))
    throw bad('clipWindow needs finite startAt < endAt (ms)');
  if (!optionalId(c.entryEventId)) throw bad('entryEventId must be an id');
  if (!c.evidence || typeof c.evidence !== 'object' || Array.isArray(c.evidence))
    throw bad('evidence must be a JSON object');
  try {
    JSON.stringify(c.evidence);
  } catch (e) {
    throw bad(`evidence is not plain JSON: ${(e as Error).message}`);
  }
}

// -- rows -------------------------------------------------------------------------------------

/*
 * `vision_flags.camera_id` is NOT NULL: a flag without a camera is stored with '' there. The
 * kind column is text with a TypeScript-only enum, so kinds beyond the rules' are cast.
 */
const NO_CAMERA = '';

type FlagRow = typeof visionFlags.$inferSelect;

function toRow(f: FlagRecord, siteId: string): typeof visionFlags.$inferInsert {
  return {
    id: f.id,
    siteId,
    kind: f.kind as FlagRow['kind'],
    severity: f.severity,
    cameraId: f.cameraId ?? NO_CAMERA,
    doorId: f.doorId,
    at: new Date(f.at),
    entryEventId: f.entryEventId,
    credentialId: f.credentialId,
    clipStartAt: new Date(f.clipWindow.startAt),
    clipEndAt: new Date(f.clipWindow.endAt),
    snapshotPath: f.snapshotPath,
    evidence: f.evidence,
    status: f.status,
    reviewedBy: f.reviewedBy,
    reviewedAt: f.reviewedAt === null ? null : new Date(f.reviewedAt),
    reviewNote: f.reviewNote,
  };
}

function fromRow(r: FlagRow): FlagRecord {
  return {
    id: r.id,
    kind: r.kind as StoredFlagKind,
    severity: r.severity,
    cameraId: r.cameraId === NO_CAMERA ? null : r.cameraId,
    doorId: r.doorId,
    at: r.at.getTime(),
    entryEventId: r.entryEventId,
    credentialId: r.credentialId,
    clipWindow: { startAt: r.clipStartAt.getTime(), endAt: r.clipEndAt.getTime() },
    snapshotPath: r.snapshotPath,
    evidence: (r.evidence ?? {}) as JsonObject,
    status: r.status,
    reviewedBy: r.reviewedBy,
    reviewedAt: r.reviewedAt ? r.reviewedAt.getTime() : null,
    reviewNote: r.reviewNote,
  };
}

/** A queued flag read back from disk: checked, since the file may be from another version. */
const pendingSchema = z.object({
  id: z.string().regex(SAFE_ID),
  kind: z.enum(FLAG_KINDS),
  severity: z.enum(FLAG_SEVERITIES),
  cameraId: z.string().nullable(),
  doorId: z.string().nullable(),
  at: z.number(),
  entryEventId: z.string().nullable(),
  credentialId: z.string().nullable(),
  clipWindow: z.object({ startAt: z.number(), endAt: z.number() }),
  snapshotPath: z.string().nullable(),
  evidence: z.record(z.string(), z.unknown()),
  status: z.enum(FLAG_STATUSES),
  reviewedBy: z.string().nullable(),
  reviewedAt: z.number().nullable(),
  reviewNote: z.string().nullable(),
});

/** The default FlagWrite: an insert that ignores a row already there (a retried write). */
export function dbFlagWrite(db: Db, siteId: string): FlagWrite {
  return async (f) => {
    await db.insert(visionFlags).values(toRow(f, siteId)).onConflictDoNothing();
  };
}

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));

// -- the store --------------------------------------------------------------------------------

export function createFlagStore(deps: FlagStoreDeps): FlagStore {
  const { db, site, clock, log } = deps;
  const siteId = site.site.id;
  const retryClock = deps.retryClock ?? clock;
  const files = deps.files ?? nodeFlagFiles;
  const dataRoot = resolve(deps.dataDir);
  const flagDir = join(dataRoot, SNAPSHOT_DIR);
  const cameraIds = new Set(site.cameras.map((c) => c.id));
  const cameraDoor = new Map(site.cameras.map((c) => [c.id, c.doorId ?? null]));
  const maxQueued = Math.max(1, deps.maxQueued ?? 1_000);
  const minDelay = deps.retry?.minMs ?? 1_000;
  const maxDelay = Math.max(minDelay, deps.retry?.maxMs ?? 60_000);

  const snapshots =
    deps.snapshots ??
    createFlagSnapshots({
      dataDir: dataRoot,
      files,
      encoder: (() => {
        const bin = deps.ffmpeg === undefined ? locateFfmpeg() : deps.ffmpeg;
        return bin ? createFfmpegJpegEncoder({ ffmpegPath: bin.path, clock: retryClock }) : null;
      })(),
    });

  const write: FlagWrite = deps.record ?? dbFlagWrite(db, siteId);

  // Flags the database has not taken yet, oldest first; beyond maxQueued they wait on disk only.
  const queued = new Map<string, FlagRecord>();
  let onDiskOnly = 0;
  let outage: { since: number; storedSince: number } | null = null;
  let retryTimer: TimerHandle | undefined;
  let delay = minDelay;
  let flushing: Promise<void> | null = null;
  let closed = false;
  const raising = new Set<Promise<unknown>>();
  const unreadable = new Set<string>();

  const pendingPath = (id: string) => join(flagDir, `${id}${PENDING_SUFFIX}`);

  const tell = (flag: FlagRecord, change: FlagChange) => {
    try {
      deps.onFlag(flag, change);
    } catch (err) {
      log.error('flag listener failed', { flagId: flag.id, change, err });
    }
  };

  const scheduleRetry = () => {
    if (closed || retryTimer || queued.size + onDiskOnly === 0) return;
    retryTimer = retryClock.setTimeout(() => {
      retryTimer = undefined;
      void flush();
    }, delay);
    delay = Math.min(maxDelay, delay * 2);
  };

  const startOutage = (err: unknown) => {
    if (outage) return;
    outage = { since: retryClock.now(), storedSince: 0 };
    log.warn('the database refuses flags; they are kept on disk and retried', {
      err: errText(err),
    });
  };

  async function enqueue(flag: FlagRecord, err: unknown): Promise<void> {
    startOutage(err);
    let onDisk = true;
    try {
      await files.write(pendingPath(flag.id), JSON.stringify(flag));
    } catch (e) {
      onDisk = false;
      log.error('could not keep a queued flag on disk; it is held in memory only', {
        flagId: flag.id,
        err: errText(e),
      });
    }
    if (queued.size < maxQueued) queued.set(flag.id, flag);
    else if (onDisk) onDiskOnly++;
    else {
      // Neither the database, nor the disk, nor room in memory: the log is the last record.
      log.error('flag lost: database, disk and queue all refused it', { flag });
    }
    scheduleRetry();
  }

  /** Reads flags queued on disk that are not in memory, up to the memory bound. */
  async function loadFromDisk(): Promise<void> {
    let names: string[];
    try {
      names = (await files.list(flagDir)).filter((n) => n.endsWith(PENDING_SUFFIX)).sort();
    } catch (e) {
      log.error('could not list flags queued on disk', { dir: flagDir, err: errText(e) });
      return;
    }
    // Counted aside and set at the end, so `stats()` never shows fewer than are waiting.
    let leftOnDisk = 0;
    for (const name of names) {
      const id = name.slice(0, -PENDING_SUFFIX.length);
      if (queued.has(id) || unreadable.has(name)) continue;
      if (queued.size >= maxQueued) {
        leftOnDisk++;
        continue;
      }
      try {
        const parsed = pendingSchema.parse(JSON.parse(await files.read(join(flagDir, name))));
        queued.set(parsed.id, parsed as FlagRecord);
      } catch (e) {
        unreadable.add(name);
        log.error('a queued flag file cannot be read; left in place for a person to look at', {
          file: join(flagDir, name),
          err: errText(e),
        });
      }
    }
    onDiskOnly = leftOnDisk;
  }

  async function flushOnce(): Promise<void> {
    for (;;) {
      for (const [id, flag] of queued) {
        try {
          await write(flag);
        } catch (err) {
          startOutage(err);
          return;
        }
        if (outage) outage.storedSince++;
        try {
          await files.remove(pendingPath(id));
        } catch (e) {
          // Harmless: stored rows are written with "do nothing on conflict" if read back.
          log.warn('could not remove a stored flag from the disk queue', { flagId: id, err: e });
        }
        queued.delete(id);
      }
      if (onDiskOnly === 0) break;
      await loadFromDisk();
      if (queued.size === 0) break;
    }
    if (outage) {
      log.info('flags are stored again', {
        stored: outage.storedSince,
        outageMs: retryClock.now() - outage.since,
      });
      outage = null;
    }
    delay = minDelay;
  }

  function flush(): Promise<void> {
    flushing ??= flushOnce()
      .catch((err: unknown) => log.error('flag retry failed', { err }))
      .finally(() => {
        flushing = null;
        // Only once this flush is over: a timer firing during it would find it still running.
        scheduleRetry();
      });
    return flushing;
  }

  /** The door and credential of the entry the flag belongs to, as the access log has them. */
  async function entryFacts(
    c: FlagCandidate,
  ): Promise<{ doorId: string | null; credentialId: string | null }> {
    let entry: { doorId: string | null; credentialId: string | null } | undefined;
    if (c.entryEventId) {
      try {
        [entry] = await db
          .select({ doorId: accessEvents.doorId, credentialId: accessEvents.credentialId })
          .from(accessEvents)
          .where(and(eq(accessEvents.siteId, siteId), eq(accessEvents.id, c.entryEventId)));
      } catch (err) {
        // The database is down: the camera's door will do; the flag must not wait for it.
        log.debug('entry of a flag not readable', { entryEventId: c.entryEventId, err });
      }
    }
    const evidenceDoor = typeof c.evidence.doorId === 'string' ? c.evidence.doorId : null;
    return {
      doorId: entry?.doorId ?? evidenceDoor ?? cameraDoor.get(c.cameraId) ?? null,
      credentialId: c.credentialId ?? entry?.credentialId ?? null,
    };
  }

  async function doRaise(c: FlagCandidate, frame?: Frame): Promise<RaiseResult> {
    const id = newId(clock.now());
    const [facts, snapshot] = await Promise.all([
      entryFacts(c),
      snapshots.write(id, c.cameraId, frame, c.boxes),
    ]);
    if (snapshot.kind === 'none') {
      log.warn('flag snapshot not made', {
        flagId: id,
        reason: snapshot.reason,
        why: snapshot.message,
      });
    }
    const evidence: JsonObject = {
      ...c.evidence,
      trackIds: [...c.trackIds],
      boxes: c.boxes.map((b) => ({
        box: { x1: b.box.x1, y1: b.box.y1, x2: b.box.x2, y2: b.box.y2 },
        label: b.label,
        ...(b.trackId === undefined ? {} : { trackId: b.trackId }),
      })),
      ...(frame ? { frameSize: { width: frame.width, height: frame.height } } : {}),
    };
    const flag: FlagRecord = {
      id,
      kind: c.kind,
      severity: c.severity,
      cameraId: c.cameraId,
      doorId: facts.doorId,
      at: c.at,
      entryEventId: c.entryEventId ?? null,
      credentialId: facts.credentialId,
      clipWindow: { startAt: c.clipWindow.startAt, endAt: c.clipWindow.endAt },
      snapshotPath: snapshot.kind === 'written' ? snapshot.path : null,
      evidence,
      status: 'new',
      reviewedBy: null,
      reviewedAt: null,
      reviewNote: null,
    };
    const stored = await store(flag);
    log.info('flag raised', { flagId: id, kind: c.kind, cameraId: c.cameraId, stored });
    tell(flag, 'raised');
    return { flag, stored, snapshot };
  }

  /** Writes a new flag, or queues it behind earlier ones or through an outage. */
  async function store(flag: FlagRecord): Promise<RaiseResult['stored']> {
    let stored: RaiseResult['stored'] = 'stored';
    if (queued.size + onDiskOnly > 0) {
      // Behind flags still waiting: keep the order the rules raised them in.
      await enqueue(flag, new Error('earlier flags are still waiting for the database'));
      stored = 'queued';
    } else {
      try {
        await write(flag);
      } catch (err) {
        await enqueue(flag, err);
        stored = 'queued';
      }
    }
    return stored;
  }

  async function doRaiseRecord(c: RecordFlagCandidate): Promise<RaiseResult> {
    const id = newId(clock.now());
    const flag: FlagRecord = {
      id,
      kind: c.kind,
      severity: c.severity,
      cameraId: c.cameraId,
      doorId: c.doorId,
      at: c.at,
      entryEventId: c.entryEventId ?? null,
      credentialId: null,
      clipWindow: { startAt: c.clipWindow.startAt, endAt: c.clipWindow.endAt },
      snapshotPath: null,
      // The same shape as a rule's evidence, so readers of `boxes` find an empty list.
      evidence: { ...c.evidence, trackIds: [], boxes: [] },
      status: 'new',
      reviewedBy: null,
      reviewedAt: null,
      reviewNote: null,
    };
    const stored = await store(flag);
    log.info('flag raised', { flagId: id, kind: c.kind, cameraId: c.cameraId, stored });
    tell(flag, 'raised');
    return {
      flag,
      stored,
      snapshot: { kind: 'none', reason: 'no_frame', message: 'raised from the records' },
    };
  }

  async function readFlag(id: string): Promise<FlagRecord | null> {
    if (!SAFE_ID.test(id)) return null;
    const q = queued.get(id);
    if (q) return q;
    const [row] = await db
      .select()
      .from(visionFlags)
      .where(and(eq(visionFlags.siteId, siteId), eq(visionFlags.id, id)));
    return row ? fromRow(row) : null;
  }

  const counts = {
    total: sql<number>`count(*)::int`,
    reviewed: sql<number>`(count(*) filter (where ${visionFlags.status} <> 'new'))::int`,
    dismissed: sql<number>`(count(*) filter (where ${visionFlags.status} = 'dismissed'))::int`,
  };

  return {
    async start() {
      await loadFromDisk();
      if (queued.size > 0) {
        log.info('storing flags queued on disk by an earlier run', {
          count: queued.size + onDiskOnly,
        });
        await flush();
      }
    },

    async raise(candidate, frame) {
      if (closed) throw new FlagInputError('the flag store is closed');
      checkCandidate(candidate, cameraIds);
      const p = doRaise(candidate, frame);
      raising.add(p);
      try {
        return await p;
      } finally {
        raising.delete(p);
      }
    },

    async raiseRecordFlag(candidate) {
      if (closed) throw new FlagInputError('the flag store is closed');
      checkRecordCandidate(candidate, cameraIds);
      const p = doRaiseRecord(candidate);
      raising.add(p);
      try {
        return await p;
      } finally {
        raising.delete(p);
      }
    },

    async list(query = {}) {
      const limit = Math.min(500, Math.max(1, Math.floor(query.limit ?? 50)));
      const where: SQL[] = [eq(visionFlags.siteId, siteId)];
      if (query.kind) where.push(eq(visionFlags.kind, query.kind as FlagRow['kind']));
      if (query.status) where.push(eq(visionFlags.status, query.status));
      if (query.cameraId) where.push(eq(visionFlags.cameraId, query.cameraId));
      if (query.cursor) {
        const { at, id } = decodeCursor(query.cursor);
        where.push(
          or(lt(visionFlags.at, at), and(eq(visionFlags.at, at), lt(visionFlags.id, id)))!,
        );
      }
      const rows = await db
        .select()
        .from(visionFlags)
        .where(and(...where))
        .orderBy(desc(visionFlags.at), desc(visionFlags.id))
        .limit(limit + 1);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map(fromRow),
        ...(rows.length > limit && last ? { nextCursor: encodeCursor(last) } : {}),
      };
    },

    get: readFlag,

    async review(id, decision, reviewer) {
      if (!SAFE_ID.test(id)) return { kind: 'not_found' };
      if (queued.has(id)) return { kind: 'not_stored' };
      const mine = and(eq(visionFlags.siteId, siteId), eq(visionFlags.id, id));
      const [before] = await db
        .select({ status: visionFlags.status })
        .from(visionFlags)
        .where(mine);
      if (!before) return { kind: 'not_found' };
      const [row] = await db
        .update(visionFlags)
        .set({
          status: decision.status,
          reviewedBy: reviewer,
          reviewedAt: new Date(clock.now()),
          reviewNote: decision.note ?? null,
        })
        .where(mine)
        .returning();
      if (!row) return { kind: 'not_found' };
      const flag = fromRow(row);
      tell(flag, 'reviewed');
      return { kind: 'reviewed', flag, previous: before.status };
    },

    async falsePositives(opts = {}) {
      const where: SQL[] = [eq(visionFlags.siteId, siteId)];
      if (opts.since !== undefined) where.push(gte(visionFlags.at, new Date(opts.since)));
      const zone = sql<string>`coalesce(${visionFlags.evidence}->>'zoneId', 'room')`;
      // Zones are for tuning the video rules: flags from the records have none.
      const visionOnly = inArray(visionFlags.kind, [...VISION_FLAG_KINDS]);
      const byZone = await db
        .select({ cameraId: visionFlags.cameraId, zoneId: zone, ...counts })
        .from(visionFlags)
        .where(and(...where, visionOnly))
        .groupBy(visionFlags.cameraId, zone)
        .orderBy(desc(counts.dismissed), asc(visionFlags.cameraId), asc(zone));
      const byKind = await db
        .select({ kind: visionFlags.kind, ...counts })
        .from(visionFlags)
        .where(and(...where))
        .groupBy(visionFlags.kind)
        .orderBy(asc(visionFlags.kind));
      const num = <T extends FalsePositiveCount>(r: T): T => ({
        ...r,
        total: Number(r.total),
        reviewed: Number(r.reviewed),
        dismissed: Number(r.dismissed),
      });
      return { byZone: byZone.map(num), byKind: byKind.map(num) };
    },

    async clip(id) {
      const flag = await readFlag(id);
      if (!flag) return { kind: 'not_found', reason: `no flag '${id}'` };
      if (flag.cameraId === null)
        return { kind: 'no_camera', reason: 'no camera watches the door of this flag' };
      return deps.clips.clipFor({
        owner: { kind: 'flag', id: flag.id },
        cameraId: flag.cameraId,
        window: flag.clipWindow,
        eventAt: flag.at,
      });
    },

    async snapshot(id) {
      const flag = await readFlag(id);
      if (!flag) return { kind: 'not_found' };
      if (!flag.snapshotPath)
        return { kind: 'none', reason: 'no snapshot could be made for this flag' };
      const abs = resolve(dataRoot, flag.snapshotPath);
      if (!abs.startsWith(dataRoot + sep))
        return { kind: 'none', reason: 'the snapshot path is outside the data folder' };
      return { kind: 'ready', path: abs };
    },

    stats: () => ({ queued: queued.size + onDiskOnly, outageSince: outage?.since ?? null }),

    async close() {
      closed = true;
      if (retryTimer) retryClock.clearTimeout(retryTimer);
      retryTimer = undefined;
      await Promise.allSettled([...raising]);
      if (flushing) await flushing;
      if (queued.size + onDiskOnly > 0) {
        // One last try: a short outage should not leave flags for the next start.
        await flushOnce().catch(() => {});
        if (queued.size + onDiskOnly > 0)
          log.warn('flags still waiting for the database stay on disk for the next start', {
            count: queued.size + onDiskOnly,
            dir: flagDir,
          });
      }
    },
  };
}
