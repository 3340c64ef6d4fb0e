import { describe, expect, it } from 'vitest';
import {
  createGrabRule,
  type GrabRuleOptions,
  type LikelyPickedUp,
  type SlotOwner,
  type SlotOwnership,
} from './grab.rule.ts';
import {
  createEntryLog,
  RuleInputError,
  type Entry,
  type FlagCandidate,
  type Rule,
} from './rules.types.ts';
import {
  createSlotWatch,
  SlotWatchError,
  type SlotDecision,
  type SlotWatch,
  type WatchedSlot,
} from './slot.watch.ts';
import type { Box, Frame, Track } from './vision.ports.ts';

const CAM = 'shelf-cam';
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const FPS = 5;
const PERIOD = 1000 / FPS;

const rect = (x1: number, y1: number, x2: number, y2: number): WatchedSlot['polygon'] => [
  [x1, y1],
  [x2, y1],
  [x2, y2],
  [x1, y2],
];

const SLOTS: WatchedSlot[] = [
  { id: 's1', label: 'A1', cameraId: CAM, polygon: rect(0.02, 0.2, 0.22, 0.6) },
  { id: 's2', label: 'A2', cameraId: CAM, polygon: rect(0.27, 0.2, 0.47, 0.6) },
  { id: 's3', label: 'A3', cameraId: CAM, polygon: rect(0.52, 0.2, 0.72, 0.6) },
  { id: 's4', label: 'A4', cameraId: CAM, polygon: rect(0.77, 0.2, 0.97, 0.6) },
];

/** Who lives where, and which parcels sit in which slot. */
const RESIDENT_UNIT: Record<string, string> = { r4b: '4B', r4b2: '4B', r5c: '5C' };
const PARCELS: Record<string, SlotOwner[]> = {
  s1: [{ packageId: 'p1', residentId: 'r4b', unitId: '4B' }],
  s2: [{ packageId: 'p2', residentId: 'r4b', unitId: '4B' }],
  s3: [{ packageId: 'p3', residentId: 'r5c', unitId: '5C' }],
  s4: [],
};

/** The server's parcel records; a slot it does not know is a test mistake. */
function ownership(parcels: Record<string, SlotOwner[]> = PARCELS): SlotOwnership & {
  parcels: Record<string, SlotOwner[]>;
} {
  return {
    parcels,
    owners(slotId) {
      const p = parcels[slotId];
      if (!p) throw new Error(`unexpected owners(${slotId})`);
      return p;
    },
    unitOfResident: (residentId) => RESIDENT_UNIT[residentId],
  };
}

function entry(eventId: string, at: number, more: Partial<Entry> = {}): Entry {
  return {
    eventId,
    at,
    doorId: 'front',
    who: 'resident',
    residentId: 'r4b',
    credentialId: 'card-4b',
    ...more,
  };
}

const BOX_A1: Box = { x1: 10, y1: 30, x2: 60, y2: 120 };

function person(id: number, at: number, box: Box = BOX_A1): Track {
  return {
    id,
    cameraId: CAM,
    classId: 0,
    label: 'person',
    box,
    score: 0.9,
    firstSeenAt: at,
    lastSeenAt: at,
    velocity: { vx: 0, vy: 0 },
    state: 'confirmed',
  };
}

function decision(slotId: string, at: number, more: Partial<SlotDecision> = {}): SlotDecision {
  const slot = SLOTS.find((s) => s.id === slotId)!;
  return {
    kind: 'emptied',
    basis: 'matches_empty_reference',
    slotId,
    label: slot.label,
    cameraId: CAM,
    at,
    lastSeenUnchangedAt: at - 6000,
    changeSeenAt: at - 2000,
    score: {
      score: 0.6,
      structure: 0.6,
      tone: 0.3,
      lighting: { gain: 1, offset: 0, fitted: true },
    },
    emptyScore: null,
    occluders: [{ trackId: 7, box: BOX_A1, at: at - 3000 }],
    bounds: { x1: 6, y1: 36, x2: 70, y2: 108 },
    ...more,
  };
}

/**
 * A slot watch that hands out scripted decisions at given frame times. Only `measure` may be
 * called (the rule never takes references itself); anything else fails the test.
 */
function scriptedWatch(script: readonly SlotDecision[]): SlotWatch & { measuredAt: number[] } {
  const measuredAt: number[] = [];
  const unexpected = (what: string) => () => {
    throw new Error(`unexpected slot watch call: ${what}`);
  };
  return {
    slots: SLOTS,
    settleMs: 2000,
    measuredAt,
    captureReference: unexpected('captureReference'),
    captureEmptyReference: unexpected('captureEmptyReference'),
    requestReference: unexpected('requestReference'),
    markEmpty: unexpected('markEmpty'),
    status: unexpected('status'),
    measure(frame) {
      measuredAt.push(frame.at);
      return {
        status: 'measured',
        cameraId: frame.cameraId,
        at: frame.at,
        slots: [],
        decisions: script.filter((d) => d.at === frame.at),
        captured: [],
      };
    },
  };
}

const tinyFrame = (at: number, cameraId = CAM): Frame => ({
  cameraId,
  at,
  width: 4,
  height: 4,
  rgb: new Uint8Array(48),
});

interface Harness {
  rule: Rule;
  pickedUp: LikelyPickedUp[];
  unexplained: SlotDecision[];
  /** Feeds frames every 200 ms from `fromMs` to `toMs` (ms after T0); collects the flags. */
  run(fromMs: number, toMs: number, tracksAt?: (t: number) => Track[]): FlagCandidate[];
}

function harness(
  watch: SlotWatch,
  more: Partial<GrabRuleOptions> = {},
  owners: SlotOwnership = ownership(),
  frameAt: (at: number) => Frame = tinyFrame,
): Harness {
  const pickedUp: LikelyPickedUp[] = [];
  const unexplained: SlotDecision[] = [];
  const rule = createGrabRule({
    watch,
    ownership: owners,
    events: {
      likelyPickedUp: (r) => pickedUp.push(r),
      unexplainedChange: (d) => unexplained.push(d),
    },
    ...more,
  });
  return {
    rule,
    pickedUp,
    unexplained,
    run(fromMs, toMs, tracksAt = () => []) {
      const flags: FlagCandidate[] = [];
      for (let t = fromMs; t <= toMs; t += PERIOD) {
        const at = T0 + t;
        flags.push(...rule.update(CAM, tracksAt(t), at, frameAt(at)));
      }
      return flags;
    },
  };
}

/** A person at the shelf from 1 s to 8 s after T0. */
const visitTracks = (t: number): Track[] => (t >= 1000 && t < 8000 ? [person(7, T0 + t)] : []);

describe('multi-package grab: owners and visitors', () => {
  it('reports an owner taking their own parcel as likely picked up, with no flag', () => {
    const d = decision('s1', T0 + 10_000);
    const h = harness(scriptedWatch([d]));
    h.rule.onEntry(entry('ev-1', T0));
    const flags = h.run(0, 30_000, visitTracks);
    expect(flags).toEqual([]);
    expect(h.unexplained).toEqual([]);
    expect(h.pickedUp).toEqual([
      {
        slotId: 's1',
        label: 'A1',
        cameraId: CAM,
        at: T0 + 10_000,
        packages: PARCELS.s1,
        visitor: {
          who: 'resident',
          residentId: 'r4b',
          unit: '4B',
          entryEventId: 'ev-1',
          credentialId: 'card-4b',
        },
        entryEventId: 'ev-1',
        decision: d,
      },
    ]);
  });

  it('flags a visitor emptying a neighbour’s slot, once, tied to their entry', () => {
    const h = harness(scriptedWatch([decision('s3', T0 + 10_000)]));
    h.rule.onEntry(entry('ev-1', T0));
    const flags = h.run(0, 40_000, visitTracks);
    expect(h.pickedUp).toEqual([]);
    expect(flags).toHaveLength(1);
    const f = flags[0]!;
    expect(f).toMatchObject({
      kind: 'multi_package_grab',
      severity: 'high',
      cameraId: CAM,
      // Decided at 10 s; the flag waits gatherMs (1 s) for other slots of the same reach.
      at: T0 + 11_000,
      entryEventId: 'ev-1',
      credentialId: 'card-4b',
      trackIds: [7],
      clipWindow: { startAt: T0 + 4000 - 5000, endAt: T0 + 11_000 + 5000 },
    });
    expect(f.boxes).toEqual([
      { box: { x1: 6, y1: 36, x2: 70, y2: 108 }, label: 'slot A3 emptied (5C)' },
      { box: BOX_A1, label: 'person 7', trackId: 7 },
    ]);
    expect(f.evidence).toMatchObject({
      slots: [
        {
          slotId: 's3',
          label: 'A3',
          owners: [{ packageId: 'p3', residentId: 'r5c', unitId: '5C' }],
          role: 'other_resident',
        },
      ],
      visitor: { residentId: 'r4b', unit: '4B', who: 'resident' },
      entryEventId: 'ev-1',
      credentialId: 'card-4b',
      reasons: ['other_residents_parcels'],
      emptiedSlotCount: 1,
      ownedSlotCount: 2,
      followUp: false,
    });
  });

  it('names every slot of one reach in one flag: two of their own and one of another’s', () => {
    const h = harness(
      scriptedWatch([
        decision('s1', T0 + 10_000),
        decision('s2', T0 + 10_200),
        decision('s3', T0 + 10_400),
      ]),
    );
    h.rule.onEntry(entry('ev-1', T0));
    const flags = h.run(0, 40_000, visitTracks);
    expect(h.pickedUp.map((p) => [p.slotId, p.packages.map((x) => x.packageId)])).toEqual([
      ['s1', ['p1']],
      ['s2', ['p2']],
    ]);
    expect(flags).toHaveLength(1);
    expect(flags[0]!.at).toBe(T0 + 11_400);
    expect(flags[0]!.evidence.slots).toMatchObject([
      { slotId: 's1', role: 'own' },
      { slotId: 's2', role: 'own' },
      { slotId: 's3', role: 'other_resident' },
    ]);
    expect(flags[0]!.evidence.reasons).toEqual([
      'other_residents_parcels',
      'more_slots_than_owned',
    ]);
  });

  it('flags emptying more slots than the visitor has parcels in', () => {
    const h = harness(scriptedWatch([decision('s3', T0 + 10_000), decision('s4', T0 + 10_200)]));
    h.rule.onEntry(entry('ev-5', T0, { residentId: 'r5c', credentialId: 'card-5c' }));
    const flags = h.run(0, 40_000, visitTracks);
    expect(h.pickedUp.map((p) => p.slotId)).toEqual(['s3']);
    expect(flags).toHaveLength(1);
    expect(flags[0]!.evidence).toMatchObject({
      reasons: ['more_slots_than_owned'],
      emptiedSlotCount: 2,
      ownedSlotCount: 1,
      slots: [
        { slotId: 's3', role: 'own' },
        { slotId: 's4', role: 'unknown_owner', owners: [] },
      ],
    });
  });

  it('lets a household member collect a parcel addressed to their unit', () => {
    const h = harness(scriptedWatch([decision('s1', T0 + 10_000)]));
    h.rule.onEntry(entry('ev-2', T0, { residentId: 'r4b2', credentialId: 'card-4b2' }));
    expect(h.run(0, 30_000, visitTracks)).toEqual([]);
    expect(h.pickedUp.map((p) => [p.slotId, p.visitor.residentId, p.visitor.unit])).toEqual([
      ['s1', 'r4b2', '4B'],
    ]);
  });

  it('treats everyone who entered during the visit as a visitor', () => {
    const h = harness(scriptedWatch([decision('s1', T0 + 10_000), decision('s3', T0 + 10_000)]));
    h.rule.onEntry(entry('ev-1', T0));
    h.rule.onEntry(entry('ev-5', T0 + 2000, { residentId: 'r5c', credentialId: 'card-5c' }));
    expect(h.run(0, 30_000, visitTracks)).toEqual([]);
    expect(h.pickedUp.map((p) => [p.slotId, p.entryEventId])).toEqual([
      ['s1', 'ev-1'],
      ['s3', 'ev-5'],
    ]);
  });

  it('flags a carrier emptying a slot: carriers hold no parcels', () => {
    const h = harness(scriptedWatch([decision('s1', T0 + 10_000)]));
    h.rule.onEntry(
      entry('ev-c', T0, {
        who: 'carrier',
        residentId: undefined,
        credentialId: undefined,
        carrierCodeId: 'code-ups',
      }),
    );
    const flags = h.run(0, 30_000, visitTracks);
    expect(flags).toHaveLength(1);
    expect(flags[0]).not.toHaveProperty('credentialId');
    expect(flags[0]!.evidence).toMatchObject({
      visitor: { who: 'carrier', residentId: null, unit: null, entryEventId: 'ev-c' },
      reasons: ['other_residents_parcels', 'more_slots_than_owned'],
    });
  });

  it('ignores grants at doors that do not lead to this room', () => {
    const h = harness(scriptedWatch([decision('s1', T0 + 10_000)]), { doorIds: ['front'] });
    h.rule.onEntry(entry('ev-garage', T0, { doorId: 'garage' }));
    const flags = h.run(0, 30_000, visitTracks);
    // The person is in the room with no grant for it: an unknown visitor.
    expect(flags).toHaveLength(1);
    expect(flags[0]).not.toHaveProperty('entryEventId');
    expect(flags[0]!.evidence.visitor).toMatchObject({ who: 'unknown', entryEventId: null });
  });
});

describe('multi-package grab: visits in time', () => {
  it('finds the grant in the server’s record when it was not pushed', () => {
    const record = createEntryLog();
    record.add(entry('ev-db', T0 + 500));
    const h = harness(scriptedWatch([decision('s3', T0 + 10_000)]), { visits: record });
    const flags = h.run(0, 30_000, visitTracks);
    expect(flags.map((f) => f.entryEventId)).toEqual(['ev-db']);
  });

  it('reports a change with nobody around as unexplained, not as a flag', () => {
    const d = decision('s3', T0 + 50_000, {
      lastSeenUnchangedAt: T0 + 40_000,
      changeSeenAt: T0 + 48_000,
    });
    const h = harness(scriptedWatch([d]));
    h.rule.onEntry(entry('ev-1', T0));
    expect(h.run(0, 60_000, visitTracks)).toEqual([]);
    expect(h.unexplained).toEqual([d]);
  });

  it('still pins a decision that settles after the visitor left on their visit', () => {
    // Last seen at 8 s; the visit ends 15 s later; the slot is only judged at 30 s (someone
    // else's bag was in front of the camera until then): its window still overlaps the visit.
    const d = decision('s3', T0 + 30_000, {
      lastSeenUnchangedAt: T0 + 5000,
      changeSeenAt: T0 + 28_000,
    });
    const h = harness(scriptedWatch([d]));
    h.rule.onEntry(entry('ev-1', T0));
    const flags = h.run(0, 40_000, visitTracks);
    expect(flags.map((f) => [f.entryEventId, f.at])).toEqual([['ev-1', T0 + 31_000]]);
  });

  it('keeps the visit open while someone is seen, and ends it visitEndMs after', () => {
    const late = decision('s3', T0 + 40_000, {
      lastSeenUnchangedAt: T0 + 24_000,
      changeSeenAt: T0 + 38_000,
    });
    const h = harness(scriptedWatch([late]), { visitEndMs: 15_000 });
    h.rule.onEntry(entry('ev-1', T0));
    // Someone is seen until 8 s; the visit ends at 23 s; the slot was fine at 24 s.
    expect(h.run(0, 45_000, visitTracks)).toEqual([]);
    expect(h.unexplained).toEqual([late]);
  });

  it('opens a visit for a person seen with no grant at all', () => {
    const h = harness(scriptedWatch([decision('s1', T0 + 10_000)]));
    const flags = h.run(0, 30_000, visitTracks);
    expect(flags).toHaveLength(1);
    expect(flags[0]!.evidence).toMatchObject({
      visitor: { who: 'unknown', residentId: null },
      entryEventId: null,
      reasons: ['other_residents_parcels', 'more_slots_than_owned'],
      ownedSlotCount: 0,
    });
  });

  it('raises a follow-up flag for a slot emptied later in the same visit, never the same twice', () => {
    const h = harness(
      scriptedWatch([
        decision('s3', T0 + 6000, { lastSeenUnchangedAt: T0 + 1000, changeSeenAt: T0 + 4000 }),
        decision('s4', T0 + 20_000, { lastSeenUnchangedAt: T0 + 9000, changeSeenAt: T0 + 18_000 }),
      ]),
    );
    h.rule.onEntry(entry('ev-1', T0));
    const flags = h.run(0, 40_000, (t) => (t >= 1000 && t < 19_000 ? [person(7, T0 + t)] : []));
    expect(flags.map((f) => [f.at, f.evidence.followUp])).toEqual([
      [T0 + 7000, false],
      [T0 + 21_000, true],
    ]);
    expect(flags[1]!.evidence.slots).toMatchObject([{ slotId: 's3' }, { slotId: 's4' }]);
  });

  it('keeps the owners as they were when the visit began', () => {
    const owners = ownership({ ...PARCELS, s1: [...PARCELS.s1!], s2: [...PARCELS.s2!] });
    const h = harness(
      scriptedWatch([decision('s1', T0 + 10_000), decision('s2', T0 + 12_000)]),
      {},
      {
        owners: (id) => owners.owners(id),
        unitOfResident: (r) => owners.unitOfResident(r),
      },
    );
    h.rule.onEntry(entry('ev-1', T0));
    // The server marks p1 picked up as soon as it hears of it: s1 now holds nothing.
    const flags: FlagCandidate[] = [];
    for (let t = 0; t <= 30_000; t += PERIOD) {
      flags.push(...h.rule.update(CAM, visitTracks(t), T0 + t, tinyFrame(T0 + t)));
      if (h.pickedUp.length === 1) owners.parcels.s1 = [];
    }
    expect(flags).toEqual([]);
    expect(h.pickedUp.map((p) => p.slotId)).toEqual(['s1', 's2']);
  });

  it('lists slots that changed but are not empty in the flag, without picking them up', () => {
    const h = harness(
      scriptedWatch([
        decision('s2', T0 + 9000, { kind: 'changed', basis: 'differs_from_empty_reference' }),
        decision('s3', T0 + 10_000),
      ]),
    );
    h.rule.onEntry(entry('ev-1', T0));
    const flags = h.run(0, 30_000, visitTracks);
    expect(h.pickedUp).toEqual([]);
    expect(flags).toHaveLength(1);
    expect(flags[0]!.evidence.changedSlots).toEqual([{ slotId: 's2', label: 'A2' }]);
  });

  it('passes only its slot cameras’ frames to the watch', () => {
    const watch = scriptedWatch([]);
    const h = harness(watch);
    h.rule.update('door-cam', [], T0, tinyFrame(T0, 'door-cam'));
    h.rule.update(CAM, [], T0 + 200);
    h.rule.update(CAM, [], T0 + 400, tinyFrame(T0 + 400));
    expect(watch.measuredAt).toEqual([T0 + 400]);
  });
});

describe('multi-package grab: bad input', () => {
  it('refuses bad entries, frames of another camera and bad options with clear errors', () => {
    const h = harness(scriptedWatch([]));
    expect(() => h.rule.onEntry({ ...entry('', T0) })).toThrow(RuleInputError);
    expect(() => h.rule.update(CAM, [], T0, tinyFrame(T0, 'door-cam'))).toThrow(
      /frame of camera door-cam given for camera shelf-cam/,
    );
    expect(() => h.rule.update(CAM, [], Number.NaN)).toThrow(RuleInputError);
    expect(() => harness(scriptedWatch([]), { visitEndMs: -5 })).toThrow(/visitEndMs/);
  });

  it('turns a frame the slot watch cannot read into a RuleInputError', () => {
    const watch: SlotWatch = {
      ...scriptedWatch([]),
      measure() {
        throw new SlotWatchError('frame from camera shelf-cam is 4×4 with 3 bytes');
      },
    };
    const h = harness(watch);
    expect(() => h.rule.update(CAM, [], T0, tinyFrame(T0))).toThrow(RuleInputError);
  });
});

// ---------------------------------------------------------------------------------------------
// With the real slot watch on drawn frames

const W = 160;
const H = 90;

/** Where each slot's parcel is drawn, in pixels: inside the slot, a little in from its sides. */
const PARCEL_RECTS = SLOTS.map((s) => {
  const xs = s.polygon.map((p) => p[0]);
  const ys = s.polygon.map((p) => p[1]);
  return {
    slotId: s.id,
    x1: (Math.min(...xs) + 0.03) * W,
    x2: (Math.max(...xs) - 0.03) * W,
    y1: (Math.min(...ys) + 0.1) * H,
    y2: Math.max(...ys) * H,
  };
});

/** A grey shelf with a textured parcel (stripes) in each slot that `full` says is occupied. */
function shelfFrame(at: number, full: Record<string, boolean>, personBox?: Box): Frame {
  const rgb = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let v = 150 + ((x * 13 + y * 7) % 5);
      for (const r of PARCEL_RECTS) {
        const inParcel = x > r.x1 && x < r.x2 && y > r.y1 && y < r.y2;
        if (full[r.slotId] && inParcel) v = (Math.floor(x / 3) + Math.floor(y / 4)) % 2 ? 200 : 70;
      }
      if (personBox && x >= personBox.x1 && x < personBox.x2 && y >= personBox.y1) v = 40;
      rgb.fill(v, (y * W + x) * 3, (y * W + x) * 3 + 3);
    }
  }
  return { cameraId: CAM, at, width: W, height: H, rgb };
}

describe('multi-package grab with the real slot watch', () => {
  it('flags the neighbour’s parcel and reports the visitor’s own, from pixels', () => {
    const watch = createSlotWatch({ slots: SLOTS, settleMs: 2000 });
    const start = shelfFrame(T0 - 1000, { s1: true, s2: true, s3: true, s4: false });
    for (const id of ['s1', 's2', 's3']) watch.captureReference(id, start);
    watch.captureEmptyReference('s4', start);
    // The visitor stands in front of s1..s3 from 2 s to 7 s and takes the parcels of s1 and s3.
    const inFront: Box = { x1: 0, y1: 10, x2: 120, y2: 90 };
    const present = (t: number) => t >= 2000 && t < 7000;
    const full = (t: number) => ({ s1: t < 4000, s2: true, s3: t < 5000, s4: false });
    const h = harness(watch, {}, ownership(), (at) =>
      shelfFrame(at, full(at - T0), present(at - T0) ? inFront : undefined),
    );
    h.rule.onEntry(entry('ev-1', T0));
    const flags = h.run(0, 30_000, (t) => (present(t) ? [person(4, T0 + t, inFront)] : []));
    expect(h.unexplained).toEqual([]);
    expect(h.pickedUp.map((p) => [p.slotId, p.at])).toEqual([['s1', T0 + 9000]]);
    expect(flags).toHaveLength(1);
    expect(flags[0]).toMatchObject({ at: T0 + 10_000, entryEventId: 'ev-1', trackIds: [4] });
    expect(flags[0]!.evidence.slots).toMatchObject([
      { slotId: 's1', role: 'own', basis: 'no_empty_reference' },
      { slotId: 's3', role: 'other_resident' },
    ]);
  });
});
