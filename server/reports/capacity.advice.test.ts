import { describe, expect, it } from 'vitest';
import type { RoomLayout } from '../packages/slot.assigner.ts';
import { adviseCapacity, replayOverflow, type ReplayParcel } from './capacity.advice.ts';

const H = 3_600_000;
const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

/** Two slots on one shelf, a small and a large locker, one cold locker. */
const layout: RoomLayout = {
  shelves: [
    {
      id: 'a',
      slots: [
        { id: 's1', label: 'A1' },
        { id: 's2', label: 'A2' },
      ],
    },
  ],
  lockers: [
    { id: 'big', label: 'L2', size: 'large', refrigerated: false },
    { id: 'small', label: 'L1', size: 'small', refrigerated: false },
    { id: 'cold', label: 'C1', size: 'medium', refrigerated: true },
  ],
  oversized: { id: 'oversized', label: 'Oversized' },
  overflow: { id: 'overflow', label: 'Overflow' },
};

let n = 0;
const parcel = (
  household: string,
  inH: number,
  outH: number | null,
  size: ReplayParcel['size'] = 'standard',
): ReplayParcel => ({
  id: `p${++n}`,
  householdKey: household,
  size,
  inAt: T0 + inH * H,
  outAt: outH === null ? null : T0 + outH * H,
});

const advise = (parcels: ReplayParcel[], start = T0 - 24 * H, end = T0 + 30 * 24 * H) =>
  adviseCapacity({
    layout,
    parcels,
    month: '2026-12',
    monthLabel: 'December 2026',
    start,
    end,
    dayOf: (at) => new Date(at).toISOString().slice(0, 10),
  });

describe('replaying the month through the slot rules', () => {
  it('keeps a household in one slot up to 3 parcels, and overflows only when all is full', () => {
    // Household h1's 4 parcels: 3 in one slot, the 4th next to it; h2, h3 take the two lockers;
    // h4 finds nothing free.
    const parcels = [
      parcel('h1', 0, 10),
      parcel('h1', 0.1, 10),
      parcel('h1', 0.2, 10),
      parcel('h1', 0.3, 10),
      parcel('h2', 1, 10),
      parcel('h3', 2, 10),
      parcel('h4', 3, 4),
      parcel('h5', 3.5, 5),
    ];
    const r = replayOverflow(layout, parcels, T0 - H, T0 + 24 * H);
    expect(r).toEqual({ peakOverflow: 2, peakAt: T0 + 3.5 * H, peakOrdinary: 2, peakCold: 0 });
  });

  it('frees a place before an arrival at the same instant reuses it', () => {
    const parcels = [
      parcel('h1', 0, 5),
      parcel('h2', 0, 5),
      parcel('h3', 0, 5),
      parcel('h4', 0, 5),
      parcel('h5', 5, 6), // h1..h4 leave at 5: h5 gets a slot
    ];
    expect(replayOverflow(layout, parcels, T0 - H, T0 + 24 * H).peakOverflow).toBe(0);
  });

  it('counts overflow inside the window only, including what was there when it opened', () => {
    const before = [
      parcel('h1', -48, -40),
      parcel('h2', -48, -40),
      parcel('h3', -48, -40),
      parcel('h4', -48, -40),
      parcel('h5', -48, -40), // in overflow, but gone before the window
    ];
    expect(replayOverflow(layout, before, T0, T0 + 24 * H).peakOverflow).toBe(0);
    const waiting = [
      parcel('h1', -48, 2),
      parcel('h2', -48, 2),
      parcel('h3', -48, 2),
      parcel('h4', -48, 2),
      parcel('h5', -48, 2), // still in overflow when the window opens
    ];
    expect(replayOverflow(layout, waiting, T0, T0 + 24 * H)).toMatchObject({
      peakOverflow: 1,
      peakAt: T0,
    });
  });

  it('sends a perishable to overflow when the cold locker is taken, apart from ordinary ones', () => {
    const parcels = [parcel('h1', 0, 3, 'perishable'), parcel('h2', 1, 3, 'perishable')];
    expect(replayOverflow(layout, parcels, T0 - H, T0 + 24 * H)).toMatchObject({
      peakOverflow: 1,
      peakOrdinary: 0,
      peakCold: 1,
    });
  });
});

describe('capacity advice', () => {
  it('says so when overflow stayed empty, or when there were no parcels', () => {
    expect(advise([parcel('h1', 0, 1)])).toMatchObject({
      peakOverflow: 0,
      extraShelfSlots: 0,
      extraLockers: { small: 0, medium: 0, large: 0 },
      text: 'Overflow stayed empty in December 2026: the shelves and lockers were enough.',
    });
    expect(advise([]).text).toBe('No parcels in December 2026: nothing to advise.');
  });

  it('finds the fewest extra slots and lockers that keep overflow empty', () => {
    // 7 households at once: 2 slots + 2 lockers hold 4, 3 go to overflow.
    const parcels = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7'].map((h, i) =>
      parcel(h, i * 0.1, 10),
    );
    const a = advise(parcels);
    expect(a).toMatchObject({
      month: '2026-12',
      parcels: 7,
      peakOverflow: 3,
      peakOverflowAt: new Date(T0 + 0.6 * H).toISOString(),
      extraShelfSlots: 3,
      // The smallest ordinary locker size the bank has.
      extraLockers: { small: 3, medium: 0, large: 0 },
      extraColdLockers: { small: 0, medium: 0, large: 0 },
    });
    expect(a.text).toBe(
      'Overflow held up to 3 parcels at once in December 2026 (first on 2026-12-01): ' +
        '3 more shelf slots, or 3 more small lockers, would have kept it empty.',
    );
  });

  it('advises cold lockers of the size the site has for perishables in overflow', () => {
    const parcels = [
      parcel('h1', 0, 3, 'perishable'),
      parcel('h2', 1, 3, 'perishable'),
      parcel('h3', 1.5, 3, 'perishable'),
    ];
    const a = advise(parcels);
    expect(a).toMatchObject({
      peakOverflow: 2,
      extraShelfSlots: 0,
      extraColdLockers: { small: 0, medium: 2, large: 0 },
    });
    expect(a.text).toBe(
      'Overflow held up to 2 parcels at once in December 2026 (first on 2026-12-01): ' +
        '2 more medium cold lockers would have kept perishables out of it.',
    );
  });
});
