import { describe, expect, it } from 'vitest';
import { createLoiteringRule, type LoiteringOptions } from './loitering.rule.ts';
import {
  RuleConfigError,
  RuleInputError,
  type Entry,
  type FlagCandidate,
  type Rule,
  type VisitContext,
} from './rules.types.ts';
import type { Frame, Track } from './vision.ports.ts';
import type { Zone } from './zones.ts';

const W = 1000;
const H = 500;
const T0 = Date.UTC(2026, 0, 1, 12);
const frame = (at: number): Frame => ({
  cameraId: 'cam',
  at,
  width: W,
  height: H,
  rgb: new Uint8Array(0),
});

const ZONES: Zone[] = [
  {
    id: 'room',
    kind: 'room',
    polygon: [
      [0, 0],
      [1, 0],
      [1, 1],
      [0, 1],
    ],
  },
  {
    id: 'waiting',
    kind: 'room',
    polygon: [
      [0.6, 0.5],
      [1, 0.5],
      [1, 1],
      [0.6, 1],
    ],
  },
  {
    id: 'doorway',
    kind: 'door',
    polygon: [
      [0, 0.5],
      [0.15, 0.5],
      [0.15, 1],
      [0, 1],
    ],
  },
];

/** Where a person's feet are (frame fractions) at a time, or null when not detected. */
type Path = (t: number) => { x: number; y: number } | null;

interface Person {
  id: number;
  classId?: number;
  path: Path;
}

const grant = (eventId: string, at: number, extra: Partial<Entry> = {}): Entry => ({
  eventId,
  at,
  doorId: 'front',
  who: 'resident',
  residentId: 'r-4b',
  credentialId: `cred-${eventId}`,
  ...extra,
});

/**
 * Drives the rule like the pipeline does: one update per frame every `stepMs`, tracks made the way
 * the tracker makes them (tentative for the first 400 ms, lost up to 1.5 s after the last sighting).
 */
function simulate(
  rule: Rule,
  people: readonly Person[],
  opts: { untilMs: number; stepMs?: number; entries?: readonly Entry[]; fromMs?: number },
): FlagCandidate[] {
  const step = opts.stepMs ?? 200;
  const pending = [...(opts.entries ?? [])].sort((a, b) => a.at - b.at);
  const seen = new Map<number, { first: number; last: number; box: Track['box'] }>();
  const flags: FlagCandidate[] = [];
  for (let t = opts.fromMs ?? 0; t <= opts.untilMs; t += step) {
    const at = T0 + t;
    while (pending.length && pending[0]!.at <= at) rule.onEntry(pending.shift()!);
    const tracks: Track[] = [];
    for (const p of people) {
      const feet = p.path(t);
      const s = seen.get(p.id);
      if (feet) {
        const box = {
          x1: feet.x * W - 50,
          y1: feet.y * H - 200,
          x2: feet.x * W + 50,
          y2: feet.y * H,
        };
        const first = s?.first ?? at;
        seen.set(p.id, { first, last: at, box });
        tracks.push(track(p, box, first, at, at - first >= 400 ? 'confirmed' : 'tentative'));
      } else if (s && at - s.last <= 1500) {
        tracks.push(track(p, s.box, s.first, s.last, 'lost'));
      } else if (s) {
        seen.delete(p.id);
      }
    }
    flags.push(...rule.update('cam', tracks, at, frame(at)));
  }
  return flags;
}

function track(
  p: Person,
  box: Track['box'],
  firstSeenAt: number,
  lastSeenAt: number,
  state: Track['state'],
): Track {
  return {
    id: p.id,
    cameraId: 'cam',
    classId: p.classId ?? 0,
    label: p.classId ? 'dog' : 'person',
    box,
    score: 0.9,
    firstSeenAt,
    lastSeenAt,
    velocity: { vx: 0, vy: 0 },
    state,
  };
}

/** Walks in from the doorway (x 0.05) to `x`, stands until `leaveAt`, walks back out. */
const visitor =
  (enterAt: number, x: number, leaveAt: number, walkMs = 2000): Path =>
  (t) => {
    if (t < enterAt || t > leaveAt + walkMs) return null;
    const y = 0.9;
    if (t < enterAt + walkMs) return { x: 0.05 + ((x - 0.05) * (t - enterAt)) / walkMs, y };
    if (t <= leaveAt) return { x, y };
    return { x: x - ((x - 0.05) * (t - leaveAt)) / walkMs, y };
  };

const rule = (extra: Partial<LoiteringOptions> = {}) =>
  createLoiteringRule({
    cameras: [{ cameraId: 'cam', doorIds: ['front'], zones: ZONES }],
    ...extra,
  });

describe('loitering: dwell in the room', () => {
  it('flags a person standing 120 s once, when the 90 s threshold is reached', () => {
    const flags = simulate(rule(), [{ id: 1, path: visitor(1000, 0.4, 200_000) }], {
      untilMs: 125_000,
      entries: [grant('g1', T0 + 500)],
    });
    expect(flags).toHaveLength(1);
    const f = flags[0]!;
    expect(f).toMatchObject({
      kind: 'loitering',
      severity: 'low',
      cameraId: 'cam',
      entryEventId: 'g1',
      credentialId: 'cred-g1',
      trackIds: [1],
    });
    // First seen at 1.0 s, so 90 s in is 91.0 s; one 200 ms frame of slack.
    expect(f.at - T0).toBeGreaterThanOrEqual(91_000);
    expect(f.at - T0).toBeLessThanOrEqual(91_200);
    expect(f.evidence).toMatchObject({
      reason: 'dwell',
      zoneId: 'room',
      thresholdMs: 90_000,
      entryEventId: 'g1',
      who: 'resident',
      firstSeenAt: T0 + 1000,
    });
    expect(f.evidence.dwellMs).toBeGreaterThanOrEqual(90_000);
    expect(f.clipWindow).toEqual({ startAt: T0 + 1000 - 5000, endAt: f.at + 5000 });
    expect(f.boxes).toEqual([
      { box: { x1: 350, y1: 250, x2: 450, y2: 450 }, label: 'person 1 (90 s)', trackId: 1 },
    ]);
    // Plain JSON: survives a round trip unchanged.
    expect(JSON.parse(JSON.stringify(f))).toEqual(f);
  });

  it('decides at the same time in seconds whatever the frame rate', () => {
    const at = (stepMs: number) =>
      simulate(rule(), [{ id: 1, path: visitor(1000, 0.4, 200_000) }], {
        untilMs: 100_000,
        stepMs,
        entries: [grant('g1', T0 + 500)],
      }).map((f) => f.at - T0);
    const [slow] = at(1000);
    const [fast] = at(100);
    expect(slow).toBeGreaterThanOrEqual(91_000);
    expect(slow).toBeLessThanOrEqual(92_000);
    expect(fast).toBeGreaterThanOrEqual(91_000);
    expect(fast).toBeLessThanOrEqual(91_100);
  });

  it('raises nothing for a visitor who picks up and leaves within the threshold', () => {
    const flags = simulate(rule(), [{ id: 1, path: visitor(1000, 0.4, 30_000) }], {
      untilMs: 120_000,
      entries: [grant('g1', T0 + 500)],
    });
    expect(flags).toEqual([]);
  });

  it('uses a zone’s own threshold', () => {
    const flags = simulate(
      rule({ zoneThresholdMs: { waiting: 20_000 } }),
      [{ id: 1, path: visitor(1000, 0.8, 60_000) }],
      { untilMs: 60_000, entries: [grant('g1', T0 + 500)] },
    );
    expect(flags).toHaveLength(1);
    expect(flags[0]!.evidence).toMatchObject({
      reason: 'dwell',
      zoneId: 'waiting',
      thresholdMs: 20_000,
    });
    // Feet reach x 0.6 (the waiting zone) 1.5 s into the 2 s walk from the doorway.
    expect(flags[0]!.at - T0).toBeGreaterThanOrEqual(22_400);
    expect(flags[0]!.at - T0).toBeLessThanOrEqual(22_800);
  });

  it('keeps the dwell through missed detections and a new track id', () => {
    // Detected until 40 s, missed for 3 s (the tracker drops the track), back as track 2.
    const hidden = (t: number) => t > 40_000 && t < 43_000;
    const stand = visitor(1000, 0.4, 200_000);
    const flags = simulate(
      rule(),
      [
        { id: 1, path: (t) => (t <= 40_000 ? stand(t) : null) },
        { id: 2, path: (t) => (t > 40_000 && !hidden(t) ? stand(t) : null) },
      ],
      { untilMs: 100_000, entries: [grant('g1', T0 + 500)] },
    );
    expect(flags).toHaveLength(1);
    expect(flags[0]!.trackIds).toEqual([1, 2]);
    expect(flags[0]!.at - T0).toBeLessThanOrEqual(91_200);
    expect(flags[0]!.boxes[0]!.trackId).toBe(2);
  });

  it('does not flag staff at work unless told to', () => {
    const people = [{ id: 1, path: visitor(1000, 0.4, 200_000) }];
    const staff = [grant('g1', T0 + 500, { who: 'staff' })];
    expect(simulate(rule(), people, { untilMs: 100_000, entries: staff })).toEqual([]);
    const strict = simulate(rule({ exemptWho: [] }), people, { untilMs: 100_000, entries: staff });
    expect(strict.map((f) => f.evidence.reason)).toEqual(['dwell']);
  });

  it('ignores other classes and tracks that never got confirmed', () => {
    const flags = simulate(
      rule(),
      [
        { id: 1, classId: 16, path: visitor(1000, 0.4, 200_000) },
        // Seen for 300 ms only: a flicker the tracker never confirms.
        { id: 2, path: (t) => (t >= 5000 && t < 5300 ? { x: 0.5, y: 0.9 } : null) },
      ],
      { untilMs: 100_000 },
    );
    expect(flags).toEqual([]);
  });
});

describe('loitering: the visit that let them in', () => {
  it('flags a person with no entry at all, high, once, soon after they appear', () => {
    const flags = simulate(rule(), [{ id: 1, path: visitor(1000, 0.4, 20_000) }], {
      untilMs: 30_000,
    });
    expect(flags).toHaveLength(1);
    expect(flags[0]).toMatchObject({ kind: 'loitering', severity: 'high', trackIds: [1] });
    expect(flags[0]!.evidence).toMatchObject({ reason: 'no_entry', entryEventId: null, who: null });
    expect(flags[0]!.entryEventId).toBeUndefined();
    // entryLateMs (2 s) after first seen, the grant cannot be just late any more.
    expect(flags[0]!.at - T0).toBe(3000);
  });

  it('accepts a grant recorded just after the person appeared, not one at another door', () => {
    const people = [{ id: 1, path: visitor(1000, 0.4, 20_000) }];
    expect(
      simulate(rule(), people, { untilMs: 30_000, entries: [grant('g1', T0 + 2000)] }),
    ).toEqual([]);
    const elsewhere = simulate(rule(), people, {
      untilMs: 30_000,
      entries: [grant('g1', T0 + 500, { doorId: 'back' })],
    });
    expect(elsewhere.map((f) => f.evidence.reason)).toEqual(['no_entry']);
    const tooOld = simulate(rule(), people, {
      untilMs: 30_000,
      entries: [grant('g0', T0 - 40_000)],
    });
    expect(tooOld.map((f) => f.evidence.reason)).toEqual(['no_entry']);
  });

  it('reads grants from the server’s record when they were not pushed', () => {
    const calls: [number, number, string | undefined][] = [];
    const visits: VisitContext = {
      entriesBetween(from, to, doorId) {
        calls.push([from, to, doorId]);
        const e = grant('g-db', T0 + 500);
        return e.at >= from && e.at <= to ? [e] : [];
      },
    };
    const flags = simulate(rule({ visits }), [{ id: 1, path: visitor(1000, 0.4, 20_000) }], {
      untilMs: 30_000,
    });
    expect(flags).toEqual([]);
    // Asked once, for the look-back window around the person's first sighting.
    expect(calls).toEqual([[T0 + 1000 - 30_000, T0 + 1000 + 2000, undefined]]);
  });

  it('flags a person still there after the visit allowance ran out', () => {
    const flags = simulate(
      rule({ visitMs: 60_000, thresholdMs: 600_000 }),
      [{ id: 1, path: visitor(1000, 0.4, 200_000) }],
      { untilMs: 70_000, entries: [grant('g1', T0 + 500)] },
    );
    expect(flags).toHaveLength(1);
    expect(flags[0]).toMatchObject({ severity: 'medium', entryEventId: 'g1' });
    expect(flags[0]!.evidence).toMatchObject({ reason: 'overstay', sessionEndsAt: T0 + 60_500 });
    expect(flags[0]!.at - T0).toBe(60_600);
  });

  it('a grant used by someone who left lets nobody else in', () => {
    // A comes in on g1 and leaves through the doorway at ~12 s; B walks in at 25 s, no badge.
    const people = [
      { id: 1, path: visitor(1000, 0.4, 10_000) },
      { id: 2, path: visitor(25_000, 0.5, 40_000) },
    ];
    const flags = simulate(rule(), people, { untilMs: 45_000, entries: [grant('g1', T0 + 500)] });
    expect(flags).toHaveLength(1);
    expect(flags[0]!.trackIds).toEqual([2]);
    expect(flags[0]!.evidence.reason).toBe('no_entry');
  });
});

describe('loitering: leaving through the door ends the visit', () => {
  it('flags someone who slips in as the resident goes out', () => {
    // The resident leaves through the doorway at ~12 s; a stranger walks in from there at 13 s,
    // well inside the grant's look-back, on a grant that is already used up.
    const people = [
      { id: 1, path: visitor(1000, 0.4, 10_000) },
      { id: 2, path: visitor(13_000, 0.5, 30_000) },
    ];
    const flags = simulate(rule(), people, { untilMs: 30_000, entries: [grant('g1', T0 + 500)] });
    expect(flags.map((f) => [f.trackIds, f.evidence.reason])).toEqual([[[2], 'no_entry']]);
    // Beside the tailgating rule (15 s window), that newcomer is its flag: no second one here.
    const shared = simulate(rule({ sharedEntryMs: 15_000 }), people, {
      untilMs: 30_000,
      entries: [grant('g1', T0 + 500)],
    });
    expect(shared).toEqual([]);
    // Outside that window the spent grant lets nobody in, shared or not.
    const later = simulate(
      rule({ sharedEntryMs: 15_000 }),
      [people[0]!, { id: 2, path: visitor(20_000, 0.5, 30_000) }],
      { untilMs: 30_000, entries: [grant('g1', T0 + 500)] },
    );
    expect(later.map((f) => f.evidence.reason)).toEqual(['no_entry']);
  });

  it('does not take a track lost in the doorway on the way in for a departure', () => {
    // Seen standing in the doorway, missed for 2.5 s (dropped by the tracker), then walks in.
    const path1: Path = (t) => (t >= 1000 && t < 2000 ? { x: 0.08, y: 0.9 } : null);
    const path2: Path = (t) =>
      t >= 4500 && t <= 20_000 ? { x: Math.min(0.5, 0.1 + (t - 4500) / 5000), y: 0.9 } : null;
    const flags = simulate(
      rule(),
      [
        { id: 1, path: path1 },
        { id: 2, path: path2 },
      ],
      { untilMs: 20_000, entries: [grant('g1', T0 + 500)] },
    );
    expect(flags).toEqual([]);
  });
});

describe('loitering: bad input and configuration', () => {
  it('refuses updates it cannot judge, with the reason', () => {
    const r = rule();
    expect(() => r.update('other', [], T0)).toThrow(RuleInputError);
    expect(() => r.update('other', [], T0)).toThrow(/camera other is not configured/);
    expect(() => r.update('cam', [], T0)).toThrow(/no frame and no configured frameSize/);
    r.update('cam', [], T0 + 1000, frame(T0 + 1000));
    expect(() => r.update('cam', [], T0, frame(T0))).toThrow(/older than the previous one/);
    expect(() => r.update('cam', [], NaN, frame(T0))).toThrow(/not a number/);
    expect(() => r.onEntry({ ...grant('g', T0), at: Number.NaN })).toThrow(/entry g: at/);
    expect(() => r.onEntry({ ...grant('g', T0), who: 'visitor' as never })).toThrow(/who must be/);
    // A configured frame size stands in for the frame.
    const sized = createLoiteringRule({
      cameras: [{ cameraId: 'cam', zones: ZONES, frameSize: { width: W, height: H } }],
    });
    expect(sized.update('cam', [], T0)).toEqual([]);
  });

  it('refuses a configuration it cannot run, naming what is wrong', () => {
    const cam = { cameraId: 'cam', zones: ZONES };
    expect(() => createLoiteringRule({ cameras: [cam], thresholdMs: -1 })).toThrow(RuleConfigError);
    expect(() => createLoiteringRule({ cameras: [cam, cam] })).toThrow(/listed twice/);
    expect(() =>
      createLoiteringRule({ cameras: [{ cameraId: 'c2', zones: [ZONES[2]!] }] }),
    ).toThrow(/no zone of kind 'room'/);
    expect(() =>
      createLoiteringRule({ cameras: [cam], zoneThresholdMs: { doorway: 1000 } }),
    ).toThrow(/doorway, which is not a room zone/);
    expect(() =>
      createLoiteringRule({
        cameras: [
          {
            cameraId: 'c3',
            zones: [
              {
                id: 'bad',
                kind: 'room',
                polygon: [
                  [0, 0],
                  [2, 0],
                  [0, 1],
                ],
              },
            ],
          },
        ],
      }),
    ).toThrow(/camera c3: zone bad corner 1/);
    expect(() => createLoiteringRule({ cameras: [cam], rejoinDistance: 3 })).toThrow(
      /rejoinDistance/,
    );
  });
});
