import { describe, expect, it } from 'vitest';
import {
  RuleConfigError,
  RuleInputError,
  type Entry,
  type FlagCandidate,
  type Rule,
} from './rules.types.ts';
import { createTailgatingRule, type TailgatingOptions } from './tailgating.rule.ts';
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

const ROOM: Zone = {
  id: 'room',
  kind: 'room',
  polygon: [
    [0, 0],
    [1, 0],
    [1, 1],
    [0, 1],
  ],
};
const DOOR: Zone = {
  id: 'doorway',
  kind: 'door',
  polygon: [
    [0, 0.5],
    [0.15, 0.5],
    [0.15, 1],
    [0, 1],
  ],
};

type Path = (t: number) => { x: number; y: number } | null;
interface Person {
  id: number;
  path: Path;
}

const grant = (eventId: string, at: number, extra: Partial<Entry> = {}): Entry => ({
  eventId,
  at: T0 + at,
  doorId: 'front',
  who: 'resident',
  credentialId: `cred-${eventId}`,
  ...extra,
});

/** One update per frame, tracks made like the tracker makes them (see loitering.rule.test.ts). */
function simulate(
  rule: Rule,
  people: readonly Person[],
  opts: { untilMs: number; stepMs?: number; entries?: readonly Entry[] },
): FlagCandidate[] {
  const step = opts.stepMs ?? 200;
  const pending = [...(opts.entries ?? [])].sort((a, b) => a.at - b.at);
  const seen = new Map<number, { first: number; last: number; box: Track['box'] }>();
  const flags: FlagCandidate[] = [];
  for (let t = 0; t <= opts.untilMs; t += step) {
    const at = T0 + t;
    while (pending.length && pending[0]!.at <= at) rule.onEntry(pending.shift()!);
    const tracks: Track[] = [];
    for (const p of people) {
      const feet = p.path(t);
      const s = seen.get(p.id);
      const make = (
        box: Track['box'],
        first: number,
        last: number,
        state: Track['state'],
      ): Track => ({
        id: p.id,
        cameraId: 'cam',
        classId: 0,
        label: 'person',
        box,
        score: 0.9,
        firstSeenAt: first,
        lastSeenAt: last,
        velocity: { vx: 0, vy: 0 },
        state,
      });
      if (feet) {
        const box = {
          x1: feet.x * W - 50,
          y1: feet.y * H - 200,
          x2: feet.x * W + 50,
          y2: feet.y * H,
        };
        const first = s?.first ?? at;
        seen.set(p.id, { first, last: at, box });
        tracks.push(make(box, first, at, at - first >= 400 ? 'confirmed' : 'tentative'));
      } else if (s && at - s.last <= 1500) {
        tracks.push(make(s.box, s.first, s.last, 'lost'));
      } else if (s) {
        seen.delete(p.id);
      }
    }
    flags.push(...rule.update('cam', tracks, at, frame(at)));
  }
  return flags;
}

/** Steps into the doorway (x 0.05) at `enterAt` and walks to x 0.6 over 2 s, then stays. */
const walkIn =
  (enterAt: number, until = 60_000): Path =>
  (t) => {
    if (t < enterAt || t > until) return null;
    return { x: 0.05 + 0.55 * Math.min(1, (t - enterAt) / 2000), y: 0.9 };
  };
/** Time the feet leave the doorway (x 0.15) on a walkIn path. */
const crossesAt = (enterAt: number) => enterAt + (2000 * 0.1) / 0.55;

const rule = (extra: Partial<TailgatingOptions> = {}) =>
  createTailgatingRule({
    cameras: [{ cameraId: 'cam', doorId: 'front', zones: [ROOM, DOOR] }],
    ...extra,
  });

describe('tailgating: people crossing per grant', () => {
  it('flags two people walking in on one grant, once, within a second and a half', () => {
    const flags = simulate(
      rule(),
      [
        { id: 1, path: walkIn(1000) },
        { id: 2, path: walkIn(3000) },
      ],
      { untilMs: 30_000, entries: [grant('g1', 800)] },
    );
    expect(flags).toHaveLength(1);
    const f = flags[0]!;
    expect(f).toMatchObject({
      kind: 'tailgating',
      severity: 'medium',
      cameraId: 'cam',
      entryEventId: 'g1',
      credentialId: 'cred-g1',
      trackIds: [1, 2],
    });
    expect(f.evidence).toMatchObject({
      doorId: 'front',
      crossings: 2,
      grants: 1,
      peoplePerGrant: 1,
      trackIds: [1, 2],
      entryEventIds: ['g1'],
      windowStartAt: T0 + 800 - 1000,
      windowEndAt: T0 + 800 + 15_000,
    });
    // The second crossing, then beforeGrantMs (1 s) for a late grant, plus a frame.
    const late = f.at - (T0 + crossesAt(3000));
    expect(late).toBeGreaterThanOrEqual(1000);
    expect(late).toBeLessThanOrEqual(1400);
    expect(f.clipWindow).toEqual({ startAt: T0 + 800 - 5000, endAt: f.at + 5000 });
    expect(f.boxes.map((b) => b.label)).toEqual(['person 1 (1st in)', 'person 2 (2nd in)']);
    expect(JSON.parse(JSON.stringify(f))).toEqual(f);
  });

  it('does not flag one person on one grant, or two people who each badged', () => {
    expect(
      simulate(rule(), [{ id: 1, path: walkIn(1000) }], {
        untilMs: 30_000,
        entries: [grant('g1', 800)],
      }),
    ).toEqual([]);
    expect(
      simulate(
        rule(),
        [
          { id: 1, path: walkIn(1000) },
          { id: 2, path: walkIn(3000) },
        ],
        { untilMs: 30_000, entries: [grant('g1', 800), grant('g2', 2500)] },
      ),
    ).toEqual([]);
  });

  it('counts three on one grant as one flag of high severity', () => {
    const flags = simulate(
      rule(),
      [
        { id: 1, path: walkIn(1000) },
        { id: 2, path: walkIn(3000) },
        { id: 3, path: walkIn(5000) },
      ],
      { untilMs: 30_000, entries: [grant('g1', 800)] },
    );
    // Decided at the second crossing; the third joins the same window and is not flagged again.
    expect(flags).toHaveLength(1);
    expect(flags[0]!.evidence).toMatchObject({ crossings: 2, grants: 1 });
    const three = simulate(
      rule(),
      [
        { id: 1, path: walkIn(1000) },
        { id: 2, path: walkIn(1100, 60_000) },
        { id: 3, path: walkIn(1200, 60_000) },
      ],
      { untilMs: 30_000, entries: [grant('g1', 800)] },
    );
    expect(three).toHaveLength(1);
    expect(three[0]).toMatchObject({ severity: 'high' });
    expect(three[0]!.evidence).toMatchObject({ crossings: 3, grants: 1, trackIds: [1, 2, 3] });
  });

  it('lets peoplePerGrant people in per grant', () => {
    const people = [
      { id: 1, path: walkIn(1000) },
      { id: 2, path: walkIn(3000) },
    ];
    const entries = [grant('g1', 800)];
    expect(simulate(rule({ peoplePerGrant: 2 }), people, { untilMs: 30_000, entries })).toEqual([]);
  });

  it('leaves a crossing with no grant in reach to the other rules', () => {
    const people = [{ id: 1, path: walkIn(1000) }];
    expect(simulate(rule(), people, { untilMs: 30_000 })).toEqual([]);
    // A grant 20 s earlier is outside the 15 s window: still no grant to count against.
    const flags = simulate(
      rule(),
      [
        { id: 1, path: walkIn(1000, 5000) },
        { id: 2, path: walkIn(21_000) },
      ],
      { untilMs: 40_000, entries: [grant('g1', 800)] },
    );
    expect(flags).toEqual([]);
  });

  it('accepts a grant recorded just after the crossing (clock skew), not one seconds later', () => {
    const people = [
      { id: 1, path: walkIn(1000) },
      { id: 2, path: walkIn(3000) },
    ];
    const skew = grant('g2', Math.round(crossesAt(3000)) + 600);
    expect(
      simulate(rule(), people, { untilMs: 30_000, entries: [grant('g1', 800), skew] }),
    ).toEqual([]);
    const late = grant('g2', Math.round(crossesAt(3000)) + 3000);
    expect(
      simulate(rule(), people, { untilMs: 30_000, entries: [grant('g1', 800), late] }),
    ).toHaveLength(1);
  });

  it('does not count someone leaving, or the same person stepping back and in again', () => {
    const leaving: Path = (t) =>
      t < 0 || t > 4000 ? null : { x: Math.max(0.02, 0.6 - 0.55 * (t / 2000)), y: 0.9 };
    // In, back into the doorway for a second, in again: one track, one crossing.
    const dither: Path = (t) => {
      if (t < 1000 || t > 30_000) return null;
      if (t < 3000) return walkIn(1000)(t);
      if (t < 4000) return { x: 0.1, y: 0.9 };
      return { x: 0.5, y: 0.9 };
    };
    const flags = simulate(
      rule(),
      [
        { id: 1, path: leaving },
        { id: 2, path: dither },
      ],
      { untilMs: 30_000, entries: [grant('g1', 800)] },
    );
    expect(flags).toEqual([]);
  });

  it('ignores a flicker the tracker never confirmed', () => {
    const flicker: Path = (t) =>
      t >= 2000 && t < 2300 ? { x: 0.1 + (t - 2000) / 1000, y: 0.9 } : null;
    const flags = simulate(
      rule(),
      [
        { id: 1, path: walkIn(1000) },
        { id: 2, path: flicker },
      ],
      { untilMs: 30_000, entries: [grant('g1', 800)] },
    );
    expect(flags).toEqual([]);
  });

  it('gives the same answer at 2 fps and 10 fps', () => {
    const people = [
      { id: 1, path: walkIn(1000) },
      { id: 2, path: walkIn(3000) },
    ];
    for (const stepMs of [500, 100]) {
      const flags = simulate(rule(), people, {
        untilMs: 30_000,
        stepMs,
        entries: [grant('g1', 800)],
      });
      expect(flags.map((f) => f.evidence.crossings)).toEqual([2]);
      expect(flags[0]!.at - (T0 + crossesAt(3000))).toBeLessThanOrEqual(1000 + 400 + stepMs * 2);
    }
  });
});

describe('tailgating: bad input and configuration', () => {
  it('refuses updates it cannot judge', () => {
    const r = rule();
    expect(() => r.update('nope', [], T0, frame(T0))).toThrow(RuleInputError);
    expect(() => r.update('cam', [], T0)).toThrow(/no frame and no configured frameSize/);
    r.update('cam', [], T0 + 10, frame(T0 + 10));
    expect(() => r.update('cam', [], T0, frame(T0))).toThrow(/older than the previous one/);
    expect(() => r.onEntry({ ...grant('g', 0), doorId: '' })).toThrow(/doorId/);
  });

  it('refuses a camera it cannot watch, naming it', () => {
    const mk =
      (cam: Partial<Parameters<typeof createTailgatingRule>[0]['cameras'][number]>) => () =>
        createTailgatingRule({
          cameras: [{ cameraId: 'c1', doorId: 'front', zones: [ROOM, DOOR], ...cam }],
        });
    expect(mk({ doorId: '' })).toThrow(/camera c1 needs the doorId/);
    expect(mk({ zones: [ROOM] })).toThrow(/camera c1 has no zone of kind 'door'/);
    expect(mk({ doorZoneId: 'room' })).toThrow(/zone room is a room zone, not a door zone/);
    expect(mk({ roomZoneId: 'hall' })).toThrow(/camera c1 has no zone hall/);
    expect(() => rule({ peoplePerGrant: 0 })).toThrow(RuleConfigError);
    expect(() => rule({ afterGrantMs: -5 })).toThrow(/afterGrantMs/);
  });
});
