import { describe, expect, it } from 'vitest';
import { demoSite } from '../config/demo.site.ts';
import { siteSchema } from '../config/site.schema.ts';
import {
  AssignmentError,
  PERISHABLE_WITHOUT_COLD_LOCKER,
  assignLocation,
  occupancyOf,
  recordParcel,
  roomFromSite,
  type AssignerOptions,
  type Assignment,
  type LockerLayout,
  type LockerSize,
  type Occupancy,
  type ParcelToPlace,
  type RoomLayout,
  type RoomState,
} from './slot.assigner.ts';

/** Shelves named A, B, C… with slots A1, A2…; ids are the labels in lowercase. */
function layout(
  slotsPerShelf: number[],
  lockers: [string, LockerSize, boolean?][] = [],
): RoomLayout {
  return {
    shelves: slotsPerShelf.map((n, s) => {
      const name = String.fromCharCode(65 + s);
      return {
        id: `shelf-${name.toLowerCase()}`,
        slots: Array.from({ length: n }, (_, i) => ({
          id: `${name.toLowerCase()}${i + 1}`,
          label: `${name}${i + 1}`,
        })),
      };
    }),
    lockers: lockers.map(([id, size, refrigerated]) => ({
      id,
      label: id.toUpperCase(),
      size,
      refrigerated: refrigerated ?? false,
    })),
    oversized: { id: 'oversized', label: 'Oversized area' },
    overflow: { id: 'overflow', label: 'Overflow' },
  };
}

/** A room being filled: check-in assigns, then records the parcel where it went. */
function room(base: RoomLayout, occupied: [string, string, number][] = []) {
  const state: RoomState & { occupied: Map<string, Occupancy> } = {
    ...base,
    occupied: new Map(occupied.map(([id, residentKey, count]) => [id, { residentKey, count }])),
  };
  return {
    state,
    checkIn(parcel: ParcelToPlace, options?: AssignerOptions): Assignment {
      const a = assignLocation(parcel, state, options);
      recordParcel(state.occupied, a.id, parcel.residentKey);
      return a;
    },
  };
}

const std = (residentKey: string): ParcelToPlace => ({ size: 'standard', residentKey });

function shelfOf(base: RoomLayout, slotId: string): string | undefined {
  return base.shelves.find((s) => s.slots.some((slot) => slot.id === slotId))?.id;
}

describe('standard parcels on the shelves', () => {
  it('fill 3 shelves of 8 evenly: 24 residents, 8 on each shelf, taken in turn', () => {
    const base = layout([8, 8, 8]);
    const r = room(base);
    const placed = Array.from({ length: 24 }, (_, i) => r.checkIn(std(`res-${i}`)));
    expect(placed.every((a) => a.kind === 'shelf')).toBe(true);
    expect(new Set(placed.map((a) => a.id)).size).toBe(24);
    const perShelf = new Map<string, number>();
    for (const a of placed) {
      const shelf = shelfOf(base, a.id) ?? '?';
      perShelf.set(shelf, (perShelf.get(shelf) ?? 0) + 1);
    }
    expect(Object.fromEntries(perShelf)).toEqual({ 'shelf-a': 8, 'shelf-b': 8, 'shelf-c': 8 });
    expect(placed.slice(0, 4).map((a) => a.label)).toEqual(['A1', 'B1', 'C1', 'A2']);
    expect(placed[0]?.reason).toBe('free slot on the least-filled shelf');
  });

  it('fill shelves of different lengths in proportion', () => {
    const base = layout([4, 8]);
    const r = room(base);
    const placed = Array.from({ length: 6 }, (_, i) => r.checkIn(std(`res-${i}`)));
    expect(placed.map((a) => a.label)).toEqual(['A1', 'B1', 'B2', 'A2', 'B3', 'B4']);
  });

  it("keep a resident's parcels together: the 2nd and 3rd join the slot, the 4th goes next to it", () => {
    const r = room(layout([4, 4, 4]));
    const first = r.checkIn(std('unit-12'));
    expect(first.label).toBe('A1');
    expect(r.checkIn(std('unit-12'))).toMatchObject({
      label: 'A1',
      reason: "joins this resident's parcels",
    });
    expect(r.checkIn(std('unit-12')).label).toBe('A1');
    expect(r.checkIn(std('unit-12'))).toMatchObject({
      kind: 'shelf',
      label: 'A2',
      reason: "next to this resident's full slot",
    });
    expect(r.checkIn(std('unit-12')).label).toBe('A2');
    // Someone else still starts on the emptiest shelf.
    expect(r.checkIn(std('unit-7')).label).toBe('B1');
  });

  it('go to the free neighbour on either side, the one listed first on a tie', () => {
    // A2 is full with unit-12's parcels, A3 is someone else's: A1 is the free neighbour.
    const r = room(layout([4, 4]), [
      ['a2', 'unit-12', 3],
      ['a3', 'unit-9', 1],
    ]);
    expect(r.checkIn(std('unit-12')).label).toBe('A1');
    // Both neighbours free: the one listed first.
    const tie = room(layout([4]), [['a2', 'unit-12', 3]]);
    expect(tie.checkIn(std('unit-12')).label).toBe('A1');
  });

  it('stay on the same shelf when the neighbours are taken, and move on when it is full', () => {
    const r = room(layout([5, 5]), [
      ['a1', 'unit-3', 1],
      ['a2', 'unit-12', 3],
      ['a3', 'unit-4', 1],
    ]);
    expect(r.checkIn(std('unit-12'))).toMatchObject({
      label: 'A4',
      reason: "nearest free slot on this resident's shelf",
    });
    const full = room(layout([2, 3]), [
      ['a1', 'unit-12', 3],
      ['a2', 'unit-4', 1],
    ]);
    expect(full.checkIn(std('unit-12')).label).toBe('B1');
  });

  it('pick the nearest free slot, not the first free one on the shelf', () => {
    const others: [string, string, number][] = [
      ['a2', 'u-2', 1],
      ['a3', 'u-3', 1],
      ['a4', 'u-4', 1],
      ['a5', 'u-5', 1],
    ];
    const right = room(layout([8]), [...others, ['a6', 'unit-12', 3]]);
    expect(right.checkIn(std('unit-12')).label).toBe('A7');
    const left = room(layout([8]), [...others.slice(0, 3), ['a6', 'unit-12', 3], ['a7', 'u-7', 1]]);
    expect(left.checkIn(std('unit-12')).label).toBe('A5');
  });

  it('join a slot with room before starting a new one, even on another shelf', () => {
    const r = room(layout([2, 2]), [
      ['a1', 'unit-12', 3],
      ['b2', 'unit-12', 1],
    ]);
    expect(r.checkIn(std('unit-12')).label).toBe('B2');
  });

  it('honour slotCapacity', () => {
    const r = room(layout([3]));
    const options = { slotCapacity: 1 };
    expect(r.checkIn(std('unit-1'), options).label).toBe('A1');
    expect(r.checkIn(std('unit-1'), options).label).toBe('A2');
    const five = room(layout([3]));
    for (let i = 0; i < 5; i++)
      expect(five.checkIn(std('unit-1'), { slotCapacity: 5 }).label).toBe('A1');
    expect(five.checkIn(std('unit-1'), { slotCapacity: 5 }).label).toBe('A2');
    expect(() => assignLocation(std('x'), room(layout([1])).state, { slotCapacity: 0 })).toThrow(
      RangeError,
    );
    expect(() => assignLocation(std('x'), room(layout([1])).state, { slotCapacity: 1.5 })).toThrow(
      RangeError,
    );
  });
});

describe('when the shelves are full', () => {
  it('go to the smallest free locker that is not cold, then to overflow', () => {
    const r = room(
      layout(
        [2],
        [
          ['l-large', 'large'],
          ['l-cold', 'small', true],
          ['l-medium', 'medium'],
          ['l-small', 'small'],
        ],
      ),
    );
    expect(r.checkIn(std('u1')).label).toBe('A1');
    expect(r.checkIn(std('u2')).label).toBe('A2');
    expect(r.checkIn(std('u3'))).toMatchObject({
      kind: 'locker',
      id: 'l-small',
      reason: 'shelves full: smallest free locker',
    });
    expect(r.checkIn(std('u4')).id).toBe('l-medium');
    expect(r.checkIn(std('u5')).id).toBe('l-large');
    expect(r.checkIn(std('u6'))).toMatchObject({
      kind: 'overflow',
      id: 'overflow',
      label: 'Overflow',
      reason: 'shelves and lockers full',
    });
    expect(r.checkIn(std('u7')).kind).toBe('overflow');
    // A resident with a slot that has room still joins it.
    expect(r.checkIn(std('u1')).label).toBe('A1');
  });

  it('ties between lockers of one size go to the one listed first', () => {
    const r = room(
      layout(
        [],
        [
          ['m2', 'medium'],
          ['m1', 'medium'],
        ],
      ),
    );
    expect(r.checkIn(std('u1')).id).toBe('m2');
    expect(r.checkIn(std('u2')).id).toBe('m1');
  });

  it("never give a resident's locker to someone else, nor add to it", () => {
    const lockers: [string, LockerSize][] = [
      ['l1', 'small'],
      ['l2', 'small'],
    ];
    const r = room(layout([1], lockers), [
      ['a1', 'u-full', 3],
      ['l1', 'u-a', 1],
    ]);
    expect(r.checkIn(std('u-b')).id).toBe('l2');
    expect(r.checkIn(std('u-c')).kind).toBe('overflow');
    // The policy does not pile a second parcel into u-a's locker either: it was chosen to fit one.
    expect(r.checkIn(std('u-a')).kind).toBe('overflow');
    expect(r.state.occupied.get('l1')).toEqual({ residentKey: 'u-a', count: 1 });
  });
});

describe('oversized parcels', () => {
  const base = layout(
    [2],
    [
      ['l-cold-large', 'large', true],
      ['l-large', 'large'],
      ['l-small', 'small'],
    ],
  );

  it('go to the oversized area, even with a large locker free', () => {
    const r = room(base);
    expect(r.checkIn({ size: 'oversized', residentKey: 'u1' })).toEqual({
      kind: 'oversized',
      id: 'oversized',
      label: 'Oversized area',
      reason: 'oversized parcel',
    });
  });

  it('go to a free large locker (never a cold one) when the site prefers, else the area', () => {
    const r = room(base);
    const options = { oversizedToLargeLocker: true };
    expect(r.checkIn({ size: 'oversized', residentKey: 'u1' }, options)).toMatchObject({
      kind: 'locker',
      id: 'l-large',
    });
    expect(r.checkIn({ size: 'oversized', residentKey: 'u2' }, options).kind).toBe('oversized');
    // The area has no limit.
    for (let i = 0; i < 50; i++)
      expect(r.checkIn({ size: 'oversized', residentKey: `u${i}` }).kind).toBe('oversized');
  });
});

describe('perishables', () => {
  it('go to the smallest free cold locker', () => {
    const r = room(
      layout(
        [2],
        [
          ['cold-large', 'large', true],
          ['warm-small', 'small'],
          ['cold-small', 'small', true],
        ],
      ),
    );
    expect(r.checkIn({ size: 'perishable', residentKey: 'u1' })).toEqual({
      kind: 'locker',
      id: 'cold-small',
      label: 'COLD-SMALL',
      reason: 'perishable: free cold locker',
    });
    expect(r.checkIn({ size: 'perishable', residentKey: 'u2' }).id).toBe('cold-large');
  });

  it('go to overflow, flagged, when every cold locker is taken, though shelves are free', () => {
    const r = room(layout([4], [['cold', 'medium', true]]), [['cold', 'u0', 1]]);
    expect(r.checkIn({ size: 'perishable', residentKey: 'u1' })).toEqual({
      kind: 'overflow',
      id: 'overflow',
      label: 'Overflow',
      reason: 'perishable: every cold locker is taken',
      flagForStaff: PERISHABLE_WITHOUT_COLD_LOCKER,
    });
  });

  it('are placed like standard parcels, flagged, on a site without cold lockers', () => {
    const r = room(layout([1], [['warm', 'small']]));
    const first = r.checkIn({ size: 'perishable', residentKey: 'u1' });
    expect(first).toMatchObject({
      kind: 'shelf',
      label: 'A1',
      flagForStaff: 'perishable without a cold locker',
    });
    expect(first.reason).toContain('no cold locker');
    expect(r.checkIn({ size: 'perishable', residentKey: 'u2' })).toMatchObject({
      kind: 'locker',
      id: 'warm',
      flagForStaff: PERISHABLE_WITHOUT_COLD_LOCKER,
    });
    expect(r.checkIn({ size: 'perishable', residentKey: 'u3' })).toMatchObject({
      kind: 'overflow',
      flagForStaff: PERISHABLE_WITHOUT_COLD_LOCKER,
    });
  });

  it('leave standard parcels out of cold lockers and carry no flag otherwise', () => {
    const r = room(layout([], [['cold', 'small', true]]));
    const a = r.checkIn(std('u1'));
    expect(a.kind).toBe('overflow');
    expect(a.flagForStaff).toBeUndefined();
  });
});

describe('carrier overrides', () => {
  const base = layout(
    [3],
    [
      ['l1', 'small'],
      ['cold', 'medium', true],
    ],
  );
  const occupied: [string, string, number][] = [
    ['a1', 'u-a', 3],
    ['a2', 'u-a', 1],
    ['l1', 'u-a', 1],
  ];

  it('accept a slot with room, whoever is in it, and say so', () => {
    const r = room(base, occupied);
    expect(r.checkIn({ size: 'standard', residentKey: 'u-b', override: 'a2' })).toEqual({
      kind: 'shelf',
      id: 'a2',
      label: 'A2',
      reason: 'carrier override',
    });
    expect(r.state.occupied.get('a2')).toEqual({ residentKey: 'u-a', count: 2 });
  });

  it('refuse a full slot, an unknown place, and a locker holding another resident', () => {
    const r = room(base, occupied);
    const refusal = (override: string, residentKey = 'u-b') => {
      try {
        assignLocation({ size: 'standard', residentKey, override }, r.state);
      } catch (e) {
        return e;
      }
      return null;
    };
    const full = refusal('a1');
    expect(full).toBeInstanceOf(AssignmentError);
    expect(full).toMatchObject({ code: 'location_full', locationId: 'a1' });
    expect((full as Error).message).toContain('A1');
    expect(refusal('shelf-z9')).toMatchObject({ code: 'unknown_location', locationId: 'shelf-z9' });
    expect(refusal('')).toMatchObject({ code: 'unknown_location' });
    expect(refusal('l1')).toMatchObject({ code: 'location_full', locationId: 'l1' });
    // The same resident's own locker, and an empty one, are fine.
    expect(refusal('l1', 'u-a')).toBeNull();
    expect(refusal('cold')).toBeNull();
    // The same resident's full slot is still full.
    expect(refusal('a1', 'u-a')).toMatchObject({ code: 'location_full' });
  });

  it('always accept the oversized and overflow areas', () => {
    const r = room(base, [
      ['oversized', 'u-a', 500],
      ['overflow', 'u-a', 500],
    ]);
    expect(r.checkIn({ size: 'standard', residentKey: 'u-b', override: 'oversized' }).kind).toBe(
      'oversized',
    );
    expect(r.checkIn({ size: 'oversized', residentKey: 'u-b', override: 'overflow' })).toEqual({
      kind: 'overflow',
      id: 'overflow',
      label: 'Overflow',
      reason: 'carrier override',
    });
  });

  it('flag a perishable the courier put anywhere but a cold locker', () => {
    const r = room(base);
    expect(r.checkIn({ size: 'perishable', residentKey: 'u-b', override: 'a3' }).flagForStaff).toBe(
      PERISHABLE_WITHOUT_COLD_LOCKER,
    );
    const cold = r.checkIn({ size: 'perishable', residentKey: 'u-c', override: 'cold' });
    expect(cold).toEqual({ kind: 'locker', id: 'cold', label: 'COLD', reason: 'carrier override' });
  });

  it('respect slotCapacity', () => {
    const r = room(base, [['a3', 'u-a', 3]]);
    expect(
      r.checkIn({ size: 'standard', residentKey: 'u-b', override: 'a3' }, { slotCapacity: 4 }).id,
    ).toBe('a3');
    expect(() =>
      assignLocation({ size: 'standard', residentKey: 'u-b', override: 'a3' }, r.state, {
        slotCapacity: 4,
      }),
    ).toThrow(AssignmentError);
  });
});

describe('determinism', () => {
  it('gives the same answer for the same room, whatever order occupancy was recorded in', () => {
    const base = layout(
      [4, 4, 4],
      [
        ['l1', 'medium'],
        ['l2', 'small'],
      ],
    );
    const entries: [string, Occupancy][] = [
      ['a1', { residentKey: 'u1', count: 3 }],
      ['b1', { residentKey: 'u2', count: 1 }],
      ['c1', { residentKey: 'u3', count: 2 }],
      ['a2', { residentKey: 'u4', count: 1 }],
      ['l2', { residentKey: 'u5', count: 1 }],
      ['b2', { residentKey: 'u0', count: 0 }],
    ];
    const forwards: RoomState = { ...base, occupied: new Map(entries) };
    const backwards: RoomState = { ...base, occupied: new Map([...entries].reverse()) };
    const parcels: ParcelToPlace[] = [
      std('u1'),
      std('u3'),
      std('u9'),
      { size: 'perishable', residentKey: 'u9' },
      { size: 'oversized', residentKey: 'u9' },
    ];
    for (const p of parcels) {
      const a = assignLocation(p, forwards);
      expect(assignLocation(p, backwards)).toEqual(a);
      expect(assignLocation(p, forwards)).toEqual(a);
    }
    // A zero count is an empty slot: u9 starts on shelf B (1 of 4 in use) at B2.
    expect(assignLocation(std('u9'), forwards).label).toBe('B2');
  });

  it('does not change the room it is given', () => {
    const r = room(layout([2]), [['a1', 'u1', 1]]);
    const before = [...r.state.occupied.entries()];
    assignLocation(std('u2'), r.state);
    expect([...r.state.occupied.entries()]).toEqual(before);
  });
});

describe('a busy room: 2,000 parcels, 300 slots, 60 lockers', () => {
  function mulberry32(seed: number) {
    let s = seed >>> 0;
    return () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  const sizes: LockerSize[] = ['small', 'medium', 'large'];
  const base = layout(
    Array.from({ length: 10 }, () => 30),
    Array.from({ length: 60 }, (_, i): [string, LockerSize, boolean] => [
      `l${i + 1}`,
      sizes[(i * 7) % 3] ?? 'small',
      i % 12 === 5,
    ]),
  );
  const slotIds = new Set(base.shelves.flatMap((s) => s.slots.map((slot) => slot.id)));
  const lockerById = new Map<string, LockerLayout>(base.lockers.map((l) => [l.id, l]));

  function simulate(seed: number) {
    const rand = mulberry32(seed);
    const r = room(base);
    const out: { parcel: ParcelToPlace; a: Assignment; before: Map<string, Occupancy> }[] = [];
    for (let i = 0; i < 2000; i++) {
      const x = rand();
      const parcel: ParcelToPlace = {
        size: x < 0.8 ? 'standard' : x < 0.92 ? 'oversized' : 'perishable',
        residentKey: `unit-${Math.floor(rand() * 700)}`,
      };
      const before = new Map(r.state.occupied);
      out.push({ parcel, a: r.checkIn(parcel), before });
    }
    return { out, occupied: r.state.occupied };
  }

  it('keeps every rule at every step, and replays identically', () => {
    const { out, occupied } = simulate(7);
    const count = (m: Map<string, Occupancy>, id: string) => m.get(id)?.count ?? 0;
    const shelfShare = (m: Map<string, Occupancy>) =>
      base.shelves.map(
        (s) => s.slots.filter((slot) => count(m, slot.id) > 0).length / s.slots.length,
      );
    const seen = new Set<string>();

    for (const { parcel, a, before } of out) {
      seen.add(`${parcel.size}:${a.kind}`);
      const freeSlot = [...slotIds].some((id) => count(before, id) === 0);
      const ownSlotWithRoom = [...slotIds].some(
        (id) => before.get(id)?.residentKey === parcel.residentKey && count(before, id) < 3,
      );
      const freeLocker = (cold: boolean) =>
        base.lockers.some((l) => l.refrigerated === cold && count(before, l.id) === 0);

      if (a.kind === 'shelf') {
        expect(slotIds.has(a.id)).toBe(true);
        expect(count(before, a.id)).toBeLessThan(3);
        if (count(before, a.id) > 0) expect(before.get(a.id)?.residentKey).toBe(parcel.residentKey);
        if (ownSlotWithRoom)
          expect(before.get(a.id)?.residentKey, 'joins their own slot').toBe(parcel.residentKey);
        const hadSlot = [...slotIds].some(
          (id) => before.get(id)?.residentKey === parcel.residentKey,
        );
        if (!hadSlot) {
          // A fresh start goes to a shelf whose share in use is the smallest of those with room.
          const shares = shelfShare(before);
          const open = base.shelves
            .map((s, i) => ({ s, share: shares[i] ?? 1 }))
            .filter(({ share }) => share < 1);
          const chosen = open.find(({ s }) => s.slots.some((slot) => slot.id === a.id));
          expect(chosen?.share).toBe(Math.min(...open.map(({ share }) => share)));
        }
      }
      if (a.kind === 'locker') {
        const locker = lockerById.get(a.id);
        expect(count(before, a.id), 'a locker is only ever given empty').toBe(0);
        expect(locker?.refrigerated).toBe(parcel.size === 'perishable');
        if (parcel.size === 'standard') expect(freeSlot || ownSlotWithRoom).toBe(false);
      }
      if (parcel.size === 'standard' && a.kind === 'overflow')
        expect(freeSlot || ownSlotWithRoom || freeLocker(false)).toBe(false);
      if (parcel.size === 'perishable') {
        expect(['locker', 'overflow']).toContain(a.kind);
        if (a.kind === 'overflow') {
          expect(freeLocker(true)).toBe(false);
          expect(a.flagForStaff).toBe(PERISHABLE_WITHOUT_COLD_LOCKER);
        }
      }
      if (parcel.size === 'oversized') expect(a.kind).toBe('oversized');
      if (parcel.size !== 'perishable') expect(a.flagForStaff).toBeUndefined();
    }

    // The run went through every stage: shelves, lockers, overflow, cold lockers, the area.
    expect([...seen].sort()).toEqual([
      'oversized:oversized',
      'perishable:locker',
      'perishable:overflow',
      'standard:locker',
      'standard:overflow',
      'standard:shelf',
    ]);
    for (const id of slotIds) expect(count(occupied, id)).toBeLessThanOrEqual(3);
    for (const l of base.lockers) expect(count(occupied, l.id)).toBeLessThanOrEqual(1);

    const again = simulate(7);
    expect(again.out.map((o) => o.a)).toEqual(out.map((o) => o.a));
  });
});

describe('occupancy bookkeeping', () => {
  it('gives a location to the resident whose parcel came first', () => {
    const occupied = occupancyOf([
      { locationId: 'a1', residentKey: 'u1' },
      { locationId: 'a1', residentKey: 'u2' },
      { locationId: 'l1', residentKey: 'u3' },
      { locationId: 'a1', residentKey: 'u1' },
    ]);
    expect(Object.fromEntries(occupied)).toEqual({
      a1: { residentKey: 'u1', count: 3 },
      l1: { residentKey: 'u3', count: 1 },
    });
    // A location emptied to zero starts over with the next resident.
    occupied.set('l1', { residentKey: 'u3', count: 0 });
    recordParcel(occupied, 'l1', 'u4');
    expect(occupied.get('l1')).toEqual({ residentKey: 'u4', count: 1 });
  });
});

describe('roomFromSite', () => {
  it('builds the layout from the site file, in its order, cold defaulting to false', () => {
    const site = siteSchema.parse(demoSite());
    const built = roomFromSite(site.storage);
    expect(built.shelves.map((s) => s.id)).toEqual(site.storage.shelves.map((s) => s.id));
    expect(built.shelves.flatMap((s) => s.slots)).toEqual(
      site.storage.shelves.flatMap((s) => s.slots.map(({ id, label }) => ({ id, label }))),
    );
    expect(built.lockers).toEqual(
      site.storage.lockers.map(({ id, label, size, refrigerated }) => ({
        id,
        label,
        size,
        refrigerated,
      })),
    );
    expect(built.oversized).toEqual(site.storage.oversized);
    expect(built.overflow).toEqual(site.storage.overflow);
  });

  it('takes raw storage too, keeping only what placement needs', () => {
    // A site file's shelf carries a label, and slots a camera and polygon, that placement ignores.
    const shelf = {
      id: 's1',
      label: 'Shelf 1',
      slots: [{ id: 'x1', label: 'X1', cameraId: 'cam', polygon: [[0, 0]] }],
    };
    const built = roomFromSite({
      shelves: [shelf],
      lockers: [
        { id: 'l1', label: 'L1', size: 'large' },
        { id: 'l2', label: 'L2', size: 'small', refrigerated: true },
      ],
      oversized: { id: 'big', label: 'Big' },
      overflow: { id: 'more', label: 'More' },
    });
    expect(built).toEqual({
      shelves: [{ id: 's1', slots: [{ id: 'x1', label: 'X1' }] }],
      lockers: [
        { id: 'l1', label: 'L1', size: 'large', refrigerated: false },
        { id: 'l2', label: 'L2', size: 'small', refrigerated: true },
      ],
      oversized: { id: 'big', label: 'Big' },
      overflow: { id: 'more', label: 'More' },
    });
    const r = room(built);
    expect(r.checkIn({ size: 'perishable', residentKey: 'u' }).id).toBe('l2');
  });
});
