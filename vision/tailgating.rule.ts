/**
 * Tailgating: more people walked in than were let in. Each person track whose feet cross the
 * door zone inward (doorway → room, `doorCrossings`) is one crossing; each granted entry at the
 * camera's door covers `peoplePerGrant` crossings (default 1) made from `beforeGrantMs` before the
 * grant (clocks of door and camera differ a little) to `afterGrantMs` after it (the walk in).
 * Crossings are matched to grants in time order; a crossing that finds its window's grants all
 * used up is an extra person, and the entry window gets one flag (evidence: crossings, grants,
 * the tracks and the entries), raised as soon as no late grant can still cover it, i.e.
 * `beforeGrantMs` after the crossing.
 *
 * Two residents who each badge and walk in together are two grants for two crossings: no flag
 * (Verkada's analytics were seen flagging exactly that). A crossing with no grant at all in its
 * window is not tailgating but an entry without a grant: the loitering rule flags that person
 * (`no_entry`) and the door itself reports a forced or held-open door.
 */
import { PERSON_CLASS } from './yolo.decode.ts';
import {
  createEntryLog,
  entriesFrom,
  frameSizeFor,
  RuleConfigError,
  RuleInputError,
  type Entry,
  type FlagBox,
  type FlagCandidate,
  type Rule,
  type VisitContext,
} from './rules.types.ts';
import type { Box, Frame, Track } from './vision.ports.ts';
import { anchorOf, doorCrossings, validateZone, type PathPoint, type Zone } from './zones.ts';

export interface TailgatingCamera {
  cameraId: string;
  /** The door this camera watches (the site file's camera `doorId`); its grants are counted. */
  doorId: string;
  /** The camera's zones; the doorway and the room are taken from them. */
  zones: readonly Zone[];
  /** Which door and room zone to use (default: the first of each kind). */
  doorZoneId?: string;
  roomZoneId?: string;
  /** Frame size, for updates that come without a frame. */
  frameSize?: { width: number; height: number };
}

export interface TailgatingOptions {
  cameras: readonly TailgatingCamera[];
  /** A crossing may be seen this long before its grant is recorded (ms, default 1 s). */
  beforeGrantMs?: number;
  /** A grant covers crossings up to this long after it (ms, default 15 s). */
  afterGrantMs?: number;
  /** People one grant lets in (default 1). */
  peoplePerGrant?: number;
  /** A stay on one side of the doorway shorter than this is foot jitter (ms, default 400). */
  minHoldMs?: number;
  /** How much of a track's path is kept (ms, default 30 s). */
  pathKeepMs?: number;
  /** Video before the first grant and after the decision, for the clip (ms, 5 s each). */
  clipPreMs?: number;
  clipPostMs?: number;
  /** The server's record of entries, for grants the rule was not pushed. */
  visits?: VisitContext;
}

/** What a tailgating flag's evidence says (plain JSON). */
export type TailgatingEvidence = {
  doorId: string;
  /** Distinct person tracks that crossed inward during the entry window. */
  crossings: number;
  /** Grants at the door in that window. */
  grants: number;
  peoplePerGrant: number;
  trackIds: number[];
  entryEventIds: string[];
  /** When each counted track crossed (ms), in the order of trackIds. */
  crossedAt: number[];
  windowStartAt: number;
  windowEndAt: number;
};

/** How long after a grant a crossing still counts against it, by default (ms). */
export const TAILGATING_AFTER_GRANT_MS = 15_000;

const DEFAULTS = {
  beforeGrantMs: 1_000,
  afterGrantMs: TAILGATING_AFTER_GRANT_MS,
  minHoldMs: 400,
  pathKeepMs: 30_000,
  clipPreMs: 5_000,
  clipPostMs: 5_000,
};

interface TrackPath {
  points: PathPoint[];
  box: Box;
  confirmed: boolean;
  counted: boolean;
}

interface Crossing {
  trackId: number;
  at: number;
  decided: boolean;
}

interface CameraState {
  cam: TailgatingCamera;
  door: Zone;
  room: Zone;
  paths: Map<number, TrackPath>;
  crossings: Crossing[];
  /** Crossings each grant has covered, by eventId, with the grant's time for forgetting it. */
  used: Map<string, { count: number; grantAt: number }>;
  /** Grants whose entry window has already been flagged (one flag per window). */
  flagged: Map<string, number>;
  lastAt: number | null;
}

function checkMs(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isFinite(v) || v < 0) {
    throw new RuleConfigError(`tailgating: ${name} must be a non-negative number of ms, got ${v}`);
  }
  return v;
}

function pickZone(cam: TailgatingCamera, kind: 'door' | 'room', id: string | undefined): Zone {
  const zone =
    id !== undefined ? cam.zones.find((z) => z.id === id) : cam.zones.find((z) => z.kind === kind);
  if (!zone) {
    throw new RuleConfigError(
      id !== undefined
        ? `tailgating: camera ${cam.cameraId} has no zone ${id}`
        : `tailgating: camera ${cam.cameraId} has no zone of kind '${kind}'`,
    );
  }
  if (zone.kind !== kind) {
    throw new RuleConfigError(
      `tailgating: camera ${cam.cameraId} zone ${zone.id} is a ${zone.kind} zone, not a ${kind} zone`,
    );
  }
  try {
    validateZone(zone);
  } catch (err) {
    throw new RuleConfigError(
      `tailgating: camera ${cam.cameraId}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return zone;
}

const ordinal = (n: number) =>
  `${n}${n % 10 === 1 && n % 100 !== 11 ? 'st' : n % 10 === 2 && n % 100 !== 12 ? 'nd' : n % 10 === 3 && n % 100 !== 13 ? 'rd' : 'th'}`;

export function createTailgatingRule(options: TailgatingOptions): Rule {
  const o = {
    beforeGrantMs: checkMs('beforeGrantMs', options.beforeGrantMs, DEFAULTS.beforeGrantMs),
    afterGrantMs: checkMs('afterGrantMs', options.afterGrantMs, DEFAULTS.afterGrantMs),
    minHoldMs: checkMs('minHoldMs', options.minHoldMs, DEFAULTS.minHoldMs),
    pathKeepMs: checkMs('pathKeepMs', options.pathKeepMs, DEFAULTS.pathKeepMs),
    clipPreMs: checkMs('clipPreMs', options.clipPreMs, DEFAULTS.clipPreMs),
    clipPostMs: checkMs('clipPostMs', options.clipPostMs, DEFAULTS.clipPostMs),
  };
  const perGrant = options.peoplePerGrant ?? 1;
  if (!Number.isInteger(perGrant) || perGrant < 1) {
    throw new RuleConfigError(
      `tailgating: peoplePerGrant must be a whole number ≥ 1, got ${perGrant}`,
    );
  }
  const cameras = new Map<string, CameraState>();
  for (const cam of options.cameras) {
    if (cameras.has(cam.cameraId)) {
      throw new RuleConfigError(`tailgating: camera ${cam.cameraId} is listed twice`);
    }
    if (typeof cam.doorId !== 'string' || cam.doorId === '') {
      throw new RuleConfigError(`tailgating: camera ${cam.cameraId} needs the doorId it watches`);
    }
    cameras.set(cam.cameraId, {
      cam,
      door: pickZone(cam, 'door', cam.doorZoneId),
      room: pickZone(cam, 'room', cam.roomZoneId),
      paths: new Map(),
      crossings: [],
      used: new Map(),
      flagged: new Map(),
      lastAt: null,
    });
  }
  const log = createEntryLog();
  const grantsAt = (st: CameraState, fromMs: number, toMs: number): Entry[] =>
    entriesFrom([log, options.visits], fromMs, toMs, st.cam.doorId);

  /** Record the first settled inward crossing of a confirmed track. */
  const findCrossing = (st: CameraState, trackId: number, path: TrackPath) => {
    if (path.counted || !path.confirmed || path.points.length < 2) return;
    const last = path.points[path.points.length - 1]!;
    const inward = doorCrossings(path.points, st.door, st.room, { minHoldMs: o.minHoldMs }).find(
      // The path's last stay always counts in doorCrossings; wait until it has held.
      (c) => c.direction === 'inward' && last.at - c.at >= o.minHoldMs,
    );
    if (!inward) return;
    path.counted = true;
    st.crossings.push({ trackId, at: inward.at, decided: false });
  };

  const raise = (
    st: CameraState,
    crossing: Crossing,
    grants: readonly Entry[],
    tracks: readonly Track[],
    at: number,
  ): FlagCandidate => {
    const first = grants[0]!;
    const lastGrant = grants[grants.length - 1]!;
    const windowStartAt = first.at - o.beforeGrantMs;
    const windowEndAt = lastGrant.at + o.afterGrantMs;
    const inWindow = st.crossings
      .filter((c) => (c.at >= windowStartAt && c.at <= windowEndAt) || c === crossing)
      .sort((a, b) => a.at - b.at);
    const live = new Map(tracks.map((t) => [t.id, t]));
    const boxes: FlagBox[] = [];
    inWindow.forEach((c, i) => {
      const t = live.get(c.trackId);
      // Only boxes of people still in this frame: the snapshot is this frame.
      if (t)
        boxes.push({
          box: { ...t.box },
          label: `person ${c.trackId} (${ordinal(i + 1)} in)`,
          trackId: c.trackId,
        });
    });
    const excess = inWindow.length - grants.length * perGrant;
    const evidence: TailgatingEvidence = {
      doorId: st.cam.doorId,
      crossings: inWindow.length,
      grants: grants.length,
      peoplePerGrant: perGrant,
      trackIds: inWindow.map((c) => c.trackId),
      entryEventIds: grants.map((g) => g.eventId),
      crossedAt: inWindow.map((c) => c.at),
      windowStartAt,
      windowEndAt,
    };
    return {
      kind: 'tailgating',
      // One extra may be a child or a helper; two or more is a group walking in on one badge.
      severity: excess >= 2 ? 'high' : 'medium',
      cameraId: st.cam.cameraId,
      at,
      entryEventId: first.eventId,
      ...(first.credentialId ? { credentialId: first.credentialId } : {}),
      clipWindow: { startAt: first.at - o.clipPreMs, endAt: at + o.clipPostMs },
      trackIds: inWindow.map((c) => c.trackId),
      boxes,
      evidence,
    };
  };

  return {
    name: 'tailgating',
    onEntry(entry) {
      log.add(entry);
    },
    update(cameraId: string, tracks: readonly Track[], at: number, frame?: Frame) {
      const st = cameras.get(cameraId);
      if (!st) throw new RuleInputError(`tailgating: camera ${cameraId} is not configured`);
      if (!Number.isFinite(at))
        throw new RuleInputError(`tailgating: frame time ${at} is not a number`);
      if (st.lastAt !== null && at < st.lastAt) {
        throw new RuleInputError(
          `tailgating: camera ${cameraId} frame at ${at} ms is older than the previous one (${st.lastAt} ms)`,
        );
      }
      const size = frameSizeFor('tailgating', cameraId, frame, st.cam.frameSize);
      st.lastAt = at;

      const present = new Set<number>();
      for (const t of tracks) {
        if (t.classId !== PERSON_CLASS) continue;
        present.add(t.id);
        let path = st.paths.get(t.id);
        if (!path) {
          path = { points: [], box: { ...t.box }, confirmed: false, counted: false };
          st.paths.set(t.id, path);
        }
        if (t.state === 'confirmed') path.confirmed = true;
        // The doorway steps while tentative matter too: that is where a person first shows up.
        if (t.state !== 'lost' && t.lastSeenAt === at) {
          path.points.push({ ...anchorOf(t.box, size), at });
          path.box = { ...t.box };
          while (path.points.length > 2 && at - path.points[0]!.at > o.pathKeepMs)
            path.points.shift();
        }
        findCrossing(st, t.id, path);
      }
      for (const id of st.paths.keys()) if (!present.has(id)) st.paths.delete(id);

      const out: FlagCandidate[] = [];
      const due = st.crossings
        .filter((c) => !c.decided && at >= c.at + o.beforeGrantMs)
        .sort((a, b) => a.at - b.at);
      for (const c of due) {
        c.decided = true;
        const grants = grantsAt(st, c.at - o.afterGrantMs, c.at + o.beforeGrantMs);
        // No grant at all: an entry without a grant, which is the loitering rule's no_entry.
        if (grants.length === 0) continue;
        const free = grants.find((g) => (st.used.get(g.eventId)?.count ?? 0) < perGrant);
        if (free) {
          const use = st.used.get(free.eventId) ?? { count: 0, grantAt: free.at };
          use.count++;
          st.used.set(free.eventId, use);
          continue;
        }
        const key = grants[0]!.eventId;
        if (st.flagged.has(key)) continue;
        st.flagged.set(key, at);
        out.push(raise(st, c, grants, tracks, at));
      }

      const horizon = at - (o.afterGrantMs + o.beforeGrantMs + o.pathKeepMs);
      st.crossings = st.crossings.filter((c) => !c.decided || c.at >= horizon);
      for (const [id, when] of st.flagged) if (when < horizon) st.flagged.delete(id);
      for (const [id, use] of st.used)
        if (use.grantAt < horizon - o.afterGrantMs) st.used.delete(id);
      log.prune(horizon - o.afterGrantMs);
      return out;
    },
  };
}
