/**
 * Zones of a camera picture, as the site file draws them: polygons in fractions (0..1) of the
 * frame, so they survive a change of stream resolution. Presence is judged by the bottom-centre
 * of a box (where the feet are): a person's head over the shelf is not a person at the shelf.
 */
import type { Box, Track } from './vision.ports.ts';

export type ZoneKind = 'room' | 'door' | 'shelf';
/** A corner as the site file writes it: [x, y], fractions of the frame width and height. */
export type ZonePoint = readonly [x: number, y: number];

export interface Zone {
  id: string;
  kind: ZoneKind;
  polygon: readonly ZonePoint[];
}

/** A point in frame fractions. */
export interface NormPoint {
  x: number;
  y: number;
}

export class ZoneError extends Error {
  override readonly name = 'ZoneError';
}

/** Throws a ZoneError naming the zone and corner when a polygon cannot be used. */
export function validateZone(zone: Zone): void {
  if (zone.polygon.length < 3) {
    throw new ZoneError(`zone ${zone.id} needs at least 3 corners, has ${zone.polygon.length}`);
  }
  zone.polygon.forEach(([x, y], i) => {
    if (!Number.isFinite(x) || !Number.isFinite(y) || x < 0 || x > 1 || y < 0 || y > 1) {
      throw new ZoneError(
        `zone ${zone.id} corner ${i} [${x}, ${y}] is not within 0..1 of the frame`,
      );
    }
  });
}

const EDGE_EPS = 1e-9;

function onSegment(p: NormPoint, a: ZonePoint, b: ZonePoint): boolean {
  const [ax, ay] = a;
  const [bx, by] = b;
  const cross = (bx - ax) * (p.y - ay) - (by - ay) * (p.x - ax);
  const len = Math.hypot(bx - ax, by - ay);
  if (Math.abs(cross) > EDGE_EPS * Math.max(len, 1)) return false;
  return (
    p.x >= Math.min(ax, bx) - EDGE_EPS &&
    p.x <= Math.max(ax, bx) + EDGE_EPS &&
    p.y >= Math.min(ay, by) - EDGE_EPS &&
    p.y <= Math.max(ay, by) + EDGE_EPS
  );
}

/**
 * Even-odd point-in-polygon. A point exactly on an edge or corner counts as inside: a box clipped
 * at the frame's bottom edge has its anchor at y = 1, on the edge of a zone drawn to the bottom.
 */
export function pointInPolygon(p: NormPoint, polygon: readonly ZonePoint[]): boolean {
  const n = polygon.length;
  if (n < 3) return false;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    if (onSegment(p, polygon[j]!, polygon[i]!)) return true;
  }
  let inside = false;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const [xi, yi] = polygon[i]!;
    const [xj, yj] = polygon[j]!;
    // Half-open rule on y, so a ray through a vertex is counted once.
    if (yi > p.y !== yj > p.y) {
      const xCross = xj + ((p.y - yj) * (xi - xj)) / (yi - yj);
      if (p.x < xCross) inside = !inside;
    }
  }
  return inside;
}

export interface FrameSize {
  width: number;
  height: number;
}

/** Bottom-centre of a box, in fractions of the frame. */
export function anchorOf(box: Box, frame: FrameSize): NormPoint {
  return { x: (box.x1 + box.x2) / 2 / frame.width, y: box.y2 / frame.height };
}

export function zonesAtPoint(p: NormPoint, zones: readonly Zone[]): Zone[] {
  return zones.filter((z) => pointInPolygon(p, z.polygon));
}

/** Ids of the zones a box stands in (by its bottom-centre). */
export function zonesOfBox(box: Box, frame: FrameSize, zones: readonly Zone[]): string[] {
  return zonesAtPoint(anchorOf(box, frame), zones).map((z) => z.id);
}

/** Ids of the zones a track stands in now. */
export function zonesOfTrack(track: Track, frame: FrameSize, zones: readonly Zone[]): string[] {
  return zonesOfBox(track.box, frame, zones);
}

// ---------------------------------------------------------------------------------------------
// Door crossings

/** Where a person stands relative to one door: in its doorway, in the room, or elsewhere. */
export type DoorSide = 'door' | 'room' | 'outside';
export type CrossingDirection = 'inward' | 'outward';

/** One sample of a track's path: its anchor (bottom-centre, fractions) at a time (ms). */
export interface PathPoint extends NormPoint {
  at: number;
}

export interface DoorCrossing {
  direction: CrossingDirection;
  /** Time of the first sample on the new side (ms). */
  at: number;
}

export interface CrossingOptions {
  /**
   * A stay on one side shorter than this (ms) is jitter, not a crossing: feet on the doorway's
   * edge flicker in and out. The path's last stay always counts (the track may end at the door).
   */
  minHoldMs?: number;
}

/** The doorway wins over the room where they overlap (a room zone often covers the door too). */
export function sideOf(p: NormPoint, door: Zone, room: Zone): DoorSide {
  if (pointInPolygon(p, door.polygon)) return 'door';
  if (pointInPolygon(p, room.polygon)) return 'room';
  return 'outside';
}

interface Stay {
  inside: boolean;
  from: number;
  /** Time of the first sample after the stay, or of its own last sample at the path's end. */
  until: number;
  sawDoor: boolean;
}

/**
 * Crossings of a door along a track's path, in time order. Inward: from the doorway (or beyond it)
 * into the room; outward: from the room into the doorway. Moving between the room and parts of the
 * picture outside it without touching the doorway (a window, a glass wall) is not a crossing.
 */
export function doorCrossings(
  path: readonly PathPoint[],
  door: Zone,
  room: Zone,
  opts: CrossingOptions = {},
): DoorCrossing[] {
  const minHoldMs = opts.minHoldMs ?? 0;
  const stays: Stay[] = [];
  for (let i = 0; i < path.length; i++) {
    const p = path[i]!;
    const side = sideOf(p, door, room);
    const inside = side === 'room';
    const last = stays[stays.length - 1];
    if (last && last.inside === inside) {
      last.sawDoor ||= side === 'door';
      last.until = p.at;
    } else {
      if (last) last.until = p.at;
      stays.push({ inside, from: p.at, until: p.at, sawDoor: side === 'door' });
    }
  }
  // Drop short stays (except the last), then join neighbours that are now on the same side.
  const settled: Stay[] = [];
  stays.forEach((s, i) => {
    const isLast = i === stays.length - 1;
    if (!isLast && i > 0 && s.until - s.from < minHoldMs) return;
    const prev = settled[settled.length - 1];
    if (prev && prev.inside === s.inside) {
      prev.sawDoor ||= s.sawDoor;
      prev.until = s.until;
    } else {
      settled.push({ ...s });
    }
  });
  const out: DoorCrossing[] = [];
  for (let i = 1; i < settled.length; i++) {
    const before = settled[i - 1]!;
    const after = settled[i]!;
    if (after.inside && before.sawDoor) out.push({ direction: 'inward', at: after.from });
    if (!after.inside && after.sawDoor) out.push({ direction: 'outward', at: after.from });
  }
  return out;
}

/** Net direction of a path through a door: the last crossing's, or null when it did not cross. */
export function crossingDirection(
  path: readonly PathPoint[],
  door: Zone,
  room: Zone,
  opts: CrossingOptions = {},
): CrossingDirection | null {
  const all = doorCrossings(path, door, room, opts);
  return all[all.length - 1]?.direction ?? null;
}
