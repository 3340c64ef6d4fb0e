/**
 * Loitering: someone who stays in the package room when they have no business there. Three
 * reasons, each flagged at most once per person:
 *
 * - `dwell`: feet (bottom-centre of the box) in a room zone longer than the zone's threshold
 *   (Frigate's `loitering_time`, default 90 s), measured in ms from frame times, so the answer
 *   does not drift when the camera's frame rate does;
 * - `overstay`: still in the room after the visit that let them in ended (the grant plus a visit
 *   allowance, default 5 min; leaving through the door ends a visit sooner);
 * - `no_entry`: in the room with no granted entry at the camera's door in the look-back window
 *   before they appeared (or one spent by someone who has already left).
 *
 * People, not track ids: a detector misses a standing person now and then and the tracker gives
 * them a new id when they come back. A person whose track ended is kept for `rejoinMs`, and a new
 * track appearing near where they were takes over their dwell, their entry and the flags already
 * raised, so a brief miss neither resets the clock nor raises the flag a second time.
 *
 * Leaving ends a visit: a person who had been in the room past the doorway and whose track ends in
 * the doorway has left. Their grant is spent at once and nobody takes them over, so someone who
 * slips in as they go out (or they themselves, back without badging) has no entry. A track lost
 * in the doorway on the way in (the doorway is where people are cut off by the frame edge and
 * detected worst) is not a departure.
 */
import { PERSON_CLASS } from './yolo.decode.ts';
import {
  createEntryLog,
  entriesFrom,
  frameSizeFor,
  RuleConfigError,
  RuleInputError,
  type Entry,
  type EntryWho,
  type FlagCandidate,
  type FlagSeverity,
  type Rule,
  type VisitContext,
} from './rules.types.ts';
import type { Box, Frame, Track } from './vision.ports.ts';
import { anchorOf, pointInPolygon, validateZone, type NormPoint, type Zone } from './zones.ts';

export type LoiteringReason = 'dwell' | 'overstay' | 'no_entry';

/** One camera the rule watches: its zones as the site file draws them. */
export interface LoiteringCamera {
  cameraId: string;
  /** Doors whose grants let people into this room; unset or empty = grants at any door count. */
  doorIds?: readonly string[];
  /** The camera's zones: `room` zones are watched for dwell, `door` zones mark leaving. */
  zones: readonly Zone[];
  /** Frame size, for updates that come without a frame. */
  frameSize?: { width: number; height: number };
}

export interface LoiteringOptions {
  cameras: readonly LoiteringCamera[];
  /** Dwell in a room zone that raises a flag (ms, default 90 s). */
  thresholdMs?: number;
  /** Per room-zone thresholds (ms) by zone id, overriding `thresholdMs`. */
  zoneThresholdMs?: Readonly<Record<string, number>>;
  /** How long a granted entry lets a person stay (ms, default 5 min). */
  visitMs?: number;
  /** How far before a person appeared a grant may be and still have let them in (ms, 30 s). */
  entryLookbackMs?: number;
  /** A grant recorded this long after the person appeared still counts (ms, default 2 s). */
  entryLateMs?: number;
  /**
   * A grant whose visitor has left still covers someone who appears within this long after it
   * (ms, default 0). Set it to the tailgating rule's window when both watch the camera: that rule
   * counts the newcomer against the grant, and one incident gets one flag, not two.
   */
  sharedEntryMs?: number;
  /** A person whose track ended is remembered this long for a new track to take over (10 s). */
  rejoinMs?: number;
  /** How near (fraction of the frame width) a new track must appear to take a person over. */
  rejoinDistance?: number;
  /** Feet outside a zone for less than this (ms) do not restart the dwell there (default 3 s). */
  zoneExitGraceMs?: number;
  /** Who may stay as long as their visit lasts without a dwell flag (default staff). */
  exemptWho?: readonly EntryWho[];
  /** Video before the person appeared and after the decision, for the clip (ms, 5 s each). */
  clipPreMs?: number;
  clipPostMs?: number;
  /** The server's record of entries, for grants the rule was not pushed. */
  visits?: VisitContext;
}

/** What a loitering flag's evidence says (plain JSON). */
export type LoiteringEvidence = {
  reason: LoiteringReason;
  /** The room zone the person stood in (null when the reason is about the visit, not a zone). */
  zoneId: string | null;
  /** Time in that zone, or since first seen for visit reasons (ms). */
  dwellMs: number;
  thresholdMs: number | null;
  firstSeenAt: number;
  /** When the visit allowance ran out (null without an entry). */
  sessionEndsAt: number | null;
  entryEventId: string | null;
  who: EntryWho | null;
  trackIds: number[];
};

const DEFAULTS = {
  thresholdMs: 90_000,
  visitMs: 300_000,
  entryLookbackMs: 30_000,
  entryLateMs: 2_000,
  rejoinMs: 10_000,
  rejoinDistance: 0.12,
  zoneExitGraceMs: 3_000,
  clipPreMs: 5_000,
  clipPostMs: 5_000,
};

/** A person standing in (no entry) outranks a long stay (entry, just slow). */
const SEVERITY: Record<LoiteringReason, FlagSeverity> = {
  no_entry: 'high',
  overstay: 'medium',
  dwell: 'low',
};

interface ZoneStay {
  since: number;
  lastIn: number;
}

interface Presence {
  trackId: number | null;
  trackIds: number[];
  firstSeenAt: number;
  lastSeenAt: number;
  anchor: NormPoint;
  box: Box;
  inDoor: boolean;
  /** Seen in the room beyond the doorway: a later stop in the doorway is on the way out. */
  wentIn: boolean;
  everInRoom: boolean;
  stays: Map<string, ZoneStay>;
  entry: Entry | null;
  entryDecided: boolean;
  flagged: Set<LoiteringReason>;
  /** Frames in which the person was actually detected (not predicted). */
  observations: number;
  /** Their track ended in the doorway on the way out: the visit is over. */
  left: boolean;
  /** The tracker has lost them for now (its box is a prediction). */
  lost: boolean;
}

interface CameraState {
  cam: LoiteringCamera;
  rooms: Zone[];
  doors: Zone[];
  doorIds: ReadonlySet<string> | null;
  presences: Presence[];
  byTrack: Map<number, Presence>;
  /** Entries whose person has left through the door: they let nobody else in. */
  spent: Map<string, number>;
  lastAt: number | null;
}

function checkMs(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isFinite(v) || v < 0) {
    throw new RuleConfigError(`loitering: ${name} must be a non-negative number of ms, got ${v}`);
  }
  return v;
}

export function createLoiteringRule(options: LoiteringOptions): Rule {
  const o = {
    thresholdMs: checkMs('thresholdMs', options.thresholdMs, DEFAULTS.thresholdMs),
    visitMs: checkMs('visitMs', options.visitMs, DEFAULTS.visitMs),
    entryLookbackMs: checkMs('entryLookbackMs', options.entryLookbackMs, DEFAULTS.entryLookbackMs),
    entryLateMs: checkMs('entryLateMs', options.entryLateMs, DEFAULTS.entryLateMs),
    sharedEntryMs: checkMs('sharedEntryMs', options.sharedEntryMs, 0),
    rejoinMs: checkMs('rejoinMs', options.rejoinMs, DEFAULTS.rejoinMs),
    zoneExitGraceMs: checkMs('zoneExitGraceMs', options.zoneExitGraceMs, DEFAULTS.zoneExitGraceMs),
    clipPreMs: checkMs('clipPreMs', options.clipPreMs, DEFAULTS.clipPreMs),
    clipPostMs: checkMs('clipPostMs', options.clipPostMs, DEFAULTS.clipPostMs),
  };
  const rejoinDistance = options.rejoinDistance ?? DEFAULTS.rejoinDistance;
  if (!(Number.isFinite(rejoinDistance) && rejoinDistance >= 0 && rejoinDistance <= 1)) {
    throw new RuleConfigError(`loitering: rejoinDistance must be in 0..1, got ${rejoinDistance}`);
  }
  const exempt: ReadonlySet<EntryWho> = new Set(options.exemptWho ?? ['staff']);
  const zoneThresholds = new Map<string, number>();
  for (const [zoneId, ms] of Object.entries(options.zoneThresholdMs ?? {})) {
    zoneThresholds.set(zoneId, checkMs(`zoneThresholdMs.${zoneId}`, ms, o.thresholdMs));
  }

  const cameras = new Map<string, CameraState>();
  const roomZoneIds = new Set<string>();
  for (const cam of options.cameras) {
    if (cameras.has(cam.cameraId)) {
      throw new RuleConfigError(`loitering: camera ${cam.cameraId} is listed twice`);
    }
    for (const z of cam.zones) {
      try {
        validateZone(z);
      } catch (err) {
        throw new RuleConfigError(
          `loitering: camera ${cam.cameraId}: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
    const rooms = cam.zones.filter((z) => z.kind === 'room');
    if (rooms.length === 0) {
      throw new RuleConfigError(
        `loitering: camera ${cam.cameraId} has no zone of kind 'room' to watch`,
      );
    }
    for (const r of rooms) roomZoneIds.add(r.id);
    cameras.set(cam.cameraId, {
      cam,
      rooms,
      doors: cam.zones.filter((z) => z.kind === 'door'),
      doorIds: cam.doorIds && cam.doorIds.length > 0 ? new Set(cam.doorIds) : null,
      presences: [],
      byTrack: new Map(),
      spent: new Map(),
      lastAt: null,
    });
  }
  for (const zoneId of zoneThresholds.keys()) {
    if (!roomZoneIds.has(zoneId)) {
      throw new RuleConfigError(
        `loitering: zoneThresholdMs names ${zoneId}, which is not a room zone of any camera`,
      );
    }
  }

  const log = createEntryLog();
  const thresholdOf = (zoneId: string) => zoneThresholds.get(zoneId) ?? o.thresholdMs;

  /** The grants that may have let this person in. */
  const entriesFor = (st: CameraState, p: Presence): Entry[] => {
    // Someone lost from sight in the doorway after being inside is on their way out: their grant
    // is not there for whoever appears now.
    const leaving = new Set(
      st.presences
        .filter((q) => q.entry && q.lost && q.inDoor && q.wentIn)
        .map((q) => q.entry!.eventId),
    );
    return entriesFrom(
      [log, options.visits],
      p.firstSeenAt - o.entryLookbackMs,
      p.firstSeenAt + o.entryLateMs,
    ).filter(
      (e) =>
        (st.doorIds === null || st.doorIds.has(e.doorId)) &&
        ((!st.spent.has(e.eventId) && !leaving.has(e.eventId)) ||
          p.firstSeenAt <= e.at + o.sharedEntryMs),
    );
  };

  const observe = (st: CameraState, p: Presence, t: Track, anchor: NormPoint, at: number) => {
    const fresh = p.observations === 0 && p.trackIds.length === 1;
    p.observations++;
    p.lastSeenAt = at;
    p.anchor = anchor;
    p.box = { ...t.box };
    p.inDoor = st.doors.some((z) => pointInPolygon(anchor, z.polygon));
    for (const z of st.rooms) {
      const stay = p.stays.get(z.id);
      if (pointInPolygon(anchor, z.polygon)) {
        p.everInRoom = true;
        if (!p.inDoor) p.wentIn = true;
        // A brand-new person was there from the track's first sighting, not from confirmation.
        if (!stay) p.stays.set(z.id, { since: fresh ? t.firstSeenAt : at, lastIn: at });
        else stay.lastIn = at;
      } else if (stay && at - stay.lastIn > o.zoneExitGraceMs) {
        p.stays.delete(z.id);
      }
    }
  };

  /** A person whose track ended recently, near where this new track appeared. */
  const adopt = (st: CameraState, anchor: NormPoint): Presence | null => {
    let best: Presence | null = null;
    let bestD = Infinity;
    for (const p of st.presences) {
      if (p.trackId !== null || p.left) continue;
      const d = Math.hypot(p.anchor.x - anchor.x, p.anchor.y - anchor.y);
      if (d <= rejoinDistance && d < bestD) {
        best = p;
        bestD = d;
      }
    }
    return best;
  };

  const flag = (
    st: CameraState,
    p: Presence,
    reason: LoiteringReason,
    at: number,
    zoneId: string | null,
    dwellMs: number,
    thresholdMs: number | null,
  ): FlagCandidate => {
    p.flagged.add(reason);
    const trackId = p.trackId ?? p.trackIds[p.trackIds.length - 1]!;
    const evidence: LoiteringEvidence = {
      reason,
      zoneId,
      dwellMs,
      thresholdMs,
      firstSeenAt: p.firstSeenAt,
      sessionEndsAt: p.entry ? p.entry.at + o.visitMs : null,
      entryEventId: p.entry?.eventId ?? null,
      who: p.entry?.who ?? null,
      trackIds: [...p.trackIds],
    };
    return {
      kind: 'loitering',
      severity: SEVERITY[reason],
      cameraId: st.cam.cameraId,
      at,
      ...(p.entry ? { entryEventId: p.entry.eventId } : {}),
      ...(p.entry?.credentialId ? { credentialId: p.entry.credentialId } : {}),
      clipWindow: { startAt: p.firstSeenAt - o.clipPreMs, endAt: at + o.clipPostMs },
      trackIds: [...p.trackIds],
      boxes: [
        {
          box: { ...p.box },
          label: `person ${trackId} (${Math.round(dwellMs / 1000)} s)`,
          trackId,
        },
      ],
      evidence,
    };
  };

  const judge = (st: CameraState, p: Presence, at: number): FlagCandidate[] => {
    const out: FlagCandidate[] = [];
    if (!p.everInRoom) return out;
    if (!p.entryDecided) {
      const candidates = entriesFor(st, p);
      if (candidates.length > 0) {
        // The latest grant before they appeared is the one that let them in.
        p.entry = candidates[candidates.length - 1]!;
        p.entryDecided = true;
      } else if (at >= p.firstSeenAt + o.entryLateMs) {
        p.entryDecided = true;
        p.entry = null;
        out.push(flag(st, p, 'no_entry', at, null, at - p.firstSeenAt, null));
      }
    }
    const isExempt = p.entry !== null && exempt.has(p.entry.who);
    if (!p.flagged.has('dwell') && !isExempt) {
      for (const [zoneId, stay] of p.stays) {
        const threshold = thresholdOf(zoneId);
        const dwell = at - stay.since;
        if (dwell >= threshold) {
          out.push(flag(st, p, 'dwell', at, zoneId, dwell, threshold));
          break;
        }
      }
    }
    if (
      p.entry !== null &&
      !p.flagged.has('overstay') &&
      p.stays.size > 0 &&
      at > p.entry.at + o.visitMs
    ) {
      out.push(flag(st, p, 'overstay', at, null, at - p.firstSeenAt, o.visitMs));
    }
    return out;
  };

  return {
    name: 'loitering',
    onEntry(entry) {
      log.add(entry);
    },
    update(cameraId: string, tracks: readonly Track[], at: number, frame?: Frame) {
      const st = cameras.get(cameraId);
      if (!st) throw new RuleInputError(`loitering: camera ${cameraId} is not configured`);
      if (!Number.isFinite(at))
        throw new RuleInputError(`loitering: frame time ${at} is not a number`);
      if (st.lastAt !== null && at < st.lastAt) {
        throw new RuleInputError(
          `loitering: camera ${cameraId} frame at ${at} ms is older than the previous one (${st.lastAt} ms)`,
        );
      }
      const size = frameSizeFor('loitering', cameraId, frame, st.cam.frameSize);
      st.lastAt = at;

      // Tentative tracks may be flickers; a person counts once the tracker confirmed them.
      const people = tracks.filter((t) => t.classId === PERSON_CLASS && t.state !== 'tentative');
      const live = new Set<Presence>();
      for (const t of people) {
        const anchor = anchorOf(t.box, size);
        let p = st.byTrack.get(t.id);
        if (!p) {
          p = adopt(st, anchor) ?? undefined;
          if (p) {
            p.trackIds.push(t.id);
          } else {
            p = {
              trackId: t.id,
              trackIds: [t.id],
              firstSeenAt: t.firstSeenAt,
              lastSeenAt: t.lastSeenAt,
              anchor,
              box: { ...t.box },
              inDoor: false,
              wentIn: false,
              left: false,
              lost: false,
              everInRoom: false,
              stays: new Map(),
              entry: null,
              entryDecided: false,
              flagged: new Set(),
              observations: 0,
            };
            st.presences.push(p);
          }
          st.byTrack.set(t.id, p);
        }
        p.trackId = t.id;
        p.lost = t.state === 'lost';
        live.add(p);
        // A lost track's box is only a prediction: dwell goes on, the position is not updated.
        if (t.state !== 'lost' && t.lastSeenAt === at) observe(st, p, t, anchor, at);
      }

      const out: FlagCandidate[] = [];
      const keep: Presence[] = [];
      for (const p of st.presences) {
        if (live.has(p)) {
          out.push(...judge(st, p, at));
          keep.push(p);
          continue;
        }
        if (p.trackId !== null) {
          st.byTrack.delete(p.trackId);
          p.trackId = null;
          // Last seen in the doorway after being inside: they left, and their grant is used up.
          if (p.inDoor && p.wentIn) {
            p.left = true;
            if (p.entry) st.spent.set(p.entry.eventId, at);
          }
        }
        if (!p.left && at - p.lastSeenAt <= o.rejoinMs) keep.push(p);
      }
      st.presences = keep;

      const horizon = at - (o.entryLookbackMs + o.entryLateMs + o.visitMs + o.rejoinMs);
      for (const [id, when] of st.spent) if (when < horizon) st.spent.delete(id);
      log.prune(at - (o.entryLookbackMs + o.entryLateMs + 10 * 60_000));
      return out;
    },
  };
}
