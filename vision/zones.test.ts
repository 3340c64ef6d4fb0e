import { describe, expect, it } from 'vitest';
import type { Track } from './vision.ports.ts';
import {
  anchorOf,
  crossingDirection,
  doorCrossings,
  pointInPolygon,
  sideOf,
  validateZone,
  ZoneError,
  zonesOfBox,
  zonesOfTrack,
  type PathPoint,
  type Zone,
  type ZonePoint,
} from './zones.ts';

const square: ZonePoint[] = [
  [0.2, 0.2],
  [0.6, 0.2],
  [0.6, 0.6],
  [0.2, 0.6],
];
// A U shape: the notch between the arms (x 0.4..0.6, y 0..0.6) is outside.
const u: ZonePoint[] = [
  [0.2, 0],
  [0.4, 0],
  [0.4, 0.6],
  [0.6, 0.6],
  [0.6, 0],
  [0.8, 0],
  [0.8, 1],
  [0.2, 1],
];

describe('pointInPolygon (even-odd)', () => {
  it('tells inside from outside, concave shapes included', () => {
    expect(pointInPolygon({ x: 0.4, y: 0.4 }, square)).toBe(true);
    expect(pointInPolygon({ x: 0.1, y: 0.4 }, square)).toBe(false);
    expect(pointInPolygon({ x: 0.7, y: 0.4 }, square)).toBe(false);
    expect(pointInPolygon({ x: 0.3, y: 0.3 }, u)).toBe(true);
    expect(pointInPolygon({ x: 0.5, y: 0.3 }, u)).toBe(false); // in the notch
    expect(pointInPolygon({ x: 0.5, y: 0.8 }, u)).toBe(true);
    // A ray through a vertex (y = 0.6 runs along the notch's floor) is counted once.
    expect(pointInPolygon({ x: 0.1, y: 0.6 }, u)).toBe(false);
    expect(pointInPolygon({ x: 0.3, y: 0.6 }, u)).toBe(true);
  });

  it('counts points on an edge or a corner as inside', () => {
    expect(pointInPolygon({ x: 0.2, y: 0.4 }, square)).toBe(true); // left edge
    expect(pointInPolygon({ x: 0.4, y: 0.6 }, square)).toBe(true); // bottom edge
    expect(pointInPolygon({ x: 0.6, y: 0.2 }, square)).toBe(true); // corner
    expect(pointInPolygon({ x: 0.5, y: 0.6 }, u)).toBe(true); // notch floor
    expect(pointInPolygon({ x: 0.6000001, y: 0.4 }, square)).toBe(false);
  });

  it('sees nothing in a degenerate polygon', () => {
    expect(
      pointInPolygon({ x: 0.5, y: 0.5 }, [
        [0, 0],
        [1, 1],
      ]),
    ).toBe(false);
  });
});

describe('presence by the bottom-centre of a box', () => {
  const frame = { width: 1000, height: 500 };
  const zones: Zone[] = [
    { id: 'shelf-a', kind: 'shelf', polygon: square },
    {
      id: 'floor',
      kind: 'room',
      polygon: [
        [0, 0.5],
        [1, 0.5],
        [1, 1],
        [0, 1],
      ],
    },
  ];

  it('uses the feet, not the head', () => {
    const box = { x1: 300, y1: 50, x2: 500, y2: 200 }; // bottom-centre (0.4, 0.4)
    expect(anchorOf(box, frame)).toEqual({ x: 0.4, y: 0.4 });
    expect(zonesOfBox(box, frame, zones)).toEqual(['shelf-a']);
    // Head over the shelf, feet on the floor: on the floor only.
    expect(zonesOfBox({ x1: 300, y1: 150, x2: 500, y2: 400 }, frame, zones)).toEqual(['floor']);
  });

  it('a box cut off by the frame bottom still stands in a zone drawn to the bottom', () => {
    expect(zonesOfBox({ x1: 600, y1: 300, x2: 800, y2: 500 }, frame, zones)).toEqual(['floor']);
  });

  it('works on tracks', () => {
    const track: Track = {
      id: 1,
      cameraId: 'cam',
      classId: 0,
      label: 'person',
      box: { x1: 300, y1: 100, x2: 420, y2: 250 }, // (0.36, 0.5): in the shelf, on the floor's edge
      score: 0.9,
      firstSeenAt: 0,
      lastSeenAt: 0,
      velocity: { vx: 0, vy: 0 },
      state: 'confirmed',
    };
    expect(zonesOfTrack(track, frame, zones)).toEqual(['shelf-a', 'floor']);
    expect(zonesOfTrack({ ...track, box: { ...track.box, y2: 240 } }, frame, zones)).toEqual([
      'shelf-a',
    ]);
  });
});

describe('validateZone', () => {
  it('names the zone and the corner that is wrong', () => {
    expect(() => validateZone({ id: 'z1', kind: 'room', polygon: square })).not.toThrow();
    expect(() =>
      validateZone({
        id: 'z2',
        kind: 'door',
        polygon: [
          [0, 0],
          [1, 1],
        ],
      }),
    ).toThrow(/z2 needs at least 3 corners/);
    expect(() =>
      validateZone({
        id: 'z3',
        kind: 'shelf',
        polygon: [
          [0, 0],
          [1.2, 0],
          [1, 1],
        ],
      }),
    ).toThrow(ZoneError);
  });
});

describe('door crossings', () => {
  // Camera inside the room, door on the left: the doorway is x 0..0.2 of the lower half; the
  // room zone covers the whole picture, doorway included (as in the demo site).
  const door: Zone = {
    id: 'doorway',
    kind: 'door',
    polygon: [
      [0, 0.5],
      [0.2, 0.5],
      [0.2, 1],
      [0, 1],
    ],
  };
  const room: Zone = {
    id: 'room',
    kind: 'room',
    polygon: [
      [0, 0],
      [1, 0],
      [1, 1],
      [0, 1],
    ],
  };
  const path = (xs: number[], y = 0.8, stepMs = 200): PathPoint[] =>
    xs.map((x, i) => ({ x, y, at: i * stepMs }));

  it('puts the doorway before the room where they overlap', () => {
    expect(sideOf({ x: 0.1, y: 0.8 }, door, room)).toBe('door');
    expect(sideOf({ x: 0.5, y: 0.8 }, door, room)).toBe('room');
    const smallRoom: Zone = { ...room, polygon: square };
    expect(sideOf({ x: 0.9, y: 0.9 }, door, smallRoom)).toBe('outside');
  });

  it('walking in from the doorway is inward, at the first step into the room', () => {
    expect(doorCrossings(path([0.05, 0.1, 0.15, 0.3, 0.5]), door, room)).toEqual([
      { direction: 'inward', at: 600 },
    ]);
  });

  it('walking out into the doorway is outward, even when the track ends there', () => {
    expect(doorCrossings(path([0.6, 0.4, 0.25, 0.1]), door, room)).toEqual([
      { direction: 'outward', at: 600 },
    ]);
    expect(crossingDirection(path([0.6, 0.4, 0.25, 0.1]), door, room)).toBe('outward');
  });

  it('in, then out again: two crossings, the last decides the net direction', () => {
    const p = path([0.1, 0.4, 0.6, 0.4, 0.1]);
    expect(doorCrossings(p, door, room).map((c) => c.direction)).toEqual(['inward', 'outward']);
    expect(crossingDirection(p, door, room)).toBe('outward');
  });

  it('walking about in the room is no crossing', () => {
    expect(doorCrossings(path([0.4, 0.6, 0.8, 0.5]), door, room)).toEqual([]);
    expect(crossingDirection(path([0.4, 0.6]), door, room)).toBeNull();
    expect(crossingDirection([], door, room)).toBeNull();
  });

  it('from outside the room to inside without the doorway (a glass wall) is no crossing', () => {
    const smallRoom: Zone = {
      id: 'room',
      kind: 'room',
      polygon: [
        [0, 0],
        [0.8, 0],
        [0.8, 1],
        [0, 1],
      ],
    };
    expect(doorCrossings(path([0.95, 0.9, 0.6, 0.4]), door, smallRoom)).toEqual([]);
  });

  it('ignores feet flickering on the doorway edge shorter than minHoldMs', () => {
    // Standing at the edge: room, door for one 200 ms sample, room again.
    const p = path([0.3, 0.25, 0.19, 0.25, 0.3]);
    expect(doorCrossings(p, door, room).map((c) => c.direction)).toEqual(['outward', 'inward']);
    expect(doorCrossings(p, door, room, { minHoldMs: 500 })).toEqual([]);
    // A real walk-in holds each side long enough.
    const walkIn = path([0.05, 0.1, 0.15, 0.3, 0.4, 0.5]);
    expect(doorCrossings(walkIn, door, room, { minHoldMs: 500 })).toEqual([
      { direction: 'inward', at: 600 },
    ]);
  });
});
